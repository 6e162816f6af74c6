import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from space.face.geometry import (
    HeadPose, compose_pose, euler_to_matrix, matrix_to_euler, normalize, pose_delta, repose,
)
from space.face.mean_face import MEAN_FACE, RIGID_INDEX
from space.face.pose_fit import fit_pose

angles = st.tuples(
    st.floats(-80, 80), st.floats(-80, 80), st.floats(-170, 170)
)
poses = st.builds(
    HeadPose,
    yaw=st.floats(-80, 80),
    pitch=st.floats(-80, 80),
    roll=st.floats(-170, 170),
    tx=st.floats(-2000, 2000),
    ty=st.floats(-2000, 2000),
    scale=st.floats(0.5, 500),
)
faces = arrays(np.float64, (68, 3), elements=st.floats(-2, 2))


@given(angles)
def test_euler_round_trip(a):
    yaw, pitch, roll = matrix_to_euler(euler_to_matrix(*a))
    rot = euler_to_matrix(yaw, pitch, roll)
    np.testing.assert_allclose(rot, euler_to_matrix(*a), atol=1e-9)
    np.testing.assert_allclose([yaw, pitch, roll], a, atol=1e-6)


@given(angles)
def test_rotation_is_proper(a):
    rot = euler_to_matrix(*a)
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(rot), 1.0)


@given(faces, poses)
def test_normalize_inverts_repose(face, pose):
    posed = repose(face, pose)
    np.testing.assert_allclose(normalize(posed, pose), face, atol=1e-8)


@given(faces, poses)
def test_repose_inverts_normalize(face, pose):
    image_space = face * 100
    np.testing.assert_allclose(repose(normalize(image_space, pose), pose), image_space, atol=1e-7)


@given(poses)
def test_pose_vector_round_trip(pose):
    again = HeadPose.from_vector(pose.as_vector())
    np.testing.assert_allclose(again.as_vector(), pose.as_vector())


def test_batched_repose_matches_per_frame():
    rng = np.random.default_rng(0)
    vectors = np.column_stack([rng.uniform(-30, 30, (5, 3)), rng.uniform(0, 500, (5, 2)), rng.uniform(50, 200, 5)])
    faces5 = MEAN_FACE + rng.normal(0, 0.02, (5, 68, 3))
    batched = repose(faces5, vectors)
    for i in range(5):
        np.testing.assert_allclose(batched[i], repose(faces5[i], HeadPose.from_vector(vectors[i])), atol=1e-9)


def test_yaw_sign_convention():
    # Positive yaw moves the nose tip to the image right of the face centre.
    nose = repose(MEAN_FACE, HeadPose(yaw=20, scale=100))[30, 0] - repose(MEAN_FACE, HeadPose(scale=100))[30, 0]
    assert nose > 5
    chin_down = repose(MEAN_FACE, HeadPose(pitch=20, scale=100))[30, 1] - repose(MEAN_FACE, HeadPose(scale=100))[30, 1]
    assert chin_down > 3


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-40, 40), st.floats(-25, 25), st.floats(-45, 45),
    st.floats(50, 400), st.floats(50, 400), st.floats(40, 300),
)
def test_fit_recovers_pose_of_projected_mean_face(yaw, pitch, roll, tx, ty, scale):
    truth = HeadPose(yaw, pitch, roll, tx, ty, scale)
    points = repose(MEAN_FACE, truth)[:, :2]
    fitted, lifted, rms = fit_pose(points)
    np.testing.assert_allclose(fitted[0, :3], [yaw, pitch, roll], atol=1e-3)
    np.testing.assert_allclose(fitted[0, 3:], [tx, ty, scale], rtol=1e-6, atol=1e-4)
    assert rms[0] < 1e-6 * scale
    # The 3D lift of an exact mean face is the posed mean face itself.
    np.testing.assert_allclose(lifted[0], repose(MEAN_FACE, truth), atol=1e-6 * scale)


def test_fit_ignores_mouth_and_eyes():
    truth = HeadPose(10, -5, 3, 200, 200, 100)
    face = MEAN_FACE.copy()
    face[48:68, 1] += 0.2  # a wide-open mouth
    face[[37, 38, 40, 41, 43, 44, 46, 47], 1] += 0.05  # and eyelids (the corners are rigid)
    keep = np.setdiff1d(np.arange(48, 68), RIGID_INDEX)
    assert len(keep) == 20
    fitted, _, _ = fit_pose(repose(face, truth)[:, :2])
    np.testing.assert_allclose(fitted[0, :3], [10, -5, 3], atol=0.5)


def test_fit_with_noise_is_close():
    rng = np.random.default_rng(1)
    truth = np.array([[15, 8, -6, 128, 128, 100]] * 50, float)
    points = repose(MEAN_FACE, truth)[..., :2] + rng.normal(0, 0.5, (50, 68, 2))
    fitted, _, _ = fit_pose(points)
    assert np.abs(fitted[:, :3] - truth[:, :3]).mean() < 1.0


@given(poses, poses)
@settings(max_examples=60)
def test_pose_delta_and_compose_are_inverses(ref, pose):
    ref_v, pose_v = ref.as_vector().astype(np.float64), pose.as_vector().astype(np.float64)
    back = compose_pose(ref_v, pose_delta(ref_v, pose_v))
    # compare as landmarks: Euler angles are not unique near gimbal lock, the posed face is
    np.testing.assert_allclose(repose(MEAN_FACE, back), repose(MEAN_FACE, pose_v), rtol=1e-6, atol=1e-4)


def test_pose_delta_carries_motion_to_another_face():
    """A nod of 10 degrees and a shift of half a face unit on one face is the same motion on another."""
    ref_a = np.array([5.0, -3.0, 2.0, 100.0, 120.0, 40.0])
    moved = compose_pose(ref_a, np.array([[0.0, 10.0, 0.0, 0.5, 0.0, 0.0]]))[0]
    delta = pose_delta(ref_a, moved)
    np.testing.assert_allclose(delta, [0, 10, 0, 0.5, 0, 0], atol=1e-9)
    np.testing.assert_allclose(moved[3:], [120.0, 120.0, 40.0])
    ref_b = np.array([-10.0, 0.0, 0.0, 300.0, 250.0, 120.0])
    on_b = compose_pose(ref_b, delta)
    np.testing.assert_allclose(on_b[3:], [360.0, 250.0, 120.0])
    rel = euler_to_matrix(*on_b[:3]) @ euler_to_matrix(*ref_b[:3]).T
    np.testing.assert_allclose(rel, euler_to_matrix(0, 10, 0), atol=1e-12)
