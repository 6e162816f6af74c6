import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from space.face.expression import EMOTIONS, emotion_offsets, mouth_offsets, parse_emotion
from space.face.eyes import apply_blink, apply_gaze, blink_curve, blink_times, eye_aspect_ratio, eye_centres, iris_centres
from space.face.mean_face import MEAN_FACE


def test_blink_closes_eyes_monotonically():
    ears = [eye_aspect_ratio(apply_blink(MEAN_FACE, c)).mean() for c in np.linspace(0, 1, 6)]
    assert all(a > b for a, b in zip(ears, ears[1:]))
    assert ears[0] > 0.2 and ears[-1] < 0.01


def test_blink_leaves_rest_of_face():
    moved = np.abs(apply_blink(MEAN_FACE, 1.0) - MEAN_FACE).sum(-1) > 0
    assert set(np.flatnonzero(moved)) == {37, 38, 40, 41, 43, 44, 46, 47}


def test_blink_curve_peaks_at_times():
    curve = blink_curve(100, 25.0, times=[1.0, 3.0], duration=0.2)
    assert curve[25] == pytest.approx(1.0) and curve[75] == pytest.approx(1.0)
    assert curve[10] == 0 and curve[50] == 0


@given(st.floats(1, 60), st.floats(0, 40), st.integers(0, 1000))
def test_blink_times_rate_and_margins(duration, rate, seed):
    times = blink_times(duration, rate, seed=seed)
    assert np.all(np.diff(times) >= 1.0 - 1e-9)
    if len(times):
        assert times[0] >= 0.3 and times[-1] <= duration - 0.3


def test_blink_rate_is_about_right():
    counts = [len(blink_times(600, 18, seed=s)) for s in range(5)]
    assert 130 < np.mean(counts) < 200  # ~180 expected in 10 minutes, a little fewer with the minimum gap


def test_gaze_moves_irises_in_the_asked_direction():
    centre = eye_centres(MEAN_FACE)
    right = iris_centres(MEAN_FACE, gaze_yaw=20) - centre
    down = iris_centres(MEAN_FACE, gaze_pitch=15) - centre
    assert np.all(right[:, 0] > 0.03) and np.allclose(right[:, 1], 0)
    assert np.all(down[:, 1] > 0.02) and np.allclose(down[:, 0], 0)
    lids = apply_gaze(MEAN_FACE, gaze_pitch=15)
    assert np.all(lids[[37, 38, 43, 44], 1] > MEAN_FACE[[37, 38, 43, 44], 1])


def test_mouth_opening_grows_with_amount():
    gaps = [(MEAN_FACE + mouth_offsets(o))[66, 1] - (MEAN_FACE + mouth_offsets(o))[62, 1] for o in (0, 0.5, 1)]
    assert gaps[0] < gaps[1] < gaps[2]


def test_emotions_move_their_features():
    corners = lambda d: (MEAN_FACE + d)[54, 0] - (MEAN_FACE + d)[48, 0]  # noqa: E731
    assert corners(emotion_offsets("happy", 1)) > corners(emotion_offsets("happy", 0.5)) > corners(np.zeros((68, 3)))
    assert (MEAN_FACE + emotion_offsets("surprise", 1))[19, 1] < MEAN_FACE[19, 1] - 0.05
    assert np.all(emotion_offsets("neutral", 1) == 0)
    assert set(EMOTIONS) == {"neutral", "happy", "sad", "surprise", "fear", "angry", "disgust", "contempt"}


def test_parse_emotion():
    assert parse_emotion("happy=0.7,surprise=0.3") == {"happy": 0.7, "surprise": 0.3}
    assert parse_emotion("Sad") == {"sad": 1.0}
    assert parse_emotion("") == {"neutral": 1.0}
    with pytest.raises(ValueError, match="unknown emotion 'joyful'.*known: neutral, happy"):
        parse_emotion("joyful=0.5")
    with pytest.raises(ValueError, match="outside"):
        parse_emotion("happy=1.5")
    with pytest.raises(ValueError, match="not a number"):
        parse_emotion("happy=lots")
