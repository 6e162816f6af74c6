import numpy as np
import pytest

from space.errors import NoFaceError, SeveralFacesError
from space.face.backend import LandmarkBackend
from space.face.landmarks import track_face
from space.face.tracking import has_rival, iou, main_face, smooth, stable_crop, track_boxes


def det(*boxes):
    return np.array(boxes, np.float32).reshape(-1, 5)


def test_main_face_prefers_large_central_confident():
    boxes = det([0, 0, 50, 50, 1.0], [80, 80, 180, 180, 1.0], [300, 300, 340, 340, 1.0])
    assert main_face(boxes, 400, 400) == 1
    # A weak detection of the same size loses against a confident one.
    boxes = det([100, 20, 190, 110, 1.2], [60, 250, 150, 340, 0.1])
    assert main_face(boxes, 400, 400) == 0


def test_track_keeps_identity_when_a_bigger_face_appears():
    ours = [100, 100, 160, 160, 1.0]
    other = [220, 40, 380, 200, 1.0]  # larger, enters in frame 3
    detections = [det(ours), det(ours), det(ours), det(ours, other), det(other, ours)]
    track = track_boxes(detections, 400, 300, window=1)
    np.testing.assert_allclose(track.boxes, np.tile(ours[:4], (5, 1)))
    assert track.max_faces == 2 and track.detected.all()


def test_track_fills_gaps_and_smooths():
    detections = [det([100 + t, 100, 160 + t, 160, 1]) if t % 3 else det() for t in range(12)]
    track = track_boxes(detections, 400, 300, window=3)
    assert track.boxes.shape == (12, 4)
    assert not track.detected[0] and track.detected[1]
    assert np.all(np.diff(track.boxes[:, 0]) >= -1e-6)  # a steady pan stays monotone


def test_no_face_anywhere_gives_none():
    assert track_boxes([det(), det()], 100, 100) is None


def test_smooth_reduces_jitter_and_keeps_constant():
    rng = np.random.default_rng(0)
    noisy = 100 + rng.normal(0, 3, (200, 2))
    assert smooth(noisy, 5).std() < noisy.std() / 1.8
    np.testing.assert_allclose(smooth(np.full((10, 2), 7.0), 5), 7.0)


def test_stable_crop_has_constant_size():
    boxes = np.array([[100 + t, 100, 160 + t + (t % 2) * 4, 160] for t in range(20)], np.float32)
    crops = stable_crop(boxes, scale=2.0)
    sides = crops[:, 2] - crops[:, 0]
    assert np.allclose(sides, sides[0]) and np.allclose(crops[:, 3] - crops[:, 1], sides[0])


def test_iou():
    assert iou(np.array([0, 0, 10, 10.0]), np.array([[0, 0, 10, 10.0], [5, 0, 15, 10], [20, 20, 30, 30]])).round(3).tolist() == [1.0, 0.333, 0.0]


class _Blind(LandmarkBackend):
    name = "blind"

    def detect(self, image):
        return np.zeros((0, 5), np.float32)

    def landmarks(self, images, boxes):  # pragma: no cover - never reached
        raise AssertionError


class _Flicker(_Blind):
    """Finds a face in one frame of four."""

    def __init__(self):
        self.calls = 0

    def detect(self, image):
        self.calls += 1
        return det([10, 10, 50, 50, 1]) if self.calls % 4 == 1 else det()


def test_track_face_errors_name_the_source():
    frames = [np.zeros((64, 64, 3), np.uint8)] * 3
    with pytest.raises(NoFaceError, match=r"clip\.mp4: no face found in 3 frame"):
        track_face(frames, _Blind(), source="clip.mp4")
    with pytest.raises(NoFaceError, match=r"clip\.mp4: face found in only 25% of 8 frames"):
        track_face([frames[0]] * 8, _Flicker(), source="clip.mp4")
    with pytest.raises(NoFaceError, match="no frames"):
        track_face([], _Blind(), source="clip.mp4")


class _Counting(LandmarkBackend):
    name = "counting"

    def __init__(self):
        self.detect_calls = 0

    def detect(self, image):
        self.detect_calls += 1
        return det([10, 10, 50, 50, 1])

    def landmarks(self, images, boxes):
        from space.face.geometry import repose
        from space.face.mean_face import MEAN_FACE

        return np.stack([repose(MEAN_FACE, [0, 0, 0, 30, 30, 15])[:, :2]] * len(images)).astype(np.float32)


def test_detect_every_k_frames_runs_the_detector_less():
    backend = _Counting()
    track = track_face([np.zeros((64, 64, 3), np.uint8)] * 10, backend, detect_every=4)
    assert backend.detect_calls == 4  # frames 0, 4, 8 and the last
    assert len(track) == 10 and track.detected.sum() == 4
    np.testing.assert_allclose(track.poses[:, 3:], [[30, 30, 15]] * 10, atol=1e-3)


def test_crowded_counts_frames_with_a_comparable_second_face():
    ours = [100, 100, 200, 200, 1.0]  # area 10000
    rival = [250, 90, 330, 170, 1.0]  # area 6400 >= 0.5 x ours
    small = [20, 20, 60, 60, 1.0]  # area 1600: a face in the background
    detections = [det(ours, rival), det(ours), det(ours, small), det(rival, ours), None, det(ours, rival, small)]
    track = track_boxes(detections, 400, 300)
    assert track.examined == 5 and track.crowded == 3  # the skipped frame (None) is not examined
    assert track.crowded_fraction == pytest.approx(0.6)
    assert track_boxes(detections, 400, 300, rival_ratio=0.7).crowded == 0  # 0.64 x ours is not comparable now


def test_crowded_ignores_a_duplicate_of_our_face_and_counts_when_ours_is_missed():
    ours = [100, 100, 200, 200, 1.0]
    duplicate = [105, 95, 205, 195, 0.5]  # the same face found twice (IoU > 0.3)
    rival = [250, 100, 350, 200, 1.0]
    track = track_boxes([det(ours, duplicate), det(ours), det(rival)], 400, 300)
    assert track.max_faces == 2 and track.crowded == 1  # frame 2: ours missed, a face of its size elsewhere
    assert not has_rival(np.array(ours[:4]), det(), 0.5, 0.3)


def test_several_faces_error_only_when_asked():
    backend = _TwoFaces()
    frames = [np.zeros((64, 128, 3), np.uint8)] * 4
    reason = r"interview\.mp4: a second face of comparable size in 100% of 4 frames \(allowed 50%\)"
    with pytest.raises(SeveralFacesError, match=reason):
        track_face(frames, backend, source="interview.mp4", max_crowded=0.5)
    track = track_face(frames, backend, source="interview.mp4")  # the default: today's behaviour
    assert track.crowded == 4 and track.max_faces == 2
    assert SeveralFacesError("x", "y").kind == "several_faces"


class _TwoFaces(_Counting):
    def detect(self, image):
        return det([10, 10, 50, 50, 1], [70, 10, 110, 50, 1])


def test_two_astronauts_side_by_side_are_several_faces(dlib_backend, astronaut):
    two = np.concatenate([astronaut.image, astronaut.image], axis=1)  # 256 x 512, two faces of one size
    reason = r"two\.png: a second face of comparable size in 100% of 2 frames"
    with pytest.raises(SeveralFacesError, match=reason):
        track_face([two, two], dlib_backend, source="two.png", max_crowded=0.5)
    track = track_face([two, two], dlib_backend, source="two.png", max_crowded=None)
    assert track.crowded == 2 and track.max_faces == 2


def test_small_face_in_the_background_is_not_crowding(dlib_backend, astronaut):
    import cv2

    canvas = np.concatenate([astronaut.image, np.full_like(astronaut.image, 128)], axis=1)
    canvas[:96, 406:502] = cv2.resize(astronaut.image, (96, 96))  # a poster a third of her size
    track = track_face([canvas, canvas], dlib_backend, source="poster.png", max_crowded=0.0)
    assert track.max_faces == 2 and track.crowded == 0
