"""The inputs of a preprocessing job: list a corpus of videos, give each a content-derived id, probe them.

`list_inputs(corpus_uri)` accepts
- a folder or fsspec prefix (s3://bucket/corpus/): every file under it, recursively, whose extension is a video
  extension (case-insensitive);
- a manifest file (.csv, .parquet) or a Delta table folder (one with a `_delta_log`): a `uri` column, and the
  optional columns `speaker`, `emotion`, `intensity`, `split`. A relative `uri` is resolved against the folder
  holding the manifest (for a Delta table: the folder holding the table folder).

Each row: `video_id`, `uri`, `size` (bytes) and the manifest's optional columns. A manifest entry whose file
is missing becomes an error row (stage "inputs"), not a failed listing.

`video_id` is sha256 over (size, the first 64 KiB, the last 64 KiB) of the file, hex, 32 characters. It is
derived from content, not from the name, so a renamed or moved file keeps its id (and its rows in the lake, so
a re-run skips it), while a re-encoded or edited file gets a new one. Reading 128 KiB instead of the whole file
keeps listing a corpus of large videos cheap (two ranged reads per object on s3://); a change that keeps the
size and touches neither end is the (unlikely, for encoded media) blind spot.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipelines.stages.base import Resources, Stage, error_row
from space.io.probe import probe
from space.io.uri import content_digest, file_size, is_remote, open_uri, to_local

__all__ = ["MANIFEST_COLUMNS", "VIDEO_EXTENSIONS", "ProbeStage", "list_inputs", "video_id"]

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi")
#: optional manifest columns carried into the rows (`uri` is required)
MANIFEST_COLUMNS = ("speaker", "emotion", "intensity", "split")


def video_id(uri: str) -> str:
    """Content identity of a file: sha256(size, first 64 KiB, last 64 KiB), 32 hex characters."""
    return content_digest(uri)  # MissingFileError for a missing file


def _input_row(uri: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    row = {"uri": uri, **(extra or {})}
    try:
        return {"video_id": video_id(uri), "uri": uri, "size": file_size(uri), **(extra or {})}
    except Exception as exc:  # noqa: BLE001 - a missing or unreadable entry is recorded as data
        return error_row(row, "inputs", exc)


def _fs(uri: str):
    return fsspec.core.url_to_fs(uri if is_remote(uri) else os.path.abspath(to_local(uri)))


def join_uri(folder: str, rel: str) -> str:
    if "://" in rel or os.path.isabs(rel):
        return rel
    if is_remote(folder):
        return posixpath.normpath(posixpath.join(folder, rel)).replace(":/", "://", 1)
    return os.path.normpath(os.path.join(folder, rel))


def parent_uri(uri: str) -> str:
    uri = uri.rstrip("/")
    if is_remote(uri):
        return uri.rsplit("/", 1)[0]
    return os.path.dirname(os.path.abspath(to_local(uri)))


def read_manifest(uri: str) -> pa.Table:
    lower = uri.lower().rstrip("/")
    if lower.endswith(".csv"):
        with open_uri(uri) as f:
            return pacsv.read_csv(f, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    if lower.endswith(".parquet"):
        with open_uri(uri) as f:
            return pq.read_table(f)
    from deltalake import DeltaTable  # a Delta table folder

    from pipelines.lake import read_delta

    options = None
    if is_remote(uri):
        from pipelines.lake import storage_options_from_env

        options = storage_options_from_env()
    table_uri = uri if is_remote(uri) else os.path.abspath(to_local(uri))
    return read_delta(DeltaTable(table_uri, storage_options=options))


def is_delta(uri: str) -> bool:
    fs, path = _fs(uri)
    return fs.isdir(path) and fs.exists(posixpath.join(path, "_delta_log"))


def _manifest_rows(uri: str) -> list[dict[str, Any]]:
    table = read_manifest(uri)
    if "uri" not in table.column_names:
        raise ValueError(f"{uri}: the manifest has no 'uri' column (columns: {', '.join(table.column_names)})")
    folder = parent_uri(uri)
    columns = [c for c in MANIFEST_COLUMNS if c in table.column_names]
    rows = []
    for i, rec in enumerate(table.select(["uri", *columns]).to_pylist()):
        if not rec["uri"]:
            raise ValueError(f"{uri}: row {i} has an empty 'uri'")
        extra = {c: rec[c] for c in columns}
        if extra.get("intensity") is not None:
            extra["intensity"] = float(extra["intensity"])
        rows.append(_input_row(join_uri(folder, str(rec["uri"])), extra))
    return rows


def list_inputs(corpus_uri: str | os.PathLike[str], extensions: Iterable[str] = VIDEO_EXTENSIONS) -> list[dict]:
    """The input rows of a corpus (a folder / prefix, a CSV or Parquet manifest, or a Delta table), sorted by uri."""
    corpus = os.fspath(corpus_uri)
    lower = corpus.lower()
    if lower.endswith((".csv", ".parquet")) or is_delta(corpus):
        return _manifest_rows(corpus)
    fs, root = _fs(corpus)
    if not fs.isdir(root):
        raise FileNotFoundError(f"{corpus}: not a folder, a manifest (.csv, .parquet) or a Delta table")
    exts = tuple(e.lower() for e in extensions)
    found = sorted(p for p in fs.find(root) if p.lower().endswith(exts))
    uris = [fs.unstrip_protocol(p) if is_remote(corpus) else p for p in found]
    return [_input_row(u) for u in uris]


class ProbeStage(Stage):
    """Adds `duration`, `fps`, `width`, `height`, `frame_count`, `has_video`, `has_audio` from the headers
    (space.io.probe); a missing, empty or corrupt file becomes an error row. Cheap: CPU tasks, no setup."""

    name = "probe"
    resources = Resources(cpus=1, batch_size=16)

    def process(self, rows: list[dict]) -> list[dict]:
        return self.run_items(rows, self._probe)

    @staticmethod
    def _probe(row: dict) -> dict:
        info = probe(row["uri"])
        v = info.video
        return {
            **row,
            "duration": float(info.duration),
            "fps": None if v is None else float(v.fps),
            "width": None if v is None else int(v.width),
            "height": None if v is None else int(v.height),
            "frame_count": None if v is None else int(v.frame_count),
            "has_video": v is not None,
            "has_audio": info.audio is not None,
        }
