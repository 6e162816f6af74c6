"""Head pose and SPACE's normalized (pose-free) landmark space.

Pose model: scaled orthographic projection of a rigid face, which is what the landmarks of a talking head
support (depth is not observable from one view, perspective effects at portrait distance are small):

    X_image = scale * R(yaw, pitch, roll) @ X_normalized + [tx, ty, 0]

X_image are 3D landmarks in image pixels (x right, y down, z into the scene in pixel units), X_normalized
the same face with the head pose removed, in the units of the mean face (space.face.mean_face). Normalizing and
re-posing are exact inverses of each other up to float error, for any landmarks (not only mean-face shaped).

Angles are degrees. R = Rz(roll) @ Ry(yaw) @ Rx(pitch) in the camera frame (x right, y down, z forward):
yaw turns the face about the vertical axis (positive: the nose moves to the image right), pitch about the
horizontal axis (positive: the nose moves down, the head nods down), roll about the viewing axis
(positive: clockwise in the image).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POSE_FIELDS = ("yaw", "pitch", "roll", "tx", "ty", "scale")


def _rx(a):
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([o, z, z, z, c, -s, z, s, c], -1).reshape(*np.shape(a), 3, 3)


def _ry(a):
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([c, z, -s, z, o, z, s, z, c], -1).reshape(*np.shape(a), 3, 3)


def _rz(a):
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(*np.shape(a), 3, 3)


def euler_to_matrix(yaw, pitch, roll) -> np.ndarray:
    """Degrees (scalars or arrays of one shape S) -> rotation matrices (S + (3, 3))."""
    y, p, r = (np.deg2rad(np.asarray(v, dtype=np.float64)) for v in (yaw, pitch, roll))
    return _rz(r) @ _ry(y) @ _rx(p)


def matrix_to_euler(rot: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotation matrices (..., 3, 3) -> (yaw, pitch, roll) in degrees; inverse of euler_to_matrix for |yaw| < 90."""
    rot = np.asarray(rot, dtype=np.float64)
    # R = Rz Ry Rx: R[2,0] = sin(yaw), R[2,1] = cos(yaw) sin(pitch), R[2,2] = cos(yaw) cos(pitch),
    # R[0,0] = cos(roll) cos(yaw), R[1,0] = sin(roll) cos(yaw).
    yaw = np.arcsin(np.clip(rot[..., 2, 0], -1.0, 1.0))
    pitch = np.arctan2(rot[..., 2, 1], rot[..., 2, 2])
    roll = np.arctan2(rot[..., 1, 0], rot[..., 0, 0])
    return np.rad2deg(yaw), np.rad2deg(pitch), np.rad2deg(roll)


@dataclass(frozen=True)
class HeadPose:
    """One frame's head pose. `as_vector()` gives the (6,) float32 layout used in tables: POSE_FIELDS."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    tx: float = 0.0
    ty: float = 0.0
    scale: float = 1.0

    @property
    def rotation(self) -> np.ndarray:
        return euler_to_matrix(self.yaw, self.pitch, self.roll)

    @property
    def translation(self) -> np.ndarray:
        return np.array([self.tx, self.ty, 0.0])

    def as_vector(self) -> np.ndarray:
        return np.array([getattr(self, f) for f in POSE_FIELDS], dtype=np.float32)

    @classmethod
    def from_vector(cls, v) -> "HeadPose":
        return cls(*(float(x) for x in np.asarray(v).reshape(6)))

    @classmethod
    def from_matrix(cls, rot: np.ndarray, tx: float, ty: float, scale: float) -> "HeadPose":
        yaw, pitch, roll = matrix_to_euler(rot)
        return cls(float(yaw), float(pitch), float(roll), float(tx), float(ty), float(scale))


def poses_to_array(poses) -> np.ndarray:
    """A sequence of HeadPose -> (T, 6) float32."""
    return np.stack([p.as_vector() for p in poses]) if len(poses) else np.zeros((0, 6), np.float32)


def _pose_parts(pose: "HeadPose | np.ndarray"):
    """HeadPose or (..., 6) vectors -> rotation (..., 3, 3), translation (..., 3), scale (...)."""
    if isinstance(pose, HeadPose):
        v = np.array([getattr(pose, f) for f in POSE_FIELDS], dtype=np.float64)  # not as_vector: keep float64
    else:
        v = np.asarray(pose, dtype=np.float64)
    rot = euler_to_matrix(v[..., 0], v[..., 1], v[..., 2])
    trans = np.stack([v[..., 3], v[..., 4], np.zeros_like(v[..., 4])], -1)
    return rot, trans, v[..., 5]


def repose(normalized: np.ndarray, pose: "HeadPose | np.ndarray") -> np.ndarray:
    """Normalized landmarks (..., N, 3) + pose (HeadPose, or (..., 6)) -> image-space 3D landmarks (..., N, 3)."""
    rot, trans, scale = _pose_parts(pose)
    x = np.asarray(normalized, dtype=np.float64)
    posed = scale[..., None, None] * np.einsum("...ij,...nj->...ni", rot, x) + trans[..., None, :]
    return posed


def normalize(landmarks: np.ndarray, pose: "HeadPose | np.ndarray") -> np.ndarray:
    """Image-space 3D landmarks (..., N, 3) -> pose-free landmarks; the exact inverse of `repose`."""
    rot, trans, scale = _pose_parts(pose)
    x = np.asarray(landmarks, dtype=np.float64) - trans[..., None, :]
    # R^T (x - t) / s, with R orthonormal
    return np.einsum("...ji,...nj->...ni", rot, x) / scale[..., None, None]


def project(points3d: np.ndarray) -> np.ndarray:
    """Scaled orthographic projection: drop z."""
    return np.asarray(points3d)[..., :2]


def pose_delta(reference: np.ndarray, poses: np.ndarray) -> np.ndarray:
    """Head motion relative to a reference pose, in units that carry over to another face and image size.

    (6,) reference, (..., 6) absolute poses -> (..., 6): the rotation R @ R_ref^T as (yaw, pitch, roll) degrees
    (motion in the camera frame), translation in units of the reference scale (mean-face units, so a nod moves
    a small and a large face alike) and log scale ratio. `compose_pose` is its exact inverse."""
    ref = np.asarray(reference, dtype=np.float64)
    v = np.asarray(poses, dtype=np.float64)
    delta_rot = euler_to_matrix(v[..., 0], v[..., 1], v[..., 2]) @ euler_to_matrix(*ref[:3]).T
    yaw, pitch, roll = matrix_to_euler(delta_rot)
    shift = (v[..., 3:5] - ref[3:5]) / ref[5]
    return np.concatenate(
        [np.stack([yaw, pitch, roll], -1), shift, np.log(v[..., 5:6] / ref[5])], axis=-1
    )


def compose_pose(reference: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """(6,) reference pose + (..., 6) deltas (as `pose_delta` gives) -> (..., 6) absolute poses."""
    ref = np.asarray(reference, dtype=np.float64)
    d = np.asarray(delta, dtype=np.float64)
    rot = euler_to_matrix(d[..., 0], d[..., 1], d[..., 2]) @ euler_to_matrix(*ref[:3])
    yaw, pitch, roll = matrix_to_euler(rot)
    txy = ref[3:5] + d[..., 3:5] * ref[5]
    return np.concatenate([np.stack([yaw, pitch, roll], -1), txy, ref[5] * np.exp(d[..., 5:6])], axis=-1)


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares scale, rotation (2, 2) and shift mapping src (N, 2) points onto dst (Umeyama)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    u, sigma, vt = np.linalg.svd(d.T @ s)
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ sign @ vt
    scale = float((sigma * np.diag(sign)).sum() / max((s**2).sum(), 1e-12))
    return scale, rot, mu_d - scale * mu_s @ rot.T
