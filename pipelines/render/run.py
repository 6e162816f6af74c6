"""A render batch: the request table -> what is left to render -> the stages -> the results table and gallery.

    load + validate every row (pipelines.render.requests) -> invalid rows are results with status "invalid"
    -> skip the requests whose latest result is "ok" for the same spec -> prepare -> [subtitles] -> animate
    -> encode (+ join) -> results committed as they arrive -> staging cleaned -> gallery

A request's `spec` hashes everything that changes its video: the request's fields, the settings that change
pixels (size, landmark backend, crf), RENDER_VERSION, the SHA-256 of every checkpoint its renderer loads and, for
subtitles, what the speech models' folders hold. So a re-run renders only what is missing or failed; changed
weights or a changed row render again.

The results table (`<out>/_results`, Delta) is a log: one row per request per run that did something to it, the
latest row of a request being its state (`latest_results`). Results are committed every `commit_every` videos, so
a job killed at any point keeps what it finished. Videos are written atomically (temporary name, then rename), so a
killed job never leaves a half-written mp4 where a finished one is expected.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import pyarrow as pa

from pipelines.lake import Lake
from pipelines.render.stages import (
    RESULT, SEGMENT, AnimateStage, EncodeStage, PrepareStage, RenderSettings, SubtitleStage, output_uri,
    staging_folder,
)
from pipelines.stages.base import Pipeline, Resources, is_error
from pipelines.tables import TIME, utc_now

__all__ = ["RESULTS", "RESULTS_SCHEMA", "RENDER_VERSION", "RenderRun", "RenderSummary", "latest_results",
           "render_resources"]

RENDER_VERSION = 1  # bump when a change of code changes the videos
RESULTS = "_results"
F32 = pa.list_(pa.float32())
RESULTS_SCHEMA = pa.schema([
    ("request_id", pa.string()), ("spec", pa.string()), ("run_id", pa.string()), ("row", pa.int32()),
    ("status", pa.string()), ("output_name", pa.string()), ("output", pa.string()), ("poster", pa.string()),
    ("subtitles", pa.string()), ("photo", pa.string()), ("audio", pa.string()), ("emotion", pa.string()),
    ("pose", pa.string()), ("keyframes", pa.string()), ("yaw", pa.float32()), ("pitch", pa.float32()),
    ("roll", pa.float32()), ("blink_rate", pa.float32()), ("blink_times", F32), ("gaze", F32),
    ("renderer", pa.string()), ("size", pa.int32()), ("seed", pa.int64()), ("subtitle_language", pa.string()),
    ("duration", pa.float64()), ("frames", pa.int32()), ("fps", pa.float32()), ("timings", pa.string()),
    ("models", pa.string()), ("error_stage", pa.string()), ("error_kind", pa.string()),
    ("error_reason", pa.string()), ("extra", pa.string()), ("created", TIME),
])
_SPEC_FIELDS = ("photo", "audio", "emotion", "pose", "keyframes", "yaw", "pitch", "roll", "blink_rate",
                "blink_times", "gaze", "renderer", "output", "subtitles", "seed")


def render_resources(cpus: float, gpus: float, subtitles: bool) -> dict[str, Resources]:
    """Resources per stage, in one place. Actor pools (animate: one actor per GPU, or one; Whisper when asked for)
    hold their CPUs for the whole run, while prepare and encode are tasks that come and go, so the pools hold at
    most `cpus - 1` (half the CPUs on a one-CPU machine) or the tasks never get a CPU and the run stalls. A CPU
    reservation is bookkeeping, not a limit: an actor holding 0.5 CPU still uses a core when it works."""
    animate_actors = max(1, int(gpus)) if gpus else 1
    pools = animate_actors + (1 if subtitles else 0)
    room = cpus - 1 if cpus >= 2 else cpus / 2
    each = max(0.1, min(1.0, room / pools))
    task = Resources(cpus=min(1.0, max(cpus - each * pools, 0.25)), batch_size=1)
    res = {
        "prepare": Resources(cpus=task.cpus, batch_size=2),
        # with subtitles, Whisper takes a quarter of one GPU: the animate actors leave it that much
        "animate": Resources(cpus=each, gpus=(0.75 if subtitles else 1.0) if gpus else 0, batch_size=4,
                             actors=animate_actors, memory_gb=2.0),
        "encode": task,
    }
    if subtitles:
        res["subtitles"] = Resources(cpus=each, gpus=0.25 if gpus else 0, batch_size=4, actors=1, memory_gb=3.0)
    return res


def build_pipeline(settings: RenderSettings, resources: dict[str, Resources], subtitles: bool,
                   frames_per_batch: int = 16) -> Pipeline:
    stages = [PrepareStage(settings, resources=resources["prepare"])]
    if subtitles:
        stages.append(SubtitleStage(settings, device=settings.device, resources=resources["subtitles"]))
    stages += [AnimateStage(settings, frames_per_batch, resources=resources["animate"]),
               EncodeStage(settings, resources=resources["encode"])]
    return Pipeline(stages)


def model_fingerprints(checkpoints: str | None, renderer: str, size: int, driving: str = "l2l") -> dict[str, dict]:
    """stage -> {"checkpoint": URI, "sha256": digest} for what this renderer loads (MissingWeightsError when a
    file is missing)."""
    from space.animate.stages import file_sha256, model_files

    return {stage: {"checkpoint": uri, "sha256": file_sha256(uri)}
            for stage, uri in model_files(checkpoints, renderer, size, driving).items()}


def subtitle_models(settings: RenderSettings) -> list[str | None]:
    """The Whisper and aligner models as a spec counts them: by what their folders hold (a model name a library
    resolves from its cache, by its name), so a new model saved over the old folder renders the subtitles again."""
    from space.io.uri import model_fingerprint

    return [model_fingerprint(settings.whisper_model), model_fingerprint(settings.align_model)]


def request_spec(request: dict, settings: RenderSettings, models: dict,
                 subtitles: list[str | None] | None = None) -> str:
    """What changes a request's outputs: its fields (inputs by URI: put changed media under a new name), the
    settings that change pixels, the weights' digests, and for subtitles the Whisper and aligner models
    (`subtitle_models`, read once per run by the caller; from `settings` when not given)."""
    payload = {"request": {k: request.get(k) for k in _SPEC_FIELDS}, "pixels": settings.pixels(),
               "models": {k: v["sha256"] for k, v in models.items()}, "version": RENDER_VERSION}
    driving = settings.driving_of(request.get("renderer") or "warp")
    if driving != "l2l":  # (absent for the default, so the specs of earlier runs still hold)
        payload["driving"] = driving
    if request.get("subtitles"):
        payload["subtitle_models"] = subtitle_models(settings) if subtitles is None else subtitles
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def latest_results(lake: Lake) -> dict[str, dict]:
    """request_id -> its latest results row (empty when the table does not exist)."""
    if not lake.exists(RESULTS):
        return {}
    latest: dict[str, dict] = {}
    for row in lake.read(RESULTS).to_pylist():
        old = latest.get(row["request_id"])
        if old is None or row["created"] >= old["created"]:
            latest[row["request_id"]] = row
    return latest


def result_row(request: dict, run_id: str, status: str, settings: RenderSettings, models: dict | None = None,
               result: dict | None = None, error: dict | None = None) -> dict:
    result, error = result or {}, error or {}
    return {
        "request_id": request.get("request_id"), "spec": request.get("spec"), "run_id": run_id,
        "row": request.get("row"), "status": status, "output_name": request.get("output"),
        "output": result.get("output"), "poster": result.get("poster"), "subtitles": result.get("subtitles"),
        "photo": request.get("photo"), "audio": request.get("audio"), "emotion": request.get("emotion"),
        "pose": request.get("pose"), "keyframes": request.get("keyframes"), "yaw": request.get("yaw"),
        "pitch": request.get("pitch"), "roll": request.get("roll"), "blink_rate": request.get("blink_rate"),
        "blink_times": request.get("blink_times"), "gaze": request.get("gaze"), "renderer": request.get("renderer"),
        "size": settings.size, "seed": request.get("seed"), "subtitle_language": request.get("subtitles"),
        "duration": result.get("duration"), "frames": result.get("frames"), "fps": 25.0 if result else None,
        "timings": result.get("timings"), "models": json.dumps(models) if models else None,
        "error_stage": error.get("stage"), "error_kind": error.get("kind"), "error_reason": error.get("reason"),
        "extra": request.get("extra"), "created": utc_now(),
    }


@dataclass
class RenderSummary:
    run_id: str
    requests: int = 0  # rows in the table
    rendered: int = 0  # videos finished in this run
    failed: int = 0  # requests that failed in this run
    invalid: int = 0  # rows refused at validation
    skipped: int = 0  # already rendered with the same spec
    not_retried: int = 0  # failed before with the same spec, left alone (--no-retry-failed)
    frames: int = 0
    video_seconds: float = 0.0
    wall_seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)  # summed over videos (worker time)
    errors: dict[str, int] = field(default_factory=dict)  # "stage/kind" -> count
    gallery: dict[str, str] = field(default_factory=dict)
    results: str = ""

    def throughput(self) -> dict[str, float]:
        wall = max(self.wall_seconds, 1e-9)
        return {"videos_per_hour": self.rendered / wall * 3600, "frames_per_second": self.frames / wall}

    def stage_share(self) -> dict[str, float]:
        total = sum(self.stage_seconds.values()) or 1.0
        return {k: round(v / total, 4) for k, v in sorted(self.stage_seconds.items())}

    def to_dict(self) -> dict:
        return {**asdict(self), "throughput": self.throughput(), "stage_share": self.stage_share()}

    def text(self) -> str:
        t = self.throughput()
        lines = [
            f"render run {self.run_id}: {self.wall_seconds:.1f} s",
            f"  requests: {self.requests} in the table; {self.rendered} rendered, {self.skipped} already done, "
            f"{self.failed} failed, {self.invalid} invalid"
            + (f", {self.not_retried} failed before (not retried)" if self.not_retried else ""),
            f"  video: {self.video_seconds:.1f} s ({self.frames} frames); {t['videos_per_hour']:.0f} videos/hour, "
            f"{t['frames_per_second']:.1f} frames/s",
        ]
        if self.stage_seconds:
            lines.append("  worker time per stage: " + ", ".join(
                f"{k} {v:.0%}" for k, v in self.stage_share().items()))
        lines += [f"    {n:5d}  {key}" for key, n in sorted(self.errors.items(), key=lambda kv: (-kv[1], kv[0]))]
        lines.append(f"  results: {self.results}")
        if self.gallery:
            lines.append(f"  gallery: {self.gallery.get('html')}  contact sheet: {self.gallery.get('contact_sheet')}")
        return "\n".join(lines)


Streamer = Callable[[Pipeline, list[dict]], Iterator[dict]]


def iter_local(pipeline: Pipeline, rows: list[dict]) -> Iterator[dict]:
    """Run the pipeline in this process (tests, machines without Ray), streaming like Ray does: each batch goes
    through every stage before the next starts, so one chunk of frames per request is in memory."""
    yield from pipeline.stream_local(rows)


class RenderRun:
    """One batch: validation and the plan happen at construction (cheap), `execute` renders."""

    def __init__(self, requests: str, settings: RenderSettings, default_renderer: str = "warp",
                 retry_failed: bool = True, commit_every: int = 25, gallery: bool = True,
                 log: Callable[[str], None] = print):
        from pipelines.render.requests import load_requests

        self.settings, self.log = settings, log
        self.commit_every, self.make_gallery = commit_every, gallery
        self.run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self.started = time.time()
        self.lake = Lake(settings.out)
        self.summary = RenderSummary(self.run_id, results=self.lake.table_uri(RESULTS))
        table = load_requests(requests, default_renderer=default_renderer)
        self.requests, self.invalid = table.valid, table.invalid
        self.summary.requests = len(table.valid) + len(table.invalid)
        self.models: dict[str, dict] = {}
        self.weight_errors: dict[str, Exception] = {}
        for renderer in sorted({r["renderer"] for r in table.valid}):
            try:
                self.models[renderer] = model_fingerprints(settings.checkpoints, renderer, settings.size,
                                                           settings.driving_of(renderer))
            except Exception as exc:  # noqa: BLE001 - e.g. facevid2vid rows without weights: those rows fail
                self.weight_errors[renderer] = exc
        self.subtitle_models = subtitle_models(settings)
        self.latest = latest_results(self.lake)
        self.todo, self.new_results = self._plan(table.valid, table.invalid, retry_failed)

    def _plan(self, valid: list[dict], invalid: list[dict], retry_failed: bool) -> tuple[list[dict], list[dict]]:
        from pipelines.stages.base import error_row

        todo, records = [], []
        for bad in invalid:
            last = self.latest.get(bad.get("request_id"))
            if last is None or (last["status"], last["error_reason"]) != ("invalid", bad["reason"]):
                records.append(result_row(bad, self.run_id, "invalid", self.settings, error=bad))
            self.summary.invalid += 1
            self._count_error(bad)
            if self.summary.invalid <= 20:
                self.log(f"invalid: {bad['reason']}")
        if self.summary.invalid > 20:
            self.log(f"... and {self.summary.invalid - 20} more invalid rows (all in the results table)")
        for request in valid:
            if request["renderer"] in self.weight_errors:
                err = error_row({"id": request["request_id"]}, "models", self.weight_errors[request["renderer"]])
                request = {**request, "spec": None}
                last = self.latest.get(request["request_id"])
                if last is None or (last["status"], last["error_reason"]) != ("error", err["reason"]):
                    records.append(result_row(request, self.run_id, "error", self.settings, error=err))
                self.summary.failed += 1
                self._count_error(err)
                continue
            spec = request_spec(request, self.settings, self.models[request["renderer"]], self.subtitle_models)
            last = self.latest.get(request["request_id"])
            if last is not None and last["spec"] == spec and last["status"] == "ok":
                self.summary.skipped += 1
                continue
            if last is not None and last["spec"] == spec and not retry_failed:
                self.summary.not_retried += 1
                continue
            todo.append({**request, "id": request["request_id"], "spec": spec})
        return todo, records

    @property
    def nothing_to_do(self) -> bool:
        return not self.todo and not self.new_results

    def execute(self, streamer: Streamer = iter_local, resources: dict[str, Resources] | None = None,
                progress: bool = True) -> RenderSummary:
        from tqdm import tqdm

        self.started = time.time()  # the throughput counts rendering, not validation or a cluster's start
        subtitles = any(r.get("subtitles") for r in self.todo)
        if subtitles and not self.settings.whisper_model:
            self.todo = self._refuse_subtitles()
            subtitles = False
        pending, last_commit = list(self.new_results), time.time()
        if self.todo:
            for request in self.todo:  # segments of an earlier, interrupted attempt are not mixed in
                _remove(staging_folder(self.settings.out, request))
            resources = resources or render_resources(2, 0, subtitles)
            pipeline = build_pipeline(self.settings, resources, subtitles)
            self.log(f"render {len(self.todo)} video(s): {' -> '.join(s.name for s in pipeline.stages)}; "
                     f"{self.summary.skipped} already done; out {self.settings.out}")
            by_id = {r["request_id"]: r for r in self.todo}
            finished: set[str] = set()
            bar = tqdm(total=len(self.todo), desc="videos", unit="video", disable=not progress)
            for row in streamer(pipeline, self.todo):
                record = self._record(row, by_id, finished)
                if record is None:
                    continue
                pending.append(record)
                bar.update(1)
                if len(pending) >= self.commit_every or time.time() - last_commit > 60:
                    self._commit(pending)
                    pending, last_commit = [], time.time()
            bar.close()
            for request_id in sorted(set(by_id) - finished):  # cannot happen with Ray's exactly-once outputs
                lost = {"stage": "render", "kind": "lost", "reason": "no result came back from the workers"}
                pending.append(result_row(by_id[request_id], self.run_id, "error", self.settings, error=lost))
                self.summary.failed += 1
        self._commit(pending)
        _remove_if_empty(f"{self.settings.out.rstrip('/')}/_staging")
        if self.make_gallery and (self.todo or self.new_results):
            self._gallery()
        self.summary.wall_seconds = time.time() - self.started
        return self.summary

    def _refuse_subtitles(self) -> list[dict]:
        keep = []
        for request in self.todo:
            if request.get("subtitles"):
                err = {"stage": "subtitles", "kind": "missing_weights",
                       "reason": "subtitles were asked for but the job has no --whisper-model"}
                self.new_results.append(result_row(request, self.run_id, "error", self.settings, error=err))
                self.summary.failed += 1
                self._count_error(err)
            else:
                keep.append(request)
        return keep

    def _record(self, row: dict, by_id: dict[str, dict], finished: set[str]) -> dict | None:
        """A pipeline output row -> a results row (None for progress rows and repeats)."""
        request_id = row.get("request_id") or row.get("id")
        if row.get("kind") == SEGMENT or request_id in finished or request_id not in by_id:
            return None
        request = by_id[request_id]
        finished.add(request_id)
        if is_error(row):
            self.summary.failed += 1
            self._count_error(row)
            return result_row(request, self.run_id, "error", self.settings, error=row)
        assert row.get("kind") == RESULT, row.get("kind")
        self.summary.rendered += 1
        self.summary.frames += int(row["frames"])
        self.summary.video_seconds += float(row["duration"])
        for key, value in json.loads(row["timings"]).items():
            self.summary.stage_seconds[key] = self.summary.stage_seconds.get(key, 0.0) + value
        return result_row(request, self.run_id, "ok", self.settings, self.models[request["renderer"]], result=row)

    def _count_error(self, error: dict) -> None:
        key = f"{error.get('stage')}/{error.get('kind')}"
        self.summary.errors[key] = self.summary.errors.get(key, 0) + 1

    def _commit(self, rows: list[dict]) -> None:
        if not rows:
            return
        self.lake.commit(RESULTS, pa.Table.from_pylist(rows, RESULTS_SCHEMA), description=f"render {self.run_id}")
        for row in rows:  # a retry starts from scratch, so no segment is worth keeping once a row is recorded
            if row.get("spec"):
                _remove(staging_folder(self.settings.out, row))
        self.latest.update({r["request_id"]: r for r in rows})

    def _gallery(self) -> None:
        from pipelines.render.gallery import write_gallery

        order = {r["request_id"]: r.get("row", 0) for r in self.requests + self.invalid}
        rows = [r for rid, r in self.latest.items() if rid in order or r["run_id"] == self.run_id]
        rows.sort(key=lambda r: (r.get("row") is None, r.get("row") or 0))
        for r in rows:
            r["timings"] = json.loads(r["timings"]) if isinstance(r.get("timings"), str) else r.get("timings")
            r["subtitles"] = json.loads(r["subtitles"]) if isinstance(r.get("subtitles"), str) else r.get("subtitles")
            if r.get("output") is None and r["status"] == "ok":
                r["output"] = output_uri(self.settings.out, r["output_name"])
        self.summary.gallery = write_gallery(rows, self.settings.out, self.run_id)


def _remove(folder: str) -> None:
    import fsspec

    fs, path = fsspec.core.url_to_fs(folder)
    try:
        fs.rm(path, recursive=True)
    except FileNotFoundError:
        pass


def _remove_if_empty(folder: str) -> None:
    import fsspec

    fs, path = fsspec.core.url_to_fs(folder)
    try:
        if not fs.ls(path, detail=False):
            fs.rm(path, recursive=True)
    except (FileNotFoundError, OSError):
        pass
