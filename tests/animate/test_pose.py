import numpy as np
import pytest

from space.animate.pose import (
    Keyframe, apply_motion, fit_length, keyframe_motion, parse_keyframes, static_motion, transfer_motion,
)
from space.face.geometry import compose_pose, euler_to_matrix, pose_delta


def test_parse_keyframes():
    keys = parse_keyframes("0:0,0,0; 1.5:15,-5,2 ;3:0,0,0,0.1,0,1.05")
    assert keys == [Keyframe(0, 0, 0, 0), Keyframe(1.5, 15, -5, 2), Keyframe(3, 0, 0, 0, 0.1, 0, 1.05)]
    assert parse_keyframes("2:10") == [Keyframe(2, 10)]


@pytest.mark.parametrize("spec", ["", "1.5", "a:1,2,3", "1:1,2,3,4,5,6,7", "1:x,2"])
def test_bad_keyframes_name_the_key(spec):
    with pytest.raises(ValueError, match="keyframe"):
        parse_keyframes(spec)


def test_keyframe_motion_passes_through_keys_without_overshoot():
    keys = [Keyframe(0.0), Keyframe(1.0, yaw=20), Keyframe(2.0, yaw=20, pitch=-10)]
    motion = keyframe_motion(keys, num_frames=75, fps=25)
    assert motion.shape == (75, 6)
    np.testing.assert_allclose(motion[0, :3], [0, 0, 0])
    np.testing.assert_allclose(motion[25, :3], [20, 0, 0], atol=1e-9)
    np.testing.assert_allclose(motion[50, :3], [20, -10, 0], atol=1e-9)
    np.testing.assert_allclose(motion[60:, :3], [[20, -10, 0]] * 15, atol=1e-9)  # held after the last key
    assert motion[:, 0].max() <= 20 + 1e-9 and np.all(np.diff(motion[:26, 0]) >= -1e-12)  # monotone, no overshoot


def test_keys_at_the_same_time_are_rejected():
    with pytest.raises(ValueError, match="same time"):
        keyframe_motion([Keyframe(1.0), Keyframe(1.0, yaw=3)], 10)


def test_fit_length_plays_back_and_forth_without_a_jump():
    seq = np.arange(5.0)[:, None]
    out = fit_length(seq, 12)[:, 0]
    np.testing.assert_array_equal(out, [0, 1, 2, 3, 4, 3, 2, 1, 0, 1, 2, 3])
    np.testing.assert_array_equal(fit_length(seq, 3)[:, 0], [0, 1, 2])
    assert np.abs(np.diff(out)).max() == 1


def test_transfer_motion_is_relative_to_the_reference_first_frame():
    t = np.arange(50) / 25
    ref = np.stack([10 + 8 * np.sin(t), -5 + 3 * np.cos(t), np.zeros_like(t), 300 + 5 * t, 200 + 0 * t, 80 + 0 * t], 1)
    photo = np.array([-4.0, 2.0, 1.0, 128.0, 140.0, 40.0])
    poses = apply_motion(photo, transfer_motion(ref, 60, sigma=0))
    assert poses.shape == (60, 6)
    np.testing.assert_allclose(poses[0], photo, atol=1e-9)  # the first reference frame maps to the photo's pose
    # frame by frame, the photo turns as the reference turned since its first frame
    for i in (10, 30, 49):
        want = euler_to_matrix(*ref[i, :3]) @ euler_to_matrix(*ref[0, :3]).T
        got = euler_to_matrix(*poses[i, :3]) @ euler_to_matrix(*photo[:3]).T
        np.testing.assert_allclose(got, want, atol=1e-9)
    # translation scales with the face: the reference moved 5 px/s at scale 80, the photo at scale 40 moves 2.5
    np.testing.assert_allclose(poses[25, 3] - photo[3], 0.5 * (ref[25, 3] - ref[0, 3]), atol=1e-9)


def test_offset_turns_the_whole_track():
    photo = np.array([0.0, 0.0, 0.0, 100.0, 100.0, 30.0])
    poses = apply_motion(photo, static_motion(10), offset=(12.0, -4.0, 3.0))
    np.testing.assert_allclose(pose_delta(photo, poses), [[12.0, -4.0, 3.0, 0, 0, 0]] * 10, atol=1e-9)
    np.testing.assert_allclose(compose_pose(photo, pose_delta(photo, poses)), poses, atol=1e-9)
