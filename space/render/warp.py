"""The `warp` renderer: the photo itself, deformed smoothly by the posed landmarks. No weights.

    per portrait (once): the head's deformation rig (space.render.deform: landmarks, the head outline moving with
                         the pose, the neck half way, the torso and background still, a soft head mask); the
                         eyes with their irises taken out and the iris textures; the mouth's geometry and colours
    per frame:           the points where the motion puts them -> one thin-plate spline -> a dense backward map
                         -> one cv2.remap; then the eyes and the mouth interior drawn over it, each only where it
                         differs from the photo

A thin-plate spline has no creases, so a turning head shows no seams at the hairline, the cheek or the neck (a
triangle mesh's affine pieces meet at kinks that do), and the soft mask keeps the background still.

Eyes (gaze, blinks): a warp alone smears an iris across the eye white and cannot slide it under a lid, so inside
each eye's lid contour the frame is layered: the photo's eye with its iris taken out (rows of eye white
interpolated across it), warped with the lids like the rest of the face, then the photo's iris (its hidden parts
filled radially) drawn round at the motion's iris centre and clipped by the lids. The lash line is left to the
warp. A closing eye darkens to a line of lashes. With the photo's own iris centres and lid gap the layer is off
and the warp alone draws the eyes, so a frame that keeps the photo's eyes shows exactly the photo's eyes.

Mouth: a spline cannot close an open photo's lips (control points that nearly meet but must sample a whole gap
apart make it fold the lips into waves), so it is given the lips held at least the photo's gap apart, and a
monotone map across the mouth then shuts them over the teeth (`_Mouth.held_open`, `_Mouth.close`). A warp can
only stretch what the photo shows between the lips: where the motion opens the lips further,
the inner-lip outline (a monotone curve through the landmarks) is redrawn: whatever the photo shows there (teeth,
usually) hangs from the upper lip at its own height, as upper teeth do, and below it is a dark cavity coloured
from the photo's lips (lighter towards the tongue when wide open); a closed mouth in the photo gets a light band
of upper teeth that grows with the opening. Edges are anti-aliased and softened.

Per frame the cost is about 10 ms at 512 x 512 on one CPU core (benchmarks/bench_animate.py).
"""

from __future__ import annotations

import weakref
from typing import Iterator

import cv2
import numpy as np

from ..face.eyes import carry_iris, eye_centres
from .base import Motion, Renderer
from .deform import HeadDeformation


# Per eye (image-left first): left corner, upper lid (left to right), right corner, lower lid (left to right).
_EYE_POINTS = (np.array([36, 37, 38, 39, 41, 40]), np.array([42, 43, 44, 45, 47, 46]))
_UPPER_INNER = np.array([60, 61, 62, 63, 64])
_LOWER_INNER = np.array([60, 67, 66, 65, 64])
_UPPER_OUTER = np.array([48, 49, 50, 51, 52, 53, 54])
_LOWER_OUTER = np.array([48, 59, 58, 57, 56, 55, 54])
_UPPER_LIP = np.array([49, 50, 51, 52, 53, 61, 62, 63])  # what moves with the upper lip (corners stay)
_LOWER_LIP = np.array([55, 56, 57, 58, 59, 65, 66, 67])
_JAW_BELOW_MOUTH = np.arange(3, 14)  # the jaw contour that a lifted lower lip's skin can reach

IRIS_RADIUS = 0.21  # of the eye's corner-to-corner width (an iris is ~12 mm across a ~30 mm eye opening)
LID_BAND = 1.0  # pixels at 256 along the eyelid contour left to the warp (the lash line)
MOUTH_MIN_EXCESS = 0.3  # pixels at 256 of extra lip gap (over the photo's) before the mouth interior is redrawn
MOUTH_FULL_EXCESS = 1.5  # ... and where it is fully redrawn
HELD_GAP = 0.35  # of the photo's lip gap, the least the spline is asked to keep between the lips (_Mouth.held_open)


def _polygon_mask(shape: tuple[int, int], polygon: np.ndarray) -> np.ndarray:
    """(H, W) float32 mask of a polygon in pixel coordinates, anti-aliased, drawn at 1/16 px."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(polygon) * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    return mask.astype(np.float32) / 255


def _eye_axes(points: np.ndarray) -> tuple[np.ndarray, float]:
    """(2, 2) rows: unit vector from the eye's left to its right corner, and the one across it (down)."""
    along = points[3] - points[0]
    width = float(np.hypot(*along))
    x_axis = along / max(width, 1e-9)
    return np.stack([x_axis, [-x_axis[1], x_axis[0]]]), width


def _lid_gap(points: np.ndarray) -> float:
    """Mean distance between the facing upper and lower lid points of one eye (pixels)."""
    return float(np.linalg.norm(points[[1, 2]] - points[[4, 5]], axis=-1).mean())


def _fill_rows(patch: np.ndarray, fill: np.ndarray, known: np.ndarray, reach: int = 3) -> np.ndarray:
    """Replace the `fill` pixels of each row by linear interpolation between the eye white either side (the
    median of the `reach` nearest known pixels on each side): the eye with its iris taken out."""
    out = patch.astype(np.float32).copy()
    fallback = out[known].mean(0) if known.any() else out.reshape(-1, out.shape[-1]).mean(0)
    for y in np.flatnonzero(fill.any(1)):
        todo = np.flatnonzero(fill[y])
        have = np.flatnonzero(known[y])
        left, right = have[have < todo[0]][-reach:], have[have > todo[-1]][:reach]
        if len(left) == 0 and len(right) == 0:
            out[y, todo] = fallback
            continue
        lv = np.median(out[y, left], 0) if len(left) else np.median(out[y, right], 0)
        rv = np.median(out[y, right], 0) if len(right) else lv
        lx = left.mean() if len(left) else todo[0] - 1
        rx = right.mean() if len(right) else todo[-1] + 1
        t = np.clip((todo - lx) / max(rx - lx, 1e-6), 0, 1)[:, None]
        out[y, todo] = lv * (1 - t) + rv * t
    return out


def _fill_radially(patch: np.ndarray, known: np.ndarray, centre: np.ndarray, step_deg: float = 10.0) -> np.ndarray:
    """Fill the unknown pixels of a roughly radially symmetric texture (an iris) around `centre` (patch
    coordinates) from the known pixel at the same radius and the nearest angle; the mean where none is."""
    out = patch.copy()
    todo = ~known
    if not known.any():
        return out
    ys, xs = np.mgrid[0 : patch.shape[0], 0 : patch.shape[1]].astype(np.float64)
    dx, dy = xs - centre[0], ys - centre[1]
    for turn in np.deg2rad(np.arange(step_deg, 180.0 + step_deg / 2, step_deg)):
        for sign in (1.0, -1.0):
            if not todo.any():
                return out
            c, s = np.cos(sign * turn), np.sin(sign * turn)
            sx = np.round(centre[0] + c * dx - s * dy).astype(int)
            sy = np.round(centre[1] + s * dx + c * dy).astype(int)
            ok = todo & (sx >= 0) & (sx < patch.shape[1]) & (sy >= 0) & (sy < patch.shape[0])
            ok[ok] &= known[sy[ok], sx[ok]]
            out[ok] = patch[sy[ok], sx[ok]]
            todo &= ~ok
    out[todo] = patch[known].mean(0)
    return out


def _iris_radius(grey: np.ndarray, inside: np.ndarray, centre: np.ndarray, width: float) -> float:
    """The iris radius in pixels, from the brightness profile across the eye through its centre: where it
    climbs half way from the iris to the eye white, on the side(s) where it does (within 0.15-0.27 of the eye
    width; IRIS_RADIUS of it when the profile says nothing)."""
    cx, cy = centre
    row = int(round(cy))
    rows = grey[max(row - 1, 0) : row + 2]
    cols = inside[max(row - 1, 0) : row + 2].all(0)
    if rows.size == 0 or not cols.any():
        return IRIS_RADIUS * width
    profile = rows.mean(0)
    xs = np.arange(profile.size)
    core = cols & (np.abs(xs - cx) <= 0.08 * width)
    white = np.percentile(grey[inside], 85) if inside.any() else profile.max()
    if not core.any():
        return IRIS_RADIUS * width
    level = 0.5 * (np.median(profile[core]) + white)
    found = []
    for direction in (1, -1):
        x = cx
        while 0 <= x < profile.size and cols[int(x)] and abs(x - cx) <= 0.3 * width:
            if profile[int(x)] >= level:
                found.append(abs(x - cx))
                break
            x += direction * 0.5
    if not found:
        return IRIS_RADIUS * width
    return float(np.clip(max(found), 0.15 * width, 0.27 * width))


class _Eyes:
    """Gaze and blinks drawn in layers: inside the eyelids of each frame, the photo's eye with its iris taken out
    (warped with the lids like the rest of the face), then the photo's iris at the motion's iris centre, clipped
    by the lids; a closing eye darkens to a line of lashes.

    The warp alone would smear an iris across the eye white and cannot slide it under a lid; this keeps the iris
    round and lets the lids cover it. A band along the lid contour (the lash line, LID_BAND) is left to the warp
    so the lashes stay on the lids, and the layer fades in only as the iris or the lids move away from where
    the photo has them, so a frame that keeps the photo's eyes is the photo's (warped) eyes."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray, iris: np.ndarray):
        size = image.shape[0]
        self.size = size
        band = max(1, int(round(LID_BAND * size / 256)))
        self.kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
        self.image_no_iris = image.copy()
        self.eyes = []
        px = size / 256  # one pixel at 256
        for e, idx in enumerate(_EYE_POINTS):
            pts = landmarks[idx]
            axes, width = _eye_axes(pts)
            gap = _lid_gap(pts)
            if not (width > 4 and gap > 0.12 * width and np.all(np.isfinite(iris[e]))):
                self.eyes.append(None)  # a closed or tiny eye in the photo: no iris to move
                continue
            centre = np.asarray(iris[e], np.float64)
            reach = 0.3 * width + 3 * px
            x0, y0 = np.maximum(np.floor(np.minimum(pts.min(0), centre - reach)).astype(int) - 4, 0)
            x1, y1 = np.minimum(np.ceil(np.maximum(pts.max(0), centre + reach)).astype(int) + 5, size)
            patch = image[y0:y1, x0:x1]
            grey = patch.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
            inside = _polygon_mask(patch.shape[:2], pts - [x0, y0]) > 0.5
            open_part = cv2.erode(inside.astype(np.uint8), self.kernel).astype(bool)  # inside the lash line
            radius = _iris_radius(grey, inside, centre - [x0, y0], width)
            ys, xs = np.mgrid[y0:y1, x0:x1]
            dist = np.hypot(xs - centre[0], ys - centre[1])
            # The eye white without the iris: rows interpolated from the white either side (the iris's soft rim
            # included), feathered over a pixel at the edge.
            cut = radius + 1.5 * px
            fill = (dist <= cut + 1) & inside
            filled = _fill_rows(patch, fill, inside & (dist > cut + 1), reach=max(2, round(2 * px)))
            filled = cv2.GaussianBlur(filled, (0, 0), 0.6 * px, sigmaY=1.2 * px)
            feather = (np.clip(cut + 1 - dist, 0, 1) * fill)[..., None]
            no_iris = patch * (1 - feather) + filled * feather
            self.image_no_iris[y0:y1, x0:x1] = np.clip(no_iris + 0.5, 0, 255).astype(np.uint8)
            # The iris texture: what the photo shows of it inside the lash line; the parts under the lids taken
            # from the visible part at the same radius and the nearest angle (an iris is about radially symmetric).
            texture = _fill_radially(patch.astype(np.float32), open_part & (dist <= radius + 2 * px), centre - [x0, y0])
            # Lashes: the darkest tenth of the pixels around the eye.
            near = cv2.dilate(inside.astype(np.uint8), self.kernel, iterations=2).astype(bool)
            dark = near & (grey <= np.percentile(grey[near], 10))
            self.eyes.append(
                dict(points=pts, axes=axes, gap=gap, centre=centre, radius=radius, origin=np.array([x0, y0]),
                     texture=np.ascontiguousarray(texture), lash=patch[dark].mean(0).astype(np.float32))
            )

    def paint(self, frame: np.ndarray, maps, landmarks: np.ndarray, iris: np.ndarray, scale: float) -> np.ndarray:
        size = frame.shape[0]
        px = size / 256
        soft = 0.35 * px
        for e, idx in enumerate(_EYE_POINTS):
            eye = self.eyes[e]
            if eye is None:
                continue
            pts = landmarks[idx]
            axes, _ = _eye_axes(pts)
            carried = carry_iris(eye["points"], eye["centre"], pts)
            centre = iris[e] if np.all(np.isfinite(iris[e])) else carried
            x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int) - 4, 0)
            x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + 5, size)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            opening = _lid_gap(pts) / max(eye["gap"] * scale, 1e-6)  # lid gap relative to the photo's
            # How far this eye is from the photo's: the iris moved in the eye, or the lids opened or closed.
            change = max(
                float(_smoothstep(np.hypot(*(centre - carried)) / scale, 0.15 * px, 0.6 * px)),
                float(_smoothstep(abs(1 - opening), 0.08, 0.25)),
            )
            lashes = float(_smoothstep(1 - opening, 0.45, 0.95))
            if change <= 0 and lashes <= 0:
                continue  # the photo's eye, as the warp drew it
            polygon = _polygon_mask((y1 - y0, x1 - x0), pts - [x0, y0])
            roi = frame[y0:y1, x0:x1].astype(np.float32)
            layer_mask = cv2.erode(cv2.GaussianBlur(polygon, (0, 0), soft), self.kernel) * change
            if layer_mask.max() > 0:
                map_x, map_y = maps[0][y0:y1, x0:x1], maps[1][y0:y1, x0:x1]
                white = cv2.remap(self.image_no_iris, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
                # Output pixel p shows the photo's iris at centre_src + R (p - centre) / scale, R turning the
                # frame's eye axes onto the photo's.
                ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
                rel = np.stack([xs - centre[0], ys - centre[1]], -1)
                src = eye["centre"] + (rel @ axes.T) @ eye["axes"] / max(scale, 1e-6) - eye["origin"]
                iris_px = cv2.remap(
                    eye["texture"], src[..., 0].astype(np.float32), src[..., 1].astype(np.float32),
                    cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE,
                )
                edge = (eye["radius"] + 0.5 * px) * scale
                alpha = np.clip((edge - np.hypot(rel[..., 0], rel[..., 1])) / px + 0.5, 0, 1)[..., None]
                layer = white.astype(np.float32) * (1 - alpha) + iris_px * alpha
                m = layer_mask[..., None]
                roi = roi * (1 - m) + layer * m
            if lashes > 0:  # a shutting eye: a shadowed slit, then a line of lashes (over the collapsed triangles)
                line = np.zeros(polygon.shape, np.uint8)
                corners = np.round((pts - [x0, y0]) * 16).astype(np.int32)
                cv2.polylines(line, [corners], True, 255, max(1, int(round(px))), cv2.LINE_AA, 4)
                lash_mask = np.maximum(0.7 * polygon, 0.7 * line.astype(np.float32) / 255)
                m = (cv2.GaussianBlur(lash_mask, (0, 0), 1.5 * soft) * lashes)[..., None]
                roi = roi * (1 - m) + eye["lash"] * m
            frame[y0:y1, x0:x1] = np.clip(roi + 0.5, 0, 255).astype(np.uint8)
        return frame


def _smoothstep(x, lo, hi):
    t = np.clip((np.asarray(x, np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _lift_reach(landmarks: np.ndarray, lacking: np.ndarray, width: float) -> float:
    """Pixels below the lower lip over which `_Mouth.close`'s lift fades out: 3x the lift (the map's slope stays
    >= 0.5) and a little, but where that would cross the chin, 0.9 of the way to it, and never under 2x the
    lift (slope >= 0.25: still monotone)."""
    lift = float(lacking.max())
    chin = float(np.linalg.norm(np.asarray(landmarks, np.float64)[8] - landmarks[57]))
    return min(3.0 * lift + 0.15 * width, max(2.0 * lift, 0.9 * chin))


def _mouth_frame(landmarks: np.ndarray):
    """Origin (inner corner 60), (2, 2) axes (along the mouth to 64, and down across it), width in pixels."""
    origin = landmarks[60]
    along = landmarks[64] - landmarks[60]
    width = float(np.hypot(*along))
    x_axis = along / max(width, 1e-9)
    return origin, np.stack([x_axis, [-x_axis[1], x_axis[0]]]), width


class _Mouth:
    """The photo's mouth (inner-lip geometry in a mouth-aligned frame, lip, cavity and teeth colours), and the
    painting of a mouth interior onto warped frames."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray):
        self.image = image
        self.size = image.shape[0]
        self.frame = _mouth_frame(landmarks)
        origin, axes, self.width = self.frame
        u = np.linspace(0, self.width, 33)
        upper = _lip(landmarks, _UPPER_INNER, origin, axes, self.width)(u)
        lower = _lip(landmarks, _LOWER_INNER, origin, axes, self.width)(u)
        self.upper_profile = (u, upper)  # the photo's upper inner lip, across the mouth, at u along it
        self.gap_profile = (u, np.maximum(lower - upper, 0))
        self.gap = _middle_gap(landmarks)
        # Colours from the photo: the lips (between the outer and inner contours) and the skin's white balance.
        lips = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(lips, [np.round(landmarks[48:60]).astype(np.int32)], 1)
        cv2.fillPoly(lips, [np.round(landmarks[60:68]).astype(np.int32)], 0)
        lip_colour = image[lips > 0].mean(0) if lips.any() else np.array([150.0, 90.0, 90.0])
        face = np.zeros(image.shape[:2], np.uint8)
        cv2.fillConvexPoly(face, cv2.convexHull(np.round(landmarks[:27]).astype(np.int32)), 1)
        tint = image[face > 0].mean(0) if face.any() else np.full(3, 128.0)
        tint = (np.maximum(tint, 1) / max(tint.max(), 1)) ** 0.3
        self.cavity = np.clip(lip_colour * 0.3, 0, 255).astype(np.float32)
        self.tongue = np.clip(lip_colour * 0.62, 0, 255).astype(np.float32)
        self.teeth = np.clip(215.0 * tint, 0, 255).astype(np.float32)
        # Does the photo show the inside of the mouth (teeth)? If not, draw a hint of upper teeth.
        self.synthetic_teeth = float(1.0 - _smoothstep(self.gap / max(self.width, 1e-9), 0.03, 0.08))

    def held_open(self, landmarks: np.ndarray, scale: float):
        """-> (the landmarks the spline is given, how far the lower lip is held down across the mouth (33,)).

        A spline asked to close an open photo's lips squeezes the teeth between control points that nearly meet
        and folds the lips into waves. So the spline keeps the lips HELD_GAP of the photo's gap apart (scaled):
        the lower lip, inner and outer contour together, is held down by what the frame's gap lacks of that, and
        `close` lifts it back over the teeth. The spline does the rest of the closing, as a jaw would, so what
        `close` lifts is short enough to fade out above the chin. The lower lip and the jaw are what shut a
        mouth: holding the upper lip up instead had `close` pull the skin above it down, and the nose with it
        (a beak on an open-mouthed photo). The jaw points within `close`'s reach are held down by as much as
        `close` will lift them, so they still land where the frame puts them."""
        origin, axes, width = _mouth_frame(landmarks)
        if width < 2 or self.width < 2:
            return landmarks, None
        u = np.linspace(0, width, 33)
        gap = np.maximum(_lip(landmarks, _LOWER_INNER, origin, axes, width)(u)
                         - _lip(landmarks, _UPPER_INNER, origin, axes, width)(u), 0)
        photo_gap = np.interp(u / width * self.width, *self.gap_profile) * scale
        lacking = np.maximum(HELD_GAP * photo_gap - gap, 0)
        if lacking.max() < 0.5:
            return landmarks, None
        out = np.array(landmarks, np.float64)
        at = (out[_LOWER_LIP] - origin) @ axes[0]
        out[_LOWER_LIP] += np.interp(at, u, lacking)[:, None] * axes[1]
        out[_JAW_BELOW_MOUTH] += self.lift(landmarks, out[_JAW_BELOW_MOUTH], lacking)[:, None] * axes[1]
        return out, lacking

    @staticmethod
    def lift(landmarks: np.ndarray, points: np.ndarray, lacking: np.ndarray) -> np.ndarray:
        """(..., 2) output pixel positions -> (...) how far across the mouth `close` samples the held-open map
        below each: the whole `lacking` gap (33 samples along the mouth) on the lower lip, down to its outer
        contour, fading to 0 over the skin below; 0 above the lips' middle line (landmarks: the frame's)."""
        origin, axes, width = _mouth_frame(landmarks)
        u = np.linspace(0, width, 33)
        upper = _lip(landmarks, _UPPER_INNER, origin, axes, width)(u)
        lower = _lip(landmarks, _LOWER_INNER, origin, axes, width)(u)
        lower_outer = _lip(landmarks, _LOWER_OUTER, origin, axes, width)(u)
        reach = _lift_reach(landmarks, lacking, width)
        rel = np.asarray(points, np.float64) - origin
        along, across = rel @ axes[0], rel @ axes[1]
        beyond = across - np.interp(along, u, np.maximum(lower_outer, lower))  # below the lower lip
        shift = np.interp(along, u, lacking) * (1.0 - _smoothstep(beyond, 0.0, reach))
        return np.where(across >= np.interp(along, u, (upper + lower) / 2), shift, 0.0)

    def close(self, maps, landmarks: np.ndarray, lacking: np.ndarray | None):
        """Shut the lips that `held_open` held apart: below the lips' middle line, each output pixel samples the
        held-open map `lift` further down, the whole lower lip (to its outer contour) rigidly, then fading out
        over the skin below (a monotone 1D map per column, so nothing folds). The lower lip rises to meet the
        upper with the photo's teeth hidden between them; above the middle line nothing changes."""
        if lacking is None:
            return maps
        _, axes, width = _mouth_frame(landmarks)
        reach = _lift_reach(landmarks, lacking, width)
        size = maps[0].shape[0]
        mouth = landmarks[48:68]
        pad = reach + 2
        x0, y0 = np.maximum(np.floor(mouth.min(0) - pad).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(mouth.max(0) + pad).astype(int) + 1, size)
        if x1 <= x0 or y1 <= y0:
            return maps
        xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
        shift = self.lift(landmarks, np.stack([xs, ys], -1), lacking)
        sx = (xs + shift * axes[1][0]).astype(np.float32)
        sy = (ys + shift * axes[1][1]).astype(np.float32)
        out = []
        for plane in maps:
            plane = plane.copy()
            plane[y0:y1, x0:x1] = cv2.remap(plane, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            out.append(plane)
        return tuple(out)

    def paint(self, frame: np.ndarray, landmarks: np.ndarray, scale: float) -> np.ndarray:
        """Redraw the inner-lip polygon of `frame` where its lips part further than the photo's (landmarks: the
        frame's (68, 2); scale: its face size over the photo's)."""
        size = frame.shape[0]
        px = size / 256
        gap = _middle_gap(landmarks)
        strength = float(_smoothstep(gap - self.gap * scale, MOUTH_MIN_EXCESS * px, MOUTH_FULL_EXCESS * px))
        if strength <= 0:
            return frame
        origin, axes, width = _mouth_frame(landmarks)
        if width < 2 or self.width < 2:
            return frame
        upper_lip = _lip(landmarks, _UPPER_INNER, origin, axes, width)  # lips are curves, not polylines
        lower_lip = _lip(landmarks, _LOWER_INNER, origin, axes, width)
        along = np.linspace(0, width, 25)
        outline = np.concatenate([
            np.stack([along, upper_lip(along)], 1), np.stack([along, lower_lip(along)], 1)[::-1][1:-1]
        ]) @ axes + origin
        pad = 3
        x0, y0 = np.maximum(np.floor(outline.min(0)).astype(int) - pad, 0)
        x1, y1 = np.minimum(np.ceil(outline.max(0)).astype(int) + pad + 1, size)
        if x1 <= x0 or y1 <= y0:
            return frame
        # Soft mask: anti-aliased at 1/16 px, then blurred by ~half a pixel at 256.
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round((outline - [x0, y0]) * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
        sigma = 0.45 * size / 256
        mask = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), sigma) * strength
        if mask.max() <= 0:
            return frame

        # Every ROI pixel in the frame's mouth frame: u along the mouth, d below the upper inner lip.
        xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
        rel = np.stack([xs - origin[0], ys - origin[1]], -1)
        u = rel @ axes[0]
        w = rel @ axes[1]
        upper = upper_lip(u)
        gap_here = np.maximum(lower_lip(u) - upper, 1e-6)
        d = w - upper  # pixels below the upper inner lip
        a = np.clip(u / width, 0, 1)  # 0 .. 1 from corner to corner

        # The photo's interior, hanging from the upper lip at its own (scaled) height.
        u_src = a * self.width
        d_src = d / max(scale, 1e-6)
        src_gap = np.interp(u_src, *self.gap_profile)
        w_src = np.interp(u_src, *self.upper_profile) + d_src
        s_origin, s_axes, _ = self.frame
        map_xy = s_origin + u_src[..., None] * s_axes[0] + w_src[..., None] * s_axes[1]
        sampled = cv2.remap(
            self.image, map_xy[..., 0].astype(np.float32), map_xy[..., 1].astype(np.float32),
            cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT,
        ).astype(np.float32)
        photo_alpha = np.clip(src_gap - d_src + 0.5, 0.0, 1.0)[..., None]

        # The cavity: darkest just under the teeth, lighter and redder towards the tongue when the mouth is wide.
        depth = np.clip(d / gap_here, 0.0, 1.0)
        corner = 1.0 - 0.35 * (2 * a - 1) ** 4  # the corners recede into shadow
        layer = self.cavity * ((0.75 + 0.35 * depth) * corner)[..., None]
        tongue = _smoothstep(depth, 0.55, 1.0) * float(_smoothstep(gap / width, 0.12, 0.4)) * corner
        layer = layer + (self.tongue - layer) * (0.6 * tongue)[..., None]
        # A hint of upper teeth where the photo shows none: a band under the upper lip, taller as the mouth opens.
        if self.synthetic_teeth > 0:
            profile = np.sqrt(np.clip(1 - (2 * a - 1) ** 2, 0, 1))
            band = np.minimum(0.35 * gap_here, 0.14 * width) * profile
            teeth_alpha = np.clip(band - d + 0.5, 0.0, 1.0) * np.clip(d + 0.5, 0, 1) * self.synthetic_teeth
            teeth_shade = (0.72 + 0.28 * profile) * (1.0 - 0.25 * np.clip(d / np.maximum(band, 1e-3), 0, 1))
            layer = layer + (self.teeth * teeth_shade[..., None] - layer) * teeth_alpha[..., None]
        layer = layer * (1 - photo_alpha) + sampled * photo_alpha
        layer = cv2.GaussianBlur(layer.astype(np.float32), (0, 0), 0.35 * size / 256)

        out = frame if frame.flags.writeable else frame.copy()
        roi = out[y0:y1, x0:x1].astype(np.float32)
        m = mask[..., None]
        out[y0:y1, x0:x1] = np.clip(roi * (1 - m) + layer * m + 0.5, 0, 255).astype(np.uint8)
        return out


def _lip(landmarks: np.ndarray, rows: np.ndarray, origin: np.ndarray, axes: np.ndarray, width: float):
    """One inner lip as a smooth function of the position along the mouth (mouth frame, pixels): a monotone
    cubic through its points (corners included), which does not overshoot between them as a spline would."""
    local = (np.asarray(landmarks, np.float64)[rows] - origin) @ axes.T
    u = np.clip(local[:, 0], 0.0, width)
    order = np.argsort(u, kind="stable")
    u, w = u[order], local[order, 1]
    u = np.maximum.accumulate(u + np.arange(len(u)) * 1e-6)  # strictly increasing
    # The curve sampled finely once (Fritsch-Carlson monotone cubic), then linear between the samples.
    fine = np.linspace(u[0], u[-1], 33)
    values = _monotone_cubic(u, w, fine)
    return lambda x: np.interp(x, fine, values)


def _monotone_cubic(x: np.ndarray, y: np.ndarray, xq: np.ndarray) -> np.ndarray:
    """Piecewise-cubic Hermite interpolation with Fritsch-Carlson slopes (no overshoot), x increasing."""
    h = np.diff(x)
    delta = np.diff(y) / h
    slopes = np.zeros_like(y)
    same_sign = delta[:-1] * delta[1:] > 0
    w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        harmonic = (w1 + w2) / (w1 / delta[:-1] + w2 / delta[1:])
    slopes[1:-1] = np.where(same_sign, harmonic, 0.0)
    slopes[0], slopes[-1] = delta[0], delta[-1]
    i = np.clip(np.searchsorted(x, xq) - 1, 0, len(x) - 2)
    t = (xq - x[i]) / h[i]
    t2, t3 = t * t, t * t * t
    return (
        (2 * t3 - 3 * t2 + 1) * y[i] + (t3 - 2 * t2 + t) * h[i] * slopes[i]
        + (-2 * t3 + 3 * t2) * y[i + 1] + (t3 - t2) * h[i] * slopes[i + 1]
    )


def _middle_gap(landmarks: np.ndarray) -> float:
    """Mean inner-lip gap (61-67, 62-66, 63-65) in pixels."""
    xy = np.asarray(landmarks, np.float64)
    return float(np.linalg.norm(xy[[61, 62, 63]] - xy[[67, 66, 65]], axis=-1).mean())


# Facing point pairs (upper, lower) and the corners whose line they are measured across: the inner lips, the lids.
_FACING = (
    ((61, 67), (62, 66), (63, 65), (60, 64)),
    ((37, 41), (38, 40), (36, 39)),
    ((43, 47), (44, 46), (42, 45)),
)


def _apart(landmarks: np.ndarray, pairs: list[tuple[int, int, int, int]], gap: float) -> np.ndarray:
    """Push each (upper, lower) pair apart to at least `gap` pixels across its corner line (a, b), half each.

    A photo with closed lips has its inner-lip points on top of each other, and a shut eye its lids: as control
    points of the spline they would coincide (a singular system) and the mouth could not open. Both the photo's
    points and every frame's are kept this far apart, so a frame with the photo's landmarks is still the photo."""
    out = landmarks.copy()
    for upper, lower, a, b in pairs:
        along = out[b] - out[a]
        down = np.array([-along[1], along[0]]) / max(float(np.hypot(*along)), 1e-9)
        deficit = gap - float((out[lower] - out[upper]) @ down)
        if deficit > 0:
            out[upper] -= 0.5 * deficit * down
            out[lower] += 0.5 * deficit * down
    return out


class _Prepared:
    """Everything about one portrait that does not change from frame to frame."""

    def __init__(self, portrait):
        image = np.ascontiguousarray(portrait.image, dtype=np.uint8)
        size = image.shape[0]
        if image.shape[:2] != (size, size):
            raise ValueError(f"portrait image must be square, got {image.shape[1]}x{image.shape[0]}")
        landmarks = np.asarray(portrait.landmarks, np.float64)[:, :2]
        self.image, self.size = image, size
        self.pose = np.asarray(portrait.pose, np.float64)
        iris = getattr(portrait, "iris", None)
        self.iris = eye_centres(landmarks) if iris is None else np.asarray(iris, np.float64)
        # Facing points (inner lips, lids) are kept a pixel apart in the photo and in every frame: coincident
        # control points would make the spline's system singular (a shut eye, closed lips).
        self.min_gap = size / 256
        self.pairs = [(upper, lower, *group[-1]) for group in _FACING for upper, lower in group[:-1]]
        held = _apart(landmarks, self.pairs, self.min_gap)
        self.deformation = HeadDeformation(held, portrait.normalized, self.pose, size,
                                           outline=getattr(portrait, "ring", None))
        self.eyes = _Eyes(image, landmarks, self.iris)
        self.mouth = _Mouth(image, landmarks)

    def fine_boxes(self, landmarks: np.ndarray) -> list[tuple[float, float, float, float]]:
        """The output regions where lips and lids move by more than the coarse lattice resolves."""
        pad = 6 * self.size / 256
        boxes = []
        for idx in (np.arange(48, 68), *_EYE_POINTS):
            pts = landmarks[idx]
            lo, hi = pts.min(0) - pad, pts.max(0) + pad
            boxes.append((lo[0], lo[1], hi[0], hi[1]))
        return boxes

    def maps(self, landmarks: np.ndarray, pose: np.ndarray, normalized: np.ndarray | None = None):
        """(map_x, map_y) (S, S) float32: the photo pixel each output pixel of the frame samples."""
        moved = _apart(landmarks, self.pairs, self.min_gap)
        held, lacking = self.mouth.held_open(moved, pose[5] / self.pose[5])
        maps = self.deformation.maps(held, pose, normalized, self.fine_boxes(held))
        return self.mouth.close(maps, moved, lacking)

    def frame(self, landmarks: np.ndarray, pose: np.ndarray, iris: np.ndarray,
              normalized: np.ndarray | None = None) -> np.ndarray:
        landmarks = np.asarray(landmarks, np.float64)[:, :2]
        pose = np.asarray(pose, np.float64)
        scale = pose[5] / self.pose[5]
        maps = self.maps(landmarks, pose, normalized)
        frame = cv2.remap(self.image, *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frame = self.eyes.paint(frame, maps, landmarks, np.asarray(iris, np.float64), scale)
        return self.mouth.paint(frame, landmarks, scale)


class WarpRenderer(Renderer):
    """Landmark-driven smooth deformation of the photo, with gaze and a drawn mouth interior.

    Uses the motion's posed and normalized landmarks, poses (for the head outline and the face scale) and iris
    centres; its mouth_open, audio features and emotion are not needed (the landmarks already carry them)."""

    name = "warp"

    def __init__(self):
        self._cache: tuple[weakref.ref, _Prepared] | None = None

    def prepare(self, portrait) -> _Prepared:
        """The per-portrait set-up, kept for the last portrait seen (render calls it)."""
        if self._cache is not None and self._cache[0]() is portrait:
            return self._cache[1]
        prepared = _Prepared(portrait)
        try:
            self._cache = (weakref.ref(portrait), prepared)
        except TypeError:  # an object that cannot be weakly referenced: prepare every time
            self._cache = None
        return prepared

    def start(self, portrait, motion: Motion) -> tuple[_Prepared, Motion]:
        if len(motion.poses) != len(motion) or len(motion.iris) != len(motion):
            raise ValueError(
                f"motion arrays disagree: {len(motion)} landmark frames, {len(motion.poses)} poses, "
                f"{len(motion.iris)} iris frames"
            )
        return self.prepare(portrait), motion

    def draw(self, clips, refs) -> np.ndarray:
        frames = []
        for i, t in refs:
            prepared, motion = clips[i]
            frames.append(prepared.frame(motion.landmarks[t], motion.poses[t], motion.iris[t], motion.normalized[t]))
        return np.stack(frames)

    def render(self, portrait, motion: Motion) -> Iterator[np.ndarray]:
        prepared, motion = self.start(portrait, motion)
        for t in range(len(motion)):  # one frame at a time: nothing to gain from batching on a CPU
            yield prepared.frame(motion.landmarks[t], motion.poses[t], motion.iris[t], motion.normalized[t])
