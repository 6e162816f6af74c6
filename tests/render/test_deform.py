import numpy as np
import pytest

from space.face.geometry import compose_pose, repose
from space.render.warp import WarpRenderer

#: the head comes closer and rises, as a reference video's speaker leaning in: 45% larger, 0.45 face scales up
LEANING_IN = np.array([4.0, -5.0, 2.0, 0.05, -0.45, np.log(1.45)])


@pytest.fixture(scope="module")
def deformation(astronaut):
    return WarpRenderer().prepare(astronaut).deformation


def frame_maps(deformation, portrait, delta):
    pose = compose_pose(portrait.pose, delta)
    landmarks = repose(portrait.normalized, pose)[:, :2]
    map_x, map_y = deformation.maps(landmarks, pose, portrait.normalized)
    return landmarks, map_x, map_y


def sample(map_x, map_y, points):
    ij = np.round(points).astype(int)
    return np.stack([map_x[ij[:, 1], ij[:, 0]], map_y[ij[:, 1], ij[:, 0]]], 1)


@pytest.mark.parametrize("delta", [np.zeros(6), np.array([6.0, 3.0, -2.0, 0.02, 0.01, 0.02]), LEANING_IN])
def test_the_face_lands_on_its_landmarks_however_far_the_head_moves(astronaut, deformation, delta):
    """Every output pixel on a frame landmark (brows, eyes, nose) samples the photo where the photo has it: a
    head that leaves the photo's mask still carries its face, so the eyes and mouth drawn on the landmarks
    sit on the face."""
    landmarks, map_x, map_y = frame_maps(deformation, astronaut, delta)
    points = np.arange(17, 48)
    inside = np.all((landmarks[points] >= 0) & (landmarks[points] < astronaut.image.shape[0] - 1), 1)
    got = sample(map_x, map_y, landmarks[points][inside])
    error = np.linalg.norm(got - deformation.landmarks[points][inside], axis=1)
    assert error.max() < 1.5, error.max()


def test_a_head_leaning_in_does_not_fold_the_hair_or_the_background(astronaut, deformation):
    """The backward map keeps its orientation everywhere (Jacobian determinant > 0): no pixel of the photo is
    drawn twice in mirror image, which is what the ripples of a fold are."""
    _, map_x, map_y = frame_maps(deformation, astronaut, LEANING_IN)
    dxx, dxy = np.gradient(map_x, axis=1), np.gradient(map_x, axis=0)
    dyx, dyy = np.gradient(map_y, axis=1), np.gradient(map_y, axis=0)
    det = dxx * dyy - dxy * dyx
    assert det.min() > 0.2, det.min()


def test_background_far_from_the_head_stays_still(astronaut, deformation):
    _, map_x, map_y = frame_maps(deformation, astronaut, np.array([6.0, 3.0, -2.0, 0.02, 0.01, 0.02]))
    size = astronaut.image.shape[0]
    ys, xs = np.mgrid[0:size, 0:size]
    still = deformation.distance > 2 * deformation.falloff
    assert still.any()
    assert np.abs(map_x - xs)[still].max() < 1e-3 and np.abs(map_y - ys)[still].max() < 1e-3
