"""Write browser-playable MP4 (H.264 yuv420p + AAC, moov atom first) from frames and optional mono audio.

Frames may come as one (T, H, W, 3) array or as any iterable of (H, W, 3) frames, which is consumed one frame at a
time. The file is written under a temporary name beside the destination and renamed at the end, so a crash never
leaves a half-written mp4 where a finished one is expected; remote URIs are written locally then uploaded.
"""

from __future__ import annotations

import math
import os
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import fsspec
import numpy as np

from space.io.uri import is_remote, to_local

_AAC_FRAME = 1024  # samples per AAC frame


def frame_count_for(audio_seconds: float, fps: float = 25) -> int:
    """Video frames for `audio_seconds` of audio at `fps`: round half up (the project-wide convention)."""
    return int(math.floor(audio_seconds * fps + 0.5 + 1e-9))


def _even_rgb(frame: np.ndarray, name: str, index: int) -> np.ndarray:
    # yuv420p halves chroma in both directions, so libx264 needs even sizes: pad by repeating the last row/column.
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"write_mp4 {name}: frame {index} must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
    pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
    if pad_h or pad_w:
        frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frame


def _mono(audio: np.ndarray, name: str) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim == 2 and 1 in audio.shape:  # (n, 1) or (1, n)
        audio = audio.reshape(-1)
    if audio.ndim != 1:
        raise ValueError(f"write_mp4 {name}: audio must be mono (n,), got shape {audio.shape}")
    if np.issubdtype(audio.dtype, np.integer):
        raise ValueError(f"write_mp4 {name}: audio must be float in [-1, 1], got {audio.dtype}")
    return np.clip(audio.astype(np.float32), -1.0, 1.0)


def _audio_frames(samples: np.ndarray, sample_rate: int) -> Iterator[av.AudioFrame]:
    """Mono float audio as 1024-sample fltp frames, the AAC encoder's input format and frame size."""
    for start in range(0, samples.size, _AAC_FRAME):
        chunk = np.ascontiguousarray(samples[start : start + _AAC_FRAME])[None, :]
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = start
        frame.time_base = Fraction(1, sample_rate)
        yield frame


class _Muxer:
    """One open mp4: H.264 video plus optional AAC audio, interleaved by time as frames arrive."""

    def __init__(
        self,
        container: av.container.OutputContainer,
        rate: Fraction,
        shape: tuple[int, ...],
        audio: np.ndarray | None,
        sample_rate: int,
        crf: int,
    ):
        self.container, self.rate, self.shape, self.sample_rate = container, rate, shape, sample_rate
        self.video = container.add_stream("libx264", rate=rate, options={"crf": str(crf)})
        self.video.width, self.video.height, self.video.pix_fmt = shape[1], shape[0], "yuv420p"
        self.video.codec_context.time_base = 1 / rate
        self.audio = None if audio is None else container.add_stream("aac", rate=sample_rate, layout="mono")
        self.pending = _audio_frames(audio, sample_rate) if audio is not None else iter(())
        self.next_audio = next(self.pending, None)
        self.count = 0

    def add(self, rgb: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = self.count, 1 / self.rate
        self.container.mux(self.video.encode(frame))
        self.count += 1
        self._audio_until(self.count / self.rate)  # keep audio level with video: small mux queues

    def _audio_until(self, seconds: float) -> None:
        while self.next_audio is not None and self.next_audio.pts / self.sample_rate < seconds:
            self.container.mux(self.audio.encode(self.next_audio))
            self.next_audio = next(self.pending, None)

    def finish(self) -> None:
        self._audio_until(math.inf)  # audio longer than the video is written whole
        self.container.mux(self.video.encode(None))  # flush the encoders' delayed packets
        if self.audio is not None:
            self.container.mux(self.audio.encode(None))


def _encode_all(
    path: str, name: str, frames: Iterable[np.ndarray], audio: np.ndarray | None, fps: float, sample_rate: int, crf: int
) -> int:
    """Encode into the local file `path` (`name` is the destination, for messages). Returns the frame count."""
    frame_iter = iter(frames)
    first = next(frame_iter, None)
    if first is None:
        raise ValueError(f"write_mp4 {name}: no frames to write")
    first = _even_rgb(first, name, 0)
    audio = None if audio is None else _mono(audio, name)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(path, "w", format="mp4", container_options={"movflags": "+faststart"}) as container:
        muxer = _Muxer(container, rate, first.shape, audio, sample_rate, crf)
        muxer.add(first)
        for frame in frame_iter:  # one frame at a time: an iterable input is never held whole
            rgb = _even_rgb(frame, name, muxer.count)
            if rgb.shape != first.shape:
                raise ValueError(f"write_mp4 {name}: frame {muxer.count} is {rgb.shape}, frame 0 was {first.shape}")
            muxer.add(rgb)
        muxer.finish()
    return muxer.count


def write_mp4(
    uri: str | os.PathLike[str],
    frames: np.ndarray | Iterable[np.ndarray],
    audio: np.ndarray | None = None,
    fps: float = 25,
    sample_rate: int = 16000,
    crf: int = 20,
) -> str:
    """Write H.264 + AAC mp4 to `uri` atomically (temp file + rename; upload for remote URIs). Returns `uri`.

    `audio`: mono float in [-1, 1] at `sample_rate` Hz, or None for a silent (video-only) file.
    """
    name = os.fspath(uri)
    if is_remote(name):
        with tempfile.TemporaryDirectory(prefix="space-mp4-") as tmpdir:
            local = os.path.join(tmpdir, "out.mp4")
            _encode_all(local, name, frames, audio, fps, sample_rate, crf)
            fs, path = fsspec.core.url_to_fs(name)
            fs.put_file(local, path)  # object stores publish an upload only once it is complete
        return name
    dest = Path(to_local(name))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.stem}.{uuid.uuid4().hex[:8]}.part.mp4")  # same folder: rename is atomic
    try:
        _encode_all(str(tmp), name, frames, audio, fps, sample_rate, crf)
        os.replace(tmp, dest)  # readers see the old file or the whole new one, never a partial one
    finally:
        tmp.unlink(missing_ok=True)
    return name
