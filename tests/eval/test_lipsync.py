"""The numpy lip-sync measures on synthetic series whose answer is known (no media, no models)."""

import math

import numpy as np
import pytest

from space.eval.lipsync import ENERGY_FLOOR_DB, audio_energy, av_offset, best_lag_correlation, mouth_opening


def _face(gap: float, width: float = 40.0, shift=(0.0, 0.0)) -> np.ndarray:
    """68 points where only the mouth matters: corners 48/54 `width` apart, inner lips 61-63 / 67-65 `gap` apart."""
    points = np.zeros((68, 2))
    points[48], points[54] = (-width / 2, 0), (width / 2, 0)
    for upper, lower, x in ((61, 67, -5.0), (62, 66, 0.0), (63, 65, 5.0)):
        points[upper], points[lower] = (x, -gap / 2), (x, gap / 2)
    return points + np.asarray(shift)


def test_mouth_opening_is_gap_over_width():
    faces = np.stack([_face(0.0), _face(8.0), _face(20.0, width=50.0, shift=(300, 200))])
    np.testing.assert_allclose(mouth_opening(faces), [0.0, 0.2, 0.4])
    assert mouth_opening(_face(4.0)).shape == (1,)  # one face (68, 2) is one frame


def test_mouth_opening_is_scale_and_rotation_free():
    face = _face(10.0)
    angle = np.deg2rad(25)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = 3.0 * face @ rot.T + (100, 50)
    np.testing.assert_allclose(mouth_opening(moved), mouth_opening(face))


def test_mouth_opening_keeps_nan_frames_and_takes_3d():
    faces = np.stack([_face(8.0), np.full((68, 2), np.nan), _face(4.0)])
    opening = mouth_opening(faces)
    assert math.isnan(opening[1]) and opening[0] == pytest.approx(0.2) and opening[2] == pytest.approx(0.1)
    with_z = np.concatenate([faces, np.ones((3, 68, 1))], axis=2)
    np.testing.assert_allclose(mouth_opening(with_z), opening)
    with pytest.raises(ValueError):
        mouth_opening(np.zeros((3, 5, 2)))


def test_energy_of_a_tone_burst_lands_in_its_frames():
    sr, fps = 16000, 25  # 640 samples a frame
    audio = np.zeros(sr * 2, np.float32)  # 2 s = 50 frames
    t = np.arange(640 * 10) / sr
    audio[640 * 20 : 640 * 30] = 0.5 * np.sin(2 * np.pi * 440 * t)  # frames 20..29 exactly
    level = audio_energy(audio, sr, fps)
    assert level.shape == (50,)
    burst = 20 * np.log10(0.5 / np.sqrt(2))  # RMS of a sine of amplitude 0.5: -9.03 dBFS
    np.testing.assert_allclose(level[20:30], burst, atol=0.05)
    np.testing.assert_allclose(np.delete(level, range(20, 30)), ENERGY_FLOOR_DB)


def test_energy_frame_edges_follow_the_rule_for_rates_that_do_not_divide():
    # 44.1 kHz at 30 fps: frame t = samples [ceil(1470 t), ceil(1470 (t + 1))); 22.05 kHz at 25 fps: 882 a frame
    for sr, fps in ((44100, 30), (22050, 25), (16000, 29.97)):
        n = int(sr * 1.0)
        audio = np.zeros(n)
        frame = 7
        lo, hi = math.ceil(frame * sr / fps - 1e-9), math.ceil((frame + 1) * sr / fps - 1e-9)
        audio[lo:hi] = 0.1  # a constant block filling frame 7 exactly
        level = audio_energy(audio, sr, fps)
        assert level[frame] == pytest.approx(-20.0, abs=1e-9)
        assert np.all(np.delete(level, frame) == ENERGY_FLOOR_DB)


def test_energy_num_frames_pads_with_nan_and_partial_last_frame():
    audio = np.full(640 * 3 + 100, 0.1)  # 3 full frames and 100 samples of a fourth
    level = audio_energy(audio, 16000, 25)
    assert level.shape == (4,)
    np.testing.assert_allclose(level, -20.0)
    padded = audio_energy(audio, 16000, 25, num_frames=6)
    assert np.isnan(padded[4:]).all() and np.allclose(padded[:4], -20.0)
    np.testing.assert_allclose(audio_energy(audio, 16000, 25, num_frames=2), -20.0)
    assert audio_energy(np.zeros(0), 16000, 25).shape == (0,)


def test_energy_of_int16_is_scaled_to_full_scale():
    audio = np.full(640, 16384, np.int16)  # half of full scale
    assert audio_energy(audio, 16000, 25)[0] == pytest.approx(20 * np.log10(0.5), abs=1e-6)


def _series(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return np.convolve(rng.standard_normal(n + 4), np.ones(5) / 5, "valid")  # smooth, like speech envelopes


@pytest.mark.parametrize("shift", [-4, -1, 0, 2, 3])
def test_best_lag_finds_a_known_shift_with_its_sign(shift):
    a = _series()
    b = np.roll(a, shift)  # b[t] = a[t - shift]: b repeats a `shift` samples later, so b lags a by `shift`
    noise = np.random.default_rng(1).standard_normal(a.size) * 0.02
    r, lag = best_lag_correlation(a, b + noise, max_lag=5)
    assert lag == shift
    assert r > 0.95
    r_back, lag_back = best_lag_correlation(b + noise, a, max_lag=5)  # swapping the series flips the sign
    assert lag_back == -shift and r_back == pytest.approx(r, abs=0.02)


def test_best_lag_stays_within_max_lag():
    a = _series(seed=3)
    r, lag = best_lag_correlation(a, np.roll(a, 8), max_lag=5)
    assert abs(lag) <= 5 and r < 0.9


def test_best_lag_drops_nans_and_prefers_small_lags_on_ties():
    a = _series(seed=4)
    b = np.roll(a, 2).copy()
    a_holes, b_holes = a.copy(), b.copy()
    a_holes[10:30] = np.nan
    b_holes[100:110] = np.nan
    b_holes[150] = np.inf
    r, lag = best_lag_correlation(a_holes, b_holes, max_lag=5)
    assert lag == 2 and r == pytest.approx(1.0)
    # a constant step pattern repeating every 4: lags 0 and +-4 tie at r = 1; 0 wins
    pattern = np.tile([0.0, 1.0, 3.0, 2.0], 30)
    assert best_lag_correlation(pattern, pattern, max_lag=5) == (pytest.approx(1.0), 0)


def test_best_lag_of_unequal_lengths_uses_the_overlap():
    a = _series(300, seed=5)
    b = np.roll(a, -3)[:180]  # b[t] = a[t + 3]: b leads a by 3, so the lag is -3
    r, lag = best_lag_correlation(a, b, max_lag=5)
    assert lag == -3 and r == pytest.approx(1.0)


def test_best_lag_without_enough_data_is_nan():
    assert math.isnan(best_lag_correlation(np.full(50, np.nan), _series()[:50])[0])
    assert math.isnan(best_lag_correlation(np.ones(50), _series()[:50])[0])  # a constant series has no r
    assert math.isnan(best_lag_correlation([1.0, 2.0], [1.0, 2.0])[0])
    with pytest.raises(ValueError):
        best_lag_correlation(_series(), _series(), max_lag=-1)


def test_best_lag_searches_around_its_centre():
    a = _series(seed=6)
    b = np.roll(a, 8)  # 8 samples late: beyond +-2 around 0, inside +-2 around 7
    r, lag = best_lag_correlation(a, b, max_lag=2, centre=7)
    assert lag == 8 and r > 0.95
    assert best_lag_correlation(a, b, max_lag=2)[0] < 0.9


def _speaker(offset: int, n: int = 400, seed: int = 7):
    """(energy dB, mouth opening) of a recording whose mouth follows its loudness loosely (r ~0.5) and moves
    `offset` frames after it (< 0: before it)."""
    rng = np.random.default_rng(seed)
    level = _series(n, seed=seed) * 10 - 30
    opening = 0.1 + 0.01 * (level + 30) + rng.normal(0, 0.1, n)
    return level, np.roll(opening, offset)


def test_av_offset_claims_a_clear_offset_and_only_that():
    level, opening = _speaker(-7)
    found = av_offset(level, opening)
    assert found["offset"] == -7 and found["r"] >= 0.3 and found["r"] - found["r_in_sync"] >= 0.15
    level, opening = _speaker(-2)  # a mouth that leads its sound a little is in sync
    assert av_offset(level, opening)["offset"] == 0
    rng = np.random.default_rng(8)  # a mouth unrelated to the sound: its best lag anywhere is not claimed
    assert av_offset(level, rng.normal(0.1, 0.05, level.size))["offset"] == 0

