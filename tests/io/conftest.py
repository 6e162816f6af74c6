"""Synthetic media for the I/O tests, made on the fly in tmp_path with wave / PyAV / numpy (no binary fixtures).

Tests get a `media` fixture (a MediaFactory bound to tmp_path) rather than importing helpers, so nothing here
depends on how pytest puts test folders on sys.path.
"""

from __future__ import annotations

import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest


class MediaFactory:
    def __init__(self, root: Path):
        self.root = root

    @staticmethod
    def tone(seconds: float, sample_rate: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
        """A float sine in [-amp, amp]: a clearly non-silent test signal."""
        t = np.arange(int(round(seconds * sample_rate))) / sample_rate
        return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)

    @staticmethod
    def grey_frame(index: int, height: int, width: int) -> np.ndarray:
        """A flat frame whose grey level encodes its index (survives H.264); indices 0..38."""
        return np.full((height, width, 3), 16 + 6 * index, dtype=np.uint8)

    @staticmethod
    def index_of(frame: np.ndarray) -> int:
        """Inverse of grey_frame."""
        return int(round((float(frame.mean()) - 16) / 6))

    def wav(self, name: str, audio: np.ndarray, sample_rate: int, sample_width: int = 2) -> Path:
        """WAV with 16- or 24-bit PCM; audio (n,) or (n, channels) float in [-1, 1]."""
        audio = audio.reshape(len(audio), -1) if audio.ndim == 1 else audio
        scale = 2 ** (8 * sample_width - 1) - 1
        ints = np.round(np.clip(audio, -1, 1) * scale).astype("<i4")
        raw = ints.view(np.uint8).reshape(*ints.shape, 4)[..., :sample_width]  # little-endian low bytes
        path = self.root / name
        with wave.open(str(path), "wb") as w:
            w.setnchannels(audio.shape[1])
            w.setsampwidth(sample_width)
            w.setframerate(sample_rate)
            w.writeframes(raw.tobytes())
        return path

    def encoded_audio(self, name: str, audio: np.ndarray, sample_rate: int, codec: str, fmt: str) -> Path:
        """Mono float audio encoded with PyAV: ("libmp3lame", "mp3") or ("aac", "ipod") for .m4a."""
        path = self.root / name
        with av.open(str(path), "w", format=fmt) as container:
            stream = container.add_stream(codec, rate=sample_rate, layout="mono")
            self._mux_audio(container, stream, audio, sample_rate)
        return path

    def video(
        self,
        name: str,
        n: int = 30,
        fps: int = 30,
        size: tuple[int, int] = (64, 48),
        audio_seconds: float | None = None,
        pts_ms: list[int] | None = None,
    ) -> Path:
        """H.264 mp4 of grey_frame(i) frames (width, height = size); `pts_ms` sets each frame's start time."""
        pts = pts_ms if pts_ms is not None else [round(i * 1000 / fps) for i in range(n)]
        width, height = size
        path = self.root / name
        with av.open(str(path), "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "ultrafast"})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.time_base = Fraction(1, 1000)
            astream = container.add_stream("aac", rate=16000, layout="mono") if audio_seconds else None
            for i, t in enumerate(pts):
                frame = av.VideoFrame.from_ndarray(self.grey_frame(i, height, width), format="rgb24")
                frame.pts, frame.time_base = t, Fraction(1, 1000)
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
            if astream is not None:
                self._mux_audio(container, astream, self.tone(audio_seconds, 16000), 16000)
        return path

    @staticmethod
    def _mux_audio(container: av.container.OutputContainer, stream: av.AudioStream, audio: np.ndarray, rate: int):
        # fltp frames of the encoder's frame size, the last one shorter (no padding that would lengthen the file)
        size = stream.codec_context.frame_size or 1152
        for start in range(0, audio.size, size):
            chunk = np.ascontiguousarray(audio[None, start : start + size], dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))

    def file(self, name: str, data: bytes) -> Path:
        path = self.root / name
        path.write_bytes(data)
        return path


@pytest.fixture
def media(tmp_path: Path) -> MediaFactory:
    return MediaFactory(tmp_path)


@pytest.fixture
def clip(media: MediaFactory) -> Path:
    """1.2 s of 30 fps 64x48 video (36 frames) with 1.2 s of AAC audio."""
    return media.video("clip.mp4", n=36, fps=30, audio_seconds=1.2)
