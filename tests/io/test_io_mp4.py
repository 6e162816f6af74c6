from __future__ import annotations

import uuid

import av
import fsspec
import numpy as np
import pytest

from space.io.audio import load_audio
from space.io.mp4 import frame_count_for, write_mp4
from space.io.probe import probe
from space.io.video import read_video


def _frames(n: int, height: int = 48, width: int = 64) -> np.ndarray:
    return np.stack([np.full((height, width, 3), 16 + 6 * i, np.uint8) for i in range(n)])


@pytest.mark.parametrize("seconds", [1.0, 1.37])
def test_round_trip(tmp_path, media, seconds: float) -> None:
    audio = media.tone(seconds, 16000)
    n = frame_count_for(seconds, 25)
    out = write_mp4(tmp_path / "out.mp4", _frames(n), audio, fps=25)
    assert out == str(tmp_path / "out.mp4")
    info = probe(out)
    assert (info.video.codec, info.video.pix_fmt, info.audio.codec) == ("h264", "yuv420p", "aac")
    assert (info.video.width, info.video.height, info.video.fps) == (64, 48, 25.0)
    assert info.video.frame_count == n
    assert (info.audio.sample_rate, info.audio.channels) == (16000, 1)
    assert info.duration == pytest.approx(seconds, abs=1 / 25)
    assert load_audio(out).size == pytest.approx(audio.size, abs=16000 / 25)
    video = read_video(out)
    assert len(video) == n
    assert [media.index_of(f) for f in video.frames] == list(range(n))


def test_faststart_puts_moov_first(tmp_path) -> None:
    data = open(write_mp4(tmp_path / "w.mp4", _frames(5)), "rb").read()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")


@pytest.mark.parametrize(("height", "width"), [(33, 45), (31, 32), (32, 31)])
def test_odd_sizes_are_padded_to_even(tmp_path, height: int, width: int) -> None:
    out = write_mp4(tmp_path / "odd.mp4", _frames(3, height, width))
    info = probe(out)
    assert (info.video.height, info.video.width) == (height + height % 2, width + width % 2)
    assert info.audio is None


def test_streaming_iterable(tmp_path, media) -> None:
    consumed = []

    def frames():
        for i in range(12):
            consumed.append(i)
            yield np.full((32, 32, 3), 16 + 6 * i, np.uint8)

    out = write_mp4(tmp_path / "gen.mp4", frames(), media.tone(0.4, 16000), fps=30)
    assert consumed == list(range(12))
    assert probe(out).video.frame_count == 12


def test_crash_leaves_no_file(tmp_path) -> None:
    def frames():
        yield np.zeros((32, 32, 3), np.uint8)
        raise RuntimeError("renderer crashed")

    dest = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="renderer crashed"):
        write_mp4(dest, frames())
    assert list(tmp_path.iterdir()) == []  # neither the destination nor a temporary file


def test_crash_keeps_previous_file(tmp_path) -> None:
    dest = write_mp4(tmp_path / "out.mp4", _frames(4))
    before = open(dest, "rb").read()
    with pytest.raises(ValueError, match="out.mp4"):
        write_mp4(dest, [np.zeros((32, 32, 3), np.uint8), np.zeros((16, 16, 3), np.uint8)])  # size changes
    assert open(dest, "rb").read() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_bad_input_is_rejected(tmp_path) -> None:
    with pytest.raises(ValueError, match="no frames"):
        write_mp4(tmp_path / "a.mp4", [])
    with pytest.raises(ValueError, match="uint8"):
        write_mp4(tmp_path / "a.mp4", np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="mono"):
        write_mp4(tmp_path / "a.mp4", _frames(2), np.zeros((100, 2), np.float32))


def test_remote_destination(tmp_path, media) -> None:
    uri = f"memory://space-tests/{uuid.uuid4().hex}/out.mp4"
    assert write_mp4(uri, _frames(10), media.tone(0.4, 16000)) == uri
    info = probe(uri)
    assert info.video.frame_count == 10 and info.audio is not None
    fsspec.filesystem("memory").rm(uri.removeprefix("memory://"))


def test_audio_longer_than_video_is_kept(tmp_path, media) -> None:
    out = write_mp4(tmp_path / "a.mp4", _frames(5), media.tone(1.0, 16000))
    with av.open(out) as container:
        assert float(container.streams.audio[0].duration * container.streams.audio[0].time_base) == pytest.approx(1.0)


@pytest.mark.parametrize(("seconds", "fps", "frames"), [(1.0, 25, 25), (6.107, 25, 153), (0.02, 25, 1), (0.0, 25, 0),
                                                        (2.5, 30, 75), (0.1, 25, 3)])  # fmt: skip
def test_frame_count_for(seconds: float, fps: float, frames: int) -> None:
    assert frame_count_for(seconds, fps) == frames
