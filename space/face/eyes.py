"""Eyes: blink and gaze edits of (normalized) landmarks, and the measures that check them.

Edits work on landmarks in the normalized space (space.face.geometry), where the eye is level and of a known
size; re-posing afterwards puts them back in the image. The 68-point set has no iris, so gaze is carried as
iris centres next to the landmarks (what a renderer needs) plus the eyelid motion that comes with it: the
upper lid follows the eye when it looks down or up.
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
