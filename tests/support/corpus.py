"""A small synthetic talking-head corpus with bad files mixed in, for the preprocessing tests.

`make_corpus(folder, clips)` writes `clips` good clips of the synthetic corpus (ground truth in the JSON beside
each) and one file per kind of bad input; it returns {file name: the error kind the job must record}.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

#: settings the bad files are made against (the test passes the same to the job)
MAX_VIDEO_SECONDS = 7.0


def _speech(seconds: float, seed: int) -> np.ndarray:
    from space.synth.speech import synthesize_speech

    return synthesize_speech(seconds, seed=seed).audio.astype(np.float32)


def _still(image: np.ndarray, seconds: float, fps: int = 25) -> np.ndarray:
    return np.repeat(image[None], int(round(seconds * fps)), axis=0)


def make_corpus(folder: str | Path, clips: int = 3, seed: int = 0) -> dict[str, str]:
    from space.io.mp4 import write_mp4
    from space.portrait import astronaut_portrait
    from space.synth.corpus import CorpusConfig, write_corpus

    folder = Path(folder)
    write_corpus(folder, CorpusConfig(clips=clips, seed=seed), progress=False)
    face = astronaut_portrait(256).image  # (256, 256, 3)
    blank = np.full((256, 256, 3), 127, np.uint8)
    two = np.concatenate([face[:, 64:192], face[:, 64:192]], axis=1)  # two faces of the same size, side by side

    expected = {}
    good = sorted(folder.glob("clip_*.mp4"))[0].read_bytes()
    (folder / "zero_bytes.mp4").write_bytes(b"")
    expected["zero_bytes.mp4"] = "empty_media"
    (folder / "not_a_video.mp4").write_text("this is a text file with a video extension\n" * 20)
    expected["not_a_video.mp4"] = "corrupt_media"
    (folder / "truncated.mp4").write_bytes(good[: len(good) // 2])
    expected["truncated.mp4"] = "corrupt_media"
    write_mp4(folder / "no_audio.mp4", _still(face, 2.0))
    expected["no_audio.mp4"] = "no_audio_track"
    write_mp4(folder / "no_face.mp4", _still(blank, 2.5), _speech(2.5, seed + 1))
    expected["no_face.mp4"] = "no_face"
    write_mp4(folder / "two_faces.mp4", _still(two, 2.5), _speech(2.5, seed + 2))
    expected["two_faces.mp4"] = "several_faces"
    write_mp4(folder / "silent.mp4", _still(face, 2.0), np.zeros(32000, np.float32))
    expected["silent.mp4"] = "silent_audio"
    write_mp4(folder / "too_short.mp4", _still(face, 0.6), _speech(0.6, seed + 3))
    expected["too_short.mp4"] = "too_short"
    write_mp4(folder / "too_long.mp4", _still(face, MAX_VIDEO_SECONDS + 1), _speech(MAX_VIDEO_SECONDS + 1, seed + 4))
    expected["too_long.mp4"] = "too_long"
    audio_only = folder / "audio_only.mp4"
    _write_audio_only(audio_only, _speech(2.0, seed + 5))
    expected["audio_only.mp4"] = "no_video_track"
    return expected


def _write_audio_only(path: Path, audio: np.ndarray, sample_rate: int = 16000) -> None:
    import av

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=sample_rate)
        stream.layout = "mono"
        samples = (np.clip(audio, -1, 1) * 32767).astype(np.int16)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = sample_rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def copy_good(src: str | Path, dst: str | Path, count: int) -> list[Path]:
    """Copy the first `count` good clips (mp4 + ground-truth json) of a corpus into another folder."""
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    out = []
    for video in sorted(Path(src).glob("clip_*.mp4"))[:count]:
        shutil.copy(video, dst / video.name)
        shutil.copy(video.with_suffix(".json"), dst / video.with_suffix(".json").name)
        out.append(dst / video.name)
    return out
