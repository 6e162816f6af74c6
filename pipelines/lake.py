"""Delta Lake I/O for the batch jobs: one folder or s3:// prefix holds the tables (`clips`, `errors`, ...).

- `Lake(uri)`: read tables (absent -> empty), list done ids (idempotent re-runs), and commit a job step's rows
  in ONE Delta transaction per call and table, so a reader sees all of a step or none of it.
- `Lake.stage_files` / `Lake.commit_files`: the distributed form. Workers write Parquet files into the table's
  folder and return their add actions; the driver commits all of them in one transaction
  (`DeltaTable.create_write_transaction`, or `create_table_with_add_actions` for a new table). Files that are
  staged but never committed are invisible to readers (and `vacuum` removes them).
- `pack_array` / `pack_column` / `unpack_column`: Delta has no fixed-size tensors, so an array is stored as a
  flat `list<float32>` column plus a `list<int32>` shape column, and restored on read.

The URI decides the storage: a local path needs no options; s3:// takes its options from the AWS_* environment
(`storage_options_from_env`) unless given explicitly. This module does not import Ray.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs  # noqa: F401 - pa.fs.PyFileSystem
import pyarrow.parquet as pq

import deltalake
import deltalake.fs  # noqa: F401 - DeltaStorageHandler (not imported by `import deltalake`)
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError
from deltalake.transaction import AddAction, create_table_with_add_actions

__all__ = [
    "AddAction",
    "Lake",
    "LakeError",
    "pack_array",
    "pack_column",
    "storage_options_from_env",
    "unpack_column",
]

# Bounded network behaviour (object_store client keys that delta-rs passes through): a dead endpoint fails in
# seconds, not after the default 10 retries over 3 minutes.
NETWORK_OPTIONS = {"connect_timeout": "5s", "max_retries": "2", "retry_timeout": "15s"}


class LakeError(RuntimeError):
    """A lake operation failed; the message names the table URI and the reason."""

    def __init__(self, uri: str, reason: str):
        self.uri = uri
        self.reason = reason
        super().__init__(f"{uri}: {reason}")


def _is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def storage_options_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """delta-rs storage options for s3:// from the usual AWS_* variables (`environ` defaults to os.environ).

    Commit safety on S3 without DynamoDB: Delta needs "create the next log entry only if absent". Plain S3
    clients emulate it with copy + delete, which two concurrent writers can both "win" (so delta-rs refuses
    unless AWS_S3_ALLOW_UNSAFE_RENAME=true). We use conditional put instead (`aws_conditional_put=etag`:
    PUT with If-None-Match, atomic on the server), which AWS S3, MinIO, R2 and SeaweedFS support, so concurrent
    drivers cannot overwrite each other's commit and no DynamoDB table is needed. A user who sets
    AWS_S3_LOCKING_PROVIDER (DynamoDB) or AWS_S3_ALLOW_UNSAFE_RENAME (a server without conditional put) gets
    exactly what they set instead.
    """
    env = os.environ if environ is None else environ
    opts: dict[str, str] = {}
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        if env.get(key):
            opts[key] = env[key]
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        opts["AWS_REGION"] = region
    if opts.get("AWS_ENDPOINT_URL", "").startswith("http://"):
        opts["AWS_ALLOW_HTTP"] = "true"
    passthrough = ("AWS_S3_LOCKING_PROVIDER", "DELTA_DYNAMO_TABLE_NAME", "AWS_S3_ALLOW_UNSAFE_RENAME")
    chosen = {k: env[k] for k in passthrough if env.get(k)}
    opts.update(chosen if chosen else {"aws_conditional_put": "etag"})
    opts.update(NETWORK_OPTIONS)
    return opts


# ---------------------------------------------------------------------------------------------- arrays


def pack_array(a) -> tuple[np.ndarray, list[int]]:
    """An array -> (its values as flat float32, its shape). One cell of a `list<float32>` + `list<int32>` pair."""
    a = np.asarray(a, dtype=np.float32)
    return a.reshape(-1), list(a.shape)


def pack_column(arrays: Iterable) -> tuple[pa.Array, pa.Array]:
    """Many arrays -> (values `list<float32>`, shapes `list<int32>`) Arrow columns, built without Python lists."""
    arrays = [np.asarray(a, dtype=np.float32) for a in arrays]
    flat = [a.reshape(-1) for a in arrays]
    offsets = np.zeros(len(flat) + 1, dtype=np.int32)
    np.cumsum([f.size for f in flat], out=offsets[1:])
    values = pa.ListArray.from_arrays(
        pa.array(offsets), pa.array(np.concatenate(flat) if flat else np.zeros(0, np.float32))
    )
    shapes = pa.array([list(a.shape) for a in arrays], type=pa.list_(pa.int32()))
    return values, shapes


def unpack_column(table: pa.Table, values_column: str, shape_column: str, stack: bool = False):
    """Restore the arrays of a packed column pair: a list of float32 arrays (None for a null cell), or with
    `stack=True` one (N, *shape) array (ValueError when the shapes differ)."""
    values = table.column(values_column).combine_chunks()
    shapes = table.column(shape_column).to_pylist()
    lengths = pc.fill_null(pc.list_value_length(values), 0).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(values).to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    out = []
    start = 0
    for i, (n, shape) in enumerate(zip(lengths, shapes, strict=True)):
        if not values[i].is_valid:
            out.append(None)
            continue
        cell = flat[start : start + n]
        start += n
        if shape is None or int(np.prod(shape)) != n:
            raise ValueError(f"row {i}: {n} values do not fit the shape {shape} ({values_column}/{shape_column})")
        out.append(cell.reshape(shape))
    if not stack:
        return out
    if any(a is None for a in out) or len({a.shape for a in out}) > 1:
        raise ValueError(f"cannot stack {values_column}: null cells or differing shapes")
    return np.stack(out) if out else np.zeros((0,), np.float32)


# ---------------------------------------------------------------------------------------------- stats


def _file_stats(table: pa.Table) -> str:
    """Delta file statistics (numRecords, and min/max/nullCount of top-level scalar columns) as JSON."""
    mins, maxs, nulls = {}, {}, {}
    for name, col in zip(table.column_names, table.columns):
        t = col.type
        if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_string(t) or pa.types.is_boolean(t)):
            continue
        nulls[name] = col.null_count
        if col.null_count == len(col) or pa.types.is_boolean(t):
            continue
        mm = pc.min_max(col)
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        if isinstance(lo, float) and not (np.isfinite(lo) and np.isfinite(hi)):
            continue
        mins[name], maxs[name] = lo, hi
    return json.dumps({"numRecords": table.num_rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls})


def _as_table(tables_or_batches) -> pa.Table | None:
    """A Table, a RecordBatch, or an iterable of them -> one Table (None when there are no rows or parts)."""
    if isinstance(tables_or_batches, pa.Table):
        return tables_or_batches
    if isinstance(tables_or_batches, pa.RecordBatch):
        return pa.Table.from_batches([tables_or_batches])
    parts = [pa.Table.from_batches([p]) if isinstance(p, pa.RecordBatch) else p for p in tables_or_batches]
    if not parts:
        return None
    return pa.concat_tables(parts, promote_options="default")


# ---------------------------------------------------------------------------------------------- the lake


def read_delta(table: DeltaTable, columns: list[str] | None = None, filter=None) -> pa.Table:
    """The rows of a Delta table (some columns; a pyarrow Expression or DNF filter), read on the calling thread.

    deltalake hands pyarrow a dataset on a Python filesystem; scanned with pyarrow's thread pools, reads can still
    be in flight on those threads when the interpreter exits, and the process then aborts ("terminate called
    without an active exception", exit 134: about every other run of a job that only read its lake). Reading on
    this thread leaves no such thread behind."""
    if filter is not None and not isinstance(filter, pc.Expression):
        filter = pq.filters_to_expression(filter)
    return table.to_pyarrow_dataset().to_table(columns=columns, filter=filter, use_threads=False)


class Lake:
    """A set of Delta tables under one root URI (a local folder or s3://bucket/prefix)."""

    def __init__(self, uri: str, storage_options: dict[str, str] | None = None):
        self.uri = str(uri).rstrip("/")
        self.remote = _is_remote(self.uri)
        if not self.remote:  # workers of a cluster run in other folders: a relative path would point elsewhere
            self.uri = os.path.abspath(self.uri.removeprefix("file://"))
        if storage_options is None and self.remote:
            storage_options = storage_options_from_env()
        self.storage_options = storage_options or None

    def __repr__(self) -> str:
        return f"Lake({self.uri!r})"

    def table_uri(self, name: str) -> str:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"bad table name {name!r}")
        if self.remote:
            return f"{self.uri}/{name}"
        return os.path.abspath(os.path.join(self.uri, name))

    def _open(self, name: str) -> DeltaTable | None:
        """The table, or None when it does not exist; any other failure is a LakeError naming the URI."""
        uri = self.table_uri(name)
        try:
            return DeltaTable(uri, storage_options=self.storage_options)
        except TableNotFoundError:
            return None
        except Exception as e:  # noqa: BLE001 - network, credentials, corrupt log: all name the table
            raise LakeError(uri, f"cannot open the Delta table: {e}") from e

    def exists(self, name: str) -> bool:
        return self._open(name) is not None

    def version(self, name: str) -> int | None:
        """The table's current version, None when absent."""
        dt = self._open(name)
        return None if dt is None else dt.version()

    def read(self, name: str, columns: list[str] | None = None, filter=None) -> pa.Table:
        """The table's rows (optionally some columns, and a pyarrow Expression or DNF filter).

        An absent table reads as zero rows: no columns, or the asked-for columns typed null.
        """
        dt = self._open(name)
        if dt is None:
            return pa.table({c: pa.array([], pa.null()) for c in columns or []})
        try:
            return read_delta(dt, columns, filter)
        except Exception as e:  # noqa: BLE001
            raise LakeError(self.table_uri(name), f"cannot read: {e}") from e

    def ids(self, name: str, column: str = "id") -> set[str]:
        """The values of `column` already in the table (what a re-run skips); empty when the table is absent."""
        return {v for v in self.read(name, columns=[column]).column(column).to_pylist() if v is not None}

    def commit(
        self,
        name: str,
        tables_or_batches,
        mode: str = "append",
        partition_by: list[str] | str | None = None,
        description: str | None = None,
    ) -> int | None:
        """Write the rows in ONE Delta commit and return the new version (the table is created on the first
        commit, with the data's schema). Nothing to write: no commit, the current version (None if absent).

        `description` becomes the table's description when it is created and the commit's userMetadata.
        """
        uri = self.table_uri(name)
        data = _as_table(tables_or_batches)
        if data is None:
            return self.version(name)
        props = CommitProperties(custom_metadata={"userMetadata": description}) if description else None
        dt = self._open(name)
        try:
            write_deltalake(
                dt if dt is not None else uri,
                data,
                mode=mode,
                partition_by=partition_by,
                description=description,
                storage_options=self.storage_options,
                commit_properties=props,
            )
            return self._version_after(dt, uri)
        except Exception as e:  # noqa: BLE001
            raise LakeError(uri, f"commit failed: {e}") from e

    def _version_after(self, dt: DeltaTable | None, uri: str) -> int:
        if dt is None:
            dt = DeltaTable(uri, storage_options=self.storage_options)
        else:
            dt.update_incremental()
        return dt.version()

    # -- distributed writes: workers stage files, the driver commits them ------------------------------

    def stage_files(self, name: str, table: pa.Table | pa.RecordBatch, max_rows_per_file: int = 1_000_000):
        """Write `table` as Parquet file(s) into the table's folder WITHOUT committing (worker side).

        Returns the `AddAction`s to send to the driver's `commit_files` (plain dataclasses: picklable; or use
        `dataclasses.asdict` and `AddAction(**d)`). Unpartitioned tables only. Until committed, the files are
        invisible to readers.
        """
        uri = self.table_uri(name)
        data = _as_table(table)
        if data is None or data.num_rows == 0:
            return []
        actions = []
        try:
            if not self.remote:
                os.makedirs(uri, exist_ok=True)
            fs = pa.fs.PyFileSystem(deltalake.fs.DeltaStorageHandler(uri, self.storage_options))
            for start in range(0, data.num_rows, max_rows_per_file):
                part = data.slice(start, max_rows_per_file)
                path = f"part-{uuid.uuid4()}-c000.snappy.parquet"
                with fs.open_output_stream(path) as out:
                    pq.write_table(part, out, compression="snappy")
                size = fs.get_file_info(path).size
                actions.append(
                    AddAction(
                        path=path,
                        size=size,
                        partition_values={},
                        modification_time=int(time.time() * 1000),
                        data_change=True,
                        stats=_file_stats(part),
                    )
                )
        except Exception as e:  # noqa: BLE001
            raise LakeError(uri, f"cannot stage a Parquet file: {e}") from e
        return actions

    def commit_files(
        self,
        name: str,
        actions: Iterable[AddAction | Mapping],
        schema: pa.Schema,
        mode: str = "append",
        description: str | None = None,
    ) -> int | None:
        """Commit staged files (from any number of workers) in ONE transaction; return the new version.

        The table is created with `schema` when absent. No actions: no commit, the current version.
        """
        uri = self.table_uri(name)
        actions = [a if isinstance(a, AddAction) else AddAction(**a) for a in actions]
        if not actions:
            return self.version(name)
        props = CommitProperties(custom_metadata={"userMetadata": description}) if description else None
        dt = self._open(name)
        try:
            if dt is None:
                create_table_with_add_actions(
                    uri,
                    deltalake.Schema.from_arrow(schema),
                    actions,
                    mode="error",
                    description=description,
                    storage_options=self.storage_options,
                    commit_properties=props,
                )
            else:
                dt.create_write_transaction(actions, mode, schema, commit_properties=props)
            return self._version_after(dt, uri)
        except Exception as e:  # noqa: BLE001
            raise LakeError(uri, f"commit of {len(actions)} staged files failed: {e}") from e


def action_to_dict(action: AddAction) -> dict:
    """An AddAction as a plain dict (for queues or JSON); `AddAction(**d)` restores it."""
    return {**asdict(action), "partition_values": dict(action.partition_values)}
