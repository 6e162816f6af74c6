"""Accuracy of the offline backend against the synthetic corpus's ground truth (the foundation's acceptance)."""

import numpy as np
import pytest
import skimage.data

from space.errors import MissingWeightsError, NoFaceError
from space.face.dlib_backend import DlibBackend, default_predictor_path
from space.face.landmarks import track_face
from space.io.video import read_video
from space.synth.corpus import load_truth


def test_predictor_ships_with_package():
    assert default_predictor_path().is_file()


def test_missing_predictor_is_named(tmp_path):
    with pytest.raises(MissingWeightsError, match="nowhere.dat"):
        DlibBackend(predictor=tmp_path / "nowhere.dat")


def test_finds_the_astronaut(dlib_backend):
    track = track_face([skimage.data.astronaut()], dlib_backend, source="astronaut")
    box = track.boxes[0]
    assert 150 < box[0] < 200 and 60 < box[1] < 100  # her face, not the flag or the suit
    assert track.landmarks.shape == (1, 68, 3) and track.normalized.shape == (1, 68, 3)
    assert abs(track.poses[0, 0]) < 25 and abs(track.poses[0, 2]) < 15


def test_no_face_in_a_plain_image(dlib_backend):
    sky = np.full((200, 300, 3), (120, 170, 230), np.uint8)
    with pytest.raises(NoFaceError, match="sky.png: no face found"):
        track_face([sky], dlib_backend, source="sky.png")


@pytest.mark.slow
def test_landmarks_and_pose_match_ground_truth(synth_corpus, dlib_backend):
    point_errors, pose_errors = [], []
    for clip in synth_corpus:
        truth = load_truth(clip)
        frames = read_video(str(clip)).frames
        assert len(frames) == truth["num_frames"]
        track = track_face(frames, dlib_backend, source=str(clip))
        gt = truth["landmarks"][..., :2]
        face_size = np.linalg.norm(gt.max(1) - gt.min(1), axis=-1)
        error = np.linalg.norm(track.landmarks[..., :2] - gt, axis=-1).mean(-1) / face_size
        pose_error = np.abs(track.poses[:, :3] - truth["poses"][:, :3])
        # Per clip: mean point error within 3% of the face size, mean pose error within 3 degrees per angle.
        assert error.mean() < 0.03, (clip.name, error.mean())
        assert np.all(pose_error.mean(0) < 3.0), (clip.name, truth["emotion"], pose_error.mean(0))
        point_errors.append(error)
        pose_errors.append(pose_error)
    errors, poses = np.concatenate(point_errors), np.concatenate(pose_errors)
    assert np.percentile(errors, 99) < 0.03
    assert np.all(poses.mean(0) < 2.0)
