"""Load speech as 16 kHz mono float32, from any container PyAV can read; write 16-bit WAV.

Decoding goes by content, not by extension (FFmpeg sniffs the format), so a WAV named .mp3 loads like a WAV.
"""

from __future__ import annotations

import os
import wave

import av
import numpy as np

from space.errors import EmptyMediaError, NoAudioTrackError, SilentAudioError
from space.io.probe import open_media
from space.io.uri import open_uri

SAMPLE_RATE = 16000
#: Below this RMS level (dBFS) the audio counts as silence: 16-bit dither noise sits near -90 dBFS,
#: a quiet room recording near -50 dBFS, speech at -30..-15 dBFS.
SILENCE_DBFS = -60.0
_MAX_PADDING = 2048  # source samples: two AAC frames, more than one MP3 frame (1152)


def audio_rms_dbfs(x: np.ndarray) -> float:
    """RMS level of float audio in dB relative to full scale (1.0); -inf for empty or all-zero input."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(x))))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def require_signal(audio: np.ndarray, source: str) -> np.ndarray:
    """Mono float32 `audio` ((S,)) that carries signal: SilentAudioError naming `source` when it is empty or under
    SILENCE_DBFS (ValueError for audio that is not mono). The check speech models share before they run."""
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"{source}: audio must be mono, shape (samples,), got {audio.shape}")
    if audio.size == 0:
        raise SilentAudioError(source, "audio has no samples")
    level = audio_rms_dbfs(audio)
    if level < SILENCE_DBFS:
        raise SilentAudioError(source, f"audio is silent (RMS {level:.1f} dBFS < {SILENCE_DBFS:.0f} dBFS)")
    return audio


def _decode_resampled(container: av.container.InputContainer, sample_rate: int) -> np.ndarray:
    """Decode the first audio stream, resample to `sample_rate`, and average the channels to mono.

    The resampler keeps the source's channels (layout=None): FFmpeg's own stereo-to-mono matrix adds the channels
    at -3 dB each (+3 dB for correlated speech, clipping at full scale); a plain mean keeps the level.
    """
    stream = container.streams.audio[0]
    stream.thread_type = "AUTO"
    resampler = av.AudioResampler(format="fltp", layout=None, rate=sample_rate)
    chunks: list[np.ndarray] = []
    for frame in container.decode(stream):
        chunks.extend(out.to_ndarray().mean(axis=0) for out in resampler.resample(frame))
    chunks.extend(out.to_ndarray().mean(axis=0) for out in resampler.resample(None))  # flush the held-back tail
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def _declared_samples(container: av.container.InputContainer, sample_rate: int) -> int | None:
    """The audio stream's length from the container header, in output samples (None when not stated)."""
    stream = container.streams.audio[0]
    if not stream.duration or stream.time_base is None:
        return None
    return int(round(float(stream.duration * stream.time_base) * sample_rate))


def _trim_padding(samples: np.ndarray, declared: int | None, sample_rate: int, source_rate: int) -> np.ndarray:
    # AAC/MP3 decoders emit the encoder's zero padding of the last frame (up to ~1000 source samples); the
    # container states the true length. Trim only an excess that small, so a wrong header never cuts speech.
    if declared is None or declared >= samples.size:
        return samples
    slack = int(np.ceil(_MAX_PADDING * sample_rate / max(source_rate, 1))) + 1
    return samples[:declared] if samples.size - declared <= slack else samples


def load_audio(
    uri: str | os.PathLike[str], sample_rate: int = SAMPLE_RATE, allow_silence: bool = False
) -> np.ndarray:
    """Decode the first audio track of `uri` to mono float32 in [-1, 1] at `sample_rate` Hz, shape (n,).

    Raises MissingFileError, EmptyMediaError (0 bytes or no samples), CorruptMediaError, NoAudioTrackError,
    and SilentAudioError when the level is below SILENCE_DBFS unless `allow_silence`.
    """
    with open_media(uri) as container:
        if not container.streams.audio:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise NoAudioTrackError(uri, f"no audio track (streams: {', '.join(kinds)})")
        declared = _declared_samples(container, sample_rate)
        source_rate = container.streams.audio[0].codec_context.sample_rate
        samples = _trim_padding(_decode_resampled(container, sample_rate), declared, sample_rate, source_rate)
    if samples.size == 0:
        raise EmptyMediaError(uri, "audio track has no samples")
    np.nan_to_num(samples, copy=False)  # float WAVs can carry NaN/inf
    np.clip(samples, -1.0, 1.0, out=samples)  # lossy decoders overshoot full scale slightly
    level = audio_rms_dbfs(samples)
    if not allow_silence and level < SILENCE_DBFS:
        raise SilentAudioError(uri, f"audio is silent (RMS {level:.1f} dBFS < {SILENCE_DBFS:.0f} dBFS)")
    return samples


def _to_int16(audio: np.ndarray) -> np.ndarray:
    # Integer input is taken as already-PCM; float input as [-1, 1] (clipped, not wrapped, when louder).
    audio = np.asarray(audio)
    if audio.dtype == np.int16:
        return audio
    if np.issubdtype(audio.dtype, np.integer):
        raise ValueError(f"write_wav: integer audio must be int16, got {audio.dtype}")
    return np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)


def write_wav(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> str:
    """Write 16-bit PCM WAV (local path or fsspec URI): audio (n,) mono or (n, channels), float in [-1, 1] or int16."""
    pcm = _to_int16(audio)
    if pcm.ndim not in (1, 2):
        raise ValueError(f"write_wav {path}: audio must be (n,) or (n, channels), got shape {pcm.shape}")
    channels = 1 if pcm.ndim == 1 else pcm.shape[1]
    with open_uri(path, "wb") as f, wave.open(f, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(np.ascontiguousarray(pcm, dtype="<i2").tobytes())
    return os.fspath(path)
