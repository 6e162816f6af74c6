"""Speech-like audio by formant synthesis, with the mouth opening that goes with it.

Each syllable is an optional consonant (a burst of filtered noise, mouth nearly closed) and a vowel (a glottal
pulse train through three formant resonators). Words are 1-3 syllables, separated by pauses. The vowel sets how
far the mouth opens (/a/ most, /i/ and /u/ least) and the loudness envelope sets when, so the per-frame mouth
opening is ground truth that follows the audio envelope, as it does in real speech.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from ..io.mp4 import frame_count_for

# Vowel -> (formants F1, F2, F3 in Hz, mouth openness in [0, 1]); adult averages (Peterson & Barney 1952).
VOWELS = {
    "a": ((730, 1090, 2440), 1.0),
    "e": ((530, 1840, 2480), 0.6),
    "i": ((270, 2290, 3010), 0.3),
    "o": ((570, 840, 2410), 0.7),
    "u": ((300, 870, 2240), 0.35),
}
BANDWIDTHS = (80, 110, 160)


@dataclass
class Speech:
    audio: np.ndarray  # (S,) float32 mono
    sample_rate: int
    mouth_open: np.ndarray  # (T,) in [0, 1] at `fps`
    fps: float
    syllables: list  # (start s, end s, vowel)

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


def _resonator(signal: np.ndarray, freq: float, bandwidth: float, sr: int) -> np.ndarray:
    """Second-order all-pole resonator (Klatt 1980), unit gain at DC."""
    r = np.exp(-np.pi * bandwidth / sr)
    a1, a2 = -2 * r * np.cos(2 * np.pi * freq / sr), r * r
    return lfilter([1 + a1 + a2], [1, a1, a2], signal)


def _vowel(length: int, f0: float, vowel: str, sr: int, rng: np.random.Generator) -> np.ndarray:
    # Glottal pulses with a little jitter and a falling pitch, as in a declarative syllable.
    f0_track = f0 * np.linspace(1.05, 0.95, length) * (1 + 0.01 * rng.standard_normal(length))
    phase = np.cumsum(f0_track / sr)
    source = np.diff(np.floor(phase), prepend=0.0)  # one impulse per period
    source = lfilter([1.0], [1.0, -0.97], source)  # spectral tilt of the glottal flow
    formants, _ = VOWELS[vowel]
    out = sum(_resonator(source, f, b, sr) for f, b in zip(formants, BANDWIDTHS))
    return out + 0.02 * rng.standard_normal(length) * np.abs(out).max()


def _envelope(length: int, sr: int, attack: float = 0.02, release: float = 0.04) -> np.ndarray:
    env = np.ones(length)
    a, r = min(int(attack * sr), length // 2), min(int(release * sr), length // 2)
    env[:a] = np.linspace(0, 1, a)
    env[length - r :] = np.linspace(1, 0, r)
    return env


def _consonant(length: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal(length)
    hiss = lfilter([1, -1], [1], noise)  # fricative-like: high-passed noise
    return 0.15 * hiss * _envelope(length, sr, 0.005, 0.01)


def synthesize_speech(
    duration: float, seed: int = 0, sample_rate: int = 16000, fps: float = 25.0, f0: float | None = None
) -> Speech:
    """About `duration` seconds of babble: exact length, starts and ends in silence."""
    rng = np.random.default_rng(seed)
    total = int(round(duration * sample_rate))
    audio = np.zeros(total)
    openness = np.zeros(total)
    f0 = f0 or float(rng.uniform(100, 220))
    syllables = []
    t = int(rng.uniform(0.15, 0.3) * sample_rate)
    while True:
        for _ in range(rng.integers(1, 4)):  # a word
            cons = int(rng.uniform(0.03, 0.07) * sample_rate) if rng.random() < 0.7 else 0
            vlen = int(rng.uniform(0.12, 0.26) * sample_rate)
            if t + cons + vlen > total - int(0.15 * sample_rate):
                peak = np.abs(audio).max()
                audio = audio / peak * 0.5 if peak > 0 else audio
                return _finish(audio, openness, sample_rate, fps, syllables)
            if cons:
                audio[t : t + cons] += _consonant(cons, sample_rate, rng)
                t += cons
            vowel = str(rng.choice(list(VOWELS)))
            env = _envelope(vlen, sample_rate)
            wave = _vowel(vlen, f0, vowel, sample_rate, rng)
            audio[t : t + vlen] += wave / np.abs(wave).max() * env
            openness[t : t + vlen] = np.maximum(openness[t : t + vlen], VOWELS[vowel][1] * env)
            syllables.append((t / sample_rate, (t + vlen) / sample_rate, vowel))
            t += vlen
        t += int(rng.uniform(0.1, 0.4) * sample_rate)  # pause between words


def _finish(audio, openness, sr, fps, syllables) -> Speech:
    frames = frame_count_for(len(audio) / sr, fps)  # the project's convention, as the mp4 writer uses
    hop = sr / fps
    # Mouth opening of a frame: the mean openness over the frame's audio, lightly smoothed (the jaw is slow).
    edges = (np.arange(frames + 1) * hop).astype(int)
    mouth = np.array([openness[a:b].mean() if b > a else 0.0 for a, b in zip(edges[:-1], edges[1:])])
    mouth = np.convolve(np.pad(mouth, 1, mode="edge"), [0.25, 0.5, 0.25], "valid")
    return Speech(audio.astype(np.float32), sr, np.clip(mouth, 0, 1), fps, syllables)
