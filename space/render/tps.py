"""Thin-plate splines: the smooth dense deformation behind the `warp` renderer.

A thin-plate spline through control points c_i with values v_i is

    f(x) = a0 + a1 x + a2 y + sum_i w_i U(|x - c_i|),   U(r) = r^2 log r^2

the interpolant of least bending energy (Bookstein 1989): it has no creases (unlike a triangle mesh, whose
affine pieces meet at kinks that show as zig-zag seams) and is exact at the points (with `smoothing` 0).

The renderer fits a spline per frame from the frame's control points (where the points are) to displacements
(where the photo has them, minus where they are), so evaluating it on the output pixel grid gives the backward
map cv2.remap wants, with no inversion. Cost per frame: one (N+3) x (N+3) solve and a (G x N) kernel on an
evaluation grid G (coarse, then upsampled bilinearly: the map is smooth), a few milliseconds at 512 x 512.
"""

from __future__ import annotations

import cv2
import numpy as np


def _kernel(d2: np.ndarray) -> np.ndarray:
    """U on squared distances: r^2 log r^2 (0 at 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = d2 * np.log(d2)
    out[d2 <= 0] = 0.0
    return out


class ThinPlateSpline:
    """A 2D -> 2D thin-plate spline fitted to (N, 2) points and (N, 2) values; coordinates are scaled by
    `scale` internally (pixels / image size) so the system is well conditioned at any resolution."""

    def __init__(self, points: np.ndarray, values: np.ndarray, scale: float = 1.0, smoothing: float = 0.0):
        c = np.asarray(points, np.float64) / scale
        v = np.asarray(values, np.float64)
        n = len(c)
        d2 = ((c[:, None, :] - c[None, :, :]) ** 2).sum(-1)
        system = np.zeros((n + 3, n + 3))
        system[:n, :n] = _kernel(d2) + smoothing * np.eye(n)
        system[:n, n] = 1.0
        system[:n, n + 1 :] = c
        system[n, :n] = 1.0
        system[n + 1 :, :n] = c.T
        rhs = np.zeros((n + 3, v.shape[1]))
        rhs[:n] = v
        try:
            solution = np.linalg.solve(system, rhs)
        except np.linalg.LinAlgError:  # coincident points: the least-squares spline
            solution = np.linalg.lstsq(system, rhs, rcond=None)[0]
        self.centres = c.astype(np.float32)
        self.weights = solution[:n].astype(np.float32)
        self.affine = solution[n:].astype(np.float32)  # (3, D): constant, x, y
        self.scale = float(scale)
        self._c2 = (self.centres**2).sum(1)

    def __call__(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) pixel positions -> (..., D) values."""
        shape = xy.shape[:-1]
        p = np.asarray(xy, np.float32).reshape(-1, 2) / np.float32(self.scale)
        d2 = (p**2).sum(1)[:, None] + self._c2[None] - 2.0 * (p @ self.centres.T)
        np.maximum(d2, 1e-12, out=d2)
        u = d2 * np.log(d2)
        out = u @ self.weights + self.affine[0] + p @ self.affine[1:]
        return out.reshape(*shape, -1)


class GridEvaluator:
    """Evaluates a smooth 2D field on every pixel of a (size, size) image through a coarse lattice: the field at
    every `step`-th pixel, then bilinear interpolation between the nodes (node k on pixel k * step exactly)."""

    def __init__(self, size: int, step: int):
        self.size, self.step = int(size), int(step)
        n = -(-(self.size - 1) // self.step) + 1  # nodes per side: the last one at or past the last pixel
        axis = np.arange(n, dtype=np.float32) * self.step
        xs, ys = np.meshgrid(axis, axis)
        self.lattice = np.stack([xs, ys], -1)  # (n, n, 2) pixel positions of the nodes
        # Each pixel's position in lattice units: cv2.remap of the lattice values there is the interpolation.
        coords = np.arange(self.size, dtype=np.float32) / self.step
        self._map_x = np.ascontiguousarray(np.broadcast_to(coords[None, :], (self.size, self.size)))
        self._map_y = np.ascontiguousarray(np.broadcast_to(coords[:, None], (self.size, self.size)))

    def coarse(self, field) -> np.ndarray:
        """(n, n, D) float32 values of `field` (a callable on (..., 2) pixel positions) at the nodes."""
        return np.ascontiguousarray(field(self.lattice), dtype=np.float32)

    def upsample(self, values: np.ndarray) -> np.ndarray:
        """(n, n, D) node values (D <= 4) -> (size, size, D) at every pixel."""
        out = cv2.remap(values, self._map_x, self._map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return out.reshape(self.size, self.size, -1)
