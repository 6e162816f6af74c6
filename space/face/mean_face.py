"""A 3D mean face in the 68-point iBUG order, built from anthropometric proportions.

Why built and not loaded: the usual 3D templates come with model files we cannot ship or download. This one is
constructed in code from average adult proportions (face width ~1.4 x outer-canthal width, eye line to chin
~1.15 units, mouth width ~0.5, nose protruding ~0.35), so every number is explained below. It only has to be a
plausible rigid face: the dlib backend lifts 2D landmarks to 3D and recovers the head pose by fitting it, and
every pose we report is relative to its canonical frame.

Frame (right-handed, like a camera looking at the face): x to the image right, y down, z away from the camera
(into the scene), so the nose tip has the smallest z. Units: about 10 cm; the origin is the centroid of the
rigid points (see RIGID_INDEX), so a pose translation is the position of that centroid.

iBUG order: 0-16 jaw (image left to right), 17-21 and 22-26 brows, 27-30 nose bridge, 31-35 nostrils,
36-41 and 42-47 eyes (image-left eye first, each from its outer or inner corner clockwise), 48-59 outer lips,
60-67 inner lips.
"""

from __future__ import annotations

import numpy as np

JAW = np.arange(0, 17)
BROWS = np.arange(17, 27)
NOSE = np.arange(27, 36)
RIGHT_EYE = np.arange(36, 42)  # image-left eye (the subject's right)
LEFT_EYE = np.arange(42, 48)
OUTER_LIPS = np.arange(48, 60)
INNER_LIPS = np.arange(60, 68)
MOUTH = np.arange(48, 68)

# Points that do not move with expression, blinks or speech: the upper jaw line, the nose, the eye corners.
RIGID_INDEX = np.array([0, 1, 2, 3, 13, 14, 15, 16, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45])


def _mirror(points: np.ndarray) -> np.ndarray:
    """x -> -x and reverse the order: the other side of the face, listed in iBUG order."""
    return (points * np.array([-1.0, 1.0, 1.0]))[::-1]


def _jaw() -> np.ndarray:
    # An ellipse arc through the ears (at eye height) and the chin, seen from the front; the sides recede.
    phi = np.deg2rad(np.linspace(-105.0, 105.0, 17))  # 0 at the chin
    a, b, yc = 0.70, 0.873, 0.277  # half face width; vertical semi-axis; centre below the eye line
    x = a * np.sin(phi)
    y = yc + b * np.cos(phi)
    z = 0.05 + 0.85 * np.sin(phi) ** 2
    return np.stack([x, y, z], axis=1)


def _brows() -> np.ndarray:
    right = np.array(
        [[-0.62, -0.18, 0.25], [-0.52, -0.27, 0.12], [-0.40, -0.30, 0.04], [-0.27, -0.29, 0.00], [-0.13, -0.25, 0.00]]
    )
    return np.concatenate([right, _mirror(right)])


def _nose() -> np.ndarray:
    bridge = np.array([[0.0, -0.02, -0.05], [0.0, 0.15, -0.13], [0.0, 0.31, -0.22], [0.0, 0.46, -0.32]])
    nostrils = np.array(
        [[-0.14, 0.55, -0.05], [-0.07, 0.58, -0.12], [0.0, 0.60, -0.17], [0.07, 0.58, -0.12], [0.14, 0.55, -0.05]]
    )
    return np.concatenate([bridge, nostrils])


def _eyes() -> np.ndarray:
    # Outer corner, two upper-lid points, inner corner, two lower-lid points (clockwise in the image).
    right = np.array(
        [
            [-0.47, 0.02, 0.17],
            [-0.38, -0.05, 0.08],
            [-0.26, -0.05, 0.06],
            [-0.17, 0.02, 0.07],
            [-0.27, 0.06, 0.07],
            [-0.38, 0.06, 0.09],
        ]
    )
    left = right * np.array([-1.0, 1.0, 1.0])
    left = left[[3, 2, 1, 0, 5, 4]]  # inner corner first, as iBUG lists the left eye
    return np.concatenate([right, left])


def _lip_depth(x: np.ndarray) -> np.ndarray:
    # Lips curve back from the centre (-0.08) to the corners (+0.12).
    return -0.08 + 0.20 * (np.abs(x) / 0.25) ** 2


def _mouth() -> np.ndarray:
    outer_xy = np.array(
        [
            [-0.25, 0.82], [-0.17, 0.77], [-0.08, 0.73], [0.0, 0.745], [0.08, 0.73], [0.17, 0.77],
            [0.25, 0.82], [0.20, 0.88], [0.12, 0.93], [0.0, 0.95], [-0.12, 0.93], [-0.20, 0.88],
        ]
    )
    inner_xy = np.array(
        [[-0.21, 0.82], [-0.09, 0.81], [0.0, 0.81], [0.09, 0.81], [0.21, 0.82], [0.09, 0.83], [0.0, 0.83], [-0.09, 0.83]]
    )
    xy = np.concatenate([outer_xy, inner_xy])
    return np.concatenate([xy, _lip_depth(xy[:, :1])], axis=1)


def build_mean_face() -> np.ndarray:
    """(68, 3) float64 in the canonical frame described above, centred on the rigid points."""
    face = np.concatenate([_jaw(), _brows(), _nose(), _eyes(), _mouth()])
    assert face.shape == (68, 3)
    return face - face[RIGID_INDEX].mean(axis=0)


MEAN_FACE: np.ndarray = build_mean_face()
MEAN_FACE.setflags(write=False)
