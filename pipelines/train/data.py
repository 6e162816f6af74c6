"""Training data from the preprocessing lake: which rows, which split, and windows streamed with Ray Data.

- `latest_settings_id(lake)`: the settings id of the newest run that wrote clips (what a user means by "the lake"
  unless they name one).
- `clip_table(lake, stage, settings_id)`: clips joined with the sequence arrays a stage needs, with a `split`:
  the manifest's where given, else a stable split by video (sha256 of the video id), so one speaker's clips
  never sit on both sides and a re-run gives the same split.
- `clip_sequences(table, stage)`: the clips as `space.train.data.ClipSequence`s (validation: whole clips).
- `window_batches(batch, stage, frames, stride)`: Arrow clips -> fixed-length windows of numpy arrays, the unit
  that Ray Data streams to the training workers (`training_datasets`).

Stage needs (arrays from `sequences`, see docs/lake.md):
    s2l   audio_features, normalized (+ identity: the clip's most closed-mouth frame), emotion
    pose  audio_features, poses
    l2l   audio_features, landmarks mapped into the face-vid2vid crop (kp_crops), kp_params, kp_canonical, emotion
    facevid2vid  boxes (the steady crop of every frame) and the clip's video range (uri, start_frame, num_frames,
          fps): the frames are decoded again (pipelines/train/facevid2vid.py)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.lake import Lake, unpack_column
from space.models.l2l import crop_normalize

__all__ = ["STAGE_ARRAYS", "clip_dataset", "clip_sequences", "clip_table", "latest_settings_id",
           "training_datasets", "window_batches"]

STAGE_ARRAYS = {
    "s2l": ("audio_features", "normalized"),
    "pose": ("audio_features", "poses"),
    "l2l": ("audio_features", "landmarks", "kp_params", "kp_canonical", "kp_crops"),
    "facevid2vid": ("boxes",),
}
CLIP_COLUMNS = ["id", "video_id", "settings_id", "split", "emotion", "intensity", "uri", "start_frame", "num_frames",
                "fps"]
VAL_SHARE = 0.1


class TrainingDataError(ValueError):
    """The lake cannot feed this stage: the message names the lake and what is missing."""


def latest_settings_id(lake: Lake) -> str:
    runs = lake.read("runs", columns=["settings_id", "finished", "clips"])
    runs = runs.filter(pc.greater(runs.column("clips"), 0)) if runs.num_rows else runs
    if runs.num_rows == 0:
        raise TrainingDataError(f"{lake.uri}: no preprocessing run with clips (run jobs/preprocess.py first)")
    newest = pc.sort_indices(runs, [("finished", "descending")])[0].as_py()
    return runs.column("settings_id")[newest].as_py()


def _split_of(video_id: str, share: float) -> str:
    bucket = int(hashlib.sha256(video_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "val" if bucket < share else "train"


def assign_splits(video_ids: list[str], given: list[str | None], share: float = VAL_SHARE) -> list[str]:
    """The manifest's split where given; else by video hash. With two or more videos and none in validation, the
    video with the lowest hash goes there, so validation is never empty (and never shares a video with train)."""
    splits = [g if g else _split_of(v, share) for v, g in zip(video_ids, given)]
    videos = sorted(set(video_ids), key=lambda v: hashlib.sha256(v.encode()).hexdigest())
    if "val" not in splits and len(videos) >= 2:
        chosen = videos[0]
        splits = [("val" if v == chosen and not g else s) for v, g, s in zip(video_ids, given, splits)]
    return splits


def clip_table(lake: Lake, stage: str, settings_id: str | None = None) -> pa.Table:
    """Clips of one settings id with the arrays `stage` needs and a filled `split` column."""
    if stage not in STAGE_ARRAYS:
        raise ValueError(f"unknown stage {stage!r}: choose one of {', '.join(STAGE_ARRAYS)}")
    settings_id = settings_id or latest_settings_id(lake)
    keep = pc.field("settings_id") == settings_id
    clips = lake.read("clips", columns=CLIP_COLUMNS, filter=keep)
    if clips.num_rows == 0:
        raise TrainingDataError(f"{lake.uri}: no clips for settings {settings_id}")
    arrays = [c for name in STAGE_ARRAYS[stage] for c in (name, f"{name}_shape")]
    seq = lake.read("sequences", columns=["id", *arrays], filter=keep)
    missing = [n for n in STAGE_ARRAYS[stage] if seq.column(n).null_count == seq.num_rows]
    if missing:
        hint = " (run jobs/preprocess.py with --facevid2vid)" if stage == "l2l" else ""
        raise TrainingDataError(f"{lake.uri}: {stage} needs {', '.join(missing)}, which no clip has{hint}")
    # Acero's join refuses list columns: match the rows by id and take
    at = pc.index_in(clips.column("id"), value_set=seq.column("id"))
    clips = clips.filter(pc.is_valid(at))
    seq = seq.take(pc.drop_null(at))
    table = pa.Table.from_arrays([*clips.columns, *seq.drop(["id"]).columns],
                                 names=[*clips.column_names, *seq.drop(["id"]).column_names]).sort_by("id")
    splits = assign_splits(table.column("video_id").to_pylist(), table.column("split").to_pylist())
    return table.set_column(table.schema.get_field_index("split"), "split", pa.array(splits, pa.string()))


def _emotions(table: pa.Table) -> list[dict | None]:
    labels, levels = table.column("emotion").to_pylist(), table.column("intensity").to_pylist()
    return [{label: 1.0 if level is None else float(level)} if label else None for label, level in zip(labels, levels)]


def _arrays(table: pa.Table, stage: str) -> dict[str, list[np.ndarray]]:
    out = {name: unpack_column(table, name, f"{name}_shape") for name in STAGE_ARRAYS[stage]}
    if stage == "l2l":  # landmarks in source pixels -> the face-vid2vid crop's L2L coordinates
        out["landmarks"] = [_in_crop(lm, crops) for lm, crops in zip(out["landmarks"], out.pop("kp_crops"))]
    return out


def _in_crop(landmarks: np.ndarray, crops: np.ndarray) -> np.ndarray:
    """(T, 68, 3) source pixels, (T, 3) crops (cx, cy, side) -> (T, 68, 3) in crop_normalize's coordinates."""
    n = min(len(landmarks), len(crops))
    origin = np.zeros((n, 1, 3), np.float32)
    origin[:, 0, :2] = crops[:n, :2] - crops[:n, 2:3] / 2
    side = crops[:n, 2][:, None, None]
    return crop_normalize((landmarks[:n] - origin) / side, 1.0)


def _clip_fields(stage: str, arrays: dict, i: int) -> dict:
    fields = {"features": arrays["audio_features"][i]}
    if stage == "s2l":
        fields["normalized"] = arrays["normalized"][i]
    elif stage == "pose":
        fields["poses"] = arrays["poses"][i]
    else:
        fields.update(landmarks=arrays["landmarks"][i], targets=arrays["kp_params"][i],
                      canonical=arrays["kp_canonical"][i])
    return fields


def clip_sequences(table: pa.Table, stage: str) -> list:
    """Every clip of `table` as a ClipSequence (whole clips: validation, or training without Ray)."""
    from space.train.data import clip_from_arrays

    arrays, emotions = _arrays(table, stage), _emotions(table)
    return [clip_from_arrays(clip_id=cid, emotion=emotions[i], **_clip_fields(stage, arrays, i))
            for i, cid in enumerate(table.column("id").to_pylist())]


def window_batches(batch: pa.Table, stage: str, frames: int, stride: int) -> Iterator[dict[str, np.ndarray]]:
    """Clips (Arrow rows) -> windows of `frames` frames every `stride` frames, one dict of stacked numpy arrays
    per clip. Clips shorter than `frames` give no window (they still count in validation)."""
    from space.train.data import clip_from_arrays

    arrays, emotions = _arrays(batch, stage), _emotions(batch)
    for i, cid in enumerate(batch.column("id").to_pylist()):
        clip = clip_from_arrays(clip_id=cid, emotion=emotions[i], **_clip_fields(stage, arrays, i))
        starts = list(range(0, len(clip) - frames + 1, stride))
        if not starts:
            continue
        out = {"clip_id": np.array([cid] * len(starts)), "emotion": np.stack([clip.emotion] * len(starts)),
               "features": np.stack([clip.features[s : s + frames].float().numpy() for s in starts])}
        for key in ("normalized", "poses", "landmarks", "targets"):
            value = getattr(clip, key)
            if value is not None:
                out[key] = np.stack([value[s : s + frames] for s in starts])
        if clip.identity is not None:
            out["identity"] = np.stack([clip.identity] * len(starts))
        if clip.canonical is not None:
            out["canonical"] = np.stack([clip.canonical] * len(starts))
        yield out


def clip_dataset(table: pa.Table, make, num_cpus: float = 0.25):
    """The training clips of `table` as a Ray Data dataset of what `make(one-clip Arrow table)` yields (dicts of
    numpy arrays), one block per clip (imports Ray: the trainer's side only)."""
    import ray.data

    train = table.filter(pc.equal(table.column("split"), "train"))
    if train.num_rows == 0:
        raise TrainingDataError(f"no training clips (all {table.num_rows} are in validation)")
    # one block per clip, so the work spreads over the cluster (no repartition task to schedule)
    ds = ray.data.from_arrow([train.slice(i, 1) for i in range(train.num_rows)])
    return ds.map_batches(make, batch_size=1, batch_format="pyarrow", num_cpus=num_cpus)


def training_datasets(table: pa.Table, stage: str, frames: int, stride: int):
    """{"train": Dataset of windows} streamed by Ray Data (imports Ray: the trainer's side only)."""

    def windows(batch: pa.Table):
        yield from window_batches(batch, stage, frames, stride)

    return {"train": clip_dataset(table, windows)}
