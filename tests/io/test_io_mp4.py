from __future__ import annotations

import uuid

import av
import fsspec
import numpy as np
import pytest

from space.io.audio import load_audio
from space.errors import MissingFileError, NoVideoTrackError
from space.io.mp4 import concat_mp4, frame_count_for, write_mp4
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


# --------------------------------------------------------------------------------------------------------------
# concat_mp4


def _moving(n: int, seed: int, height: int = 128, width: int = 128) -> np.ndarray:
    """Diagonal colour ramps that move a few pixels a frame: real motion for x264, distinct per segment (seed)."""
    y, x = np.mgrid[:height, :width]
    frames = [
        np.stack([(2 * x + 7 * i + 50 * seed) % 256, (2 * y + 5 * i) % 256, (x + y + 80 * seed - 3 * i) % 256], -1)
        for i in range(n)
    ]
    return np.asarray(frames, np.uint8)


def _decoded(uri) -> list[np.ndarray]:
    with av.open(str(uri)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _video_packets(uri) -> list[tuple[int, int]]:
    with av.open(str(uri)) as container:
        return [(p.pts, p.dts) for p in container.demux(container.streams.video[0]) if p.size]


def _segments(tmp_path, counts: list[int], **sizes) -> list[str]:
    return [write_mp4(tmp_path / f"seg{k}.mp4", _moving(n, k, **sizes)) for k, n in enumerate(counts)]


def test_concat_copies_segments_and_adds_audio_once(tmp_path, media) -> None:
    segments = _segments(tmp_path, [30, 30, 17])
    out = tmp_path / "joined.mp4"
    assert concat_mp4(segments, out, media.tone(77 / 25, 16000), sample_rate=16000, fps=25) == 77
    info = probe(out)
    assert (info.video.codec, info.video.pix_fmt, info.audio.codec) == ("h264", "yuv420p", "aac")
    assert (info.video.frame_count, info.video.fps, info.video.width, info.video.height) == (77, 25.0, 128, 128)
    assert info.duration == pytest.approx(3.08, abs=1 / 25)
    with av.open(str(out)) as container:  # exactly one stream of each kind
        assert [s.type for s in container.streams] == ["video", "audio"]
    joined, parts = _decoded(out), [f for s in segments for f in _decoded(s)]
    assert len(joined) == len(parts) == 77
    assert all(np.array_equal(a, b) for a, b in zip(joined, parts, strict=True))  # stream copy: bit-exact
    data = out.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")  # faststart: playable while downloading
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joined.mp4", "seg0.mp4", "seg1.mp4", "seg2.mp4"]


def test_concat_timestamps_are_continuous_across_reorder_delays(tmp_path) -> None:
    # 1- and 2-frame segments have no B-frames (dts == pts), the long ones do (dts < pts): the joins change delay.
    segments = _segments(tmp_path, [30, 1, 2, 5, 30])
    out = tmp_path / "joined.mp4"
    assert concat_mp4(segments, out) == 68
    packets = _video_packets(out)
    dts = [d for _, d in packets]
    assert all(b > a for a, b in zip(dts, dts[1:]))
    assert all(d <= p for p, d in packets)
    tick = 12800 // 25  # the mp4 muxer's timescale at 25 fps
    assert sorted(p for p, _ in packets) == [i * tick for i in range(68)]
    parts = [f for s in segments for f in _decoded(s)]
    assert all(np.array_equal(a, b) for a, b in zip(_decoded(out), parts, strict=True))


def test_concat_remote_segments_and_output(tmp_path) -> None:
    root = f"memory://space-tests/{uuid.uuid4().hex}"
    local = write_mp4(tmp_path / "b.mp4", _moving(8, 1, 64, 64))
    segments = [write_mp4(f"{root}/a.mp4", _moving(12, 0, 64, 64)), local]
    assert concat_mp4(segments, f"{root}/out.mp4") == 20
    info = probe(f"{root}/out.mp4")
    assert (info.video.frame_count, info.audio) == (20, None)
    with fsspec.open(f"{root}/out.mp4", "rb") as f, open(tmp_path / "copy.mp4", "wb") as g:
        g.write(f.read())
    parts = _decoded(tmp_path / "copy.mp4")
    assert len(parts) == 20 and np.array_equal(parts[12], _decoded(tmp_path / "b.mp4")[0])
    fsspec.filesystem("memory").rm(root.removeprefix("memory://"), recursive=True)


def test_concat_missing_segment_is_named(tmp_path) -> None:
    segments = _segments(tmp_path, [5])
    with pytest.raises(MissingFileError, match="gone.mp4"):
        concat_mp4([segments[0], tmp_path / "gone.mp4"], tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg0.mp4"]


def test_concat_segment_without_video_is_named(tmp_path, media) -> None:
    audio_only = media.encoded_audio("speech.m4a", media.tone(0.5, 16000), 16000, "aac", "ipod")
    with pytest.raises(NoVideoTrackError, match="speech.m4a"):
        concat_mp4([_segments(tmp_path, [5])[0], audio_only], tmp_path / "out.mp4")
    with pytest.raises(ValueError, match="no segments"):
        concat_mp4([], tmp_path / "out.mp4")


def test_concat_different_sizes_reencodes(tmp_path, media) -> None:
    first = write_mp4(tmp_path / "a.mp4", _moving(10, 0))
    wide = write_mp4(tmp_path / "b.mp4", _moving(7, 1, 96, 160))
    out = tmp_path / "joined.mp4"
    assert concat_mp4([first, wide, first], out, media.tone(1.0, 16000)) == 27
    info = probe(out)
    assert (info.video.frame_count, info.video.width, info.video.height, info.video.codec) == (27, 128, 128, "h264")
    assert info.audio.codec == "aac"
    joined, source = _decoded(out), _decoded(first)
    # re-encoded (crf 18): close to the source frames, not bit-exact
    assert not all(np.array_equal(a, b) for a, b in zip(joined[:10], source))
    assert max(np.abs(a.astype(int) - b).mean() for a, b in zip(joined[:10], source)) < 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "b.mp4", "joined.mp4"]
