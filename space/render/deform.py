"""The head's dense deformation: where every output pixel samples the photo, for one frame's landmarks and pose.

    control points (photo -> frame):
      face     the 68 landmarks, where the photo has them -> where the motion puts them, and points half way
               between the upper lids and the brows (the lid's skin stretches evenly when it closes)
      outline  points over the skull and hair, ear to ear (the portrait's `ring`), moving rigidly with the pose,
               and points just outside the jaw line that follow the jaw
      neck     points below the jaw that move half as far (the neck bends; the torso does not turn with the head)
      surround a loose contour around the head, outside its mask, carried rigidly with the head
      still    the torso: it does not move
    -> one thin-plate spline from the frame's points to the photo's (space.render.tps): smooth everywhere, so no
       seam at the hairline, the cheek or the neck
    -> its displacement times a soft head mask (1 on the head, falling to 0 across the band between the outline
       and the outer contour): the torso and background stay exactly still and the boundary blends
    -> evaluated on a lattice every size/64 pixels, plus a finer lattice over the mouth and the eyes (where the
       lips and lids move by more than their own size), upsampled to every pixel

Units of the head geometry are mean-face units of the normalized space (space.face.mean_face: the face 1.4 wide,
eye line to chin 1.15), scaled by the photo's own face width.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..face.geometry import fit_similarity, repose
from .tps import GridEvaluator, ThinPlateSpline

LATTICE_DIVISIONS = 64  # the coarse lattice: size / 64 pixels between nodes
FINE_STEP_AT_256 = 1.0  # the lattice over the mouth and the eyes: this many pixels at 256 (2 at 512)
NECK_FOLLOW = 0.5  # share of the head's motion the neck points follow
#: skin between two landmarks that stretches evenly: (from, to, fraction). Over each upper lid, half way to the
#: brow: without them a blink's 10-pixel lid travel bends the spline up into the brows.
BETWEEN = ((37, 19, 0.5), (38, 20, 0.5), (43, 23, 0.5), (44, 24, 0.5))
#: the jaw contour (landmarks 0-16) is a silhouette: when the head turns, the visible edge is cheek surface, not
#: the ear-level depth the 3D fit gives those points (up to 0.85 face widths behind the eyes). Moved as if no
#: deeper than this, the temples and cheeks do not fold over each other in a turn.
CONTOUR_DEPTH = 0.55
SMOOTHING = 1e-7  # spline regularisation (in units of the image size): exact to ~1e-3 px, never singular
#: the mask's fall-off is at least this many times the head's largest displacement: output pixel p samples the
#: photo at p + mask(p) * d(p), which folds (ripples in the hair and the background) where d * mask' > 1; the
#: smoothstep's steepest slope is 1.5 / fall-off, so 2 keeps that below 0.75
FOLD_MARGIN = 2.0


def head_outline(normalized: np.ndarray) -> np.ndarray:
    """(R, 3) normalized points on the head's outline that move rigidly with it: an arc over the skull and the
    hair from ear to ear (the skull top about 1.0 above the eye line, the hair's sides about 0.98 from the
    midline, in face widths)."""
    pts = np.asarray(normalized, np.float64)
    centre_x = float(pts[[0, 16], 0].mean())
    width = _face_width(pts)
    eye_y = float(pts[36:48, 1].mean())
    angles = np.linspace(np.pi, 2 * np.pi, 11)  # ear (image left) -> top -> ear (image right); y up is negative
    return np.stack([centre_x + 0.98 * width * np.cos(angles), eye_y + 1.02 * width * np.sin(angles),
                     np.full_like(angles, 0.55 * width)], 1)


def _face_width(normalized: np.ndarray) -> float:
    """The face's width (jaw 0 to 16) over the mean face's (1.4)."""
    width = float(normalized[16, 0] - normalized[0, 0]) / 1.4
    return width if np.isfinite(width) and width > 1e-6 else 1.0


def jaw_offsets(landmarks_px: np.ndarray) -> np.ndarray:
    """(15, 2) pixel offsets from jaw points 1-15 to points just outside them (cheeks, the chin's underside):
    those follow the jaw as it moves (a rigid outline there would cross a dropping chin)."""
    lm = np.asarray(landmarks_px, np.float64)[:, :2]
    width = float(np.linalg.norm(lm[16] - lm[0]))
    centre = np.array([lm[[0, 16], 0].mean(), lm[36:48, 1].mean() + 0.3 * width / 1.4])  # below the nose bridge
    away = lm[1:16] - centre
    away /= np.maximum(np.linalg.norm(away, axis=1, keepdims=True), 1e-9)
    return 0.16 / 1.4 * width * away


def neck_points(normalized: np.ndarray) -> np.ndarray:
    """(K, 3) normalized points on the neck below the chin (they follow the head by NECK_FOLLOW)."""
    pts = np.asarray(normalized, np.float64)
    width = _face_width(pts)
    chin = pts[8]
    xs = np.array([-0.32, 0.0, 0.32]) * width
    return np.stack([chin[0] + xs, np.full(3, chin[1] + 0.42 * width), np.full(3, 0.4 * width)], 1)


def still_points(photo_landmarks: np.ndarray, face_width_px: float) -> np.ndarray:
    """(7, 2) pixels that never move: the torso below the neck. (The image border needs no points: the head
    mask holds everything outside the moving head still, and border points inside a risen head would pin its
    hair and fold it.)"""
    lm = np.asarray(photo_landmarks, np.float64)[:, :2]
    centre_x, w = lm[27:36, 0].mean(), float(face_width_px)
    return np.stack([centre_x + np.linspace(-1.6, 1.6, 7) * w, np.full(7, lm[8, 1] + 0.75 * w)], 1)


def surround_points(photo_landmarks: np.ndarray, face_width_px: float) -> np.ndarray:
    """(12, 2) pixels on a loose contour around the head (1.25 face widths from the nose, 1.3 above the eyes),
    outside its mask: the background there is carried rigidly with the head, which the mask then fades out. Held
    still instead, a head coming closer than the photo's crosses them and folds the background into ripples."""
    lm = np.asarray(photo_landmarks, np.float64)[:, :2]
    centre_x, eye_y, w = lm[27:36, 0].mean(), lm[36:48, 1].mean(), float(face_width_px)
    angles = np.linspace(np.pi * 0.95, 2.05 * np.pi, 12)
    return np.stack([centre_x + 1.25 * w * np.cos(angles), eye_y + 1.3 * w * np.sin(angles)], 1)


def contour_shift(normalized: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """(17, 2) pixels: where the jaw contour is drawn with its depth capped at CONTOUR_DEPTH, minus where the 3D
    landmarks put it."""
    pts = np.asarray(normalized, np.float64)[:17]
    flat = pts.copy()
    cap = CONTOUR_DEPTH * _face_width(np.asarray(normalized, np.float64))
    flat[:, 2] = np.minimum(flat[:, 2], pts[:, 2].min() + cap)
    return (repose(flat, pose) - repose(pts, pose))[:, :2]


def _between(landmarks: np.ndarray) -> np.ndarray:
    """(len(BETWEEN), 2) the skin points between landmark pairs."""
    a, b, f = (np.array(v) for v in zip(*BETWEEN))
    return landmarks[a] + f[:, None] * (landmarks[b] - landmarks[a])


def hull_distance(outline_px: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32: each pixel's distance in pixels from the outline's convex hull (0 inside)."""
    inside = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(inside, cv2.convexHull(np.round(outline_px).astype(np.int32)), 1)
    return cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5)


def fade(distance: np.ndarray, falloff: float) -> np.ndarray:
    """1 at distance 0, falling smoothly (smoothstep) to 0 at `falloff`; float32."""
    t = np.clip(1.0 - distance / max(falloff, 1.0), 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)


class HeadDeformation:
    """The per-portrait set-up of the deformation and its per-frame backward maps."""

    def __init__(self, landmarks: np.ndarray, normalized: np.ndarray, pose: np.ndarray, size: int,
                 outline: np.ndarray | None = None):
        self.size = int(size)
        self.pose = np.asarray(pose, np.float64)
        self.landmarks = np.asarray(landmarks, np.float64)[:, :2]
        self.contour_at_rest = contour_shift(normalized, self.pose)
        self.outline = head_outline(normalized) if outline is None else np.asarray(outline, np.float64)
        self.neck = neck_points(normalized)
        outline_px = repose(self.outline, self.pose)[:, :2]
        self.neck_px = repose(self.neck, self.pose)[:, :2]
        face_width = float(np.linalg.norm(self.landmarks[16] - self.landmarks[0]))
        self.falloff = 0.45 * face_width
        self.jaw_offsets = jaw_offsets(self.landmarks)
        outside_jaw = self.landmarks[1:16] + self.jaw_offsets
        self.distance = hull_distance(np.concatenate([outline_px, outside_jaw]), self.size)  # (S, S) pixels
        mask = fade(self.distance, self.falloff)
        self.head_mask = mask  # (S, S): 1 on the head, 0 where nothing moves (for the photo's own pose)
        # Still or surrounding points inside the moving head (the border of a tight crop) would pin the hair: drop
        # them.
        def outside(points):
            ij = np.clip(np.round(points).astype(int), 0, self.size - 1)
            return points[mask[ij[:, 1], ij[:, 0]] < 0.05]

        self.surround = outside(surround_points(self.landmarks, face_width))
        self.still = outside(still_points(self.landmarks, face_width))
        self.src = np.concatenate([self.landmarks, _between(self.landmarks), outside_jaw, outline_px, self.neck_px,
                                   self.surround, self.still])
        # the control points that move rigidly with the head (outside the jaw, the outline): where the head went
        first = len(self.landmarks) + len(BETWEEN)
        self.rigid = slice(first, first + len(outside_jaw) + len(outline_px))
        self.grid = GridEvaluator(self.size, max(1, self.size // LATTICE_DIVISIONS))
        self.distance_lattice = self._distance_at(self.grid.lattice)
        self.fine_step = max(1.0, FINE_STEP_AT_256 * self.size / 256)
        ys, xs = np.mgrid[0 : self.size, 0 : self.size].astype(np.float32)
        self._xs, self._ys = xs, ys

    def control_points(self, landmarks: np.ndarray, pose: np.ndarray, normalized: np.ndarray | None = None) -> np.ndarray:
        """(N, 2) the frame's control points, in the order of `self.src`. With the frame's `normalized` landmarks
        the jaw contour moves as a silhouette (contour_shift)."""
        moved = repose(self.outline, pose)[:, :2]
        neck = self.neck_px + NECK_FOLLOW * (repose(self.neck, pose)[:, :2] - self.neck_px)
        landmarks = np.array(landmarks, np.float64)[:, :2]
        if normalized is not None:
            landmarks[:17] += contour_shift(normalized, pose) - self.contour_at_rest
        # The offsets outside the jaw turn and scale with the head in the image plane.
        pose = np.asarray(pose, np.float64)
        roll = np.deg2rad(pose[2] - self.pose[2])
        turn = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]]) * (pose[5] / self.pose[5])
        jaw = landmarks[1:16] + self.jaw_offsets @ turn.T
        scale, rot, shift = fit_similarity(self.src[self.rigid], np.concatenate([jaw, moved]))  # photo -> frame
        surround = scale * self.surround @ rot.T + shift
        return np.concatenate([landmarks, _between(landmarks), jaw, moved, neck, surround, self.still])

    def maps(self, landmarks: np.ndarray, pose: np.ndarray, normalized: np.ndarray | None = None,
             fine_boxes=()) -> tuple[np.ndarray, np.ndarray]:
        """(map_x, map_y) float32 (S, S): the photo pixel each output pixel samples. `fine_boxes`: (x0, y0, x1,
        y1) output regions evaluated on the fine lattice (the mouth, the eyes)."""
        dst = self.control_points(landmarks, pose, normalized)
        spline = ThinPlateSpline(dst, self.src - dst, scale=self.size, smoothing=SMOOTHING)
        coarse = self.grid.coarse(spline) * self.moving_lattice(dst)
        shift = self.grid.upsample(coarse)  # (S, S, 2)
        for box in fine_boxes:
            self._refine(shift, spline, box)
        return shift[..., 0] + self._xs, shift[..., 1] + self._ys

    def _distance_at(self, points: np.ndarray) -> np.ndarray:
        """(n, n, 1) the photo's hull distance at (n, n, 2) pixel positions (far away outside the image)."""
        far = float(4 * self.size)
        return cv2.remap(self.distance, points[..., 0], points[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=far)[..., None]

    def moving_lattice(self, dst: np.ndarray) -> np.ndarray:
        """(n, n, 1) where the frame's displacement applies: the photo's head mask, joined by the same hull carried
        to where the head is now, fading over at least FOLD_MARGIN times the head's displacement. A head that
        rises or comes closer than the photo's (a reference video's speaker leaning in) leaves the photo's mask;
        damped there, the face would lag behind its own landmarks and tear against the eyes and the mouth, which
        follow them exactly; and a short fade under a long displacement folds the background."""
        scale, rot, shift = fit_similarity(dst[self.rigid], self.src[self.rigid])  # frame -> photo
        back = self.grid.lattice @ (scale * rot).T.astype(np.float32) + shift.astype(np.float32)
        distance = np.minimum(self.distance_lattice, self._distance_at(back.astype(np.float32)))
        reach = float(np.linalg.norm(self.src[self.rigid] - dst[self.rigid], axis=1).max())
        return fade(distance, max(self.falloff, FOLD_MARGIN * reach))

    def _refine(self, shift: np.ndarray, spline: ThinPlateSpline, box) -> None:
        """Overwrite `shift` inside `box` with the spline on a lattice `fine_step` apart, feathered at its edge.
        Inside the face the head mask is 1, so the spline itself is the displacement there."""
        step = self.fine_step
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, self.size), min(y1, self.size)
        if x1 - x0 < 4 or y1 - y0 < 4:
            return
        nx, ny = int(np.ceil((x1 - 1 - x0) / step)) + 1, int(np.ceil((y1 - 1 - y0) / step)) + 1
        gx = x0 + np.arange(nx, dtype=np.float32) * step
        gy = y0 + np.arange(ny, dtype=np.float32) * step
        nodes = np.stack(np.meshgrid(gx, gy), -1)
        values = np.ascontiguousarray(spline(nodes), dtype=np.float32)
        if step > 1:
            px = (np.arange(x0, x1, dtype=np.float32) - x0) / step
            py = (np.arange(y0, y1, dtype=np.float32) - y0) / step
            mx, my = np.meshgrid(px, py)
            values = cv2.remap(values, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # Feather over 3 px so the fine patch meets the coarse field without a step.
        h, w = y1 - y0, x1 - x0
        ramp_x = np.clip(np.minimum(np.arange(w) + 1, w - np.arange(w)) / 3.0, 0, 1)
        ramp_y = np.clip(np.minimum(np.arange(h) + 1, h - np.arange(h)) / 3.0, 0, 1)
        weight = (ramp_y[:, None] * ramp_x[None, :])[..., None].astype(np.float32)
        region = shift[y0:y1, x0:x1]
        region += weight * (values.reshape(h, w, 2) - region)
