"""Write browser-playable MP4 (H.264 yuv420p + AAC, moov atom first) from frames and optional mono audio.

Frames may come as one (T, H, W, 3) array or as any iterable of (H, W, 3) frames, which is consumed one frame at a
time. The file is written under a temporary name beside the destination and renamed at the end, so a crash never
leaves a half-written mp4 where a finished one is expected; remote URIs are written locally then uploaded.

`concat_mp4` joins video-only segments (rendered in chunks by several workers) into one mp4 without re-encoding
them, and adds the speech once over the whole length.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import fsspec
import numpy as np

from space.errors import CorruptMediaError, EmptyMediaError, MediaError, NoVideoTrackError
from space.io.probe import open_media
from space.io.uri import is_remote, local_path, to_local

_AAC_FRAME = 1024  # samples per AAC frame

log = logging.getLogger(__name__)


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


def _mono(audio: np.ndarray, name: str, caller: str = "write_mp4") -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim == 2 and 1 in audio.shape:  # (n, 1) or (1, n)
        audio = audio.reshape(-1)
    if audio.ndim != 1:
        raise ValueError(f"{caller} {name}: audio must be mono (n,), got shape {audio.shape}")
    if np.issubdtype(audio.dtype, np.integer):
        raise ValueError(f"{caller} {name}: audio must be float in [-1, 1], got {audio.dtype}")
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


class _AudioTrack:
    """Optional mono AAC audio of one open mp4, encoded in step with the video so the mux queues stay small."""

    def __init__(self, container: av.container.OutputContainer, audio: np.ndarray | None, sample_rate: int):
        self.container, self.sample_rate = container, sample_rate
        self.stream = None if audio is None else container.add_stream("aac", rate=sample_rate, layout="mono")
        self.pending = _audio_frames(audio, sample_rate) if audio is not None else iter(())
        self.next_frame = next(self.pending, None)

    def until(self, seconds: float) -> None:
        """Encode and mux the audio frames that start before `seconds`."""
        while self.next_frame is not None and self.next_frame.pts / self.sample_rate < seconds:
            self.container.mux(self.stream.encode(self.next_frame))
            self.next_frame = next(self.pending, None)

    def finish(self) -> None:
        self.until(math.inf)  # audio longer than the video is written whole
        if self.stream is not None:
            self.container.mux(self.stream.encode(None))  # flush the encoder's delayed packets


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
        self.container, self.rate, self.shape = container, rate, shape
        self.video = container.add_stream("libx264", rate=rate, options={"crf": str(crf)})
        self.video.width, self.video.height, self.video.pix_fmt = shape[1], shape[0], "yuv420p"
        self.video.codec_context.time_base = 1 / rate
        self.audio = _AudioTrack(container, audio, sample_rate)
        self.count = 0

    def add(self, rgb: np.ndarray) -> None:
        self.add_frame(av.VideoFrame.from_ndarray(rgb, format="rgb24"))

    def add_frame(self, frame: av.VideoFrame) -> None:
        """Encode one frame of the stream's size as the next frame (its own timestamps are replaced)."""
        frame.pts, frame.time_base = self.count, 1 / self.rate
        self.container.mux(self.video.encode(frame))
        self.count += 1
        self.audio.until(self.count / self.rate)  # keep audio level with video: small mux queues

    def finish(self) -> None:
        self.audio.until(math.inf)  # audio longer than the video is written whole
        self.container.mux(self.video.encode(None))  # flush the encoders' delayed packets
        self.audio.finish()


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
    with _atomic_mp4(name) as local:
        _encode_all(local, name, frames, audio, fps, sample_rate, crf)
    return name


@contextmanager
def _atomic_mp4(name: str) -> Iterator[str]:
    """Yield a local path to write the mp4 for `name` into; it is published only if the block succeeds.

    Local: a temporary name in the destination's folder, renamed over it (readers see the old file or the whole
    new one, never a partial one). Remote: a temporary local file uploaded whole at the end.
    """
    if is_remote(name):
        with tempfile.TemporaryDirectory(prefix="space-mp4-") as tmpdir:
            local = os.path.join(tmpdir, "out.mp4")
            yield local
            fs, path = fsspec.core.url_to_fs(name)
            fs.put_file(local, path)  # object stores publish an upload only once it is complete
        return
    dest = Path(to_local(name))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.stem}.{uuid.uuid4().hex[:8]}.part.mp4")  # same folder: rename is atomic
    try:
        yield str(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------------------------
# Joining segments


@dataclass(frozen=True)
class _Segment:
    """Header facts of one segment's first video stream (read without decoding)."""

    uri: str  # as given, for messages
    local: str  # a local path to read it from
    codec: str
    width: int
    height: int
    pix_fmt: str | None
    extradata: bytes  # codec setup (H.264 SPS/PPS): segments can share one stream only if these are equal
    rate: Fraction | None
    frames: int  # from the header; 0 when the container does not say


class _CannotCopy(Exception):
    """The segments' packets cannot be joined into one stream as they are (the caller re-encodes instead)."""


def _segment_facts(uri: str, local: str) -> _Segment:
    try:
        with open_media(local) as container:
            if not container.streams.video:
                raise NoVideoTrackError(local, "no video stream to join")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            return _Segment(
                uri=uri,
                local=local,
                codec=ctx.codec.canonical_name,
                width=int(ctx.width),
                height=int(ctx.height),
                pix_fmt=ctx.pix_fmt,
                extradata=bytes(ctx.extradata or b""),
                rate=stream.average_rate or stream.guessed_rate,
                frames=int(stream.frames or 0),
            )
    except MediaError as exc:  # name the segment as given, not its temporary download
        raise type(exc)(uri, exc.reason) from exc


def _copy_blocker(segments: list[_Segment], rate: Fraction) -> str | None:
    """Why the segments' H.264 packets cannot be copied into one stream at `rate`, or None when they can."""
    first = segments[0]
    for seg in segments:
        if seg.codec != "h264":
            return f"{seg.uri} is {seg.codec}, not h264"
        if (seg.width, seg.height, seg.pix_fmt) != (first.width, first.height, first.pix_fmt):
            return f"{seg.uri} is {seg.width}x{seg.height} {seg.pix_fmt}, {first.uri} is {first.width}x{first.height}"
        if seg.extradata != first.extradata:  # one mp4 track has one SPS/PPS set
            return f"{seg.uri} has other codec settings (extradata) than {first.uri}"
        if seg.rate is None or abs(float(seg.rate) - float(rate)) > 1e-3 * float(rate):
            return f"{seg.uri} is {seg.rate} fps, not {rate}"
    return None


def _demux_video(seg: _Segment) -> Iterator[tuple[av.Packet, av.video.stream.VideoStream]]:
    """The segment's video packets in file (decode) order, with their stream; demux errors name the segment."""
    with av.open(seg.local) as container:
        stream = container.streams.video[0]
        try:
            for packet in container.demux(stream):
                if packet.size:  # the demuxer ends with an empty flush packet
                    yield packet, stream
        except av.error.FFmpegError as exc:
            raise CorruptMediaError(seg.uri, f"reading packets failed ({exc})") from exc


def _check_count(seg: _Segment, count: int) -> None:
    if count == 0:
        raise EmptyMediaError(seg.uri, "video stream has no frames")
    if seg.frames and count < seg.frames:
        raise CorruptMediaError(seg.uri, f"truncated: header states {seg.frames} frames, found {count}")


def _copy_video(container: av.container.OutputContainer, segments: list[_Segment], rate: Fraction,
                audio: np.ndarray | None, sample_rate: int) -> int:  # fmt: skip
    """Mux the segments' packets into one stream, retimed to be continuous; returns the frame count.

    Frame i of segment k gets pts = (frames before k + i) / rate: both pts and dts of a segment are shifted by the
    same amount, so x264's B-frame reordering (dts < pts) is kept. Where segments differ in reorder delay, a dts
    that would not exceed the previous one is moved one tick later; if that would put it after its pts, the packets
    cannot be copied (_CannotCopy).
    """
    with av.open(segments[0].local) as first:
        video = container.add_stream_from_template(first.streams.video[0])
    track = _AudioTrack(container, audio, sample_rate)  # after the video: players expect video as stream 0
    video.time_base = 1 / rate  # the mp4 muxer scales it up to a timescale >= 10000 (12800 at 25 fps)
    container.start_encoding()  # writes the header, which fixes video.time_base
    tick = video.time_base
    count, last_dts = 0, None
    for seg in segments:
        offset = Fraction(count) / rate  # seconds before this segment
        copied = 0
        for packet, stream in _demux_video(seg):
            start = stream.start_time or 0
            pts = round(((packet.pts - start) * stream.time_base + offset) / tick)
            dts = round(((packet.dts - start) * stream.time_base + offset) / tick)
            if last_dts is not None and dts <= last_dts:
                dts = last_dts + 1  # the muxer needs strictly increasing dts
            if dts > pts:
                raise _CannotCopy(f"{seg.uri}: frame timing cannot be joined (dts {dts} > pts {pts})")
            packet.stream, packet.time_base = video, tick
            packet.pts, packet.dts, packet.duration = pts, dts, round(1 / rate / tick)
            container.mux(packet)
            last_dts, copied = dts, copied + 1
            track.until(float(dts * tick))  # interleave: audio up to the video's decode time
        _check_count(seg, copied)
        count += copied
    track.finish()
    return count


def _reencode_video(container: av.container.OutputContainer, segments: list[_Segment], rate: Fraction,
                    audio: np.ndarray | None, sample_rate: int) -> int:  # fmt: skip
    """Decode the segments and encode their frames as one libx264 (crf 18) stream at the first segment's size."""
    width, height = segments[0].width + segments[0].width % 2, segments[0].height + segments[0].height % 2
    muxer = _Muxer(container, rate, (height, width, 3), audio, sample_rate, crf=18)
    for seg in segments:
        before = muxer.count
        with av.open(seg.local) as source:
            try:
                for frame in source.decode(video=0):
                    frame = frame.reformat(width=width, height=height, format="yuv420p")
                    frame.pict_type = av.video.frame.PictureType.NONE  # let x264 choose frame types afresh
                    muxer.add_frame(frame)
            except av.error.FFmpegError as exc:
                raise CorruptMediaError(seg.uri, f"decoding failed ({exc})") from exc
        _check_count(seg, muxer.count - before)
    muxer.finish()
    return muxer.count


def _join(local: str, segments: list[_Segment], rate: Fraction, audio: np.ndarray | None, sample_rate: int) -> int:
    """Write the joined mp4 to the local path `local`: stream copy when possible, else re-encode."""
    blocker = _copy_blocker(segments, rate)
    if blocker is None:
        try:
            with av.open(local, "w", format="mp4", container_options={"movflags": "+faststart"}) as container:
                return _copy_video(container, segments, rate, audio, sample_rate)
        except _CannotCopy as exc:
            blocker = str(exc)  # written again below, over the same temporary file
    log.info("concat_mp4: re-encoding %d segments, since %s", len(segments), blocker)  # slower: worth knowing
    with av.open(local, "w", format="mp4", container_options={"movflags": "+faststart"}) as container:
        return _reencode_video(container, segments, rate, audio, sample_rate)


def concat_mp4(
    segments: list[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    fps: float = 25,
) -> int:
    """Join the video streams of mp4 `segments` in order into `out`, adding `audio` once. Returns the frame count.

    The H.264 packets are copied, not re-encoded: each segment's timestamps are shifted so that frame i of segment
    k is shown at (frames before k + i) / fps seconds, and the result is continuous. Segments whose packets cannot
    share one stream (another codec than H.264, another size or pixel format, other codec settings (extradata),
    another frame rate than `fps`) are instead decoded and re-encoded with libx264 (crf 18), scaled to the first
    segment's size. Only the first video stream of each segment is used; their audio is ignored.

    `segments`: local paths or fsspec URIs (remote ones are downloaded to temporary files first).
    `audio`: mono float in [-1, 1] at `sample_rate` Hz, encoded once as AAC over its whole length, or None.
    `out` is written atomically like `write_mp4` (moov first for browsers). A segment that is missing, unreadable,
    empty or has no video stream raises the space.errors MediaError subclass naming it.
    """
    name = os.fspath(out)
    if not segments:
        raise ValueError(f"concat_mp4 {name}: no segments to join")
    if not fps > 0:
        raise ValueError(f"concat_mp4 {name}: fps must be > 0, got {fps}")
    samples = None if audio is None else _mono(audio, name, caller="concat_mp4")
    rate = Fraction(fps).limit_denominator(1001)
    with ExitStack() as stack:
        uris = [os.fspath(s) for s in segments]
        facts = [_segment_facts(uri, stack.enter_context(local_path(uri))) for uri in uris]
        with _atomic_mp4(name) as local:
            return _join(local, facts, rate, samples, sample_rate)
