"""Run a `pipelines.stages.Pipeline` on Ray Data. The only module of the pipelines that knows Ray.

Each stage becomes one `Dataset.map_batches` with the stage's declared resources (`num_cpus`, `num_gpus`,
`batch_size`):
- a stage with `resources.actors = n` (a model stage) runs as a fixed pool of n actors
  (`compute=ray.data.ActorPoolStrategy(size=n)`); each actor builds the stage and calls `setup()` once in
  `__init__`, then serves many batches;
- before a pool of several actors the stream is cut into blocks of one batch (`_blocks_of`): an actor is handed
  whole blocks, so one block of many rows would keep the rest of the pool idle;
- any other stage runs as stateless Ray tasks (Ray Data's default TaskPoolStrategy). `setup()` then runs at most
  once per task, lazily on its first batch (a task may get several batches): fine for cheap stages, which is
  why a stage with a model must set `actors`.

Rows are plain dicts inside stages; Ray Data moves them as Arrow blocks. The conversion is in one place
(`_to_rows` / `_from_rows`): a batch's rows are padded to the union of their keys (a missing field is null),
so ok rows and error rows can share a block. Values must be Arrow-convertible (str, numbers, bools, lists,
dicts): pack arrays with `pipelines.lake.pack_array`, or pass URIs. `batch_format="pyarrow"` (the default) keeps
types exact; with "pandas" the batches use Arrow-backed dtypes, but Ray's own Arrow -> pandas conversion of an
operator's input may still turn an int column with nulls into floats, so prefer pyarrow.

A stage may yield its output in parts (`Stage.process_stream`: a render stage yields frames chunk by chunk); the
map function is a generator, which Ray Data streams part by part. Error rows flow through the later stages
untouched (`pipelines.stages.base.stream_batch`) and are split from the
ok rows at the end. Ray's own progress bars are left as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import ray
import ray.data

from pipelines.stages.base import ERROR_FIELDS, Pipeline, Stage, is_error, stream_batch

__all__ = ["build_dataset", "iter_ray", "map_kwargs", "run_ray"]

Row = dict[str, Any]
BATCH_FORMATS = ("pyarrow", "pandas")


def _to_rows(batch) -> list[Row]:
    if isinstance(batch, pa.Table):
        return batch.to_pylist()
    return pa.Table.from_pandas(batch, preserve_index=False).to_pylist()


def _from_rows(rows: list[Row], batch_format: str):
    keys: dict[str, None] = {}
    for r in rows:
        keys.update(dict.fromkeys(r))
    table = pa.Table.from_pylist([{k: r.get(k) for k in keys} for r in rows]) if rows else pa.table({})
    if batch_format == "pyarrow":
        return table
    import pandas as pd

    # Arrow-backed dtypes: an int column with a null stays int (plain pandas would make it float, 3 -> 3.0)
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def _task_fn(stage: Stage, batch_format: str):
    state = {"ready": False}

    def fn(batch):
        if not state["ready"]:  # once per task (the closure is deserialised per task)
            stage.setup()
            state["ready"] = True
        for part in stream_batch(stage, _to_rows(batch)):  # a generator: Ray Data sends each part on at once
            if part:
                yield _from_rows(part, batch_format)

    fn.__name__ = fn.__qualname__ = stage.name  # the operator's name in Ray's progress bars
    return fn


class _StageActor:
    """One actor of a model stage: `setup()` once here, then `__call__` per batch."""

    def __init__(self, stage: Stage, batch_format: str):
        self.stage = stage
        self.batch_format = batch_format
        self.stage.setup()

    def __call__(self, batch):
        for part in stream_batch(self.stage, _to_rows(batch)):  # a generator: each part goes on when ready
            if part:
                yield _from_rows(part, self.batch_format)


def _actor_class(stage: Stage) -> type:
    # a subclass named after the stage, so Ray's progress bars say "MapBatches(<stage>)"
    return type(f"{stage.name}", (_StageActor,), {"__module__": __name__})


def map_kwargs(stage: Stage, batch_format: str = "pyarrow") -> dict[str, Any]:
    """The `map_batches` arguments for `stage` (all of its resources, in one place)."""
    res = stage.resources
    kwargs: dict[str, Any] = {
        "batch_size": res.batch_size,
        "batch_format": batch_format,
        "num_cpus": res.cpus,
        "zero_copy_batch": True,
    }
    if res.gpus:
        kwargs["num_gpus"] = res.gpus
    if res.memory_gb:
        kwargs["memory"] = int(res.memory_gb * 2**30)
    if res.uses_actors:
        kwargs["compute"] = ray.data.ActorPoolStrategy(size=res.actors)
        kwargs["fn_constructor_kwargs"] = {"stage": stage, "batch_format": batch_format}
    return kwargs


def _blocks_of(ds: ray.data.Dataset, rows: int) -> ray.data.Dataset:
    """The stream cut into blocks of at most `rows` rows (a streaming repartition). An actor is handed whole
    blocks, so a block of ten clips (one video's, from a stage that splits items) would keep one actor busy while
    the rest of the pool idles. The repartition runs as 1-CPU tasks: the actor pools must leave a CPU free
    (`pipelines.preprocess.stage_resources` does)."""
    return ds.repartition(target_num_rows_per_block=rows)


def build_dataset(pipeline: Pipeline, rows: list[Row], batch_format: str = "pyarrow") -> ray.data.Dataset:
    """The lazy Dataset: `from_items(rows)` then one `map_batches` per stage."""
    if batch_format not in BATCH_FORMATS:
        raise ValueError(f"batch_format must be one of {BATCH_FORMATS}, not {batch_format!r}")
    ds = ray.data.from_items([dict(r) for r in rows])
    for stage in pipeline.stages:
        if stage.resources.uses_actors and stage.resources.actors > 1:
            ds = _blocks_of(ds, stage.resources.batch_size)
        fn = _actor_class(stage) if stage.resources.uses_actors else _task_fn(stage, batch_format)
        ds = ds.map_batches(fn, **map_kwargs(stage, batch_format))
    return ds


def _clean(row: Row) -> Row:
    if is_error(row):
        return {k: row.get(k) for k in ERROR_FIELDS}
    # ok rows lose only the error columns that padding added (a missing field and a null are the same in a block)
    return {k: v for k, v in row.items() if not (k in ERROR_FIELDS and v is None)}


def iter_ray(pipeline: Pipeline, rows: list[Row], batch_format: str = "pyarrow") -> Iterator[Row]:
    """Run `pipeline` on the current Ray cluster and yield its output rows (ok and error rows) as they come out
    of the last stage, so the driver can record results while the job runs."""
    if not rows:
        return
    ds = build_dataset(pipeline, rows, batch_format)
    for block in ds.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=0):
        yield from (_clean(r) for r in block.to_pylist())


def run_ray(pipeline: Pipeline, rows: list[Row], batch_format: str = "pyarrow") -> tuple[list[Row], list[Row]]:
    """Run `pipeline` on the current Ray cluster (`ray.init` is the caller's): (ok rows, error rows), in no
    particular order. Each output block is read on its own, so blocks with different columns never need one
    schema."""
    if not rows:
        return [], []
    ds = build_dataset(pipeline, rows, batch_format)
    out: list[Row] = []
    for ref in ds.to_arrow_refs():
        out.extend(_clean(r) for r in ray.get(ref).to_pylist())
    return Pipeline.split(out)
