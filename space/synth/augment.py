"""Make synthesised speech sound recorded: the augmentations of the phonetic corpus (numpy / scipy only).

A draw (`random_recording`) picks, from one seeded generator:

    speed      resampled by 0.88-1.12: pitch, formants (vocal-tract length) and tempo move together, and the
               phone times with them (`speed` returns the factor so the caller rescales its timings)
    room       a synthetic room impulse response: direct path + exponentially decaying noise, RT60 0.1-0.7 s,
               at a direct-to-reverberant ratio of 0-15 dB (in 60% of draws)
    noise      white, pink or brown noise, or a hum with harmonics, at 5-40 dB SNR (in 70% of draws)
    band       a microphone or channel: high-pass 60-300 Hz, low-pass 3.4-7.5 kHz (telephone to wide band),
               a spectral tilt of +-6 dB/octave around 1 kHz
    level      peak level -35 to -1 dBFS, and in 10% of draws soft clipping

Every step keeps the length (the room's tail is cut), so phone times only change with the speed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.signal import butter, fftconvolve, lfilter, resample_poly, sosfilt

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Recording:
    speed: float = 1.0
    rt60: float | None = None
    drr_db: float = 10.0
    noise: str | None = None  # 'white', 'pink', 'brown', 'hum'
    snr_db: float = 30.0
    highpass: float = 60.0
    lowpass: float = 7500.0
    tilt_db: float = 0.0  # per octave around 1 kHz
    peak_dbfs: float = -3.0
    clip: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def random_recording(rng: np.random.Generator) -> Recording:
    return Recording(
        speed=float(rng.uniform(0.88, 1.12)),
        rt60=float(rng.uniform(0.1, 0.7)) if rng.random() < 0.6 else None,
        drr_db=float(rng.uniform(0.0, 15.0)),
        noise=str(rng.choice(["white", "pink", "brown", "hum"])) if rng.random() < 0.7 else None,
        snr_db=float(rng.uniform(5.0, 40.0)),
        highpass=float(np.exp(rng.uniform(np.log(60), np.log(300)))),
        lowpass=float(np.exp(rng.uniform(np.log(3400), np.log(7500)))),
        tilt_db=float(rng.uniform(-6.0, 6.0)),
        peak_dbfs=float(rng.uniform(-35.0, -1.0)),
        clip=bool(rng.random() < 0.1),
    )


def change_speed(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play `factor` times faster (resampling: pitch and formants rise with it). Duration / factor."""
    if abs(factor - 1.0) < 1e-6:
        return np.asarray(audio, np.float64)
    up = 200
    down = int(round(up * factor))
    return resample_poly(np.asarray(audio, np.float64), up, down)


def room_impulse(rt60: float, drr_db: float, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    length = int(min(rt60 * 1.2, 1.0) * sr)
    t = np.arange(length) / sr
    tail = rng.standard_normal(length) * np.exp(-6.9078 * t / rt60)  # -60 dB at rt60
    tail[: int(0.003 * sr)] = 0.0  # the first reflections arrive after the direct sound
    tail = lfilter([0.6], [1, -0.4], tail)  # walls absorb highs
    tail *= 10 ** (-drr_db / 20) / max(np.sqrt((tail**2).sum()), 1e-9)
    tail[0] += 1.0
    return tail


def _coloured_noise(kind: str, n: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    if kind == "hum":
        t = np.arange(n) / sr
        f0 = rng.choice([50.0, 60.0])
        return sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 6)) \
            + 0.1 * rng.standard_normal(n)
    white = rng.standard_normal(n)
    if kind == "pink":  # Kellet's economical 1/f filter
        return lfilter([0.049922035, -0.095993537, 0.050612699, -0.004408786],
                       [1, -2.494956002, 2.017265875, -0.522189400], white)
    if kind == "brown":
        return lfilter([1.0], [1.0, -0.995], white)
    return white


def _tilt(audio: np.ndarray, db_per_octave: float, sr: int) -> np.ndarray:
    """A gentle spectral tilt: +/- dB per octave around 1 kHz, by FFT weighting."""
    if abs(db_per_octave) < 1e-3:
        return audio
    spectrum = np.fft.rfft(audio)
    f = np.fft.rfftfreq(len(audio), 1 / sr)
    octaves = np.log2(np.maximum(f, 50.0) / 1000.0)
    return np.fft.irfft(spectrum * 10 ** (db_per_octave * octaves / 20), n=len(audio))


def apply_recording(audio: np.ndarray, recording: Recording, rng: np.random.Generator,
                    sr: int = SAMPLE_RATE) -> np.ndarray:
    """The recorded version of clean speech (float32 mono). Speed changes the length; nothing else does."""
    x = change_speed(audio, recording.speed)
    n = len(x)
    if recording.rt60:
        x = fftconvolve(x, room_impulse(recording.rt60, recording.drr_db, rng, sr))[:n]
    x = _tilt(x, recording.tilt_db, sr)
    nyquist = sr / 2
    sos = butter(2, [recording.highpass / nyquist, min(recording.lowpass / nyquist, 0.99)], "bandpass", output="sos")
    x = sosfilt(sos, x)
    if recording.noise:
        noise = _coloured_noise(recording.noise, n, rng, sr)
        power = float(np.mean(x**2)) or 1e-12
        noise *= np.sqrt(power / (np.mean(noise**2) + 1e-12) * 10 ** (-recording.snr_db / 10))
        x = x + noise
    peak = float(np.abs(x).max()) or 1.0
    level = 10 ** (recording.peak_dbfs / 20)
    x = x / peak
    if recording.clip:  # a driven input stage: the loudest parts saturate
        x = np.tanh(2.5 * x) / np.tanh(2.5)
    return (x * level).astype(np.float32)
