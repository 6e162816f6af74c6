from __future__ import annotations

import shutil
import wave

import numpy as np
import pytest

from space.errors import CorruptMediaError, EmptyMediaError, MissingFileError, NoAudioTrackError, SilentAudioError
from space.io.audio import SAMPLE_RATE, audio_rms_dbfs, load_audio, write_wav


def _check(audio: np.ndarray, seconds: float, rel: float = 0.01) -> None:
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size - seconds * SAMPLE_RATE) <= rel * seconds * SAMPLE_RATE
    assert np.abs(audio).max() <= 1.0


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
@pytest.mark.parametrize("width", [2, 3])
def test_wav_formats(media, width: int, rate: int, channels: int) -> None:
    mono = media.tone(0.7, rate, freq=300.0, amp=0.5)
    path = media.wav(f"a_{width}_{rate}_{channels}.wav", np.stack([mono] * channels, axis=1), rate, width)
    audio = load_audio(path)
    _check(audio, 0.7)
    assert abs(audio.size - 0.7 * SAMPLE_RATE) <= 2  # PCM: exact but for resampler rounding
    assert audio_rms_dbfs(audio) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.3)  # level kept


def test_stereo_is_averaged_to_mono(media) -> None:
    left = media.tone(0.5, SAMPLE_RATE, amp=0.4)
    path = media.wav("lr.wav", np.stack([left, np.zeros_like(left)], axis=1), SAMPLE_RATE)
    assert np.sqrt(np.mean(load_audio(path) ** 2)) == pytest.approx(0.2 / np.sqrt(2), rel=0.02)


def test_resampler_tail_is_flushed(media) -> None:
    # Signal only in the last 20 ms: a resampler that is not flushed loses exactly that part.
    x = np.zeros(44100, np.float32)
    x[-882:] = media.tone(0.02, 44100, freq=500.0, amp=0.8)
    audio = load_audio(media.wav("tail.wav", x, 44100))
    assert audio.size >= SAMPLE_RATE - 1
    assert np.abs(audio[-200:]).max() > 0.3


def test_mp3(media) -> None:
    path = media.encoded_audio("a.mp3", media.tone(1.0, 22050), 22050, "libmp3lame", "mp3")
    _check(load_audio(path), 1.0)


def test_m4a_aac(media) -> None:
    path = media.encoded_audio("a.m4a", media.tone(1.0, 44100), 44100, "aac", "ipod")
    _check(load_audio(path), 1.0)


def test_audio_track_of_a_video(clip) -> None:
    _check(load_audio(clip), 1.2)


def test_wav_named_mp3_is_sniffed(media) -> None:
    wav = media.wav("speech.wav", media.tone(0.8, 16000), 16000)
    misnamed = shutil.copy(wav, wav.with_name("speech.mp3"))
    np.testing.assert_array_equal(load_audio(misnamed), load_audio(wav))


def test_other_sample_rate(media) -> None:
    audio = load_audio(media.wav("a.wav", media.tone(0.5, 44100), 44100), sample_rate=24000)
    assert abs(audio.size - 12000) <= 2


def test_video_without_audio(media) -> None:
    with pytest.raises(NoAudioTrackError, match="mute.mp4"):
        load_audio(media.video("mute.mp4", n=10))


def test_silent_audio(media) -> None:
    path = media.wav("quiet.wav", media.tone(1.0, 16000, amp=1e-4), 16000)  # -83 dBFS
    with pytest.raises(SilentAudioError, match="quiet.wav"):
        load_audio(path)
    assert load_audio(path, allow_silence=True).size == 16000


def test_zero_samples(media) -> None:
    path = media.wav("nothing.wav", np.zeros((0, 1), np.float32), 16000)
    with pytest.raises(EmptyMediaError, match="nothing.wav"):
        load_audio(path)


def test_empty_file(media) -> None:
    with pytest.raises(EmptyMediaError, match="zero.wav"):
        load_audio(media.file("zero.wav", b""))


def test_not_audio(media) -> None:
    with pytest.raises(CorruptMediaError, match="junk.wav"):
        load_audio(media.file("junk.wav", bytes(range(256)) * 40))


def test_missing(tmp_path) -> None:
    with pytest.raises(MissingFileError, match="gone.wav"):
        load_audio(tmp_path / "gone.wav")


def test_rms_dbfs() -> None:
    assert audio_rms_dbfs(np.ones(10)) == pytest.approx(0.0)
    assert audio_rms_dbfs(np.full(10, 0.1)) == pytest.approx(-20.0)
    assert audio_rms_dbfs(np.zeros(10)) == float("-inf")
    assert audio_rms_dbfs(np.zeros(0)) == float("-inf")


def test_write_wav_round_trip(tmp_path, media) -> None:
    x = media.tone(0.5, 16000, amp=0.7)
    path = write_wav(tmp_path / "out.wav", x, 16000)
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 16000, 8000)
    np.testing.assert_allclose(load_audio(path), x, atol=1e-4)


def test_write_wav_stereo_and_clipping(tmp_path) -> None:
    x = np.array([[2.0, -2.0], [0.5, -0.5]], np.float32)
    with wave.open(str(write_wav(tmp_path / "s.wav", x, 8000))) as w:
        assert w.getnchannels() == 2
        pcm = np.frombuffer(w.readframes(2), "<i2")
    assert pcm.tolist() == [32767, -32767, 16384, -16384]
