"""Piecewise-affine image warping driven by landmarks.

The image is cut into triangles over the source points (landmarks plus anchors), and every triangle is mapped
affinely onto the same triangle over the destination points. Done as one dense inverse map and one cv2.remap,
so a 512x512 frame costs a few milliseconds.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import Delaunay


def border_anchors(width: int, height: int, per_side: int = 4) -> np.ndarray:
    """Fixed points along the image border (corners included), so the warp covers the whole frame."""
    xs = np.linspace(0, width - 1, per_side + 1)
    ys = np.linspace(0, height - 1, per_side + 1)
    top = np.stack([xs, np.zeros_like(xs)], 1)
    bottom = np.stack([xs, np.full_like(xs, height - 1)], 1)
    left = np.stack([np.zeros_like(ys[1:-1]), ys[1:-1]], 1)
    right = np.stack([np.full_like(ys[1:-1], width - 1), ys[1:-1]], 1)
    return np.concatenate([top, bottom, left, right])


def triangulate(points: np.ndarray) -> np.ndarray:
    """(N, 2) -> (K, 3) vertex indices of a Delaunay triangulation."""
    return Delaunay(np.asarray(points, dtype=np.float64)).simplices.astype(np.int32)


def _inverse_affines(src: np.ndarray, dst: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(K, 2, 3) affine maps taking each destination triangle onto its source triangle."""
    d = np.concatenate([dst[triangles], np.ones(triangles.shape + (1,))], axis=-1)  # (K, 3, 3)
    s = src[triangles]  # (K, 3, 2)
    # pinv, not solve: a destination triangle collapsed to a line (a shut eyelid) must not raise.
    maps = np.einsum("kij,kjl->kil", np.linalg.pinv(d), s)  # (K, 3, 2): [x y 1] @ M = src
    return maps.transpose(0, 2, 1)


def warp_image(image: np.ndarray, src: np.ndarray, dst: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Move the pixels at `src` points to `dst` points ((N, 2) each), piecewise-affinely over `triangles`."""
    height, width = image.shape[:2]
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    # Which destination triangle covers each pixel (0 = none: the pixel stays where it is).
    owner = np.zeros((height, width), np.int32)
    for k, tri in enumerate(triangles):
        cv2.fillConvexPoly(owner, np.round(dst[tri]).astype(np.int32), k + 1, lineType=cv2.LINE_8)
    identity = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    affines = np.concatenate([identity, _inverse_affines(src, dst, triangles)])  # index 0: identity
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    a = affines[owner]  # (H, W, 2, 3)
    map_x = (a[..., 0, 0] * xs + a[..., 0, 1] * ys + a[..., 0, 2]).astype(np.float32)
    map_y = (a[..., 1, 0] * xs + a[..., 1, 1] * ys + a[..., 1, 2]).astype(np.float32)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
