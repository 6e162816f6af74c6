"""Read video as RGB frames resampled by time onto a fixed fps grid (decord for decoding).

Resampling is by presentation time, not by frame index, so variable-frame-rate sources stay in sync with
their audio: the frame at grid time t is the source frame on screen at t (the last one that started at or
before t, times measured from the first frame). The grid is t_k = k / fps for k = 0 .. T-1 with
T = frame_count_for(duration, fps) = floor(duration * fps + 0.5) (round half up), where duration is the video
stream's duration as the container states it (else the end of the last frame), so the grid covers the source.
A clip range (start_frame, num_frames) takes grid frames start_frame .. start_frame + num_frames - 1 of that same
grid, with their absolute times, so clips cut from one video line up with a full read bit for bit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import decord
import numpy as np

from space.errors import CorruptMediaError, EmptyMediaError, MediaError, NoVideoTrackError
from space.io.mp4 import frame_count_for
from space.io.probe import MediaInfo, probe
from space.io.uri import local_path

# A grid time this close before a frame start counts as "at" it: decord reports times as float32 (0.1 ms steps
# after an hour), and 0.5 ms is far below any real frame interval.
_TIME_EPS = 5e-4
# Seek (rather than decode forward) only when the keyframe to restart from lies this far past the current frame:
# a seek flushes the decoder, which costs about what decoding a few frames does.
_SEEK_SECONDS = 2.0


def _decord_reason(exc: BaseException) -> str:
    # decord prefixes "[time] /path/to/source.cc:line: Error: "; keep the reason only, on one line.
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.rsplit("Error: ", 1)[-1][:200]


@dataclass
class VideoFrames:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    timestamps: np.ndarray  # (T,) float64 seconds on the target grid: k / fps
    source_fps: float  # the source's average frame rate
    source: str
    fps: float = 25.0  # the target grid's rate

    def __len__(self) -> int:
        return int(self.frames.shape[0])


class _SequentialFrames:
    """Source frames by non-decreasing index, decoded in order; a long jump seeks forward to a keyframe.

    decord's get_batch seeks back to a keyframe when it loses track, which is slow on files with one keyframe
    (phone HEVC clips often have a single I-frame); grid indices never go backwards, so one forward pass is enough.
    A clip far into the file (start_frame) seeks only when a keyframe lies well past the current frame, so a
    single-keyframe file is never decoded twice from its start.
    """

    def __init__(self, reader: decord.VideoReader, uri: str | os.PathLike[str], source_fps: float):
        self.reader, self.uri = reader, uri
        self.pos, self.frame = -1, np.zeros(0, np.uint8)
        self.min_seek = max(int(round(_SEEK_SECONDS * source_fps)), 1)  # source frames
        self._keys: np.ndarray | None = None  # (K,) keyframe indices, read on the first long jump

    def _keyframe_before(self, index: int) -> int:
        """The last keyframe at or before `index` (-1 when unknown)."""
        if self._keys is None:
            self._keys = np.asarray(self.reader.get_key_indices(), dtype=np.int64)
        at = int(np.searchsorted(self._keys, index, side="right")) - 1
        return int(self._keys[at]) if at >= 0 else -1

    def get(self, index: int) -> np.ndarray:
        if index == self.pos:  # the same source frame again (target fps above the source's)
            return self.frame
        try:
            if index - self.pos > self.min_seek and self._keyframe_before(index) - self.pos > self.min_seek:
                self.reader.seek_accurate(index)  # decodes from that keyframe; next() then returns `index`
            elif index > self.pos + 1:
                self.reader.skip_frames(index - self.pos - 1)
            self.frame, self.pos = self.reader.next().asnumpy(), index
        except (decord.DECORDError, RuntimeError, StopIteration) as exc:
            reason = f"video decoding failed at frame {index} ({_decord_reason(exc)})"
            raise CorruptMediaError(self.uri, reason) from exc
        return self.frame


@dataclass
class _Plan:
    source: _SequentialFrames
    indices: np.ndarray  # (T,) source frame index for each grid time, non-decreasing
    timestamps: np.ndarray  # (T,) grid times
    source_fps: float


def _open_reader(path: str, uri: str | os.PathLike[str]) -> decord.VideoReader:
    try:
        reader = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
    except (decord.DECORDError, RuntimeError) as exc:
        raise CorruptMediaError(uri, f"video not decodable ({_decord_reason(exc)})") from exc
    if len(reader) == 0:
        raise EmptyMediaError(uri, "video track has no frames")
    return reader


def _frame_starts(reader: decord.VideoReader, source_fps: float) -> tuple[np.ndarray, float]:
    """Per-frame start times from 0, and the end of the last frame (a fallback for the stream duration)."""
    times = np.asarray(reader.get_frame_timestamp(range(len(reader))), dtype=np.float64)  # (N, 2): start, end
    starts = np.maximum.accumulate(times[:, 0] - times[0, 0])  # monotone even if a pts goes backwards
    gaps = np.diff(starts)
    nominal = float(np.median(gaps)) if gaps.size else 1.0 / max(source_fps, 1e-3)
    last = times[-1, 1] - times[0, 0]
    if last - starts[-1] < 0.1 * nominal:  # last packet has no (or a bogus tiny) duration: one nominal frame
        last = starts[-1] + nominal
    return starts, float(last)


def _probe_as(path: str, uri: str | os.PathLike[str]) -> MediaInfo:
    # Probe the local copy (no second download) but name the caller's URI in errors.
    try:
        return probe(path)
    except MediaError as exc:
        raise type(exc)(uri, exc.reason) from exc


def _check_range(uri: str | os.PathLike[str], fps: float, start_frame: int, num_frames: int | None) -> None:
    # Before any I/O: a bad argument is the caller's bug, not the file's.
    if fps <= 0:
        raise ValueError(f"{uri}: fps must be positive, got {fps}")
    if start_frame < 0:
        raise ValueError(f"{uri}: start_frame must be >= 0, got {start_frame}")
    if num_frames is not None and num_frames < 0:
        raise ValueError(f"{uri}: num_frames must be >= 0 or None, got {num_frames}")


def _plan(
    path: str, uri: str | os.PathLike[str], fps: float, start_frame: int = 0, num_frames: int | None = None
) -> _Plan:
    """Source frame per grid time for grid frames start_frame .. start_frame + num_frames - 1 (clamped to the end)."""
    _check_range(uri, fps, start_frame, num_frames)
    info = _probe_as(path, uri)  # typed errors for empty / corrupt files, before decord sees them
    if info.video is None:
        raise NoVideoTrackError(uri, "no video track (audio only)")
    reader = _open_reader(path, uri)
    source_fps = float(reader.get_avg_fps())
    starts, last_end = _frame_starts(reader, source_fps)
    duration = info.video.duration if info.video.duration > 0 else last_end  # the container's word first
    total = max(frame_count_for(duration, fps), 1)
    count = max(total - start_frame, 0)  # a start past the end is an empty clip, not an error
    if num_frames is not None:
        count = min(count, num_frames)
    grid = np.arange(start_frame, start_frame + count, dtype=np.float64) / fps  # absolute times
    indices = np.searchsorted(starts, grid + _TIME_EPS, side="right") - 1
    source = _SequentialFrames(reader, uri, source_fps)
    return _Plan(source, np.clip(indices, 0, len(starts) - 1), grid, source_fps)


def iter_video(
    uri: str | os.PathLike[str],
    fps: float = 25.0,
    chunk: int = 64,
    *,
    start_frame: int = 0,
    num_frames: int | None = None,
) -> Iterator[VideoFrames]:
    """Yield the resampled video as consecutive VideoFrames of at most `chunk` frames (for long videos).

    `start_frame`, `num_frames`: only grid frames start_frame .. start_frame + num_frames - 1 (timestamps stay
    absolute); nothing is yielded when start_frame is past the end.
    """
    if chunk < 1:
        raise ValueError(f"{uri}: chunk must be >= 1, got {chunk}")
    fps = float(fps)
    _check_range(uri, fps, start_frame, num_frames)
    with local_path(uri) as path:
        plan = _plan(path, uri, fps, start_frame, num_frames)
        for lo in range(0, len(plan.indices), chunk):
            frames = np.stack([plan.source.get(int(i)) for i in plan.indices[lo : lo + chunk]])
            yield VideoFrames(frames, plan.timestamps[lo : lo + chunk].copy(), plan.source_fps, str(uri), fps)


def read_video(
    uri: str | os.PathLike[str],
    fps: float = 25.0,
    max_frames: int | None = None,
    *,
    start_frame: int = 0,
    num_frames: int | None = None,
) -> VideoFrames:
    """All frames of `uri` resampled to `fps` (the first `max_frames` only, when given), as one VideoFrames.

    `start_frame`, `num_frames`: only grid frames start_frame .. start_frame + num_frames - 1, with absolute
    timestamps (a clip); zero frames when start_frame is past the end. `max_frames` caps the count as well.
    """
    fps = float(fps)
    if max_frames is not None:  # the older cap: at most max_frames (<= 0: none)
        max_frames = max(int(max_frames), 0)
        num_frames = max_frames if num_frames is None else min(num_frames, max_frames)
    _check_range(uri, fps, start_frame, num_frames)
    with local_path(uri) as path:
        plan = _plan(path, uri, fps, start_frame, num_frames)
        if len(plan.indices) == 0:  # max_frames=0, num_frames=0, or a start past the end
            return VideoFrames(np.zeros((0, 0, 0, 3), np.uint8), plan.timestamps, plan.source_fps, str(uri), fps)
        first = plan.source.get(int(plan.indices[0]))
        out = np.empty((len(plan.indices), *first.shape), dtype=np.uint8)  # filled in place: no 2x peak
        for k, index in enumerate(plan.indices):
            out[k] = plan.source.get(int(index))
    return VideoFrames(out, plan.timestamps, plan.source_fps, str(uri), fps)
