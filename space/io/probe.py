"""Probe media files with PyAV: duration, video and audio stream facts, and typed errors for bad files.

`open_media` is shared by the decoders so that every reader reports missing / empty / corrupt input the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import av
import av.error

from space.errors import CorruptMediaError, EmptyMediaError
from space.io.uri import file_size, is_remote, open_uri, to_local


@dataclass(frozen=True)
class VideoInfo:
    fps: float  # average frame rate (for variable-frame-rate files: frames / duration)
    frame_count: int  # from the container when it says, else round(duration * fps)
    width: int
    height: int
    codec: str
    pix_fmt: str | None
    duration: float  # seconds, of this stream


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int
    channels: int
    codec: str
    duration: float  # seconds, of this stream


@dataclass(frozen=True)
class MediaInfo:
    source: str
    duration: float  # seconds: the container's duration (the longest stream)
    video: VideoInfo | None
    audio: AudioInfo | None
    format: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ffmpeg_reason(exc: Exception) -> str:
    # FFmpeg messages carry the file name; keep only the reason so the one-line message names the input once.
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split())


@contextmanager
def open_media(uri: str | os.PathLike[str]) -> Iterator[av.container.InputContainer]:
    """Open `uri` with PyAV; FFmpeg errors, at open or while decoding in the block, become CorruptMediaError."""
    if file_size(uri) == 0:  # also raises MissingFileError
        raise EmptyMediaError(uri, "file is empty (0 bytes)")
    with ExitStack() as stack:
        source: Any = stack.enter_context(open_uri(uri)) if is_remote(uri) else to_local(uri)
        try:
            container = stack.enter_context(av.open(source, "r"))
        except (av.error.FFmpegError, UnicodeDecodeError) as exc:
            raise CorruptMediaError(uri, f"not readable as media ({_ffmpeg_reason(exc)})") from exc
        try:
            yield container
        except av.error.FFmpegError as exc:
            raise CorruptMediaError(uri, f"decoding failed ({_ffmpeg_reason(exc)})") from exc


def _stream_seconds(stream: av.stream.Stream) -> float | None:
    if stream.duration is None or stream.time_base is None:
        return None
    return float(stream.duration * stream.time_base)


def _container_seconds(container: av.container.InputContainer) -> float:
    # The container's duration is in AV_TIME_BASE (microseconds); raw streams may lack it, then use the streams.
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    streams = [_stream_seconds(s) for s in container.streams if s.type in ("audio", "video")]
    return max((s for s in streams if s is not None), default=0.0)


def _video_info(stream: av.video.stream.VideoStream, fallback: float) -> VideoInfo:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    seconds = _stream_seconds(stream) or fallback
    frames = int(stream.frames or 0) or int(round(seconds * fps))
    ctx = stream.codec_context
    return VideoInfo(
        fps=fps,
        frame_count=frames,
        width=int(ctx.width),
        height=int(ctx.height),
        codec=ctx.codec.canonical_name,
        pix_fmt=ctx.pix_fmt,
        duration=seconds,
    )


def _audio_info(stream: av.audio.stream.AudioStream, fallback: float) -> AudioInfo:
    ctx = stream.codec_context
    return AudioInfo(
        sample_rate=int(ctx.sample_rate),
        channels=int(ctx.channels),
        codec=ctx.codec.canonical_name,  # "mp3", not the decoder name "mp3float"
        duration=_stream_seconds(stream) or fallback,
    )


def _data_end(container: av.container.InputContainer, stream: av.stream.Stream) -> float | None:
    """Seconds at which the stream's packets actually end: seek near the stated end, demux the tail only."""
    if stream.duration is None or stream.time_base is None:
        return None
    tail = int(stream.duration - 1.0 / stream.time_base)  # one second before the stated end
    container.seek(max(tail, 0) + (stream.start_time or 0), stream=stream, backward=True)
    end = None
    for packet in container.demux(stream):
        if packet.pts is not None:
            stop = packet.pts + (packet.duration or 0)
            end = stop if end is None else max(end, stop)
    return None if end is None else float((end - (stream.start_time or 0)) * stream.time_base)


def _check_complete(uri, container: av.container.InputContainer, stream: av.stream.Stream) -> None:
    """A truncated mp4 whose index survived (moov first) opens fine but lacks its tail: say so."""
    stated = _stream_seconds(stream)
    actual = _data_end(container, stream)
    if stated and (actual is None or actual < stated - 0.1):
        found = "no data" if actual is None else f"data ends at {actual:.2f} s"
        raise CorruptMediaError(uri, f"truncated: {stream.type} stream states {stated:.2f} s but its {found}")


def probe(uri: str | os.PathLike[str]) -> MediaInfo:
    """Duration and first video / audio stream facts of a media file, read from the headers (no decoding),
    after checking that the data of the first video (else audio) stream reaches its stated end."""
    with open_media(uri) as container:
        duration = _container_seconds(container)
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise CorruptMediaError(uri, f"no audio or video stream (read as {container.format.name!r})")
        _check_complete(uri, container, video if video is not None else audio)
        return MediaInfo(
            source=str(uri),
            duration=duration,
            video=_video_info(video, duration) if video is not None else None,
            audio=_audio_info(audio, duration) if audio is not None else None,
            format=container.format.name,
        )
