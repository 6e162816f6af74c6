"""Head motion that goes with speech: the pose targets of the phonetic corpus, calibrated to real talking heads.

Real speakers facing a camera move their heads a few degrees, not in sweeps: a slow drift that keeps returning
to where the head rests, and short gestures timed to the speech, most of all a small nod (the head dips and
comes back) on stressed syllables. Per angle (yaw, pitch, roll):

    drift     an Ornstein-Uhlenbeck process around the rest pose (it starts there: the photo is frame 0), with
              stationary std DRIFT_STD and time constant DRIFT_TAU
    accents   at prominent vowels (long and loud for their utterance, at most one per MIN_ACCENT_GAP s), a
              bump of NOD_SECONDS starting NOD_LEAD s before the vowel: pitch down by NOD_DEGREES (a nod),
              and a smaller random turn and tilt (ACCENT_TURN)
    position  the face's shift follows the turn (a head pivots on the neck, behind the face) and its scale
              drifts by ~1%

The constants are fitted so that these statistics (`head_motion_statistics`, the benchmark's measure) match
those of the ten real videos the project develops on, measured with the project's own landmark path
(benchmarks/eval_head_motion.py; docs/models.md has the numbers): std of yaw / pitch / roll about 2.6 / 2.5 /
3.0 degrees and mean speed 0.19 / 0.32 / 0.24 degrees per frame, after a 2-frame Gaussian smoothing.
"""

from __future__ import annotations

import numpy as np

from .phones import targets

DRIFT_STD = (4.0,2.5,3.9)  # degrees, yaw / pitch / roll
DRIFT_TAU = (3.0,0.9,2.3)  # seconds
NOD_DEGREES = (4.0,1.3)  # mean, std of the nod's depth (pitch, + = down)
ACCENT_TURN = (1.0,1.0)  # std of the turn (yaw) and tilt (roll) that come with an accent, degrees
NOD_SECONDS = 0.42
NOD_LEAD = 0.08
MIN_ACCENT_GAP = 0.35  # seconds
ACCENT_QUANTILE = 0.55  # vowels above this prominence quantile of their utterance are accented
SHIFT_PER_DEGREE = (0.006, 0.005)  # tx per degree of yaw, ty per degree of pitch (mean-face units)
SCALE_STD = 0.006  # std of the log scale drift


def accent_times(phones, audio: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """Onsets (s) of the prominent vowels: duration x RMS level in the top of their utterance, spaced."""
    vowels = []
    for start, end, symbol in phones:
        if end - start < 0.03 or targets(symbol)[0].kind != "vowel":
            continue
        a, b = int(start * sample_rate), int(end * sample_rate)
        segment = np.asarray(audio[a:b], np.float64)
        if segment.size == 0:
            continue
        vowels.append((start, (end - start) * float(np.sqrt(np.mean(segment**2)) + 1e-6)))
    if not vowels:
        return np.zeros(0)
    prominence = np.array([p for _, p in vowels])
    threshold = np.quantile(prominence, ACCENT_QUANTILE)
    out, last = [], -np.inf
    for (start, p) in vowels:
        if p >= threshold and start - last >= MIN_ACCENT_GAP:
            out.append(start)
            last = start
    return np.array(out)


def _ou(num_frames: int, fps: float, std: float, tau: float, rng: np.random.Generator) -> np.ndarray:
    """An Ornstein-Uhlenbeck track starting at 0: x' = -x / tau + noise, stationary std `std`."""
    dt = 1.0 / fps
    decay = np.exp(-dt / tau)
    kick = std * np.sqrt(1 - decay**2)
    noise = rng.standard_normal(num_frames)
    x = np.zeros(num_frames)
    for t in range(1, num_frames):
        x[t] = decay * x[t - 1] + kick * noise[t]
    return x


def _bump(num_frames: int, fps: float, start: float, seconds: float) -> np.ndarray:
    t = np.arange(num_frames) / fps
    u = (t - start) / seconds
    return np.where((u > 0) & (u < 1), np.sin(np.pi * np.clip(u, 0, 1)) ** 2, 0.0)


def speech_head_motion(accents: np.ndarray, num_frames: int, rng: np.random.Generator, fps: float = 25.0,
                       scale: float = 1.0) -> np.ndarray:
    """(T, 6) pose deltas (space.models.pose.POSE_DELTA_FIELDS) for speech with these accent onsets; frame 0 is
    the rest pose. `scale` multiplies every angle (a calmer or livelier speaker)."""
    angles = np.stack([_ou(num_frames, fps, s, tau, rng) for s, tau in zip(DRIFT_STD, DRIFT_TAU)], 1)
    for onset in accents:
        bump = _bump(num_frames, fps, onset - NOD_LEAD, NOD_SECONDS * float(rng.uniform(0.8, 1.25)))
        depth = max(0.0, float(rng.normal(*NOD_DEGREES)))
        angles[:, 1] += depth * bump
        angles[:, 0] += float(rng.normal(0, ACCENT_TURN[0])) * bump
        angles[:, 2] += float(rng.normal(0, ACCENT_TURN[1])) * bump
    angles *= scale
    out = np.zeros((num_frames, 6))
    out[:, :3] = angles - angles[:1]
    out[:, 3] = SHIFT_PER_DEGREE[0] * out[:, 0]
    out[:, 4] = SHIFT_PER_DEGREE[1] * out[:, 1]
    out[:, 5] = _ou(num_frames, fps, SCALE_STD, 2.0, rng)
    out[:, 5] -= out[0, 5]
    return out


def head_motion_statistics(deltas: np.ndarray, smooth_frames: float = 2.0) -> dict[str, list[float]]:
    """Per angle (yaw, pitch, roll): std over the clip and mean absolute speed (degrees per frame), after a
    Gaussian smoothing of `smooth_frames` (which takes landmark jitter out of measured poses)."""
    from scipy.ndimage import gaussian_filter1d

    d = np.asarray(deltas, np.float64)[:, :3]
    if smooth_frames > 0 and len(d) > 2:
        d = gaussian_filter1d(d, smooth_frames, axis=0, mode="nearest")
    speed = np.abs(np.diff(d, axis=0)).mean(0) if len(d) > 1 else np.zeros(3)
    return {"std": d.std(0).tolist(), "speed": speed.tolist()}
