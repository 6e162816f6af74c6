"""Probe and decode the team's real media (../shared/data); skipped where that folder is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from space.io.audio import SAMPLE_RATE, load_audio
from space.io.image import is_image, load_image
from space.io.mp4 import frame_count_for
from space.io.probe import probe
from space.io.video import iter_video

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _files(kind: str) -> list[Path]:
    folder = SHARED / kind
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared media not found at {SHARED}"),
]


@pytest.mark.parametrize("path", _files("audio"), ids=_ids(_files("audio")))
def test_shared_audio(path: Path) -> None:
    info = probe(path)
    assert info.audio is not None and info.video is None
    audio = load_audio(path)
    assert audio.dtype == np.float32 and np.abs(audio).max() <= 1.0
    assert audio.size / SAMPLE_RATE == pytest.approx(info.audio.duration, abs=0.002)


@pytest.mark.slow
@pytest.mark.parametrize("path", _files("videos"), ids=_ids(_files("videos")))
def test_shared_video(path: Path) -> None:
    info = probe(path)
    assert info.video is not None and info.audio is not None
    audio = load_audio(path)
    assert audio.size / SAMPLE_RATE == pytest.approx(info.audio.duration, abs=0.002)
    count, shape = 0, None
    for chunk in iter_video(path, fps=25, chunk=32):  # chunks: a 1080x1920 clip whole would be ~1.5 GB
        count += len(chunk)
        shape = chunk.frames.shape[1:]
    assert count == frame_count_for(info.video.duration, 25)
    assert shape == (info.video.height, info.video.width, 3)  # none of these clips carries a rotation
    assert abs(count / 25 - info.video.duration) <= 1 / 25


@pytest.mark.parametrize("path", _files("images"), ids=_ids(_files("images")))
def test_shared_image(path: Path) -> None:
    assert is_image(path)
    image = load_image(path)
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
