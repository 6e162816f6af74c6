from __future__ import annotations

import uuid
from fractions import Fraction

import av
import decord
import fsspec
import numpy as np
import pytest

from space.errors import CorruptMediaError, EmptyMediaError, MissingFileError, NoVideoTrackError
from space.io.video import VideoFrames, iter_video, read_video


def test_30fps_resampled_to_25(media) -> None:
    path = media.video("v30.mp4", n=36, fps=30)  # 1.2 s
    video = read_video(path, fps=25)
    assert isinstance(video, VideoFrames)
    assert video.frames.shape == (30, 48, 64, 3) and video.frames.dtype == np.uint8
    np.testing.assert_allclose(video.timestamps, np.arange(30) / 25)
    assert video.source_fps == pytest.approx(30, rel=0.01)
    # grid time k/25 shows source frame floor(k * 30 / 25): the one on screen at that time
    assert [media.index_of(f) for f in video.frames] == [k * 30 // 25 for k in range(30)]


def test_upsampling_repeats_frames(media) -> None:
    video = read_video(media.video("v10.mp4", n=10, fps=10), fps=25)  # 1.0 s
    assert len(video) == 25
    assert [media.index_of(f) for f in video.frames] == [k * 10 // 25 for k in range(25)]


def test_variable_frame_rate_by_time(media) -> None:
    starts_ms = [0, 40, 120, 130, 200, 400, 410, 420, 500, 700]
    path = media.video("vfr.mp4", pts_ms=starts_ms, fps=25)
    video = read_video(path, fps=25)
    expected = [max(i for i, s in enumerate(starts_ms) if s <= k * 40) for k in range(len(video))]
    assert [media.index_of(f) for f in video.frames] == expected
    assert len(video) in (18, 19)  # 0.733 s of video (last frame lasts ~33 ms) -> 18 frames, +-1 by convention


def test_256_square(media) -> None:
    video = read_video(media.video("sq.mp4", n=25, fps=25, size=(256, 256)))
    assert video.frames.shape == (25, 256, 256, 3)
    assert [media.index_of(f) for f in video.frames] == list(range(25))


def test_colours_are_rgb(tmp_path) -> None:
    path = tmp_path / "red.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"crf": "10"})
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv444p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.tile([220, 20, 30], (32, 32, 1)).astype(np.uint8), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    pixel = read_video(path).frames[1, 16, 16].astype(int)
    assert pixel[0] > 180 and pixel[1] < 60 and pixel[2] < 70  # red stays in channel 0 (not BGR)


def test_display_rotation_is_applied(tmp_path) -> None:
    # Phone videos store landscape frames plus a rotation; frames must come out the way players show them.
    path = tmp_path / "rotated.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.set_display_rotation(90)
        for i in range(3):
            image = np.zeros((32, 64, 3), np.uint8)
            image[:8, :8] = 255  # top-left marker
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    frame = read_video(path).frames[0]
    assert frame.shape == (64, 32, 3)
    assert frame[60, 2].mean() > 200 and frame[2, 2].mean() < 50  # rotated 90 degrees counter-clockwise


def test_max_frames(media) -> None:
    video = read_video(media.video("v.mp4", n=30, fps=30), max_frames=7)
    assert len(video) == 7 and len(video.timestamps) == 7


def test_iter_video_matches_read_video(media) -> None:
    path = media.video("v.mp4", n=36, fps=30)
    chunks = list(iter_video(path, fps=25, chunk=8))
    assert [len(c) for c in chunks] == [8, 8, 8, 6]
    whole = read_video(path, fps=25)
    np.testing.assert_array_equal(np.concatenate([c.frames for c in chunks]), whole.frames)
    np.testing.assert_allclose(np.concatenate([c.timestamps for c in chunks]), whole.timestamps)


def test_remote_uri(media) -> None:
    uri = f"memory://space-tests/{uuid.uuid4().hex}/v.mp4"
    fsspec.filesystem("memory").put_file(str(media.video("v.mp4", n=10, fps=25)), uri.removeprefix("memory://"))
    video = read_video(uri)
    assert len(video) == 10 and video.source == uri


def test_other_target_fps(media) -> None:
    video = read_video(media.video("v.mp4", n=30, fps=30), fps=Fraction(30000, 1001))
    assert len(video) == 30


def test_no_video_track(media) -> None:
    with pytest.raises(NoVideoTrackError, match="voice.wav"):
        read_video(media.wav("voice.wav", media.tone(0.5, 16000), 16000))


def test_empty_file(media) -> None:
    with pytest.raises(EmptyMediaError, match="empty.mp4"):
        read_video(media.file("empty.mp4", b""))


def test_text_named_mp4(media) -> None:
    with pytest.raises(CorruptMediaError, match="readme.mp4"):
        read_video(media.file("readme.mp4", b"# not a video\n" * 100))


def test_truncated(media, clip) -> None:
    data = clip.read_bytes()
    with pytest.raises(CorruptMediaError, match="half.mp4"):
        read_video(media.file("half.mp4", data[: len(data) // 2]))


def test_missing(tmp_path) -> None:
    with pytest.raises(MissingFileError, match="nothing.mp4"):
        list(iter_video(tmp_path / "nothing.mp4"))


def _two_tone(index: int, size: int = 64) -> np.ndarray:
    """A frame whose halves encode index % 39 and index // 39 as grey levels (grey_frame only counts to 38)."""
    frame = np.empty((size, size, 3), np.uint8)
    frame[:, : size // 2] = 16 + 6 * (index % 39)
    frame[:, size // 2 :] = 16 + 6 * (index // 39)
    return frame


def _two_tone_index(frame: np.ndarray) -> int:
    half = frame.shape[1] // 2
    low, high = (round((float(part.mean()) - 16) / 6) for part in (frame[:, :half], frame[:, half:]))
    return high * 39 + low


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> str:
    """12 s of 25 fps 64x64 H.264 with a keyframe every second (300 frames), so a far start can seek."""
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25, options={"crf": "18", "preset": "ultrafast", "g": "25"})
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(300):
            frame = av.VideoFrame.from_ndarray(_two_tone(i), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return str(path)


@pytest.fixture(scope="module")
def long_full(long_video) -> VideoFrames:
    return read_video(long_video, fps=25)


@pytest.mark.parametrize("start, count", [(0, 10), (7, 30), (60, 1), (237, 40), (290, None), (250, 1000)])
def test_range_equals_slice_of_full_read(long_video, long_full, start, count) -> None:
    clip = read_video(long_video, fps=25, start_frame=start, num_frames=count)
    end = 300 if count is None else min(start + count, 300)
    np.testing.assert_array_equal(clip.frames, long_full.frames[start:end])  # bit-exact, seek or not
    np.testing.assert_allclose(clip.timestamps, np.arange(start, end) / 25)  # absolute grid times
    assert [_two_tone_index(f) for f in clip.frames] == list(range(start, end))


def test_far_start_seeks_instead_of_decoding_from_the_start(long_video, long_full, monkeypatch) -> None:
    seeks: list[int] = []
    original = decord.VideoReader.seek_accurate

    def spy(reader, pos):
        seeks.append(pos)
        return original(reader, pos)

    monkeypatch.setattr(decord.VideoReader, "seek_accurate", spy)
    clip = read_video(long_video, fps=25, start_frame=237, num_frames=5)
    assert seeks == [237]  # one seek (to the keyframe at 225, then 12 frames forward), then in order
    np.testing.assert_array_equal(clip.frames, long_full.frames[237:242])
    seeks.clear()
    read_video(long_video, fps=25, start_frame=30, num_frames=5)
    assert seeks == []  # 30 frames in: the keyframe at 25 is not worth a seek (2 s = 50 frames)


def test_range_resampled_from_other_fps(media) -> None:
    path = media.video("v30.mp4", n=36, fps=30)
    full = read_video(path, fps=25)
    clip = read_video(path, fps=25, start_frame=11, num_frames=9)
    np.testing.assert_array_equal(clip.frames, full.frames[11:20])
    np.testing.assert_allclose(clip.timestamps, np.arange(11, 20) / 25)


def test_range_beyond_end_is_empty(long_video) -> None:
    clip = read_video(long_video, fps=25, start_frame=300, num_frames=10)
    assert len(clip) == 0 and clip.timestamps.shape == (0,)
    assert len(read_video(long_video, fps=25, start_frame=5000)) == 0
    assert list(iter_video(long_video, fps=25, start_frame=300)) == []
    assert len(read_video(long_video, fps=25, start_frame=3, num_frames=0)) == 0


def test_negative_range_names_the_uri(long_video) -> None:
    with pytest.raises(ValueError, match="long.mp4.*start_frame"):
        read_video(long_video, start_frame=-1)
    with pytest.raises(ValueError, match="long.mp4.*num_frames"):
        list(iter_video(long_video, start_frame=0, num_frames=-2))


def test_range_with_max_frames(long_video, long_full) -> None:
    clip = read_video(long_video, fps=25, max_frames=4, start_frame=100, num_frames=20)
    np.testing.assert_array_equal(clip.frames, long_full.frames[100:104])  # the older cap still caps


def test_iter_video_range_matches_read_video_range(long_video) -> None:
    chunks = list(iter_video(long_video, fps=25, chunk=16, start_frame=231, num_frames=50))
    assert [len(c) for c in chunks] == [16, 16, 16, 2]
    clip = read_video(long_video, fps=25, start_frame=231, num_frames=50)
    np.testing.assert_array_equal(np.concatenate([c.frames for c in chunks]), clip.frames)
    np.testing.assert_allclose(np.concatenate([c.timestamps for c in chunks]), clip.timestamps)
