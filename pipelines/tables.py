"""The preprocessing lake's tables: their Arrow schemas, and builders from pipeline rows.

Fixed schemas (not inferred per batch) so that files staged by many workers always commit into one table.
Arrays are stored as a flat `list<float32>` plus a `<name>_shape` `list<int32>` column (`pipelines.lake.
pack_column`; read back with `unpack_column`). docs/lake.md documents every column.

    videos       one row per source video and settings id: status, clip and error counts (what a re-run skips)
    clips        one row per speech clip: source, time range, frame range, labels from the manifest
    sequences    one row per clip: landmarks, boxes, poses, normalized landmarks, audio, audio features,
                 face-vid2vid keypoints (null without a checkpoint)
    transcripts  one row per clip (only with a Whisper model): language, text, segments and words with times
    errors       one row per failed input or clip: stage, kind, reason
    runs         one row per run that wrote something: settings, versions, counts, timings
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa

from pipelines.blobs import unpack_arrays
from pipelines.lake import pack_column

__all__ = ["SCHEMAS", "clips_table", "errors_table", "sequences_table", "transcripts_table", "utc_now"]

F32 = pa.list_(pa.float32())
SHAPE = pa.list_(pa.int32())
TIME = pa.timestamp("us", tz="UTC")
_KEYS = [("id", pa.string()), ("video_id", pa.string()), ("settings_id", pa.string()), ("run_id", pa.string())]


def _arrays(*names: str) -> list[tuple[str, pa.DataType]]:
    return [f for n in names for f in ((n, F32), (f"{n}_shape", SHAPE))]


SCHEMAS: dict[str, pa.Schema] = {
    "videos": pa.schema([
        ("video_id", pa.string()), ("settings_id", pa.string()), ("run_id", pa.string()), ("uri", pa.string()),
        ("size", pa.int64()), ("duration", pa.float64()), ("status", pa.string()), ("clips", pa.int32()),
        ("errors", pa.int32()), ("created", TIME),
    ]),
    "clips": pa.schema(_KEYS + [
        ("uri", pa.string()), ("clip_index", pa.int32()), ("start_frame", pa.int32()), ("num_frames", pa.int32()),
        ("start", pa.float64()), ("end", pa.float64()), ("fps", pa.float32()), ("sample_rate", pa.int32()),
        ("width", pa.int32()), ("height", pa.int32()), ("source_fps", pa.float32()),
        ("source_duration", pa.float64()), ("speaker", pa.string()), ("emotion", pa.string()),
        ("intensity", pa.float32()), ("split", pa.string()), ("speech_score", pa.float32()),
        ("face_detected", pa.float32()), ("has_transcript", pa.bool_()), ("has_keypoints", pa.bool_()),
        ("created", TIME),
    ]),
    "sequences": pa.schema(_KEYS + [("num_frames", pa.int32())] + _arrays(
        "landmarks", "boxes", "poses", "normalized", "fit_rms", "audio", "audio_features",
        "kp_params", "kp_canonical", "kp_crops",
    ) + [("detected", pa.list_(pa.bool_()))]),
    "transcripts": pa.schema(_KEYS + [
        ("language", pa.string()), ("text", pa.string()), ("word_timing", pa.string()),
        ("segments", pa.list_(pa.struct([("start", pa.float32()), ("end", pa.float32()), ("text", pa.string())]))),
        ("words", pa.list_(pa.struct([
            ("text", pa.string()), ("start", pa.float32()), ("end", pa.float32()), ("score", pa.float32()),
        ]))),
    ]),
    "errors": pa.schema([
        ("id", pa.string()), ("video_id", pa.string()), ("settings_id", pa.string()), ("run_id", pa.string()),
        ("source", pa.string()), ("stage", pa.string()), ("kind", pa.string()), ("reason", pa.string()),
        ("created", TIME),
    ]),
    "runs": pa.schema([
        ("run_id", pa.string()), ("settings_id", pa.string()), ("started", TIME), ("finished", TIME),
        ("corpus", pa.string()), ("lake", pa.string()), ("settings", pa.string()), ("versions", pa.string()),
        ("videos", pa.int32()), ("videos_skipped", pa.int32()), ("clips", pa.int32()), ("errors", pa.int32()),
        ("source_seconds", pa.float64()), ("clip_seconds", pa.float64()), ("frames", pa.int64()),
        ("wall_seconds", pa.float64()), ("summary", pa.string()),
    ]),
}


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _table(name: str, columns: dict) -> pa.Table:
    schema = SCHEMAS[name]
    return pa.table({f.name: columns[f.name] for f in schema}, schema=schema)


def _column(rows: list[dict], key: str, typ: pa.DataType) -> pa.Array:
    return pa.array([r.get(key) for r in rows], typ)


def clips_table(rows: list[dict], run_id: str, sample_rate: int, fps: float) -> pa.Table:
    """Completed clip rows -> the `clips` table."""
    now = utc_now()
    schema = SCHEMAS["clips"]
    columns = {}
    for field in schema:
        if field.name in ("run_id", "created", "fps", "sample_rate", "has_transcript", "has_keypoints"):
            continue
        source = {"source_fps": "fps", "source_duration": "duration"}.get(field.name, field.name)
        columns[field.name] = _column(rows, source, field.type)
    columns["end"] = pa.array([(r["start_frame"] + r["num_frames"]) / fps for r in rows], pa.float64())
    columns.update(
        run_id=pa.array([run_id] * len(rows), pa.string()),
        created=pa.array([now] * len(rows), TIME),
        fps=pa.array([fps] * len(rows), pa.float32()),
        sample_rate=pa.array([sample_rate] * len(rows), pa.int32()),
        has_transcript=pa.array([r.get("transcript") is not None for r in rows]),
        has_keypoints=pa.array([r.get("keypoints") is not None for r in rows]),
    )
    return _table("clips", columns)


def _packed(arrays: list[np.ndarray | None]) -> tuple[pa.Array, pa.Array]:
    """pack_column with null cells where an array is absent (no keypoints for that run)."""
    present = [a for a in arrays if a is not None]
    if len(present) == len(arrays):
        return pack_column(arrays)
    values, shapes = pack_column(present) if present else (pa.array([], F32), pa.array([], SHAPE))
    index = iter(range(len(present)))
    take = [next(index) if a is not None else None for a in arrays]
    return values.take(pa.array(take, pa.int64())), shapes.take(pa.array(take, pa.int64()))


def sequences_table(rows: list[dict], run_id: str, samples_per_frame: float) -> pa.Table:
    """Completed clip rows -> the `sequences` table (each clip's arrays cut to its `num_frames`, the frames the
    face stage decoded, which can be a few less than the segment asked for at the end of a file)."""
    columns = {k: _column(rows, k, SCHEMAS["sequences"].field(k).type) for k in ("id", "video_id", "settings_id")}
    columns["run_id"] = pa.array([run_id] * len(rows), pa.string())
    columns["num_frames"] = _column(rows, "num_frames", pa.int32())
    unpacked = [_clip_arrays(r, samples_per_frame) for r in rows]
    names = ("landmarks", "boxes", "poses", "normalized", "fit_rms", "audio", "audio_features",
             "kp_params", "kp_canonical", "kp_crops")
    for name in names:
        columns[name], columns[f"{name}_shape"] = _packed([u.get(name) for u in unpacked])
    columns["detected"] = pa.array([u["detected"].tolist() for u in unpacked], pa.list_(pa.bool_()))
    return _table("sequences", columns)


def _clip_arrays(row: dict, samples_per_frame: float) -> dict[str, np.ndarray]:
    frames = int(row["num_frames"])
    face = unpack_arrays(row["face"])
    out = {k: face[k][:frames] for k in ("landmarks", "boxes", "poses", "normalized", "fit_rms", "detected")}
    audio = unpack_arrays(row["audio"])["audio"]
    out["audio"] = audio[: int(round(frames * samples_per_frame))]
    if row.get("audio_features") is not None:
        out["audio_features"] = unpack_arrays(row["audio_features"])["features"][:frames]
    if row.get("keypoints") is not None:
        kp = unpack_arrays(row["keypoints"])
        out.update(kp_params=kp["params"][:frames], kp_canonical=kp["canonical"], kp_crops=kp["crops"][:frames])
    return out


def transcripts_table(rows: list[dict], run_id: str) -> pa.Table:
    """Clip rows that have a `transcript` (JSON) -> the `transcripts` table."""
    rows = [r for r in rows if r.get("transcript") is not None]
    records = [json.loads(r["transcript"]) for r in rows]
    schema = SCHEMAS["transcripts"]
    columns = {k: _column(rows, k, schema.field(k).type) for k in ("id", "video_id", "settings_id")}
    columns["run_id"] = pa.array([run_id] * len(rows), pa.string())
    for key in ("language", "text", "word_timing"):
        columns[key] = pa.array([rec.get(key) for rec in records], pa.string())
    columns["segments"] = pa.array([rec.get("segments", []) for rec in records], schema.field("segments").type)
    columns["words"] = pa.array([rec.get("words", []) for rec in records], schema.field("words").type)
    return _table("transcripts", columns)


def errors_table(rows: list[dict], run_id: str, settings_id: str) -> pa.Table:
    """Error rows -> the `errors` table."""
    now = utc_now()
    columns = {k: _column(rows, k, pa.string()) for k in ("id", "video_id", "source", "stage", "kind", "reason")}
    columns.update(
        settings_id=pa.array([settings_id] * len(rows), pa.string()),
        run_id=pa.array([run_id] * len(rows), pa.string()),
        created=pa.array([now] * len(rows), TIME),
    )
    return _table("errors", columns)
