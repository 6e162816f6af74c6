"""Speech segments for cutting talking-head videos into clips: a neural VAD and a clip policy on its scores.

    audio (16 kHz) -> speech probability per ~17 ms frame (pyannote segmentation, the weights whisperx ships)
                   -> hysteresis -> merge short pauses -> pad -> split long stretches at pauses -> drop short ones

The policy (speech_segments) is plain numpy on (times, probs), so it is testable without the model and can be
re-run on stored scores. Segments come out sorted, non-overlapping, each min_clip <= length <= max_clip.
whisperx's own Binarize is not used: it refuses max_duration together with min_duration_off.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MissingWeightsError, NoSpeechError
from ..io.audio import SAMPLE_RATE, require_signal
from .pyannote_quiet import no_usage_reports, quiet

_MODEL_FILE = "pytorch_model.bin"
_EPS = 1e-9  # seconds: lengths equal up to float error count as equal


@dataclass(frozen=True)
class Segment:
    start: float  # seconds from the start of the audio
    end: float  # seconds, > start
    score: float  # mean speech probability of the frames inside

    @property
    def duration(self) -> float:
        return self.end - self.start


def check_settings(
    onset: float, offset: float, min_gap: float, min_clip: float, max_clip: float, pad: float
) -> None:
    """ValueError naming the first setting that makes the policy ill-defined."""
    values = dict(onset=onset, offset=offset, min_gap=min_gap, min_clip=min_clip, max_clip=max_clip, pad=pad)
    for name, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value}")
    if not 0 < onset < 1:
        raise ValueError(f"onset must be a probability in (0, 1), got {onset}")
    if not 0 < offset <= onset:
        raise ValueError(f"offset must be in (0, onset={onset}] (speech stops below where it starts), got {offset}")
    if min_clip <= 0:
        raise ValueError(f"min_clip must be positive, got {min_clip}")
    if max_clip < 2 * min_clip:  # else a segment just over max_clip could not be cut into two of min_clip
        raise ValueError(f"max_clip must be at least 2 x min_clip = {2 * min_clip} s, got {max_clip}")
    if min_gap < 0 or pad < 0:
        name, value = ("min_gap", min_gap) if min_gap < 0 else ("pad", pad)
        raise ValueError(f"{name} must be >= 0, got {value}")


def _hysteresis(
    times: np.ndarray, probs: np.ndarray, onset: float, offset: float, duration: float
) -> list[list[float]]:
    """[start, end] of runs that begin at a frame above onset and end at the first frame below offset after it."""
    if len(times) == 0:
        return []
    mark = np.full(len(probs), -1)  # 1: switch on, 0: switch off, -1: keep the state
    mark[probs < offset] = 0
    mark[probs > onset] = 1  # offset <= onset, so no frame is both
    last = np.maximum.accumulate(np.where(mark >= 0, np.arange(len(mark)), -1))
    state = np.where(last >= 0, mark[np.maximum(last, 0)], 0).astype(np.int8)
    edges = np.diff(state, prepend=0)
    starts, ends = times[edges == 1], list(times[edges == -1])
    if state[-1]:
        ends.append(duration)  # still speaking at the end
    return [[float(s), float(e)] for s, e in zip(starts, ends)]


def _merge(runs: list[list[float]], min_gap: float) -> list[list[float]]:
    merged: list[list[float]] = []
    for start, end in runs:
        if merged and start - merged[-1][1] < min_gap:
            merged[-1][1] = end  # a pause between words, not between clips
        else:
            merged.append([start, end])
    return merged


def _pad(runs: list[list[float]], pad: float, duration: float) -> list[list[float]]:
    # Each side grows by `pad`, but never past the middle of the gap to a neighbour, nor outside the audio.
    out = []
    for i, (start, end) in enumerate(runs):
        lo = max(0.0, start - pad, (runs[i - 1][1] + start) / 2 if i else 0.0)
        hi = min(duration, end + pad, (end + runs[i + 1][0]) / 2 if i + 1 < len(runs) else duration)
        out.append([lo, hi])
    return out


def _split(
    start: float, end: float, times: np.ndarray, probs: np.ndarray, min_clip: float, max_clip: float
) -> list[tuple[float, float]]:
    """Cut [start, end] at its least speech-like frame, recursively, until no piece is longer than max_clip;
    cuts only where both pieces keep min_clip (else into equal pieces)."""
    length = end - start
    if length <= max_clip + _EPS:
        return [(start, end)]
    inside = np.flatnonzero((times >= start + min_clip - _EPS) & (times <= end - min_clip + _EPS))
    if inside.size == 0:  # only when length is within a frame of 2 x min_clip
        pieces = math.ceil(length / max_clip - _EPS)
        cuts = start + length * np.arange(pieces + 1) / pieces
        return [(float(a), float(b)) for a, b in zip(cuts[:-1], cuts[1:])]
    # lowest probability first; among equals, the frame nearest the middle (balanced pieces)
    order = np.lexsort((np.abs(times[inside] - (start + end) / 2), probs[inside]))
    cut = float(times[inside[order[0]]])
    return _split(start, cut, times, probs, min_clip, max_clip) + _split(cut, end, times, probs, min_clip, max_clip)


def _score(start: float, end: float, times: np.ndarray, probs: np.ndarray) -> float:
    inside = (times >= start) & (times <= end)
    if inside.any():
        return float(probs[inside].mean())
    return float(np.interp((start + end) / 2, times, probs)) if len(times) else 0.0


def _candidates(
    times: np.ndarray, probs: np.ndarray, duration: float, onset: float, offset: float, min_gap: float,
    min_clip: float, max_clip: float, pad: float,
) -> list[Segment]:
    """All segments of the policy before short ones are dropped."""
    check_settings(onset, offset, min_gap, min_clip, max_clip, pad)
    times = np.asarray(times, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    if times.ndim != 1 or times.shape != probs.shape:
        raise ValueError(f"times and probs must be 1-D of one length, got shapes {times.shape} and {probs.shape}")
    if np.any(np.diff(times) < 0):
        raise ValueError("times must be non-decreasing")
    if not duration >= 0:
        raise ValueError(f"duration must be >= 0, got {duration}")
    runs = _hysteresis(times, probs, onset, offset, duration)
    runs = [[min(max(s, 0.0), duration), min(max(e, 0.0), duration)] for s, e in runs]  # frame centres overshoot
    runs = _pad(_merge(runs, min_gap), pad, duration)
    pieces = [piece for s, e in runs for piece in _split(s, e, times, probs, min_clip, max_clip)]
    return [Segment(s, e, _score(s, e, times, probs)) for s, e in pieces if e > s]


def speech_segments(
    times: np.ndarray,
    probs: np.ndarray,
    duration: float,
    onset: float = 0.5,
    offset: float = 0.363,
    min_gap: float = 0.3,
    min_clip: float = 1.0,
    max_clip: float = 10.0,
    pad: float = 0.1,
) -> list[Segment]:
    """Clip-sized speech segments from per-frame speech probabilities (times (N,) frame centres in s, probs (N,)).

    Hysteresis (on above `onset`, off below `offset`), pauses shorter than `min_gap` merged, `pad` s added on each
    side (within [0, duration], never into a neighbour), stretches over `max_clip` cut at their lowest-probability
    frames into pieces of at least `min_clip`, and segments under `min_clip` dropped.
    """
    segments = _candidates(times, probs, duration, onset, offset, min_gap, min_clip, max_clip, pad)
    return [s for s in segments if s.duration >= min_clip - _EPS]


def default_model_path() -> Path:
    """The pyannote segmentation weights inside the whisperx package, found without importing it."""
    spec = importlib.util.find_spec("whisperx")
    if spec is None or not spec.submodule_search_locations:
        raise MissingWeightsError("whisperx", "package not installed (it ships the VAD weights); pip install whisperx")
    return Path(list(spec.submodule_search_locations)[0]) / "assets" / _MODEL_FILE


class SpeechSegmenter:
    """The VAD model, loaded once, and the clip policy: `segments(audio, source)` per file."""

    def __init__(
        self,
        min_clip: float = 1.0,
        max_clip: float = 10.0,
        min_gap: float = 0.3,
        pad: float = 0.1,
        onset: float = 0.5,
        offset: float = 0.363,
        device: str = "cpu",
        model_path: str | os.PathLike[str] | None = None,
    ):
        check_settings(onset, offset, min_gap, min_clip, max_clip, pad)  # before the costly load
        self.min_clip, self.max_clip, self.min_gap, self.pad = min_clip, max_clip, min_gap, pad
        self.onset, self.offset = onset, offset
        path = Path(model_path) if model_path is not None else default_model_path()
        if not path.is_file():
            raise MissingWeightsError(str(path), "pyannote segmentation (VAD) weights not found")
        self.model_path = path
        self.model_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()[:16]  # 17 MB: tens of ms
        import torch

        no_usage_reports()  # offline, pyannote's usage reports stall every call by seconds
        with quiet():
            from whisperx.vads.pyannote import load_vad_model

            self._pipeline = load_vad_model(torch.device(device), model_fp=str(path))
        self._torch = torch

    def settings(self) -> dict:
        """The policy values and the model's identity, to version the segments a job writes."""
        return dict(
            onset=self.onset, offset=self.offset, min_gap=self.min_gap, min_clip=self.min_clip,
            max_clip=self.max_clip, pad=self.pad, model=self.model_path.name, model_sha256=self.model_sha256,
        )

    def scores(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Speech probability per model frame of 16 kHz mono audio: (times (N,) frame centres in s, probs (N,))."""
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if audio.size == 0:
            return np.zeros(0), np.zeros(0, np.float32)
        waveform = self._torch.from_numpy(audio)[None]  # (1, S)
        with quiet(), self._torch.inference_mode():
            out = self._pipeline({"waveform": waveform, "sample_rate": SAMPLE_RATE})
        probs = np.asarray(out.data[:, 0], dtype=np.float32)
        window = out.sliding_window  # frame i spans [start + i * step, + duration]
        times = window.start + window.step * np.arange(len(probs)) + window.duration / 2
        return times, probs

    def segments(self, audio: np.ndarray, source: str) -> list[Segment]:
        """Clip-sized speech segments of `audio` ((S,) float32 at 16 kHz). Raises SilentAudioError for empty or
        silent audio and NoSpeechError when no segment of min_clip remains (both naming `source`)."""
        audio = require_signal(audio, source)
        duration = audio.size / SAMPLE_RATE
        times, probs = self.scores(audio)
        found = _candidates(
            times, probs, duration, self.onset, self.offset, self.min_gap, self.min_clip, self.max_clip, self.pad
        )
        kept = [s for s in found if s.duration >= self.min_clip - _EPS]
        if kept:
            return kept
        if not found:
            raise NoSpeechError(source, f"no speech detected in {duration:.1f} s of audio")
        short = sorted((s.duration for s in found), reverse=True)
        listed = ", ".join(f"{d:.2f} s" for d in short[:5]) + (", ..." if len(short) > 5 else "")
        raise NoSpeechError(
            source, f"no speech segment of at least {self.min_clip:.1f} s ({len(short)} shorter: {listed})"
        )
