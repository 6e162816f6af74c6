"""A small campaign the project makes itself: the inputs of `jobs/render.py` with no arguments, of the one-command
demo, of the render tests and of the render benchmark.

Photos: the one portrait photo that ships with scikit-image (the astronaut), mirrored, recoloured and reframed,
so the campaign has several distinct pictures without downloading any. Speech: formant-synthesised babble
(`space.synth.speech`), a different utterance per row. The rows cover what the job can do: emotions with
intensities, natural / static / keyframed head motion, a pose copied from a reference video, blink rates and
explicit blinks, a gaze change.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

__all__ = ["CAMPAIGN_ROWS", "write_campaign"]

# (photo, emotion, pose, blink, gaze) per row; the campaign cycles through them
CAMPAIGN_ROWS = [
    ("astronaut.png", "happy=0.8", "natural", "", ""),
    ("mirrored.png", "neutral", "static", "", "15,0"),
    ("warm.png", "sad=0.6", "natural", "30", ""),
    ("close.png", "surprise=1.0", "0:0,0,0; 1.5:12,-4,0; 3:0,0,0", "", ""),
    ("astronaut.png", "angry=0.5,disgust=0.3", "natural", "at:0.6,1.8", ""),
    ("mirrored.png", "happy=0.4", "REFERENCE", "", "-10,5"),
    ("warm.png", "contempt=0.7", "natural", "off", ""),
    ("close.png", "fear=0.5", "static", "", "0,-10"),
]


def _photos(folder: Path) -> dict[str, Path]:
    import skimage.data
    from PIL import Image

    base = skimage.data.astronaut()  # (512, 512, 3)
    warm = np.clip(base.astype(np.float32) * np.array([1.12, 1.0, 0.85]) + 6, 0, 255).astype(np.uint8)
    variants = {
        "astronaut.png": base,
        "mirrored.png": np.ascontiguousarray(base[:, ::-1]),
        "warm.png": warm,
        "close.png": np.asarray(Image.fromarray(base[20:400, 60:440]).resize((512, 512), Image.LANCZOS)),
    }
    paths = {}
    for name, image in variants.items():
        path = folder / "photos" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(path)
        paths[name] = path
    return paths


def _speech(folder: Path, index: int, seconds: float) -> Path:
    from space.io.audio import write_wav
    from space.synth.speech import synthesize_speech

    path = folder / "speech" / f"line_{index:04d}_{seconds:g}s.wav"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav(path, synthesize_speech(seconds, seed=1000 + index).audio)
    return path


def _reference(folder: Path) -> Path:
    """A short talking-head video to copy head motion from: one clip of the synthetic corpus."""
    from space.synth.corpus import CorpusConfig, write_corpus

    return write_corpus(folder / "reference", CorpusConfig(clips=1, seed=7, min_seconds=3, max_seconds=3),
                        progress=False)[0]


def write_campaign(folder: str | Path, rows: int = 8, seconds: float = 3.0, reference: str | Path | None = None,
                   subtitles: str = "") -> Path:
    """Write `folder/campaign.csv` with `rows` requests (and the photos and speech it names, relative to it);
    returns the CSV's path. `reference`: a video to copy head motion from (default: one synthetic clip)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    photos = _photos(folder)
    ref = Path(reference) if reference else _reference(folder)
    table = folder / "campaign.csv"
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["request_id", "photo", "audio", "emotion", "pose", "blink", "gaze", "renderer", "output",
                         "subtitles", "audience"])
        for i in range(rows):
            photo, emotion, pose, blink, gaze = CAMPAIGN_ROWS[i % len(CAMPAIGN_ROWS)]
            speech = _speech(folder, i, seconds)
            if pose == "REFERENCE":  # the table's paths are relative to its own folder
                pose = os.path.relpath(ref.resolve(), folder.resolve())
            name = f"{Path(photo).stem}_{emotion.split('=')[0]}_{i:04d}"
            writer.writerow([f"demo-{i:04d}", photos[photo].relative_to(folder), speech.relative_to(folder), emotion,
                             pose, blink, gaze, "", f"videos/{name}.mp4", subtitles, ["emea", "amer", "apac"][i % 3]])
    return table
