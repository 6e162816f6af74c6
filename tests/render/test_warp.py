"""The `warp` renderer on the astronaut portrait: identity, mouth, gaze, blinks, sizes; and the iris measure."""

import inspect

import cv2
import numpy as np
import pytest

from space.face.expression import mouth_offsets, mouth_opening
from space.face.eyes import apply_blink, apply_gaze, carry_iris, eye_aspect_ratio, measure_iris, posed_iris
from space.face.geometry import repose
from space.portrait import Portrait, astronaut_portrait
from space.render.base import Motion
from space.render.warp import WarpRenderer


def motion_for(portrait: Portrait, normalized: np.ndarray, poses: np.ndarray | None = None, iris=None) -> Motion:
    """A Motion from (T, 68, 3) normalized landmarks; the photo's pose and gaze unless given."""
    poses = np.repeat(portrait.pose[None], len(normalized), 0) if poses is None else poses
    landmarks = repose(normalized, poses)
    iris = carry_iris(portrait.landmarks, portrait.iris, landmarks) if iris is None else iris
    return Motion(landmarks, normalized, poses, iris, mouth_opening(landmarks))


def identity(portrait: Portrait, frames: int = 1) -> Motion:
    return motion_for(portrait, np.repeat(portrait.normalized[None], frames, 0))


def grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2 or image.shape[-1] == 1:
        return image.reshape(image.shape[:2]).astype(np.float64)
    return image.astype(np.float64) @ [0.299, 0.587, 0.114]


def polygon_mean(image: np.ndarray, polygon: np.ndarray) -> float:
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    return float(grey(image)[mask > 0].mean())


def detect(backend, image):
    boxes = backend.detect(image)
    assert len(boxes), "no face found in the rendered frame"
    return backend.landmarks([image], boxes[:1, :4])[0].astype(np.float64)


@pytest.fixture(scope="module")
def renderer():
    return WarpRenderer()


def test_render_streams_one_frame_per_motion_frame(astronaut, renderer):
    motion = identity(astronaut, 4)
    frames = renderer.render(astronaut, motion)
    assert inspect.isgenerator(frames)
    frames = list(frames)
    assert len(frames) == len(motion) == 4
    assert renderer.name == "warp"


def test_identity_motion_reproduces_the_photo(astronaut, renderer):
    frame = next(renderer.render(astronaut, identity(astronaut)))
    assert np.abs(frame.astype(int) - astronaut.image).mean() < 0.5


@pytest.mark.parametrize("size", [256, 512])
def test_frames_at_256_and_512(size, astronaut, renderer):
    portrait = astronaut if size == 256 else astronaut_portrait(512)
    t = np.arange(6)
    normalized = np.stack([portrait.normalized + mouth_offsets(0.5 + 0.5 * np.sin(k)) for k in t])
    poses = np.repeat(portrait.pose[None], len(t), 0)
    poses[:, 0] += 8 * np.sin(t / 2)  # turn the head
    poses[:, 2] += 4 * np.cos(t / 2)
    motion = motion_for(portrait, apply_blink(normalized, np.linspace(0, 1, len(t))), poses)
    frames = list(renderer.render(portrait, motion))
    assert len(frames) == len(motion)
    for frame in frames:
        assert frame.shape == (size, size, 3) and frame.dtype == np.uint8
    assert np.abs(frames[-1].astype(int) - portrait.image).mean() > 1  # it moved


def test_open_mouth_is_detected_and_dark(astronaut, renderer, dlib_backend):
    motion = motion_for(astronaut, (astronaut.normalized + mouth_offsets(0.8))[None])
    frame = next(renderer.render(astronaut, motion))
    gap = lambda lm: np.linalg.norm(lm[[61, 62, 63]] - lm[[67, 66, 65]], axis=-1).mean()  # noqa: E731
    photo_gap, frame_gap = gap(detect(dlib_backend, astronaut.image)), gap(detect(dlib_backend, frame))
    assert frame_gap > photo_gap + 4, (photo_gap, frame_gap)
    # What the lips now enclose is darker than what they enclosed in the photo (her teeth).
    inside = polygon_mean(frame, motion.landmarks[0, 60:68, :2])
    assert inside < polygon_mean(astronaut.image, astronaut.landmarks[60:68]) - 40
    assert inside < grey(frame).mean()


def test_a_closed_mouth_photo_opens_with_a_hint_of_teeth(astronaut, renderer):
    # The astronaut with her inner lips declared shut: every pair of facing inner-lip points at their midpoint.
    landmarks = astronaut.landmarks.copy()
    for upper, lower in ((61, 67), (62, 66), (63, 65)):
        landmarks[[upper, lower]] = landmarks[[upper, lower]].mean(0)
    shut = Portrait(astronaut.image, landmarks, astronaut.pose, astronaut.normalized, source="shut")
    still = lambda lm: Motion(lm[None], shut.normalized[None], shut.pose[None], shut.iris[None], np.zeros(1))  # noqa: E731
    frame = next(renderer.render(shut, still(landmarks)))
    assert np.abs(frame.astype(int) - shut.image).mean() < 0.5  # still the photo
    opened = landmarks.copy()
    opened[[65, 66, 67]] += [0, 12]
    frame = next(renderer.render(shut, still(opened)))
    column = grey(frame)[:, int(round(opened[62, 0]))]
    top, bottom = int(np.ceil(opened[62, 1])), int(np.floor(opened[66, 1]))
    assert column[top + 1 : top + 3].mean() > column[bottom - 5 : bottom - 2].mean() + 40  # teeth, then cavity


def test_closing_an_open_photo_mouth_hides_the_teeth_without_folding(astronaut, renderer):
    # The astronaut shows her teeth; a frame with her inner lips brought together must cover them with the lips,
    # and the map across the mouth must be monotone (a fold samples the photo back and forth: waves of lip).
    closed = astronaut.landmarks.copy()
    for upper, lower in ((61, 67), (62, 66), (63, 65)):
        middle = closed[[upper, lower]].mean(0)
        closed[upper], closed[lower] = middle - [0, 0.5], middle + [0, 0.5]
    lower_lip = [55, 56, 57, 58, 59]
    closed[lower_lip] -= [0, 0.6 * (astronaut.landmarks[66, 1] - astronaut.landmarks[62, 1])]
    prepared = renderer.prepare(astronaut)
    map_x, map_y = prepared.maps(closed, astronaut.pose)
    frame = cv2.remap(astronaut.image, map_x, map_y, cv2.INTER_LINEAR)
    red = lambda image: image[..., :1].astype(np.float64) - image[..., 1:2]  # noqa: E731  lips are red, teeth white
    teeth = polygon_mean(red(astronaut.image), astronaut.landmarks[60:68])
    covered = polygon_mean(red(frame), astronaut.landmarks[60:68])  # where the photo showed teeth
    assert covered > teeth + 15, (teeth, covered)
    middle = (closed[62] + closed[66]) / 2
    for x in np.linspace(closed[61, 0], closed[63, 0], 7).round().astype(int):
        rows = np.arange(int(closed[51, 1]) - 6, int(closed[57, 1]) + 6)
        column = map_y[rows, x]
        steps = np.diff(column)
        assert (steps > -0.05).all(), (x, steps.min())  # the photo is read downwards only
        assert column[rows > middle[1] + 1].min() > column[rows < middle[1] - 1].max()  # lips meet, teeth skipped


def test_closing_an_open_photo_mouth_leaves_the_nose_and_the_chin_in_place(astronaut, renderer):
    # A mouth shuts with the lower lip and the jaw (space.synth.phonetic.closed_lips raises the lower lip by the
    # whole gap and keeps the upper): the nostrils and the chin's outline must stay where the landmarks put them,
    # not be dragged down by the lips' closing (it pulled an open-mouthed photo's nostrils into a beak; the
    # nostrils then moved by 0.36 of the lip gap, now by 0.07).
    photo = astronaut.landmarks[:, :2]
    gap = float(np.mean(photo[[67, 66, 65], 1] - photo[[61, 62, 63], 1]))
    assert gap > 4  # the astronaut shows her teeth
    closed = photo.copy()
    closed[[65, 66, 67, 55, 56, 57, 58, 59], 1] -= gap
    map_x, map_y = renderer.prepare(astronaut).maps(closed, astronaut.pose)
    ys, xs = np.mgrid[0 : map_x.shape[0], 0 : map_x.shape[1]]
    moved = np.hypot(map_x - xs, map_y - ys)  # how far each output pixel samples from itself
    nostrils = moved[int(photo[30, 1]) : int(photo[33, 1]) + 3, int(photo[31, 0]) : int(photo[35, 0]) + 1]
    assert nostrils.max() < 0.12 * gap, (nostrils.max(), gap)
    chin = int(round(photo[8, 1]))
    outline = moved[chin - 1 : chin + 2, int(photo[48, 0]) : int(photo[54, 0])]
    assert outline.max() < 0.25 * gap, (outline.max(), gap)


def test_gaze_moves_the_measured_iris(astronaut, renderer):
    rest = measure_iris(astronaut.image, astronaut.landmarks)
    assert np.all(np.isfinite(rest))
    for dx in (3.0, -3.0):  # pixels to the image right, then left; lids and head as in the photo
        motion = identity(astronaut)
        motion.iris = motion.iris + [dx, 0.0]
        frame = next(renderer.render(astronaut, motion))
        moved = measure_iris(frame, astronaut.landmarks) - rest
        assert np.all(moved[:, 0] / dx > 0.5) and np.all(moved[:, 0] / dx < 1.5), (dx, moved)
        assert np.all(np.abs(moved[:, 1]) < 1.0), (dx, moved)


def test_looking_up_moves_the_measured_iris_up(astronaut, renderer):
    # A gaze up moves the irises and (partly) the upper lids, as space.face.eyes.apply_gaze models it.
    normalized = apply_gaze(astronaut.normalized, 0.0, -20.0)[None]
    poses = astronaut.pose[None]
    iris = posed_iris(astronaut.landmarks, astronaut.iris, normalized, poses, 0.0, -20.0)
    ahead = posed_iris(astronaut.landmarks, astronaut.iris, normalized, poses)
    asked = (iris - ahead)[0, :, 1]
    frame = next(renderer.render(astronaut, motion_for(astronaut, normalized, iris=iris)))
    moved = measure_iris(frame, repose(normalized, poses)[0]) - measure_iris(astronaut.image, astronaut.landmarks)
    assert np.all(asked < -2.5)
    # Up, by a good part of the asked distance (the lids hide the top of the iris as it rises).
    assert np.all(moved[:, 1] < 0.3 * asked) and np.all(moved[:, 1] > 1.5 * asked), (moved, asked)


def test_blink_renders_shut_eyes(astronaut, renderer, dlib_backend):
    motion = motion_for(astronaut, apply_blink(astronaut.normalized, 1.0)[None])
    frame = next(renderer.render(astronaut, motion))
    found = detect(dlib_backend, frame)
    assert eye_aspect_ratio(found).max() < 0.6 * eye_aspect_ratio(astronaut.landmarks).min()


def test_measure_iris_on_a_drawn_eye():
    image = np.full((60, 100, 3), 200, np.uint8)
    landmarks = np.zeros((68, 2))
    almond = np.array([[15, 30], [22, 24], [32, 24], [40, 30], [32, 36], [22, 36]], np.float64)
    # Two eyes (corners, upper lid, lower lid): white inside, a dark iris off-centre in each.
    for first, shift, iris_x in ((36, 0, 30), (42, 50, 76)):
        landmarks[first : first + 6] = almond + [shift, 0]
        cv2.fillPoly(image, [landmarks[first : first + 6].astype(np.int32)], (240, 240, 240))
        cv2.circle(image, (iris_x, 30), 5, (40, 30, 20), -1)
    np.testing.assert_allclose(measure_iris(image, landmarks), [[30, 30], [76, 30]], atol=0.5)
    shut = landmarks.copy()
    shut[[37, 38, 43, 44], 1] = 29.5
    shut[[40, 41, 46, 47], 1] = 30.5
    assert np.isnan(measure_iris(image, shut)).all()


def test_posed_iris_keeps_the_photo_gaze_at_zero(astronaut):
    normalized = np.repeat(astronaut.normalized[None], 2, 0)
    poses = np.repeat(astronaut.pose[None], 2, 0)
    np.testing.assert_allclose(posed_iris(astronaut.landmarks, astronaut.iris, normalized, poses)[0], astronaut.iris)
    right = posed_iris(astronaut.landmarks, astronaut.iris, normalized, poses, 20.0, 0.0) - astronaut.iris
    assert np.all(right[..., 0] > 2) and np.all(np.abs(right[..., 1]) < 0.5)


def test_carry_iris_follows_the_eye_corners(astronaut):
    np.testing.assert_allclose(carry_iris(astronaut.landmarks, astronaut.iris, astronaut.landmarks), astronaut.iris)
    angle = np.deg2rad(10)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * 1.2
    moved = astronaut.landmarks @ turn.T + [5, -3]
    carried = carry_iris(astronaut.landmarks, astronaut.iris, moved[None])[0]
    np.testing.assert_allclose(carried, astronaut.iris @ turn.T + [5, -3])
