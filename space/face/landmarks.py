"""68-point 3D landmarks, head pose and normalized landmarks for a photo or every frame of a clip.

    frames -> detect (backend) -> track one face (tracking) -> 68 landmarks in its box (backend, batched)
           -> head-pose fit + 3D lift (pose_fit) -> normalized, pose-free landmarks (geometry)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from tqdm import tqdm

from ..errors import NoFaceError, SeveralFacesError
from .backend import LandmarkBackend
from .geometry import POSE_FIELDS, normalize
from .mean_face import RIGID_INDEX
from .pose_fit import fit_pose
from .tracking import track_boxes


@dataclass
class FaceTrack:
    """One face through T frames. Arrays are float32; landmarks in image pixels (z in pixel units)."""

    landmarks: np.ndarray  # (T, 68, 3)
    boxes: np.ndarray  # (T, 4) x1, y1, x2, y2
    poses: np.ndarray  # (T, 6) yaw, pitch, roll (degrees), tx, ty (pixels), scale (pixels per mean-face unit)
    normalized: np.ndarray  # (T, 68, 3) pose-free, mean-face units
    detected: np.ndarray  # (T,) bool: the face was detected in this frame (else its box was interpolated)
    fit_rms: np.ndarray  # (T,) rigid-point error of the pose fit, pixels
    max_faces: int = 1
    crowded: int = 0  # examined frames with a second face of comparable size (tracking.BoxTrack.crowded)

    def __len__(self) -> int:
        return len(self.landmarks)

    def face_size(self) -> np.ndarray:
        """(T,) face size in pixels: the diagonal of the landmarks' 2D bounding box (the error unit we report)."""
        xy = self.landmarks[..., :2]
        return np.linalg.norm(xy.max(1) - xy.min(1), axis=-1)

    def scaled(self, factor: float) -> "FaceTrack":
        """The same track in an image `factor` times larger (pixel quantities scale, angles and the normalized
        landmarks do not)."""
        poses = self.poses.copy()
        poses[:, 3:] *= factor
        return FaceTrack(
            self.landmarks * factor, self.boxes * factor, poses, self.normalized, self.detected,
            self.fit_rms * factor, self.max_faces, self.crowded,
        )

    def frame_record(self, i: int, time: float | None = None) -> dict:
        """One frame as plain JSON-ready values."""
        record = {
            "index": i,
            "time": None if time is None else round(float(time), 6),
            "detected": bool(self.detected[i]),
            "box": np.round(self.boxes[i], 2).tolist(),
            "pose": {k: round(float(v), 4) for k, v in zip(POSE_FIELDS, self.poses[i])},
            "landmarks": np.round(self.landmarks[i], 3).tolist(),
            "normalized": np.round(self.normalized[i], 5).tolist(),
            "fit_rms": round(float(self.fit_rms[i]), 4),
        }
        return record


def landmarks_from_boxes(
    frames: Sequence[np.ndarray], boxes: np.ndarray, backend: LandmarkBackend, batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Landmarks in given boxes -> (landmarks3d, poses, normalized, fit_rms), batched through the backend."""
    raw = np.concatenate(
        [backend.landmarks(frames[i : i + batch_size], boxes[i : i + batch_size]) for i in range(0, len(frames), batch_size)]
    )
    poses, lifted, rms = fit_pose(raw[..., :2])
    if backend.gives_depth and raw.shape[-1] == 3:
        # Keep the network's depth, centred like the lifted one (rigid points at z = 0 on average).
        depth = raw[..., 2] - raw[:, RIGID_INDEX, 2].mean(1, keepdims=True)
        lifted = np.concatenate([raw[..., :2], depth[..., None]], axis=-1)
    normalized = normalize(lifted, poses)
    return lifted.astype(np.float32), poses.astype(np.float32), normalized.astype(np.float32), rms.astype(np.float32)


def track_face(
    frames: Sequence[np.ndarray],
    backend: LandmarkBackend,
    source: str = "<frames>",
    min_detected: float = 0.5,
    batch_size: int = 32,
    progress: bool = False,
    detect_every: int = 1,
    max_crowded: float | None = None,
) -> FaceTrack:
    """Landmarks of the main face in every frame. Raises NoFaceError (naming `source`) when no face is found,
    or when it is found in fewer than `min_detected` of the frames examined (a clip that is mostly not a face).
    `detect_every` k > 1 runs the detector on every k-th frame only (and the last) and interpolates the box
    between them: detection is the costly part, the 68-point stage is cheap.
    `max_crowded`: raise SeveralFacesError when a second face of comparable size (tracking.has_rival) is present
    in more than this share of the examined frames; None (the default) allows any number of faces."""
    if len(frames) == 0:
        raise NoFaceError(source, "no frames to look for a face in")
    height, width = frames[0].shape[:2]
    last = len(frames) - 1
    detections = [
        backend.detect(f) if t % detect_every == 0 or t == last else None
        for t, f in enumerate(tqdm(frames, desc="faces", unit="frame", disable=not progress))
    ]
    track = track_boxes(detections, width, height)
    if track is None:
        raise NoFaceError(source, f"no face found in {len(frames)} frame(s) ({width}x{height})")
    if track.detected_fraction < min_detected:
        raise NoFaceError(
            source,
            f"face found in only {track.detected_fraction:.0%} of {track.examined} frames (need {min_detected:.0%})",
        )
    if max_crowded is not None and track.crowded_fraction > max_crowded:
        raise SeveralFacesError(
            source,
            f"a second face of comparable size in {track.crowded_fraction:.0%} of {track.examined} frames"
            f" (allowed {max_crowded:.0%})",
        )
    landmarks, poses, normalized, rms = landmarks_from_boxes(frames, track.boxes, backend, batch_size)
    return FaceTrack(
        landmarks, track.boxes, poses, normalized, track.detected, rms, track.max_faces, track.crowded
    )


def fit_to_side(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale so the longer side is at most `max_side` (never upscale); returns (image, factor applied)."""
    height, width = image.shape[:2]
    factor = min(1.0, max_side / max(height, width))
    if factor == 1.0:
        return image, 1.0
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), factor


def track_video(
    uri: str, backend: LandmarkBackend, fps: float = 25.0, max_side: int = 960, progress: bool = False,
    start_frame: int = 0, num_frames: int | None = None, source: str | None = None, **options
) -> tuple[FaceTrack, np.ndarray, tuple[int, int]]:
    """Landmarks for every frame of a video at `fps` (or of the clip of `num_frames` grid frames from
    `start_frame`), decoded in chunks and downscaled to `max_side` on the way in (a 20 s portrait 1080x1920 clip
    would otherwise take 3 GB), reported in source pixels. Errors name `source` (default: the uri).
    Returns (track, timestamps (T,), (width, height) of the source)."""
    from ..io.video import iter_video

    source = source or uri
    small, times, size = [], [], None
    for chunk in iter_video(uri, fps=fps, start_frame=start_frame, num_frames=num_frames):
        size = size or (chunk.frames.shape[2], chunk.frames.shape[1])
        for frame in chunk.frames:
            resized, factor = fit_to_side(frame, max_side)
            small.append(resized)
        times.append(chunk.timestamps)
    if not small:
        raise NoFaceError(source, "the video has no frames" if not start_frame else "the clip has no frames")
    track = track_face(small, backend, source=source, progress=progress, **options)
    return track.scaled(1.0 / factor), np.concatenate(times), size
