from __future__ import annotations

import json

import numpy as np
import pytest

from space.errors import CorruptMediaError, EmptyMediaError, MissingFileError
from space.io.mp4 import write_mp4
from space.io.probe import MediaInfo, probe


def test_probe_video_with_audio(clip) -> None:
    info = probe(clip)
    assert isinstance(info, MediaInfo)
    assert info.duration == pytest.approx(1.2, abs=0.01)
    assert info.video is not None and info.audio is not None
    assert (info.video.width, info.video.height, info.video.codec) == (64, 48, "h264")
    assert info.video.fps == pytest.approx(30, rel=0.01)
    assert info.video.frame_count == 36
    assert info.video.pix_fmt == "yuv420p"
    assert (info.audio.sample_rate, info.audio.channels, info.audio.codec) == (16000, 1, "aac")
    assert info.audio.duration == pytest.approx(1.2, abs=0.001)


def test_probe_wav_and_to_dict(media) -> None:
    path = media.wav("a.wav", media.tone(0.5, 22050), 22050, sample_width=3)
    info = probe(path)
    assert info.video is None
    assert info.audio.codec == "pcm_s24le" and info.audio.sample_rate == 22050
    assert info.duration == pytest.approx(0.5, abs=1e-3)
    data = info.to_dict()
    assert data["audio"]["sample_rate"] == 22050 and data["video"] is None
    json.dumps(data)  # plain data: storable as a table row or JSON


def test_probe_video_without_audio(media) -> None:
    info = probe(media.video("silent.mp4", n=10, fps=25))
    assert info.audio is None and info.video.frame_count == 10


def test_missing_file(tmp_path) -> None:
    with pytest.raises(MissingFileError, match="absent.mp4"):
        probe(tmp_path / "absent.mp4")


def test_empty_file(media) -> None:
    with pytest.raises(EmptyMediaError, match="empty.mp4"):
        probe(media.file("empty.mp4", b""))


def test_text_file_named_mp4(media) -> None:
    with pytest.raises(CorruptMediaError, match="notes.mp4"):
        probe(media.file("notes.mp4", b"this is a text file, not a video\n" * 50))


def test_truncated_mp4_without_moov_is_corrupt(media, clip) -> None:
    data = clip.read_bytes()
    assert data.find(b"moov") > data.find(b"mdat")  # a plain mux puts moov at the end: cutting loses it
    with pytest.raises(CorruptMediaError, match="cut.mp4"):
        probe(media.file("cut.mp4", data[: len(data) // 2]))


def test_truncated_faststart_mp4_is_reported(media, tmp_path) -> None:
    whole = write_mp4(tmp_path / "whole.mp4", np.full((25, 32, 32, 3), 90, np.uint8), media.tone(1.0, 16000))
    data = open(whole, "rb").read()
    assert probe(whole).video.frame_count == 25
    # moov first: the headers survive the cut, so the missing tail must be found by looking at the data.
    with pytest.raises(CorruptMediaError, match=r"cut\.mp4: truncated: video stream states 1\.00 s"):
        probe(media.file("cut.mp4", data[: len(data) * 2 // 3]))
