"""The speech synthesisers behind the phonetic corpus: 16 kHz audio with phone timings that match the sound."""

import numpy as np
import pytest

from space.synth.phones import targets
from space.synth.tts import SAMPLE_RATE, Espeak, Festival, Flite, TTSError, TTSUnavailableError, available_engines


def engine(cls):
    try:
        return cls()
    except TTSUnavailableError as exc:  # scripts/setup.sh installs them; a machine without apt may lack them
        pytest.skip(str(exc))


def check(utterance, text):
    assert utterance.audio.dtype == np.float32 and utterance.sample_rate == SAMPLE_RATE
    assert utterance.text == text and 0.5 < utterance.duration < 10
    starts = np.array([a for a, _, _ in utterance.phones])
    ends = np.array([b for _, b, _ in utterance.phones])
    assert np.all(ends > starts) and np.all(starts[1:] >= ends[:-1] - 1e-9)  # ordered, no overlaps
    assert ends[-1] <= utterance.duration + 1e-6
    # The timings match the sound: vowels are much louder than the pauses around the speech.
    def level(kind):
        parts = [utterance.audio[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)]
                 for a, b, s in utterance.phones if targets(s)[0].kind == kind and b - a > 0.02]
        parts = [p for p in parts if p.size]
        return float(np.sqrt(np.mean(np.concatenate(parts) ** 2))) if parts else 0.0
    assert level("vowel") > 8 * max(level("silence"), 1e-5)
    symbols = {s for _, _, s in utterance.phones}
    assert {"b", "m"} <= symbols, symbols  # "Bob ... map": IPA symbols, whatever the engine's own phone set


TEXT = "Bob drew a map."


def test_espeak_gives_ipa_phones_with_times():
    espeak = engine(Espeak)
    assert Espeak() is espeak  # one library instance per process
    utterance = espeak.synthesize(TEXT, "en-us+f3", rate=160)
    check(utterance, TEXT)
    assert utterance.engine == "espeak-ng" and utterance.language == "en-us"
    french = espeak.synthesize("Bonjour, je voudrais un pain au chocolat.", "fr")
    assert any(s.startswith("ʃ") for _, _, s in french.phones) and french.duration > 1
    with pytest.raises(TTSError):
        espeak.synthesize(TEXT, "xx-not-a-voice")


@pytest.mark.parametrize("voice", ["kal_diphone", "cmu_us_slt_arctic_hts"])
def test_festival_voices(voice):
    festival = engine(Festival)
    quoted = 'She said "Bob drew a map" \\ twice.'
    first, second = festival.synthesize_many([TEXT, quoted], voice, stretch=1.1)
    check(first, TEXT)
    check(second, quoted)
    assert all(s != "pau" for _, _, s in first.phones)  # ARPAbet converted on the way in


@pytest.mark.parametrize("voice", ["slt", "awb", "rms", "kal"])
def test_flite_voices(voice):
    flite = engine(Flite)
    check(flite.synthesize(TEXT, voice, stretch=0.9, pitch=150), TEXT)


def test_available_engines_names_what_is_missing(monkeypatch):
    status = available_engines()
    assert set(status) == {"espeak-ng", "festival", "flite"}
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(TTSUnavailableError, match="setup.sh"):
        Flite()
