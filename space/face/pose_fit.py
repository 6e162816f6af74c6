"""Fit the 3D mean face to 2D landmarks: head pose, and 2D landmarks lifted to 3D.

Batched over frames: the closed-form start (least-squares affine camera, projected to the nearest scaled
rotation) is refined by a few Gauss-Newton steps on the three angles. Translation and scale have closed forms
for given angles, so only the angles are iterated. Only the rigid points enter the fit, so an open mouth, a
blink or raised brows do not tilt the head, and the upper jaw line counts less than the nose and the eye
corners: detectors place it least reliably (it is a contour, not a corner), and its depth gives it leverage.
"""

from __future__ import annotations

import numpy as np

from .geometry import euler_to_matrix, matrix_to_euler
from .mean_face import MEAN_FACE, RIGID_INDEX

JAW_WEIGHT = 0.35
# The lower cheek contour (2, 3 and 13, 14) is left out of the fit: when the jaw drops, the visible contour there
# stretches and detectors move those points with the mouth, which read as a nod (measured on rendered speech:
# 2.6 degrees of false pitch with them, 1.7 without; and lower pose error on the synthetic corpus).
SPEECH_MOVED_CONTOUR = (2, 3, 13, 14)
RIGID_WEIGHTS = np.where(RIGID_INDEX < 17, JAW_WEIGHT, 1.0) * ~np.isin(RIGID_INDEX, SPEECH_MOVED_CONTOUR)


def _nearest_rotation(affine: np.ndarray) -> np.ndarray:
    """(T, 2, 3) affine camera rows -> (T, 3, 3) closest proper rotation."""
    r1, r2 = affine[:, 0], affine[:, 1]
    r1 = r1 / np.linalg.norm(r1, axis=-1, keepdims=True)
    r2 = r2 / np.linalg.norm(r2, axis=-1, keepdims=True)
    m = np.stack([r1, r2, np.cross(r1, r2)], axis=1)
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    u[:, :, -1] *= d[:, None]
    return u @ vt


def _project(angles: np.ndarray, model: np.ndarray) -> np.ndarray:
    rot = euler_to_matrix(angles[:, 0], angles[:, 1], angles[:, 2])
    return np.einsum("tij,nj->tni", rot, model)[..., :2]  # (T, N, 2)


def _solve_similarity(proj, pts, w):
    """Best scale and translation of projected model points onto pts, weighted: (scale (T,), shift (T, 2))."""
    wsum = w.sum()
    pm = (w[:, None] * proj).sum(1) / wsum
    lm = (w[:, None] * pts).sum(1) / wsum
    pc, lc = proj - pm[:, None], pts - lm[:, None]
    scale = (w[:, None] * pc * lc).sum((1, 2)) / (w[:, None] * pc**2).sum((1, 2))
    return scale, lm - scale[:, None] * pm


def _residuals(angles, pts, model, w):
    """Weighted residuals (T, 2N) of the best similarity for these angles, with its scale and shift."""
    proj = _project(angles, model)
    scale, shift = _solve_similarity(proj, pts, w)
    res = (pts - scale[:, None, None] * proj - shift[:, None]) * np.sqrt(w)[:, None]
    return res.reshape(len(pts), -1), scale, shift


def fit_pose(landmarks2d: np.ndarray, iterations: int = 8, model: np.ndarray = MEAN_FACE):
    """Fit the head pose of each frame.

    landmarks2d: (T, 68, 2) or (68, 2) image pixels.
    Returns (poses (T, 6) float64 in geometry.POSE_FIELDS layout, landmarks3d (T, 68, 3) in pixels,
    rms (T,) weighted rigid-point fit error in pixels). A single frame in gives a leading axis of 1.
    """
    pts = np.asarray(landmarks2d, dtype=np.float64)
    if pts.ndim == 2:
        pts = pts[None]
    rigid_model, rigid, w = model[RIGID_INDEX], pts[:, RIGID_INDEX], RIGID_WEIGHTS

    # Closed-form start: weighted least squares for an affine camera, then the nearest rotation.
    centred_model = rigid_model - (w[:, None] * rigid_model).sum(0) / w.sum()
    centred_pts = rigid - (w[:, None] * rigid).sum(1, keepdims=True) / w.sum()
    pinv = np.linalg.pinv(centred_model * np.sqrt(w)[:, None]) * np.sqrt(w)[None, :]  # (3, N)
    affine = np.einsum("in,tnj->tji", pinv, centred_pts)  # (T, 2, 3)
    angles = np.stack(matrix_to_euler(_nearest_rotation(affine)), -1)

    eps = 1e-3
    for _ in range(iterations):
        res = _residuals(angles, rigid, rigid_model, w)[0]
        jac = np.stack(
            [(_residuals(angles + eps * np.eye(3)[k], rigid, rigid_model, w)[0] - res) / eps for k in range(3)], -1
        )
        # Gauss-Newton: minimise |res + J d|
        jtj = np.einsum("tmi,tmj->tij", jac, jac) + 1e-9 * np.eye(3)
        jtr = np.einsum("tmi,tm->ti", jac, res)
        angles = angles - np.linalg.solve(jtj, jtr[..., None])[..., 0]
    res, scale, shift = _residuals(angles, rigid, rigid_model, w)
    rms = np.sqrt((res**2).sum(1) / w.sum())

    # The shift maps the projected model origin to the image: it is the pose translation.
    poses = np.concatenate([angles, shift, scale[:, None]], axis=1)
    rot = euler_to_matrix(angles[:, 0], angles[:, 1], angles[:, 2])
    depth = scale[:, None] * np.einsum("tj,nj->tn", rot[:, 2], model)  # z of the posed model, pixels
    landmarks3d = np.concatenate([pts, depth[..., None]], axis=-1)
    return poses, landmarks3d, rms
