import numpy as np
import pytest

from space.io.mp4 import frame_count_for
from space.synth.speech import synthesize_speech


@pytest.mark.parametrize("duration", [0.5, 2.0, 3.7])
def test_exact_length_and_range(duration):
    speech = synthesize_speech(duration, seed=3)
    assert len(speech.audio) == round(duration * 16000)
    assert speech.audio.dtype == np.float32 and np.abs(speech.audio).max() <= 1.0
    assert len(speech.mouth_open) == frame_count_for(duration, 25)  # round half up, as the mp4 writer


def test_mouth_follows_the_audio_envelope():
    speech = synthesize_speech(6.0, seed=1)
    hop = 16000 // 25
    rms = np.sqrt((speech.audio[: len(speech.mouth_open) * hop].reshape(-1, hop) ** 2).mean(1))
    assert np.corrcoef(rms, speech.mouth_open)[0, 1] > 0.7
    assert speech.mouth_open[:3].max() == 0  # starts in silence


def test_deterministic_by_seed():
    a, b, c = synthesize_speech(2, seed=5), synthesize_speech(2, seed=5), synthesize_speech(2, seed=6)
    assert np.array_equal(a.audio, b.audio) and not np.array_equal(a.audio, c.audio)


def test_has_voice_pitch():
    # The spectrum of voiced speech has its fundamental in the adult range.
    speech = synthesize_speech(3.0, seed=2, f0=150.0)
    spectrum = np.abs(np.fft.rfft(speech.audio))
    freqs = np.fft.rfftfreq(len(speech.audio), 1 / 16000)
    low = (freqs > 60) & (freqs < 400)
    assert 130 < freqs[low][np.argmax(spectrum[low])] < 170
