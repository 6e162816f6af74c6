"""Follow one face through a clip: choose it, keep its identity, fill gaps, smooth its box.

Detections are per frame and noisy; what later stages need is one face (the largest and most central when there
are several), a box for every frame, and a crop that does not jitter. Identity is kept by overlap with the
previous box, which is enough for talking-head footage (one speaker, small motion between frames). Frames where
a second face of comparable size is present are counted, so that a corpus can reject interviews and two-shots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class BoxTrack:
    boxes: np.ndarray  # (T, 4) float32 x1, y1, x2, y2, smoothed, for every frame
    detected: np.ndarray  # (T,) bool: a detection was matched in this frame (else interpolated)
    max_faces: int  # most faces seen in one frame (more than one: the main face was chosen)
    examined: int  # frames the detector ran on
    crowded: int = 0  # examined frames with another face at least rival_ratio x the followed one's area

    @property
    def crowded_fraction(self) -> float:
        """Share of the examined frames in which a second face of comparable size was present."""
        return self.crowded / self.examined if self.examined else 0.0

    @property
    def detected_fraction(self) -> float:
        """Share of the examined frames in which the face was found."""
        return float(self.detected.sum()) / self.examined if self.examined else 0.0


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one (4,) box with (K, 4) boxes."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def main_face(boxes: np.ndarray, width: int, height: int) -> int:
    """Index of the face to follow among (K, 5) detections: large, central and confident (area, discounted by
    the distance from the image centre, weighted by the detector's score so a weak false hit loses)."""
    centres = (boxes[:, :2] + boxes[:, 2:4]) / 2
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    offset = np.linalg.norm((centres - [width / 2, height / 2]) / [width, height], axis=1)
    confidence = np.clip(boxes[:, 4], 0.05, None) if boxes.shape[1] > 4 else 1.0
    return int(np.argmax(areas * (1.0 - offset) * confidence))


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[..., 2] - boxes[..., 0], 0, None) * np.clip(boxes[..., 3] - boxes[..., 1], 0, None)


def has_rival(ours: np.ndarray, dets: np.ndarray, rival_ratio: float, min_iou: float) -> bool:
    """Whether (K, 5) detections hold a face other than `ours` (4,) (overlap below min_iou) whose area is at
    least rival_ratio x ours: a second speaker, not a poster or a passer-by in the background."""
    if len(dets) == 0:
        return False
    others = iou(ours, dets[:, :4]) < min_iou
    return bool(np.any(others & (_area(dets[:, :4]) >= rival_ratio * _area(ours))))


def _interpolate(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill rows where `known` is False by linear interpolation (nearest value at the ends)."""
    t = np.arange(len(values))
    return np.stack([np.interp(t, t[known], values[known, k]) for k in range(values.shape[1])], axis=1)


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along axis 0, edges padded by repetition so that the ends are not pulled in."""
    if window <= 1 or len(values) < 2:
        return values.copy()
    half = window // 2
    padded = np.concatenate([values[:1].repeat(half, 0), values, values[-1:].repeat(half, 0)])
    kernel = np.ones(2 * half + 1) / (2 * half + 1)
    return np.stack([np.convolve(padded[:, k], kernel, "valid") for k in range(values.shape[1])], axis=1)


def track_boxes(
    detections: list[np.ndarray | None],
    width: int,
    height: int,
    min_iou: float = 0.3,
    window: int = 5,
    rival_ratio: float = 0.5,
) -> BoxTrack | None:
    """Per-frame detections ((K, 5) each, K may be 0; None for a frame the detector skipped) -> one smoothed box
    per frame; None if no face at all.

    A frame counts as crowded when a detection other than the followed face (IoU < min_iou with it; with its last
    box where it was missed) has at least `rival_ratio` x its area; frames before it is first found do not count.
    """
    count = len(detections)
    boxes = np.zeros((count, 4), np.float64)
    found = np.zeros(count, bool)
    previous = None
    crowded = 0
    for t, dets in enumerate(detections):
        if dets is None or len(dets) == 0:
            continue
        if previous is None:
            pick = main_face(dets, width, height)
        else:
            overlaps = iou(previous, dets[:, :4])
            pick = int(np.argmax(overlaps))
            if overlaps[pick] < min_iou:
                crowded += has_rival(previous, dets, rival_ratio, min_iou)
                continue  # another face, or a false detection: keep following ours
        crowded += has_rival(dets[pick, :4], dets, rival_ratio, min_iou)
        boxes[t], found[t], previous = dets[pick, :4], True, dets[pick, :4]
    if not found.any():
        return None
    filled = _interpolate(boxes, found)
    # Smooth centre and size rather than corners, so that a size jitter does not shift the centre.
    centre_size = np.concatenate([(filled[:, :2] + filled[:, 2:]) / 2, filled[:, 2:] - filled[:, :2]], axis=1)
    cs = smooth(centre_size, window)
    smoothed = np.concatenate([cs[:, :2] - cs[:, 2:] / 2, cs[:, :2] + cs[:, 2:] / 2], axis=1)
    examined = [d for d in detections if d is not None]
    max_faces = max((len(d) for d in examined), default=0)
    return BoxTrack(smoothed.astype(np.float32), found, max_faces, len(examined), crowded)


def stable_crop(boxes: np.ndarray, scale: float = 1.8, window: int = 9) -> np.ndarray:
    """Square crops (T, 4) around the face: one size for the whole clip (the median box size x scale) and a
    centre smoothed over `window` frames, so the crop neither zooms nor jitters."""
    centres = smooth((boxes[:, :2] + boxes[:, 2:4]) / 2, window)
    side = float(np.median(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]))) * scale
    return np.concatenate([centres - side / 2, centres + side / 2], axis=1).astype(np.float32)
