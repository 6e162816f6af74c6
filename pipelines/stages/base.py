"""The stage abstraction of the batch pipelines. This module does not import Ray.

A `Stage` turns a batch of plain dict rows into rows (`process`), after loading its models once (`setup`), and
declares what it needs in one place (`Resources`). A `Pipeline` is an ordered list of stages; `run_local` runs it
in this process (tests, machines without Ray) and `pipelines.ray_adapter.run_ray` runs it on Ray Data.

Errors are data. A bad item becomes an error row
`{"id", "video_id", "source", "stage", "kind", "reason", "error": True}` (`run_items`), so one bad item never fails its batch;
error rows from earlier stages pass through every later stage untouched (`process_batch` keeps them away from
`process`); a stage that raises for a whole batch turns every row of that batch into an error row.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from space.errors import SpaceError

__all__ = [
    "ERROR_FIELDS", "Pipeline", "Resources", "Stage", "error_row", "is_error", "limit_threads", "process_batch",
    "run_items", "stream_batch",
]

Row = dict[str, Any]

#: the columns of an error row (also the `errors` table's columns)
ERROR_FIELDS = ("id", "video_id", "source", "stage", "kind", "reason", "error")


@dataclass(frozen=True)
class Resources:
    """What one worker of a stage needs. `actors=None`: stateless Ray tasks; `actors=n`: a pool of n actors that
    run `setup()` once each (model stages: GPU stages should always set it). `memory_gb`: what one worker holds
    at its peak (a model and its framework), so the scheduler does not pack more workers on a node than fit."""

    cpus: float = 1
    gpus: float = 0
    batch_size: int = 8
    actors: int | None = None
    memory_gb: float = 0

    def __post_init__(self):
        if self.cpus < 0 or self.gpus < 0 or self.memory_gb < 0:
            raise ValueError(f"resources must not be negative (cpus={self.cpus}, gpus={self.gpus}, "
                             f"memory_gb={self.memory_gb})")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {self.batch_size}")
        if self.actors is not None and self.actors < 1:
            raise ValueError(f"actors must be at least 1 or None (tasks), not {self.actors}")

    @property
    def uses_actors(self) -> bool:
        return self.actors is not None


def is_error(row: Row) -> bool:
    return bool(row.get("error"))


def error_row(row: Row, stage: str, exc: BaseException) -> Row:
    """The error row for `row` failing in `stage`: a SpaceError keeps its kind, source and reason; any other
    exception is kind "exception" with the exception type in the reason."""
    if isinstance(exc, SpaceError):
        record = exc.as_record()
        source, kind, reason = record["source"], record["kind"], record["reason"]
    else:
        source = row.get("uri") or row.get("source")
        kind, reason = "exception", f"{type(exc).__name__}: {exc}"
    return {
        "id": row.get("id") if row.get("id") is not None else row.get("video_id"),
        "video_id": row.get("video_id"),
        "source": None if source is None else str(source),
        "stage": stage,
        "kind": kind,
        "reason": reason,
        "error": True,
    }


def run_items(rows: Iterable[Row], fn: Callable[[Row], Row | list[Row]], stage: str) -> list[Row]:
    """Apply `fn` to each row: it returns the output row, or a list of rows (a stage that splits an item, e.g.
    a video into clips). An exception for one row becomes that row's error row. Rows already marked as errors
    pass through untouched."""
    out = []
    for row in rows:
        if is_error(row):
            out.append(row)
            continue
        try:
            result = fn(row)
        except Exception as exc:  # noqa: BLE001 - every failure of one item is recorded as data
            out.append(error_row(row, stage, exc))
            continue
        if isinstance(result, list):
            out.extend(result)
        else:
            out.append(result)
    return out


class Stage(ABC):
    """One step of a batch pipeline. Subclasses set `name` and `resources` and implement `process`."""

    name: str = "stage"
    resources: Resources = Resources()  # the class default; a job may give an instance its own

    def __init__(self, resources: Resources | None = None):
        if resources is not None:
            self.resources = resources

    def setup(self) -> None:
        """Load models and other heavy state; called once per worker (actor) before any `process` call."""

    @abstractmethod
    def process(self, rows: list[Row]) -> list[Row]:
        """A batch of rows -> rows. Use `self.run_items` so one bad item becomes an error row."""

    def process_stream(self, rows: list[Row]) -> Iterator[list[Row]]:
        """The output of a batch in parts, each sent on as soon as it is ready. A stage whose output is large
        (rendered frames) overrides this so a batch never sits whole in memory; the default is `process`."""
        yield self.process(rows)

    def run_items(self, rows: Iterable[Row], fn: Callable[[Row], Row | list[Row]]) -> list[Row]:
        return run_items(rows, fn, self.name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, resources={self.resources})"


def limit_threads(cpus: float) -> None:
    """Give torch and OpenCV as many threads as the stage's CPUs (at least one). Their default, one per core of
    the machine, makes every actor and task on a node fight for all cores: a 3 s VAD call took 19 s that way on
    2 cores."""
    import cv2
    import torch

    n = max(1, int(cpus))
    torch.set_num_threads(n)
    cv2.setNumThreads(n)


def stream_batch(stage: Stage, rows: list[Row]) -> Iterator[list[Row]]:
    """Run one batch through `stage` the way every runner does, yielding its output in the stage's parts: error
    rows skip the stage (sent on after its output), and an exception escaping the stage turns each row of the
    batch into an error row (a streaming stage that fails part-way may have sent parts already: it should catch
    per item)."""
    errors = [r for r in rows if is_error(r)]
    todo = [r for r in rows if not is_error(r)]
    if todo:
        try:
            for part in stage.process_stream(todo):
                yield list(part)
        except Exception as exc:  # noqa: BLE001 - a failed batch is recorded, the job goes on
            yield [error_row(r, stage.name, exc) for r in todo]
    if errors:
        yield errors


def process_batch(stage: Stage, rows: list[Row]) -> list[Row]:
    """`stream_batch`, all parts in one list."""
    return [row for part in stream_batch(stage, rows) for row in part]


class Pipeline:
    """An ordered list of stages."""

    def __init__(self, stages: Iterable[Stage]):
        self.stages = list(stages)
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique: {names}")

    def __repr__(self) -> str:
        return f"Pipeline({[s.name for s in self.stages]})"

    def run_local(self, rows: Iterable[Row]) -> list[Row]:
        """Run every stage in this process: `setup()` once per stage, then batches of `resources.batch_size`."""
        rows = [dict(r) for r in rows]
        for stage in self.stages:
            stage.setup()
            size = stage.resources.batch_size
            out: list[Row] = []
            for start in range(0, len(rows), size):
                out.extend(process_batch(stage, rows[start : start + size]))
            rows = out
        return rows

    def stream_local(self, rows: Iterable[Row]) -> Iterator[Row]:
        """`run_local` as a stream: `setup()` once per stage, then each stage pulls batches from the one before
        as it needs them, so rows come out of the last stage while the first is still working."""
        for stage in self.stages:
            stage.setup()
        stream: Iterator[Row] = (dict(r) for r in rows)
        for stage in self.stages:
            stream = _batched_through(stage, stream)
        return stream

    @staticmethod
    def split(rows: Iterable[Row]) -> tuple[list[Row], list[Row]]:
        """(ok rows, error rows)."""
        ok, bad = [], []
        for r in rows:
            (bad if is_error(r) else ok).append(r)
        return ok, bad


def _batched_through(stage: Stage, rows: Iterator[Row]) -> Iterator[Row]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == stage.resources.batch_size:
            for part in stream_batch(stage, batch):
                yield from part
            batch = []
    if batch:
        for part in stream_batch(stage, batch):
            yield from part
