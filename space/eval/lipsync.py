"""Lip-sync measures: how well a video's mouth opening follows the loudness of its speech (numpy only).

`lipsync_score` reads a video at 25 fps, places 68 landmarks on every frame with an independent landmark model
(space.eval.onnx_face), turns them into a per-frame mouth opening, turns the audio into a per-frame level in dB,
and reports the Pearson correlation of the two at the best lag within +-max_lag frames. Real talking heads give
a clearly positive r (the mouth opens when there is sound); a face that does not move its lips with the audio
gives r near 0 (or a best lag far from 0).

Lag sign convention (best_lag_correlation(a, b)): lag L pairs a[t] with b[t + L], so a positive lag means that
b lags a (b's changes happen L frames after a's). lipsync_score calls it with a = audio energy and b = mouth
opening, so there a positive lag means the mouth moves after the sound, a negative lag that it moves before.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ..face.expression import mouth_opening as _face_mouth_opening

#: audio levels are floored here (dBFS) so that digital silence is a finite number
ENERGY_FLOOR_DB = -100.0


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2|3) or (68, 2|3) landmarks -> (T,) inner-lip gap over mouth width (scale-free; 0 = closed), the
    same measure the pipeline uses (space.face.expression.mouth_opening). NaN landmarks (no face) give NaN."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.ndim == 2:
        points = points[None]
    if points.ndim != 3 or points.shape[1] != 68 or points.shape[2] < 2:
        raise ValueError(f"expected (T, 68, 2) landmarks, got shape {np.asarray(landmarks).shape}")
    return _face_mouth_opening(points)


def _frame_starts(count: int, sample_rate: float, fps: float) -> np.ndarray:
    """First sample of frames 0..count: ceil(t * sr / fps), exact for integer rates (and float-safe otherwise)."""
    t = np.arange(count + 1, dtype=np.int64)
    sr, f = float(sample_rate), float(fps)
    if sr.is_integer() and f.is_integer():
        return -((-t * int(sr)) // int(f))  # integer ceil division
    return np.ceil(t * (sr / f) - 1e-9).astype(np.int64)


def audio_energy(
    audio: np.ndarray, sample_rate: int, fps: float = 25.0, num_frames: int | None = None
) -> np.ndarray:
    """Per-video-frame RMS level in dBFS: frame t covers samples n with t*sr/fps <= n < (t+1)*sr/fps.

    `audio` is mono (n,) float in [-1, 1] (int16 is scaled by 1/32768). Without `num_frames` every frame that
    starts inside the audio is returned (the last one may be partial); frames past the end of the audio are NaN.
    Silence is floored at ENERGY_FLOOR_DB (-100 dB)."""
    x = np.asarray(audio)
    if x.ndim != 1:
        raise ValueError(f"expected mono audio of shape (n,), got {x.shape}")
    if sample_rate <= 0 or fps <= 0:
        raise ValueError(f"sample_rate and fps must be positive, got {sample_rate} and {fps}")
    scale = 1.0 / 32768.0 if x.dtype == np.int16 else 1.0
    x = x.astype(np.float64) * scale
    if num_frames is None:
        num_frames = int(math.ceil(x.size * float(fps) / float(sample_rate) - 1e-9)) if x.size else 0
    starts = _frame_starts(int(num_frames), sample_rate, fps)
    lo, hi = np.minimum(starts[:-1], x.size), np.minimum(starts[1:], x.size)
    squares = np.concatenate([[0.0], np.cumsum(x * x)])
    counts = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_square = (squares[hi] - squares[lo]) / counts
    rms = np.sqrt(np.clip(mean_square, 0.0, None))
    floor = 10.0 ** (ENERGY_FLOOR_DB / 20.0)
    level = 20.0 * np.log10(np.maximum(rms, floor))
    level[counts <= 0] = np.nan
    return level


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan")
    x, y = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
    denominator = math.sqrt(float(np.dot(x, x)) * float(np.dot(y, y)))
    return float(np.dot(x, y) / denominator) if denominator > 0 else float("nan")


def best_lag_correlation(a: np.ndarray, b: np.ndarray, max_lag: int = 5, centre: int = 0) -> tuple[float, int]:
    """The highest Pearson r between a[t] and b[t + lag] over lag in [centre - max_lag, centre + max_lag], and
    that lag.

    Positive lag: b lags a (b repeats a's changes `lag` samples later). Each lag uses the overlapping part of the
    two series only, with pairs that hold a NaN (or inf) dropped; a lag with fewer than 3 pairs, or a constant
    series, has no r. Ties go to the lag nearer `centre`. Returns (nan, centre) when no lag has an r."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if max_lag < 0:
        raise ValueError(f"max_lag must be >= 0, got {max_lag}")
    best_r, best_lag = float("nan"), centre
    for lag in sorted(range(centre - max_lag, centre + max_lag + 1), key=lambda lag: abs(lag - centre)):
        if lag >= 0:
            x, y = a[: max(len(b) - lag, 0)], b[lag:]
        else:
            x, y = a[-lag:], b[: max(len(a) + lag, 0)]
        n = min(len(x), len(y))
        r = _pearson(x[:n], y[:n])
        if not math.isnan(r) and (math.isnan(best_r) or r > best_r + 1e-12):
            best_r, best_lag = r, lag
    return best_r, best_lag


def av_offset(energy: np.ndarray, opening: np.ndarray, max_offset: int = 10, tolerance: int = 2,
              min_r: float = 0.3, margin: float = 0.15, floor_db: float = 50.0) -> dict[str, Any]:
    """The audio-visual offset of a real recording, from the recording alone: where its mouth opening follows
    its own speech level best. Real speakers' mouths follow loudness loosely (r ~0.2-0.4, peaking when the mouth
    leads the sound by 0-3 frames), so an offset is claimed only when it is clear: the best lag within
    +-max_offset lies beyond +-tolerance, its r is at least `min_r` and beats the best r within +-tolerance by
    `margin`. Otherwise the recording is taken as in sync (offset 0).

    energy (T,) dB per frame (audio_energy; floored `floor_db` below its peak so digital silence is no outlier),
    opening (T,) mouth opening. Returns {"offset": frames (> 0: the mouth moves after the sound, < 0: before
    it), "r": r at the best lag, "r_in_sync": best r within +-tolerance, "lag": the best lag (claimed or not)}."""
    level = np.asarray(energy, dtype=np.float64)
    if np.isfinite(level).any():
        level = np.maximum(level, np.nanmax(level) - floor_db)
    r, lag = best_lag_correlation(level, opening, max_offset)
    r_in_sync, _ = best_lag_correlation(level, opening, tolerance)
    clear = abs(lag) > tolerance and r >= min_r and r - r_in_sync >= margin
    return {"offset": int(lag) if clear else 0, "r": round(float(r), 3), "r_in_sync": round(float(r_in_sync), 3),
            "lag": int(lag)}


def lipsync_score(
    video_uri: str | os.PathLike[str],
    landmarker: Any,
    audio_uri: str | os.PathLike[str] | None = None,
    fps: float = 25.0,
    max_frames: int | None = None,
    max_lag: int = 5,
) -> dict[str, Any]:
    """Correlation of mouth opening with audio level for a talking-head video.

    Frames come from space.io.video.read_video at `fps` (the first `max_frames` when given); landmarks from
    `landmarker.track(frames)` ((T, 68, 2), NaN rows where no face); audio from `audio_uri`, else the video's own
    audio track (space.io.audio.load_audio, 16 kHz mono). Returns {"r", "lag", "frames", "face_frames"}: r and lag
    from best_lag_correlation(audio energy, mouth opening, max_lag) (lag > 0: the mouth moves after the sound),
    frames = T, face_frames = the frames with landmarks."""
    from space.io.audio import SAMPLE_RATE, load_audio
    from space.io.video import read_video

    video = read_video(video_uri, fps=fps, max_frames=max_frames)
    count = len(video)
    landmarks = np.asarray(landmarker.track(video.frames))
    opening = mouth_opening(landmarks) if count else np.zeros(0)
    audio = load_audio(video_uri if audio_uri is None else audio_uri, SAMPLE_RATE, allow_silence=True)
    energy = audio_energy(audio, SAMPLE_RATE, fps=fps, num_frames=count)
    r, lag = best_lag_correlation(energy, opening, max_lag=max_lag)
    return {"r": r, "lag": lag, "frames": count, "face_frames": int(np.isfinite(opening).sum())}
