"""Head-pose tracks for an animation: where the head points in each frame.

Every source gives motion as deltas from the photo's own pose (`space.face.geometry.pose_delta` units: camera-frame
rotation in degrees, translation in mean-face units, log scale), so one path applies them all:

    natural    the learned pose generator, sampled from the speech (seedable)
    static     the photo's pose held still
    keyframes  user keys (time -> yaw, pitch, roll[, tx, ty, scale]) joined by a monotone cubic (no overshoot)
    transfer   a reference video's motion, measured by the landmark path, relative to its first frame

A constant user offset (`--yaw/--pitch/--roll`) turns the head on top of any of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..face.geometry import compose_pose, pose_delta


@dataclass(frozen=True)
class Keyframe:
    """Head pose at `time` seconds, relative to the photo: degrees, then shift in face units and scale ratio."""

    time: float
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    tx: float = 0.0
    ty: float = 0.0
    scale: float = 1.0

    def as_delta(self) -> np.ndarray:
        if self.scale <= 0:
            raise ValueError(f"keyframe at {self.time:g}s: scale must be > 0, got {self.scale:g}")
        return np.array([self.yaw, self.pitch, self.roll, self.tx, self.ty, np.log(self.scale)])


_KEY = re.compile(r"^\s*([0-9.]+)\s*:\s*([-+0-9.eE,\s]+)$")


def parse_keyframes(spec: str) -> list[Keyframe]:
    """'0:0,0,0; 1.5:15,-5,0; 3:0,0,0,0.1,0,1.05' -> keyframes (time: yaw,pitch,roll[,tx,ty,scale])."""
    keys = []
    for part in filter(str.strip, spec.split(";")):
        match = _KEY.match(part)
        values = match and [v for v in match.group(2).split(",") if v.strip()]
        if not match or not 1 <= len(values) <= 6:
            raise ValueError(
                f"keyframe {part.strip()!r}: expected TIME:YAW[,PITCH,ROLL[,TX,TY,SCALE]] (e.g. '1.5:15,-5,0')"
            )
        try:
            numbers = [float(v) for v in values]
        except ValueError:
            raise ValueError(f"keyframe {part.strip()!r}: values must be numbers") from None
        keys.append(Keyframe(float(match.group(1)), *numbers))
    if not keys:
        raise ValueError(f"keyframes {spec!r}: no keyframe given")
    return keys


def static_motion(num_frames: int) -> np.ndarray:
    """(T, 6) deltas of a head held still."""
    return np.zeros((num_frames, 6))


def keyframe_motion(keys: list[Keyframe], num_frames: int, fps: float = 25.0) -> np.ndarray:
    """(T, 6) deltas through the keys; held constant before the first and after the last key."""
    from scipy.interpolate import PchipInterpolator

    keys = sorted(keys, key=lambda k: k.time)
    times = np.array([k.time for k in keys])
    if len(np.unique(times)) != len(times):
        raise ValueError(f"keyframes: two keys at the same time ({times.tolist()})")
    values = np.stack([k.as_delta() for k in keys])
    t = np.clip(np.arange(num_frames) / fps, times[0], times[-1])
    if len(keys) == 1:
        return np.repeat(values, num_frames, axis=0)
    return PchipInterpolator(times, values, axis=0)(t)


def fit_length(sequence: np.ndarray, num_frames: int) -> np.ndarray:
    """Cut a (T', ...) sequence to num_frames, or extend it by playing it back and forth (no jump at the seam)."""
    if len(sequence) >= num_frames:
        return sequence[:num_frames]
    cycle = np.concatenate([sequence, sequence[-2:0:-1]]) if len(sequence) > 2 else sequence
    reps = -(-num_frames // len(cycle))
    return np.concatenate([cycle] * reps)[:num_frames]


def smooth(sequence: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along time (edges held), to take landmark jitter out of a measured pose."""
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(sequence, sigma, axis=0, mode="nearest") if sigma > 0 else sequence


def transfer_motion(reference_poses: np.ndarray, num_frames: int, sigma: float = 1.0) -> np.ndarray:
    """(T, 6) deltas: a reference video's head motion relative to its first frame, fitted to the clip length."""
    deltas = pose_delta(reference_poses[0], reference_poses)
    return fit_length(smooth(deltas, sigma), num_frames)


def reference_poses(video: str, backend=None, fps: float = 25.0, progress: bool = False) -> np.ndarray:
    """(T', 6) head poses of the main face in a reference video, through the landmark path."""
    from ..face.backend import make_backend
    from ..face.landmarks import track_video

    track, _, _ = track_video(video, backend or make_backend("dlib"), fps=fps, progress=progress)
    return track.poses.astype(np.float64)


def apply_motion(photo_pose: np.ndarray, motion: np.ndarray, offset=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Absolute (T, 6) poses: the photo's pose, turned by a constant (yaw, pitch, roll) offset, then moved."""
    base = compose_pose(photo_pose, np.array([*offset, 0.0, 0.0, 0.0]))
    return compose_pose(base, motion)
