"""Eyes: blink and gaze edits of (normalized) landmarks, and the measures that check them.

Edits work on landmarks in the normalized space (space.face.geometry), where the eye is level and of a known
size; re-posing afterwards puts them back in the image. The 68-point set has no iris, so gaze is carried as
iris centres next to the landmarks (what a renderer needs) plus the eyelid motion that comes with it: the
upper lid follows the eye when it looks down or up. A photo's irises are measured from its pixels
(`measure_iris`, also how rendered gaze is checked) and carried with the eye corners (`carry_iris`,
`posed_iris`), so that gaze (0, 0) keeps the photo's own gaze.
"""

from __future__ import annotations

import numpy as np

from .mean_face import LEFT_EYE, RIGHT_EYE

# Per eye, in iBUG order: outer/inner corners and the (upper, lower) lid pairs facing each other.
_EYES = (RIGHT_EYE, LEFT_EYE)
_UPPER = (np.array([37, 38]), np.array([43, 44]))
_LOWER = (np.array([41, 40]), np.array([47, 46]))
_CORNERS = (np.array([36, 39]), np.array([42, 45]))
# Where closed lids meet, as a fraction of the open gap measured from the upper lid (upper lids travel most).
_MEET = 0.7
EYEBALL_RADIUS = 0.13  # mean-face units; an eye is ~0.30 wide
GAZE_LID_FOLLOW = 0.35  # share of the iris's vertical travel that the upper lid follows


def eye_aspect_ratio(landmarks: np.ndarray) -> np.ndarray:
    """(..., 68, 2|3) -> (..., 2) eye aspect ratio (Soukupova & Cech 2016): lid gap over eye width, per eye.
    About 0.25-0.3 open, under 0.1 closed."""
    xy = np.asarray(landmarks)[..., :2]
    ratios = []
    for upper, lower, corners in zip(_UPPER, _LOWER, _CORNERS):
        gap = np.linalg.norm(xy[..., upper, :] - xy[..., lower, :], axis=-1).mean(-1)
        width = np.linalg.norm(xy[..., corners[0], :] - xy[..., corners[1], :], axis=-1)
        ratios.append(gap / np.maximum(width, 1e-9))
    return np.stack(ratios, axis=-1)


def apply_blink(normalized: np.ndarray, closure) -> np.ndarray:
    """Close the eyelids by `closure` (scalar or (T,) in [0, 1]; 1 = shut) on (T, 68, 3) or (68, 3) landmarks."""
    out = np.array(normalized, dtype=np.float64, copy=True)
    c = np.clip(np.asarray(closure, dtype=np.float64), 0.0, 1.0)[..., None, None]
    for upper, lower in zip(_UPPER, _LOWER):
        gap = out[..., lower, :] - out[..., upper, :]
        out[..., upper, :] += c * _MEET * gap
        out[..., lower, :] -= c * (1.0 - _MEET) * gap
    return out


def blink_curve(num_frames: int, fps: float, times=(), duration: float = 0.2) -> np.ndarray:
    """(num_frames,) closure in [0, 1]: a smooth close-and-open of `duration` seconds centred at each time."""
    t = np.arange(num_frames) / fps
    closure = np.zeros(num_frames)
    for centre in times:
        phase = np.clip((t - centre) / (duration / 2), -1.0, 1.0)
        closure = np.maximum(closure, 0.5 * (1 + np.cos(np.pi * phase)))
    return closure


def blink_times(duration: float, rate_per_min: float, seed: int = 0, min_gap: float = 1.0) -> np.ndarray:
    """Blink times for a clip: a Poisson process at `rate_per_min` (people blink ~15-20/min), at least
    `min_gap` seconds apart, none in the first or last 0.3 s."""
    if rate_per_min <= 0 or duration <= 0.6:
        return np.zeros(0)
    rng = np.random.default_rng(seed)
    times, t = [], 0.3
    while True:
        t += max(min_gap, rng.exponential(60.0 / rate_per_min))
        if t > duration - 0.3:
            return np.array(times)
        times.append(t)


def eye_centres(normalized: np.ndarray) -> np.ndarray:
    """(..., 68, 3) -> (..., 2, 3): the centre of each eye (mean of its six points)."""
    x = np.asarray(normalized)
    return np.stack([x[..., idx, :].mean(-2) for idx in _EYES], axis=-2)


def iris_centres(normalized: np.ndarray, gaze_yaw=0.0, gaze_pitch=0.0) -> np.ndarray:
    """Iris centres (..., 2, 3) for a gaze in degrees relative to the head (same signs as head pose: positive
    yaw looks to the image right, positive pitch looks down)."""
    centres = eye_centres(normalized)
    yaw = np.deg2rad(np.asarray(gaze_yaw, dtype=np.float64))[..., None]
    pitch = np.deg2rad(np.asarray(gaze_pitch, dtype=np.float64))[..., None]
    offset = np.stack([np.sin(yaw), np.sin(pitch), np.zeros_like(yaw)], axis=-1) * EYEBALL_RADIUS
    return centres + offset


def apply_gaze(normalized: np.ndarray, gaze_yaw=0.0, gaze_pitch=0.0) -> np.ndarray:
    """Eyelids that follow a vertical gaze: the upper lid (and a little the lower) moves with the iris."""
    out = np.array(normalized, dtype=np.float64, copy=True)
    shift = GAZE_LID_FOLLOW * EYEBALL_RADIUS * np.sin(np.deg2rad(np.asarray(gaze_pitch, dtype=np.float64)))
    shift = np.asarray(shift)[..., None]
    for upper, lower in zip(_UPPER, _LOWER):
        out[..., upper, 1] += shift
        out[..., lower, 1] += 0.3 * shift
    return out


def _polygon_mask(shape: tuple[int, int], polygon: np.ndarray) -> np.ndarray:
    """Float mask (1 inside) of a polygon given in pixel coordinates, drawn at 1/16-pixel precision."""
    import cv2

    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(polygon * 16).astype(np.int32)], 255, lineType=cv2.LINE_8, shift=4)
    return mask


def measure_iris(frame_rgb: np.ndarray, landmarks68_xy: np.ndarray, dark_share: float = 0.35) -> np.ndarray:
    """The iris centre of each eye measured from the pixels: (2, 2) x, y in pixels, image-left eye first.

    Inside each eye's contour (points 36-41 / 42-47) the darkest `dark_share` of the pixels are the iris and
    pupil; their centroid, weighted by how much darker than that threshold they are, is the centre. The eye is
    upsampled first so that a small eye still gives a sub-pixel answer, and pixels near the contour count
    less (lashes and lid shadows are dark too). NaN for an eye that is closed (eye aspect ratio under 0.1) or
    outside the frame. Used to check gaze on rendered frames."""
    import cv2

    image = np.asarray(frame_rgb)
    xy = np.asarray(landmarks68_xy, dtype=np.float64)[:, :2]
    height, width = image.shape[:2]
    ratios = eye_aspect_ratio(xy)
    out = np.full((2, 2), np.nan)
    for e, idx in enumerate(_EYES):
        pts = xy[idx]
        if not ratios[e] >= 0.1:  # also catches NaN landmarks
            continue
        eye_width = np.linalg.norm(pts[3] - pts[0])
        x0, y0 = np.floor(pts.min(0)).astype(int) - 2
        x1, y1 = np.ceil(pts.max(0)).astype(int) + 3
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue
        f = int(np.clip(np.ceil(64.0 / max(eye_width, 1.0)), 1, 8))
        roi = image[y0:y1, x0:x1].astype(np.float32)
        grey = roi @ np.array([0.299, 0.587, 0.114], np.float32) if roi.ndim == 3 else roi
        if f > 1:
            grey = cv2.resize(grey, ((x1 - x0) * f, (y1 - y0) * f), interpolation=cv2.INTER_CUBIC)
        # Landmark (x, y) in the upsampled ROI: pixel centres map as (x - x0 + 0.5) * f - 0.5.
        polygon = (pts - [x0, y0] + 0.5) * f - 0.5
        mask = _polygon_mask(grey.shape, polygon)
        if mask.sum() == 0:
            continue
        opening = eye_width * ratios[e] * f  # lid gap in upsampled pixels
        inside = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
        edge_weight = np.clip(inside / max(0.2 * opening, 1.0), 0.0, 1.0)
        values = grey[mask > 0]
        threshold = np.percentile(values, 100 * dark_share)
        weight = np.clip(threshold - grey, 0.0, None) * edge_weight
        total = weight.sum()
        if total <= 0:
            continue
        ys, xs = np.mgrid[0 : grey.shape[0], 0 : grey.shape[1]]
        centre = np.array([(weight * xs).sum(), (weight * ys).sum()]) / total
        out[e] = (centre + 0.5) / f - 0.5 + [x0, y0]
    return out


def carry_iris(rest_landmarks: np.ndarray, rest_iris: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Iris centres that keep their place in the eye while the head and lids move (no gaze change).

    rest_landmarks (68, 2|3) and rest_iris (2, 2) from the photo; landmarks (..., 68, 2|3) posed. Each iris keeps
    its coordinates relative to its eye's corners (36-39, 42-45), so it turns and scales with the head and does
    not follow the lids in a blink. Also accepts one eye: (6, 2) eye points, (2,) iris, (..., 6, 2) points."""
    rest = np.asarray(rest_landmarks, dtype=np.float64)[..., :2]
    pts = np.asarray(landmarks, dtype=np.float64)[..., :2]
    iris = np.asarray(rest_iris, dtype=np.float64)
    if rest.shape[0] == 6:  # one eye, its six points in iBUG order
        return _carry_one(rest[0], rest[3], iris, pts[..., 0, :], pts[..., 3, :])
    carried = [
        _carry_one(rest[idx[0]], rest[idx[3]], iris[e], pts[..., idx[0], :], pts[..., idx[3], :])
        for e, idx in enumerate(_EYES)
    ]
    return np.stack(carried, axis=-2)


def _carry_one(a0, b0, point, a, b):
    """The point with the same coordinates relative to the segment a-b as `point` has relative to a0-b0."""
    along0 = b0 - a0
    length0 = max(float(np.hypot(*along0)), 1e-9)
    u0 = along0 / length0
    rel = point - a0
    s = rel @ u0 / length0
    t = (rel[0] * -u0[1] + rel[1] * u0[0]) / length0
    along = b - a
    normal = np.stack([-along[..., 1], along[..., 0]], axis=-1)
    return a + s * along + t * normal


def posed_iris(rest_landmarks, rest_iris, normalized, poses, gaze_yaw=0.0, gaze_pitch=0.0) -> np.ndarray:
    """(T, 2, 2) iris centres for a Motion: the photo's own irises carried with the eyes (carry_iris), moved by a
    gaze in degrees relative to the photo's gaze (iris_centres' offset, re-posed). Gaze (0, 0) keeps the photo's
    gaze; the eye centre is not where a photo's iris is (the lids cover the iris unevenly)."""
    from .geometry import repose

    posed = repose(normalized, poses)
    offset = repose(iris_centres(normalized, gaze_yaw, gaze_pitch), poses) - repose(eye_centres(normalized), poses)
    return carry_iris(rest_landmarks, rest_iris, posed) + offset[..., :2]
