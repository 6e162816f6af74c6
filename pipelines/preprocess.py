"""Preprocessing a talking-head corpus into the lake: settings, the stage list, the run plan and the commit.

    list inputs (content ids) -> skip what the lake has for these settings -> stages (Ray Data or local):
    probe -> segment (VAD) -> landmarks (decode + face track + 68 points + pose) -> audio features
    -> [transcripts] -> [keypoints] -> write (workers stage Parquet) -> commit (driver, one transaction per table)

The settings id hashes every setting that changes an output (clip cutting, landmark backend, audio features, the
Whisper and face-vid2vid model URIs) and PIPELINE_VERSION; rows carry it, clip ids are derived from it, and
`videos` records which (video, settings id) pairs are done. So a re-run over the same corpus does no model work
and adds no rows, a new video is processed alone, and a changed setting adds new rows beside the old ones.
A model is identified by its URI: put changed weights under a new URI.

`run_preprocess` takes the runner as an argument (`pipelines.ray_adapter.run_ray` in the job, `run_local` in
tests): this module does not import Ray.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from importlib import metadata

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.lake import Lake
from pipelines.stages.audio import AudioFeatureStage, TranscriptSettings, TranscriptStage
from pipelines.stages.base import Pipeline, Resources
from pipelines.stages.clips import ClipSettings, SegmentStage
from pipelines.stages.faces import FaceSettings, FaceStage
from pipelines.stages.inputs import ProbeStage, list_inputs
from pipelines.stages.keypoints import KeypointSettings, KeypointStage
from pipelines.stages.write import RECEIPT, WriteStage
from pipelines.tables import SCHEMAS, errors_table, utc_now
from space.audio.features import AudioFeatureConfig
from space.io.uri import model_fingerprint

__all__ = [
    "PIPELINE_VERSION",
    "PreprocessRun",
    "PreprocessSettings",
    "RunSummary",
    "build_pipeline",
    "plan_run",
    "run_preprocess",
    "stage_resources",
]

#: bump when a change of code changes the rows (a new landmark fit, a new clip policy): new settings ids
PIPELINE_VERSION = 1
#: the order of the commits: data first, then what marks videos done, then the run record
COMMIT_ORDER = ("sequences", "transcripts", "clips")


@dataclass(frozen=True)
class PreprocessSettings:
    """Everything that shapes the rows (the settings id hashes all of it)."""

    clips: ClipSettings = ClipSettings()
    faces: FaceSettings = FaceSettings()
    audio: AudioFeatureConfig = AudioFeatureConfig()
    transcripts: TranscriptSettings = TranscriptSettings()
    keypoints: KeypointSettings = KeypointSettings()

    def to_dict(self) -> dict:
        return {"pipeline_version": PIPELINE_VERSION, **asdict(self), "keypoints": self.keypoints.to_dict()}

    def identity(self) -> dict:
        """`to_dict` with each model reference replaced by what it holds (space.io.uri.model_fingerprint): new
        weights saved over the old path are new settings, so a re-run processes the corpus again instead of
        taking rows made by the old model as done; the same weights read from another path or s3:// are not."""
        out = self.to_dict()
        for group, key in MODEL_REFERENCES:
            out[group] = {**out[group], key: model_fingerprint(out[group][key])}
        return out

    @cached_property
    def settings_id(self) -> str:
        """16 hex characters over `identity()` (its model files are read once per settings object)."""
        payload = json.dumps(self.identity(), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


#: (settings group, field) of every model file or folder that shapes the rows
MODEL_REFERENCES = (("faces", "weights"), ("transcripts", "model"), ("transcripts", "align_model"),
                    ("keypoints", "checkpoint"), ("keypoints", "config"))


#: peak memory of one worker of a model stage (its model and framework), GB; measured on CPU with the defaults
#: (the VAD actor holds ~0.8 GB; a landmark actor decoding 1080x1920 clips up to 2.3 GB), rounded up, larger
#: models given room (Whisper large on a CPU takes ~3 GB)
MODEL_MEMORY_GB = {"segment": 1.0, "landmarks": 3.0, "transcripts": 3.0, "keypoints": 2.0}
MODEL_BATCH = {"segment": 2, "landmarks": 1, "transcripts": 4, "keypoints": 1}


def stage_resources(cpus: float, gpus: float, transcripts: bool, keypoints: bool,
                    landmark_actors: int | None = None) -> dict[str, Resources]:
    """Resources per stage for a cluster of `cpus` CPUs and `gpus` GPUs, in one place.

    Actor pools hold their CPU reservation for the whole run, while task stages (probe, audio features, write:
    0.25 CPU each, short) and the Ray Data repartition in front of a pool of several actors (1 CPU per task)
    come and go; so the pools together hold at most `cpus - 1` (`cpus - 0.25` on a one-CPU machine, which has
    one actor per pool and no repartition), or the run stalls. A reservation is bookkeeping, not a limit: an
    actor holding 0.4 CPU still uses a whole core when it works. The VAD is cheap (0.01x real time): one small
    actor. Landmarks are the heavy stage: one actor per GPU, or per CPU. Whisper and face-vid2vid get one actor
    each, sharing the GPUs with the landmark actors when there are GPUs.
    """
    task = Resources(cpus=0.25, batch_size=8)
    res = {"probe": Resources(cpus=0.25, batch_size=16), "audio_features": task, "write": task}

    def actor(name: str, cpus_each: float, n: int = 1, gpus_each: float = 0.0) -> Resources:
        return Resources(cpus=cpus_each, gpus=gpus_each, batch_size=MODEL_BATCH[name], actors=n,
                         memory_gb=MODEL_MEMORY_GB[name])

    others = (["transcripts"] if transcripts else []) + (["keypoints"] if keypoints else [])
    room = cpus - 1 if cpus >= 2 else max(cpus - 0.25, 0.25)
    res["segment"] = actor("segment", min(0.25, room / 4))
    room -= res["segment"].cpus
    if gpus > 0:
        share = 1.0 / (1 + len(others))  # every model stage has a share of each GPU
        n = landmark_actors or max(1, int(gpus))
    else:
        share = 0.0
        n = landmark_actors or max(1, int(cpus) - len(others))
    if cpus < 2:
        n = 1  # no CPU to spare for the repartition that feeds a pool of several
    each = min(1.0, room / (n + len(others)))
    res["landmarks"] = actor("landmarks", each, n, share)
    res.update({name: actor(name, each, 1, share) for name in others})
    return res


def build_pipeline(settings: PreprocessSettings, lake: Lake, run_id: str, resources: dict[str, Resources],
                   device: str = "cpu", skip_ids: frozenset[str] = frozenset()) -> Pipeline:
    """The ordered stages for these settings (transcripts / keypoints only when their model is given)."""
    sid, fps = settings.settings_id, settings.clips.fps
    stages = [
        ProbeStage(resources=resources["probe"]),
        SegmentStage(settings.clips, sid, device=device, resources=resources["segment"]),
        FaceStage(settings.faces, fps=fps, device=device, resources=resources["landmarks"]),
        AudioFeatureStage(settings.audio, resources=resources["audio_features"]),
    ]
    if settings.transcripts.model:
        stages.append(TranscriptStage(settings.transcripts, device=device, resources=resources["transcripts"]))
    if settings.keypoints.checkpoint:
        stages.append(KeypointStage(settings.keypoints, fps=fps, device=device, resources=resources["keypoints"]))
    stages.append(WriteStage(lake.uri, lake.storage_options, run_id, fps, settings.clips.sample_rate,
                             skip_ids=skip_ids, resources=resources["write"]))
    return Pipeline(stages)


# -- the plan: what this run does ------------------------------------------------------------------------------


@dataclass
class Plan:
    todo: list[dict]  # input rows to process
    done: int  # inputs the lake already has for these settings (skipped)
    duplicates: list[dict]  # inputs whose content is another input's (same video id): skipped, reported
    input_errors: list[dict]  # manifest entries that could not be read
    skip_ids: frozenset[str]  # clip ids of `todo` videos already in the lake (an interrupted earlier run)


def _for_settings(lake: Lake, table: str, columns: list[str], settings_id: str) -> pa.Table:
    if not lake.exists(table):
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    return lake.read(table, columns=columns, filter=pc.field("settings_id") == settings_id)


def plan_run(inputs: list[dict], lake: Lake, settings_id: str, retry_errors: bool = False) -> Plan:
    """Split the listed inputs into work to do and work already done for `settings_id`."""
    ok = [r for r in inputs if not r.get("error")]
    input_errors = [r for r in inputs if r.get("error")]
    videos = _for_settings(lake, "videos", ["video_id", "status"], settings_id).to_pylist()
    done = {v["video_id"] for v in videos if v["status"] == "ok" or not retry_errors}
    seen: dict[str, str] = {}
    todo, duplicates, skipped = [], [], 0
    for row in ok:
        vid = row["video_id"]
        if vid in seen:
            duplicates.append({**row, "same_as": seen[vid]})
            continue
        seen[vid] = row["uri"]
        if vid in done:
            skipped += 1
        else:
            todo.append(row)
    todo_ids = {r["video_id"] for r in todo}
    existing = _for_settings(lake, "clips", ["id", "video_id"], settings_id).to_pylist() if todo else []
    skip_ids = frozenset(c["id"] for c in existing if c["video_id"] in todo_ids)
    return Plan(todo, skipped, duplicates, input_errors, skip_ids)


# -- the commit and the summary ----------------------------------------------------------------------------------


@dataclass
class RunSummary:
    run_id: str
    settings_id: str
    videos: int = 0  # processed in this run
    skipped: int = 0  # already done for these settings
    duplicates: int = 0
    clips: int = 0
    frames: int = 0
    clip_seconds: float = 0.0
    source_seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)  # "stage/kind" -> count
    wall_seconds: float = 0.0
    committed: dict[str, int | None] = field(default_factory=dict)  # table -> new version

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def throughput(self) -> dict[str, float]:
        wall = max(self.wall_seconds, 1e-9)
        return {"source_seconds_per_second": self.source_seconds / wall, "frames_per_second": self.frames / wall}

    def to_dict(self) -> dict:
        return {**asdict(self), "throughput": self.throughput()}

    def text(self) -> str:
        t = self.throughput()
        lines = [
            f"run {self.run_id} (settings {self.settings_id}): {self.wall_seconds:.1f} s",
            f"  videos: {self.videos} processed, {self.skipped} already done, {self.duplicates} duplicate files",
            f"  clips: {self.clips} ({self.clip_seconds / 3600:.3f} h of speech, {self.frames} frames) from "
            f"{self.source_seconds / 3600:.3f} h of video",
            f"  throughput: {t['source_seconds_per_second']:.2f} s of video per second, "
            f"{t['frames_per_second']:.1f} clip frames/s",
            f"  errors: {self.error_count}",
        ]
        lines += [f"    {n:5d}  {key}" for key, n in sorted(self.errors.items(), key=lambda kv: (-kv[1], kv[0]))]
        return "\n".join(lines)


def _existing_errors(lake: Lake, settings_id: str) -> set[tuple]:
    table = _for_settings(lake, "errors", ["id", "stage", "kind"], settings_id)
    return {(r["id"], r["stage"], r["kind"]) for r in table.to_pylist()}


def _versions() -> dict[str, str]:
    names = ("space-animate", "ray", "deltalake", "torch", "whisperx", "decord", "face-alignment", "dlib-bin")
    out = {"python": sys.version.split()[0], "pipeline": str(PIPELINE_VERSION)}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def commit_run(lake: Lake, plan: Plan, receipts: list[dict], errors: list[dict], summary: RunSummary,
               meta: dict) -> RunSummary:
    """Commit a run: the staged files (one transaction per table), then the errors, then `videos` (which marks
    the videos done), then the `runs` record. A crash between two commits is finished by the next run: its
    videos are not marked done, and the clips and errors already committed are not written twice."""
    run_id, sid = summary.run_id, summary.settings_id
    actions: dict[str, list[dict]] = {name: [] for name in COMMIT_ORDER}
    clips = []
    for receipt in receipts:
        for name, acts in json.loads(receipt["actions"]).items():
            actions[name].extend(acts)
        clips.extend(json.loads(receipt["clips"]))
    ids = [c["id"] for c in clips]
    if len(ids) != len(set(ids)):  # cannot happen with Ray's exactly-once outputs; never commit if it did
        raise RuntimeError(f"run {run_id}: {len(ids) - len(set(ids))} clips were written twice; nothing committed")
    for name in COMMIT_ORDER:
        summary.committed[name] = lake.commit_files(name, actions[name], SCHEMAS[name], description=f"run {run_id}")

    seen = _existing_errors(lake, sid)
    errors = [e for e in plan.input_errors + errors if (e.get("id"), e.get("stage"), e.get("kind")) not in seen]
    summary.committed["errors"] = lake.commit("errors", errors_table(errors, run_id, sid) if errors else [],
                                              description=f"run {run_id}")
    summary.errors = dict(Counter(f"{e['stage']}/{e['kind']}" for e in plan.input_errors + errors))

    per_video_clips = Counter(c["video_id"] for c in clips)
    per_video_errors = Counter(e.get("video_id") for e in errors)
    durations = {c["video_id"]: c.get("duration") for c in clips}
    now = utc_now()
    videos = []
    for row in plan.todo:
        vid = row["video_id"]
        n, bad = per_video_clips[vid], per_video_errors[vid]
        status = "error" if n == 0 else ("partial" if bad else "ok")
        videos.append({"video_id": vid, "settings_id": sid, "run_id": run_id, "uri": row["uri"],
                       "size": row.get("size"), "duration": durations.get(vid), "status": status, "clips": n,
                       "errors": bad, "created": now})
    summary.committed["videos"] = lake.commit("videos", pa.Table.from_pylist(videos, SCHEMAS["videos"]),
                                              description=f"run {run_id}") if videos else lake.version("videos")
    summary.clips = len(clips)
    summary.frames = int(sum(c["frames"] for c in clips))
    summary.clip_seconds = float(sum(c["seconds"] for c in clips))
    summary.source_seconds = float(sum(d for d in durations.values() if d))
    summary.wall_seconds = time.time() - meta["started"]
    run = {
        "run_id": run_id, "settings_id": sid, "started": meta["started_at"], "finished": utc_now(),
        "corpus": meta["corpus"], "lake": lake.uri, "settings": json.dumps(meta["settings"], sort_keys=True),
        "versions": json.dumps(_versions(), sort_keys=True), "videos": summary.videos,
        "videos_skipped": summary.skipped, "clips": summary.clips, "errors": summary.error_count,
        "source_seconds": summary.source_seconds, "clip_seconds": summary.clip_seconds, "frames": summary.frames,
        "wall_seconds": summary.wall_seconds, "summary": json.dumps(summary.to_dict()),
    }
    summary.committed["runs"] = lake.commit("runs", pa.Table.from_pylist([run], SCHEMAS["runs"]))
    return summary


Runner = Callable[[Pipeline, list[dict]], tuple[list[dict], list[dict]]]


def run_local(pipeline: Pipeline, rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """The in-process runner (tests, machines without Ray)."""
    return Pipeline.split(pipeline.run_local(rows))


class PreprocessRun:
    """One run: listing and planning happen at construction (cheap: no Ray, no models), so a job can stop
    before starting a cluster when `nothing_to_do`; `execute` runs the stages and commits."""

    def __init__(self, corpus: str, lake: Lake, settings: PreprocessSettings, retry_errors: bool = False,
                 log: Callable[[str], None] = print):
        self.started, self.started_at = time.time(), utc_now()
        self.run_id = f"{self.started_at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        self.corpus, self.lake, self.settings, self.log = str(corpus), lake, settings, log
        inputs = list_inputs(corpus)
        self.plan = plan_run(inputs, lake, settings.settings_id, retry_errors)
        p = self.plan
        self.summary = RunSummary(self.run_id, settings.settings_id, videos=len(p.todo), skipped=p.done,
                                  duplicates=len(p.duplicates))
        log(f"{len(inputs)} inputs in {corpus}: {len(p.todo)} to process, {p.done} already done, "
            f"{len(p.duplicates)} duplicates, {len(p.input_errors)} unreadable")
        for dup in p.duplicates:
            log(f"  duplicate: {dup['uri']} has the same content as {dup['same_as']} (skipped)")

    @property
    def nothing_to_do(self) -> bool:
        return not self.plan.todo and not self.plan.input_errors

    def execute(self, runner: Runner = run_local, resources: dict[str, Resources] | None = None,
                device: str = "cpu") -> RunSummary:
        if self.nothing_to_do:  # no model work, no rows, no run record
            self.summary.wall_seconds = time.time() - self.started
            return self.summary
        s = self.settings
        resources = resources or stage_resources(2, 0, bool(s.transcripts.model), bool(s.keypoints.checkpoint))
        pipeline = build_pipeline(s, self.lake, self.run_id, resources, device, self.plan.skip_ids)
        self.log(f"stages: {' -> '.join(stage.name for stage in pipeline.stages)}")
        ok, errors = runner(pipeline, self.plan.todo) if self.plan.todo else ([], [])
        receipts = [r for r in ok if r.get("kind") == RECEIPT]
        meta = {"started": self.started, "started_at": self.started_at, "corpus": self.corpus,
                "settings": s.to_dict()}
        return commit_run(self.lake, self.plan, receipts, errors, self.summary, meta)


def run_preprocess(corpus: str, lake: Lake, settings: PreprocessSettings, runner: Runner = run_local,
                   resources: dict[str, Resources] | None = None, device: str = "cpu", retry_errors: bool = False,
                   log: Callable[[str], None] = print) -> RunSummary:
    """List `corpus`, skip what `lake` has for these settings, process the rest with `runner`, commit."""
    return PreprocessRun(corpus, lake, settings, retry_errors, log).execute(runner, resources, device)
