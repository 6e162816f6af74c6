"""Speech segments: the clip policy on hand-made probability curves, and the real VAD model on synthetic speech."""

import numpy as np
import pytest

from space.audio.vad import Segment, SpeechSegmenter, speech_segments
from space.errors import NoSpeechError, SilentAudioError
from space.synth.speech import synthesize_speech

STEP = 0.016875  # the model's frame step (s)


def curve(duration: float, level: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Frame centres over `duration` s, spaced like the model's, and a flat probability `level` (no speech)."""
    times = np.arange(0.031, duration, STEP)
    return times, np.full(len(times), level)


def shape(times, probs, *spans):
    """probs with each (start, end, p) span set to p."""
    probs = probs.copy()
    for start, end, p in spans:
        probs[(times >= start) & (times < end)] = p
    return probs


def test_hysteresis_starts_above_onset_and_stops_below_offset():
    times, base = curve(10)
    # 0.45 alone never starts speech; after 0.9, a 0.4 (between offset and onset) keeps it going until 0.2.
    probs = shape(times, base, (1, 2, 0.45), (3, 4, 0.9), (4, 6, 0.4), (6, 10, 0.2))
    (seg,) = speech_segments(times, probs, 10, min_gap=0, pad=0)
    assert seg.start == pytest.approx(times[times >= 3][0]) and seg.end == pytest.approx(times[times >= 6][0])
    assert seg.score == pytest.approx(np.mean(probs[(times >= seg.start) & (times <= seg.end)]))
    assert 0.4 < seg.score < 0.9


def test_short_pauses_are_merged_long_ones_are_not():
    times, base = curve(12)
    probs = shape(times, base, (1, 3, 0.95), (3.2, 5, 0.95), (5.5, 8, 0.95))  # pauses of 0.2 s and 0.5 s
    segments = speech_segments(times, probs, 12, pad=0)
    assert [(round(s.start, 1), round(s.end, 1)) for s in segments] == [(1.0, 5.0), (5.5, 8.0)]
    assert len(speech_segments(times, probs, 12, pad=0, min_gap=0.1)) == 3


def test_long_segment_is_cut_at_its_dips():
    times, base = curve(26)
    # 25 s of speech with a hesitation at 8 s (0.4: still speech) and a 0.1 s breath at 17 s (merged back)
    probs = shape(times, base, (0.5, 25.5, 0.95), (7.95, 8.05, 0.4), (17.0, 17.1, 0.1))
    segments = speech_segments(times, probs, 26, max_clip=10)
    assert len(segments) == 3
    assert all(1.0 <= s.duration <= 10.0 for s in segments)
    assert segments[0].start == pytest.approx(0.4, abs=0.02) and segments[-1].end == pytest.approx(25.6, abs=0.02)
    cuts = [s.end for s in segments[:-1]]
    assert cuts[0] == pytest.approx(8.0, abs=0.06) and cuts[1] == pytest.approx(17.05, abs=0.06)
    assert all(a.end == b.start for a, b in zip(segments, segments[1:]))  # touching, not overlapping


def test_cut_keeps_min_clip_on_both_sides():
    times, base = curve(12)
    probs = shape(times, base, (0.5, 11.5, 0.95), (0.9, 1.0, 0.4), (5.0, 5.1, 0.6))  # 0.4: too near the start
    segments = speech_segments(times, probs, 12, max_clip=10, min_clip=1.0)
    assert len(segments) == 2 and segments[0].end == pytest.approx(5.05, abs=0.06)  # in the 0.6 dip


def test_even_cut_when_no_frame_allows_a_cut():
    times, probs = np.array([0.5, 1.2, 3.3]), np.array([0.9, 0.9, 0.9])  # a coarse curve: no frame in [1.5, 2.4]
    segments = speech_segments(times, probs, 3.4, min_clip=1.0, max_clip=2.0, pad=0)
    assert [(s.start, s.end) for s in segments] == [pytest.approx((0.5, 1.95)), pytest.approx((1.95, 3.4))]


def test_short_segments_are_dropped():
    times, base = curve(10)
    probs = shape(times, base, (1, 1.5, 0.95), (3, 4.5, 0.95))
    segments = speech_segments(times, probs, 10)
    assert len(segments) == 1 and segments[0].start == pytest.approx(2.9, abs=0.02)
    assert speech_segments(times, probs, 10, min_clip=0.5)[0].duration == pytest.approx(0.7, abs=0.02)


def test_padding_is_clamped_to_the_audio_and_the_neighbours():
    times, base = curve(6)
    probs = shape(times, base, (0, 2, 0.95), (2.35, 6, 0.95))  # speech from the first to the last frame
    first, second = speech_segments(times, probs, 6, pad=0.25)
    assert first.start == 0.0 and second.end == 6.0  # not -0.25 s nor past the end
    assert first.end == second.start == pytest.approx(2.18, abs=0.02)  # the middle of the 0.35 s pause


def test_no_speech_gives_no_segments():
    times, probs = curve(5)
    assert speech_segments(times, probs, 5) == []
    assert speech_segments(np.zeros(0), np.zeros(0), 0.0) == []


@pytest.mark.parametrize(
    "settings, name",
    [({"max_clip": 1.5}, "max_clip"), ({"min_clip": 0}, "min_clip"), ({"offset": 0.6}, "offset"),
     ({"onset": 1.2}, "onset"), ({"pad": -0.1}, "pad"), ({"min_gap": float("nan")}, "min_gap")],
)
def test_bad_settings_name_the_setting(settings, name):
    with pytest.raises(ValueError, match=name):
        SpeechSegmenter(**settings)  # refused before the model loads
    with pytest.raises(ValueError, match=name):
        speech_segments(np.zeros(0), np.zeros(0), 1.0, **settings)


def test_segment_is_frozen():
    with pytest.raises(AttributeError):
        Segment(0.0, 1.0, 0.9).start = 0.5


@pytest.fixture(scope="module")
def segmenter():
    return SpeechSegmenter()


def padded(audio: np.ndarray, seconds: float = 1.0) -> np.ndarray:
    silence = np.zeros(int(seconds * 16000), np.float32)
    return np.concatenate([silence, audio.astype(np.float32), silence])


def test_synthetic_speech_is_one_segment(segmenter):
    speech = synthesize_speech(3.0, seed=1)
    (seg,) = segmenter.segments(padded(speech.audio), "speech.wav")
    assert seg.start == pytest.approx(1.0, abs=0.3) and seg.end == pytest.approx(4.0, abs=0.3)
    first, last = speech.syllables[0][0] + 1.0, speech.syllables[-1][1] + 1.0
    assert seg.start <= first and seg.end >= last  # covers every syllable
    assert seg.score > 0.8


def test_scores_are_model_frames(segmenter):
    times, probs = segmenter.scores(padded(synthesize_speech(1.0, seed=2).audio))
    assert times.shape == probs.shape and len(times) > 100
    assert np.diff(times) == pytest.approx(STEP, abs=1e-4) and times[0] == pytest.approx(0.031, abs=1e-3)
    assert probs[times < 0.8].max() < 0.5 and probs.max() > 0.9


def test_silence_is_silent_audio(segmenter):
    with pytest.raises(SilentAudioError, match=r"zeros\.wav: audio is silent"):
        segmenter.segments(np.zeros(32000, np.float32), "zeros.wav")
    with pytest.raises(SilentAudioError, match=r"empty\.wav: audio has no samples"):
        segmenter.segments(np.zeros(0, np.float32), "empty.wav")


def test_quiet_noise_is_no_speech(segmenter):
    noise = np.random.default_rng(0).standard_normal(5 * 16000) * 10 ** (-40 / 20)  # -40 dBFS: not silent
    with pytest.raises(NoSpeechError, match=r"hiss\.wav: no speech detected in 5\.0 s of audio") as info:
        segmenter.segments(noise.astype(np.float32), "hiss.wav")
    assert info.value.kind == "no_speech"


def test_speech_shorter_than_min_clip_is_named(segmenter):
    speech = synthesize_speech(0.7, seed=2)  # one syllable, ~0.2 s
    reason = r"blip\.wav: no speech segment of at least 1\.0 s \(1 shorter: 0\.\d\d s\)"
    with pytest.raises(NoSpeechError, match=reason):
        segmenter.segments(padded(speech.audio), "blip.wav")


def test_settings_version_the_policy(segmenter):
    settings = segmenter.settings()
    assert {k: settings[k] for k in ("min_clip", "max_clip", "min_gap", "pad", "onset", "offset")} == dict(
        min_clip=1.0, max_clip=10.0, min_gap=0.3, pad=0.1, onset=0.5, offset=0.363
    )
    assert settings["model"] == "pytorch_model.bin" and len(settings["model_sha256"]) == 16
