"""Training data from the preprocessing lake: which rows, which split, and windows streamed with Ray Data.

- `latest_settings_id(lake)`: the settings id of the newest run that wrote clips (what a user means by "the lake"
  unless they name one).
- `clip_table(lake, stage, settings_id)`: clips joined with the sequence arrays a stage needs, with a `split`:
  the manifest's where given, else a stable split by video (sha256 of the video id), so one speaker's clips
  never sit on both sides and a re-run gives the same split.
- `clip_sequences(table, stage)`: the clips as `space.train.data.ClipSequence`s (validation: whole clips).
- `window_batches(batch, stage, frames, stride)`: Arrow clips -> fixed-length windows of numpy arrays, the unit
  that Ray Data streams to the training workers (`training_datasets`).

Audio-visual sync (`av_sync`, a preset setting): a source whose sound trails or leads its picture (a re-muxed
upload, a lip-sync model's output; one of the ten real reference videos of benchmarks/eval_reconstruction.py
trails by 7 frames) would teach S2L, the pose model and L2L a face out of step with its speech. For those stages
each clip's offset is measured from the clip itself (`space.eval.lipsync.av_offset`: where its mouth opening
follows its own loudness best, claimed only when clearly beyond +-2 frames) and put in an `av_offset` column;
`shift` (default) re-pairs every face frame with its own sound, `skip` leaves such clips out, `off` trusts
the source.

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

__all__ = ["AV_SYNC", "STAGE_ARRAYS", "apply_av_sync", "av_offsets", "clip_dataset", "clip_sequences", "clip_table",
           "in_sync", "latest_settings_id", "nonzero_offsets", "training_datasets", "window_batches", "with_offsets"]

STAGE_ARRAYS = {
    "s2l": ("audio_features", "normalized"),
    "pose": ("audio_features", "poses"),
    "l2l": ("audio_features", "landmarks", "kp_params", "kp_canonical", "kp_crops"),
    "facevid2vid": ("boxes",),
}
CLIP_COLUMNS = ["id", "video_id", "settings_id", "split", "emotion", "intensity", "uri", "start_frame", "num_frames",
                "fps", "sample_rate"]
#: stages that pair the speech with the face, and what their clips' audio-visual sync is measured from
SYNCED_STAGES = ("s2l", "pose", "l2l")
SYNC_ARRAYS = ("audio", "normalized")
AV_SYNC = ("shift", "skip", "off")
MIN_SYNC_FRAMES = 50  # shorter clips are taken as in sync: +-10 lags over fewer frames say little
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


def clip_table(lake: Lake, stage: str, settings_id: str | None = None, av_sync: str = "shift") -> pa.Table:
    """Clips of one settings id with the arrays `stage` needs and a filled `split` column; for the stages that
    pair speech with the face, an `av_offset` column (frames) handled as `av_sync` says (module docstring)."""
    if stage not in STAGE_ARRAYS:
        raise ValueError(f"unknown stage {stage!r}: choose one of {', '.join(STAGE_ARRAYS)}")
    if av_sync not in AV_SYNC:
        raise ValueError(f"unknown av_sync {av_sync!r}: choose one of {', '.join(AV_SYNC)}")
    settings_id = settings_id or latest_settings_id(lake)
    keep = pc.field("settings_id") == settings_id
    clips = lake.read("clips", columns=CLIP_COLUMNS, filter=keep)
    if clips.num_rows == 0:
        raise TrainingDataError(f"{lake.uri}: no clips for settings {settings_id}")
    measured = stage in SYNCED_STAGES and av_sync != "off"
    names = [*STAGE_ARRAYS[stage], *(n for n in SYNC_ARRAYS if measured and n not in STAGE_ARRAYS[stage])]
    arrays = [c for name in names for c in (name, f"{name}_shape")]
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
    table = table.set_column(table.schema.get_field_index("split"), "split", pa.array(splits, pa.string()))
    if stage not in SYNCED_STAGES:
        return table
    return apply_av_sync(table, av_sync, keep=STAGE_ARRAYS[stage])


def av_offsets(table: pa.Table) -> list[int]:
    """Each clip's audio-visual offset in frames (av_offset's sign: < 0, the mouth moves before its sound), from
    its `audio` and `normalized` arrays."""
    from space.eval.lipsync import audio_energy, av_offset, mouth_opening

    audio, faces = unpack_column(table, "audio", "audio_shape"), unpack_column(table, "normalized", "normalized_shape")
    rates, fps = table.column("sample_rate").to_pylist(), table.column("fps").to_pylist()
    offsets = []
    for sound, face, rate, frame_rate in zip(audio, faces, rates, fps):
        if sound is None or face is None or len(face) < MIN_SYNC_FRAMES:
            offsets.append(0)
            continue
        energy = audio_energy(sound, int(rate or 16000), float(frame_rate or 25.0), num_frames=len(face))
        offsets.append(av_offset(energy, mouth_opening(face))["offset"])
    return offsets


def apply_av_sync(table: pa.Table, av_sync: str, keep: tuple[str, ...] = ()) -> pa.Table:
    """`table` with an `av_offset` column (0 everywhere with `off`), without the clips out of sync under `skip`,
    and without the sync-only arrays (those not in `keep`)."""
    offsets = [0] * table.num_rows if av_sync == "off" else av_offsets(table)
    table = table.append_column("av_offset", pa.array(offsets, pa.int32()))
    if av_sync == "skip":
        table = table.filter(pc.equal(table.column("av_offset"), 0))
    extra = [c for n in SYNC_ARRAYS if n not in keep for c in (n, f"{n}_shape") if c in table.column_names]
    return table.drop(extra).replace_schema_metadata({"av_out_of_sync": str(sum(o != 0 for o in offsets))})


def nonzero_offsets(table: pa.Table) -> dict[str, int]:
    """{clip id: av_offset} of the clips out of sync (what the driver hands its workers, so they need not
    measure again)."""
    return {cid: o for cid, o in zip(table.column("id").to_pylist(), _offsets(table)) if o}


def with_offsets(table: pa.Table, offsets: dict[str, int]) -> pa.Table:
    """`table` with its `av_offset` column set from {clip id: offset} (0 for the clips not named)."""
    column = pa.array([offsets.get(cid, 0) for cid in table.column("id").to_pylist()], pa.int32())
    if "av_offset" in table.column_names:
        return table.set_column(table.schema.get_field_index("av_offset"), "av_offset", column)
    return table.append_column("av_offset", column)


def sync_note(table: pa.Table, av_sync: str) -> str | None:
    """A line for the run's summary when clips were out of sync (clip_table's count), else None."""
    count = int((table.schema.metadata or {}).get(b"av_out_of_sync", b"0"))
    if not count:
        return None
    done = {"shift": "re-paired with their own sound", "skip": "left out"}[av_sync]
    return f"{count} clip(s) whose sound trails or leads the face by more than 2 frames were {done} (av_sync={av_sync})"


def in_sync(features, faces: dict[str, np.ndarray], offset: int) -> tuple:
    """(T, ...) features and per-frame face arrays of one clip -> both cut so face frame t meets its own sound:
    offset < 0 (the mouth before its sound) drops the sound's first -offset frames and the face's last ones."""
    if offset == 0:
        return features, faces
    lag = abs(int(offset))
    n = min(len(features), *(len(v) for v in faces.values())) - lag
    if offset < 0:
        return features[lag : lag + n], {k: v[:n] for k, v in faces.items()}
    return features[:n], {k: v[lag : lag + n] for k, v in faces.items()}


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


def _clip_fields(stage: str, arrays: dict, i: int, offset: int = 0) -> dict:
    if stage == "s2l":
        faces = {"normalized": arrays["normalized"][i]}
    elif stage == "pose":
        faces = {"poses": arrays["poses"][i]}
    else:
        faces = {"landmarks": arrays["landmarks"][i], "targets": arrays["kp_params"][i]}
    features, faces = in_sync(arrays["audio_features"][i], faces, offset)
    fields = {"features": features, **faces}
    if stage == "l2l":
        fields["canonical"] = arrays["kp_canonical"][i]
    return fields


def _offsets(table: pa.Table) -> list[int]:
    return table.column("av_offset").to_pylist() if "av_offset" in table.column_names else [0] * table.num_rows


def clip_sequences(table: pa.Table, stage: str) -> list:
    """Every clip of `table` as a ClipSequence (whole clips: validation, or training without Ray)."""
    from space.train.data import clip_from_arrays

    arrays, emotions, offsets = _arrays(table, stage), _emotions(table), _offsets(table)
    return [clip_from_arrays(clip_id=cid, emotion=emotions[i], **_clip_fields(stage, arrays, i, offsets[i]))
            for i, cid in enumerate(table.column("id").to_pylist())]


def window_batches(batch: pa.Table, stage: str, frames: int, stride: int) -> Iterator[dict[str, np.ndarray]]:
    """Clips (Arrow rows) -> windows of `frames` frames every `stride` frames, one dict of stacked numpy arrays
    per clip. Clips shorter than `frames` give no window (they still count in validation)."""
    from space.train.data import clip_from_arrays

    arrays, emotions, offsets = _arrays(batch, stage), _emotions(batch), _offsets(batch)
    for i, cid in enumerate(batch.column("id").to_pylist()):
        clip = clip_from_arrays(clip_id=cid, emotion=emotions[i], **_clip_fields(stage, arrays, i, offsets[i]))
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
