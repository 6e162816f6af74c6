r"""Throughput of the render job (jobs/render.py's engine) with the warp renderer on this machine's CPUs.

A demo campaign (`pipelines.render.campaign.write_campaign`: N rows of S seconds of synthetic speech, the
astronaut photo in four variants, every kind of head pose) is rendered three times:

  1. in this process (`RenderRun(...).execute()` with the local streamer `iter_local`);
  2. on a fresh local Ray with 2 CPUs (`init_ray(None, 2)`, `iter_ray`, `render_resources(2, 0, False)`) into a
     fresh output folder; Ray's start is timed apart and not counted in the throughput;
  3. run 2's batch again: the time to find that there is nothing left to do (no Ray is started).

For runs 1 and 2: wall seconds (from the RenderRun's construction, so validation and the weights' SHA-256 are
in it, to the gallery), videos/hour, frames/s, and each stage's share of the summed worker time
(`RenderSummary.stage_share`: prepare, motion, render, encode, join). Videos are 256x256, the job's default.

    python benchmarks/bench_render.py                          # 24 rows of 4 s -> benchmarks/results/render.json
    python benchmarks/bench_render.py --rows 8 --seconds 3 --out /tmp/render.json

No GPU numbers: the facevid2vid renderer at 512 needs a session with a GPU and face-vid2vid weights.

--model-stage: the render job's model stage alone (pipelines.render.stages.AnimateStage: S2L -> pose -> L2L ->
face-vid2vid, frames of several requests per renderer batch) with the facevid2vid renderer at --size (512) and
RANDOM weights in the real formats (a temp checkpoints folder: facevid2vid.pth.tar with the public vox widths,
facevid2vid.json, l2l.pt; the shipped s2l.pt / pose.pt; --tiny: the narrow test widths, for a CPU smoke run).
--renderer liveportrait measures LivePortrait instead (its release layout at the release widths, random, and an
L2L for its 21 keypoints; it draws 512 and resizes to --size).
--requests (8) campaign rows of --seconds (10) of speech go through PrepareStage, then, per --frames-per-batch
value (16; "8,16,32" gives one result each), one untimed warm-up request and the timed
`AnimateStage.process_stream(rows)`, consumed fully (cuda synchronised). Per value: frames/s, the seconds inside
the motion, the renderer's start and draw, the share of wall time outside draw (the GPU waiting for the CPU),
and on cuda the GPU's utilisation (NVML every 0.1 s: mean, p10, p50) and peak memory. --dtype bfloat16 runs the
renderer's start and draw under torch.autocast (the motion stays float32: it hands tensors to numpy).
-> benchmarks/results/render_model_stage.json. Ray is not imported.

    python benchmarks/bench_render.py --model-stage --tiny --size 256 --requests 2 --seconds 2     # CPU smoke

On a GPU machine without dlib's 68-point model (the device image: no dlib, no PyAV; the model is 95 MiB, too big
to carry), prepare the rows where dlib is (here), then time them there (PyAV is stubbed when missing: the model
stage decodes and encodes nothing):

    echo /.bench/ >> .git/info/exclude                      # here, once: the rows travel as an ignored folder
    .venv/bin/python benchmarks/bench_render.py --model-stage --size 512 --prepare-only \
        --save-prepared .bench/render-512.pkl                # 8 requests x 10 s + the warm-up's: 12 MiB
    # on the GPU machine (device tool: carry [".bench"]):
    PYTHONUNBUFFERED=1 python3 benchmarks/bench_render.py --model-stage --device cuda --size 512 \
        --frames-per-batch 8,16,32 --prepared .bench/render-512.pkl --out $OUT/render_model_stage.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402
from benchmarks.bench_fan import cpu_name  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "render.json"
STAGES = ("prepare", "motion", "render", "encode", "join")


def quiet(_: str) -> None:
    pass


def numbers(summary, seconds: float | None = None) -> dict:
    """The figures of one run from its RenderSummary."""
    t = summary.throughput()
    share = summary.stage_share()
    return {
        "wall_seconds": round(summary.wall_seconds, 2),
        "requests": summary.requests,
        "rendered": summary.rendered,
        "skipped": summary.skipped,
        "failed": summary.failed,
        "invalid": summary.invalid,
        "errors": summary.errors,
        "frames": summary.frames,
        "video_seconds": round(summary.video_seconds, 2),
        "videos_per_hour": round(t["videos_per_hour"], 1),
        "frames_per_second": round(t["frames_per_second"], 2),
        "video_seconds_per_wall_second": round(summary.video_seconds / max(summary.wall_seconds, 1e-9), 3),
        "stage_share": {k: share.get(k, 0.0) for k in STAGES} | {k: v for k, v in share.items() if k not in STAGES},
        "stage_worker_seconds": {k: round(v, 2) for k, v in sorted(summary.stage_seconds.items())},
    }


def video_bytes(out: str) -> dict:
    sizes = [p.stat().st_size for p in Path(out, "videos").glob("*.mp4")]
    return {"videos": len(sizes), "mean_mp4_kib": round(sum(sizes) / max(len(sizes), 1) / 1024, 1)}


# ------------------------------------------------------------------------------------------ --model-stage

MODEL_STAGE_RESULTS = Path(__file__).resolve().parent / "results" / "render_model_stage.json"
MODEL_STAGE_DTYPES = ("float32", "bfloat16")


def _stub_av() -> str:
    """Make `import av` work where PyAV is not installed (the GPU image has none). The model stage decodes and
    encodes nothing: `space.io.audio` / `space.io.mp4` only import av at module level (their annotations are
    strings), so an empty module is enough for it. Returns how av was found."""
    try:
        import av  # noqa: F401

        return f"PyAV {av.__version__}"
    except ImportError:
        import types

        av = types.ModuleType("av")
        av.__version__ = "stub"
        for name in ("error", "container", "stream", "video", "audio"):
            sub = types.ModuleType(f"av.{name}")
            setattr(av, name, sub)
            sys.modules[f"av.{name}"] = sub
        sys.modules["av"] = av
        return "stub (PyAV not installed; the model stage decodes and encodes nothing)"


def write_liveportrait_checkpoints(folder: Path, tiny: bool) -> dict:
    """LivePortrait's release layout with random weights (release widths, or tests.support.tiny_liveportrait's
    narrow ones) under folder/liveportrait/, and an L2L for its 21 keypoints and 70 params."""
    import torch

    from space.models.checkpoint import save_checkpoint
    from space.models.l2l import L2LConfig, Landmarks2Latents
    from space.models.liveportrait import LivePortrait

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    if tiny:
        from tests.support.tiny_liveportrait import write_release

        model = write_release(folder / "liveportrait", input_size=256)
    else:
        model = LivePortrait()
        model.save_release(folder / "liveportrait")
    l2l = Landmarks2Latents(L2LConfig(keypoints=21, params=70))
    save_checkpoint(str(folder / "l2l.pt"), l2l, "l2l", {"note": "random init, for benchmarks/bench_render.py"})
    return {"widths": "tests.support.tiny_liveportrait (narrow, 21 keypoints)" if tiny else
            "the release's (LivePortraitConfig defaults, src/config/models.yaml)",
            "liveportrait_parameters": sum(p.numel() for p in model.parameters()),
            "l2l_parameters": sum(p.numel() for p in l2l.parameters()),
            "s2l_pose": "the shipped space/checkpoints/s2l.pt and pose.pt"}


def write_checkpoints(folder: Path, size: int, tiny: bool) -> dict:
    """Random-init weights in the real formats (tests/support/tiny_facevid2vid.write_renderer_checkpoints'
    layout): facevid2vid.pth.tar (public layout) + facevid2vid.json (its widths) + l2l.pt. No s2l.pt / pose.pt:
    the job then loads the shipped ones, as with a real facevid2vid folder. `tiny`: the narrow test widths."""
    import dataclasses

    import torch

    from space.models.checkpoint import save_checkpoint
    from space.models.facevid2vid import FaceVid2VidConfig
    from space.models.facevid2vid.model import FaceVid2Vid
    from space.models.l2l import L2LConfig, Landmarks2Latents

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    if tiny:
        from tests.support.tiny_facevid2vid import renderer_config

        config = dataclasses.replace(renderer_config(), size=size)
    else:
        config = FaceVid2VidConfig(size=size)  # the public vox widths, at `size`
    model = FaceVid2Vid(config)
    model.save_checkpoint(str(folder / "facevid2vid.pth.tar"))
    (folder / "facevid2vid.json").write_text(json.dumps(config.to_dict()))
    l2l = Landmarks2Latents(L2LConfig())
    save_checkpoint(str(folder / "l2l.pt"), l2l, "l2l", {"note": "random init, for benchmarks/bench_render.py"})
    return {"widths": "tests.support.tiny_facevid2vid.renderer_config (narrow, 15 keypoints)" if tiny else
            "public vox (FaceVid2VidConfig defaults)",
            "facevid2vid_parameters": sum(p.numel() for p in model.parameters()),
            "l2l_parameters": sum(p.numel() for p in l2l.parameters()),
            "s2l_pose": "the shipped space/checkpoints/s2l.pt and pose.pt"}


def prepare_rows(folder: Path, settings, requests: int, seconds: float) -> list[dict]:
    """`requests` + 1 (the last one is the warm-up) campaign rows of `seconds` of speech through PrepareStage,
    as the job hands them to AnimateStage (validated, with "id" and "spec"; the renderer is set per run)."""
    from pipelines.render.campaign import write_campaign
    from pipelines.render.requests import load_requests
    from pipelines.render.stages import PrepareStage

    table = write_campaign(folder, rows=requests + 1, seconds=seconds)
    loaded = load_requests(str(table), default_renderer="facevid2vid")
    if loaded.invalid:
        raise SystemExit(f"invalid campaign rows: {loaded.invalid}")
    rows = [{**r, "renderer": "facevid2vid", "id": r["request_id"], "spec": "bench"} for r in loaded.valid]
    stage = PrepareStage(settings)
    stage.setup()
    prepared = stage.process(rows)
    failed = [r for r in prepared if r.get("error")]
    if failed:
        raise SystemExit(f"PrepareStage failed: {failed}")
    return prepared


class GpuSampler:
    """GPU utilisation (and memory in use) every `interval` s in a background thread: torch.cuda.utilization
    (NVML through pynvml), else `nvidia-smi`. NVML's utilisation is the share of its last sample period (1/6 s
    to 1 s by GPU) in which any kernel ran; it says nothing of how full the kernels keep the GPU."""

    def __init__(self, device, interval: float = 0.1):
        import threading

        self.device, self.interval = device, interval
        self.util: list[float] = []
        self.memory_mib: list[float] = []
        self.method = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _nvml(self) -> tuple[float, float | None]:
        import torch

        used = None
        if hasattr(torch.cuda, "device_memory_used"):
            used = torch.cuda.device_memory_used(self.device) / 2 ** 20
        return float(torch.cuda.utilization(self.device)), used

    def _smi(self) -> tuple[float, float | None]:
        import subprocess

        index = self.device.index or 0
        out = subprocess.run(["nvidia-smi", f"--id={index}", "--query-gpu=utilization.gpu,memory.used",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=5,
                             check=True).stdout.strip().splitlines()[0]
        util, used = (float(v) for v in out.split(","))
        return util, used

    def start(self) -> "GpuSampler":
        for name, probe in (("torch.cuda.utilization (pynvml)", self._nvml), ("nvidia-smi", self._smi)):
            try:
                probe()
            except Exception:  # noqa: BLE001 - no pynvml / no nvidia-smi: try the next, or sample nothing
                continue
            self.method, self._probe = name, probe
            self._thread.start()
            break
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                util, used = self._probe()
            except Exception:  # noqa: BLE001 - a failed sample is skipped
                continue
            self.util.append(util)
            if used is not None:
                self.memory_mib.append(used)

    def stop(self) -> dict:
        import numpy as np

        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if not self.util:
            return {"method": self.method, "samples": 0, "mean": None, "p10": None, "p50": None,
                    "peak_memory_used_mib": None}
        u = np.asarray(self.util)
        return {"method": self.method, "samples": len(u), "interval_s": self.interval,
                "mean": round(float(u.mean()), 1), "p10": round(float(np.percentile(u, 10)), 1),
                "p50": round(float(np.percentile(u, 50)), 1), "min": float(u.min()), "max": float(u.max()),
                "peak_memory_used_mib": round(max(self.memory_mib), 1) if self.memory_mib else None}


class Timed:
    """Wraps a bound method in place (an instance attribute): its calls' seconds add up in `seconds`. `context`:
    a context manager factory entered around each call (the renderer's autocast)."""

    def __init__(self, owner, name: str, context=None):
        import contextlib

        self.owner, self.name, self.inner = owner, name, getattr(owner, name)
        self.context = context or contextlib.nullcontext
        self.seconds, self.calls = 0.0, 0
        setattr(owner, name, self)

    def __call__(self, *args, **kwargs):
        tick = time.perf_counter()
        try:
            with self.context():
                return self.inner(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - tick
            self.calls += 1

    def reset(self) -> None:
        self.seconds, self.calls = 0.0, 0

    def restore(self) -> None:
        setattr(self.owner, self.name, self.inner)


def warmup_row(row: dict, frames: int) -> dict:
    """`row` with its speech cut to `frames` frames (when longer): a warm-up needs every step once and two full
    batches at least, not the whole request."""
    from pipelines.blobs import pack_arrays, unpack_arrays
    from space.io.audio import SAMPLE_RATE

    arrays = unpack_arrays(row["inputs"])
    samples = int(round(frames * SAMPLE_RATE / 25.0))
    if len(arrays["audio"]) <= samples:
        return row
    arrays["audio"] = arrays["audio"][:samples]
    return {**row, "inputs": pack_arrays(**arrays), "num_frames": frames}


def consume(stage, rows: list[dict], chunk_frames: int) -> dict:
    """Run `rows` through AnimateStage.process_stream to the end; frames drawn and chunk rows, per request."""
    frames, chunks, errors, done = 0, 0, [], {}
    for part in stage.process_stream(rows):
        for row in part:
            if row.get("error"):
                errors.append({k: row.get(k) for k in ("id", "stage", "kind", "reason")})
                continue
            chunks += 1
            frames += min(chunk_frames, row["num_frames"] - row["first_frame"])
            if row["chunk"] == row["chunks"] - 1:
                done[row["request_id"]] = row["num_frames"]
    if errors:
        raise SystemExit(f"AnimateStage error rows: {errors}")
    missing = {r["request_id"] for r in rows} - set(done)
    if missing:
        raise SystemExit(f"AnimateStage did not finish {sorted(missing)}")
    if frames != sum(done.values()):
        raise SystemExit(f"AnimateStage drew {frames} frames, expected {sum(done.values())}")
    return {"frames": frames, "chunks": chunks, "requests": len(done)}


def model_stage(args, parser) -> dict:
    """--model-stage: AnimateStage (S2L -> pose -> L2L -> face-vid2vid) alone, frames/s and GPU busy."""
    import contextlib
    import pickle

    av_note = _stub_av()
    import torch

    from pipelines.render.stages import AnimateStage, RenderSettings

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = device.type == "cuda"
    if cuda and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    try:
        batches = [int(v) for v in str(args.frames_per_batch).split(",") if v.strip()]
    except ValueError:
        parser.error(f"--frames-per-batch {args.frames_per_batch!r}: integers separated by commas")
    if not batches or min(batches) < 1:
        parser.error("--frames-per-batch: each value must be >= 1")
    requests = args.requests
    seconds = 10.0 if args.seconds is None else args.seconds
    out = args.out or str(MODEL_STAGE_RESULTS)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    if args.prepare_only and (not args.save_prepared or args.prepared):
        parser.error("--prepare-only needs --save-prepared FILE (and no --prepared)")
    with tempfile.TemporaryDirectory(prefix="bench-render-model-") as tmp:
        tmp = Path(tmp)
        tick = time.perf_counter()
        if args.prepare_only:
            weights = {}
        elif args.renderer == "liveportrait":
            weights = write_liveportrait_checkpoints(tmp / "checkpoints", args.tiny)
        else:
            weights = write_checkpoints(tmp / "checkpoints", args.size, args.tiny)
        weights["seconds_to_make"] = round(time.perf_counter() - tick, 1)
        settings = RenderSettings(out=str(tmp / "out"), checkpoints=str(tmp / "checkpoints"), size=args.size,
                                  device=str(device))
        tick = time.perf_counter()
        if args.prepared:  # rows prepared elsewhere (a machine with dlib: the GPU image has none)
            with open(args.prepared, "rb") as f:
                saved = pickle.load(f)
            if saved["size"] != args.size:
                parser.error(f"{args.prepared} holds rows prepared at {saved['size']}, not --size {args.size}")
            requests, seconds = min(args.requests, saved["requests"]), saved["seconds"]
            rows = saved["rows"][:requests] + saved["rows"][-1:]  # the first --requests, and the warm-up
            prepare = {"from": args.prepared, "made": saved.get("made")}
        else:
            rows = prepare_rows(tmp / "campaign", settings, requests, seconds)
            prepare = {"from": "write_campaign + PrepareStage (dlib) in this run",
                       "seconds": round(time.perf_counter() - tick, 1)}
            if args.save_prepared:
                Path(args.save_prepared).parent.mkdir(parents=True, exist_ok=True)
                made = {"size": args.size, "requests": requests, "seconds": seconds,
                        "made": {"at": time.strftime("%Y-%m-%d %H:%M:%S"), "host_cpu": cpu_name()}, "rows": rows}
                with open(args.save_prepared, "wb") as f:
                    pickle.dump(made, f)
                size_mib = Path(args.save_prepared).stat().st_size / 2 ** 20
                print(f"prepared rows -> {args.save_prepared} ({size_mib:.1f} MiB, {len(rows)} rows at {args.size}: "
                      f"{requests} x {seconds:g} s + the warm-up's; {prepare['seconds']} s)", flush=True)
                if args.prepare_only:
                    return {"prepared": args.save_prepared, "rows": len(rows), "size": args.size}
        rows = [{**r, "renderer": args.renderer} for r in rows]
        timed_rows, warmup = rows[:-1], rows[-1]
        print(f"{len(timed_rows)} requests x {seconds:g} s + 1 warm-up; renderer {args.renderer} at {args.size} "
              f"({'tiny' if args.tiny else 'public'} widths, random weights) on {device}, {args.dtype}", flush=True)

        # bfloat16: autocast around the renderer's start (photo encode, L2L) and draw (face-vid2vid), where the
        # compute is. Not around Animator.motion: it hands AudioFeatures' output to numpy, and numpy has no
        # bfloat16 (TypeError: Got unsupported ScalarType BFloat16), so the motion stays float32.
        autocast = ((lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if args.dtype == "bfloat16"
                    else contextlib.nullcontext)
        stage = AnimateStage(settings, frames_per_batch=batches[0])
        tick = time.perf_counter()
        stage.setup()
        animator = stage.animator(args.renderer)  # the models load here (as in the actor's first batch)
        renderer = animator.renderer()
        if args.compile:  # the keypoint model's frame path (warp + generator); the warm-up pays the compile
            renderer.model.render = torch.compile(renderer.model.render, dynamic=False)
        sync()
        load_seconds = time.perf_counter() - tick
        timers = {"motion": Timed(animator, "motion"), "start": Timed(renderer, "start", autocast),
                  "draw": Timed(renderer, "draw", autocast)}
        runs = []
        try:
            for fpb in batches:
                stage.frames_per_batch = fpb
                # warm-up: one request, untimed (allocations, kernel choices at this batch size)
                tick = time.perf_counter()
                consume(stage, [warmup_row(warmup, max(2 * fpb, 25))], settings.chunk_frames)
                sync()
                warm = time.perf_counter() - tick
                for t in timers.values():
                    t.reset()
                if cuda:
                    torch.cuda.reset_peak_memory_stats(device)
                sampler = GpuSampler(device).start() if cuda else None
                tick = time.perf_counter()
                counts = consume(stage, timed_rows, settings.chunk_frames)
                sync()
                wall = time.perf_counter() - tick
                busy = sampler.stop() if sampler else None
                parts = {k: round(t.seconds, 3) for k, t in timers.items()}
                other = wall - sum(t.seconds for t in timers.values())
                run = {
                    "frames_per_batch": fpb,
                    **counts,
                    "seconds": round(wall, 3),
                    "frames_per_second": round(counts["frames"] / wall, 2),
                    "video_seconds_per_wall_second": round(counts["frames"] / 25.0 / wall, 3),
                    "draw_calls": timers["draw"].calls,
                    "seconds_in": parts | {"other": round(other, 3)},
                    "share_outside_draw": round(1 - timers["draw"].seconds / wall, 4),
                    "gpu_utilization_percent": busy,
                    "max_memory_allocated_mib": round(torch.cuda.max_memory_allocated(device) / 2 ** 20, 1)
                    if cuda else None,
                    "max_memory_reserved_mib": round(torch.cuda.max_memory_reserved(device) / 2 ** 20, 1)
                    if cuda else None,
                    "warmup_seconds": round(warm, 3),
                }
                runs.append(run)
                print(json.dumps({k: run[k] for k in ("frames_per_batch", "frames", "seconds", "frames_per_second",
                                                      "share_outside_draw")}
                                 | {"gpu_util_mean": busy and busy["mean"]}), flush=True)
        finally:
            for t in timers.values():
                t.restore()

    result = {
        "benchmark": "render_model_stage",
        "what": "pipelines.render.stages.AnimateStage.process_stream consumed fully (S2L, blinks, gaze, pose, "
                "L2L + the photo's encode per request, then face-vid2vid frames of several requests per batch, "
                "packed into chunk rows); after setup(), the models' load and, per frames_per_batch value, one "
                "untimed warm-up request (its speech cut to max(2 batches, 1 s)). No prepare, no encode.",
        "renderer": args.renderer,
        "size": args.size,
        "weights": weights,
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if cuda else cpu_name(),
        "dtype": args.dtype,
        "compile": "torch.compile(model.render, dynamic=False), compiled in each batch size's warm-up"
                   if args.compile else False,
        "autocast": f"torch.autocast({device.type!r}, dtype=torch.bfloat16) around the renderer's start and draw; "
                    "the motion (S2L, pose) stays float32: Animator.motion hands AudioFeatures' output to numpy, "
                    "which has no bfloat16" if args.dtype == "bfloat16" else None,
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "python": platform.python_version(),
        "av": av_note,
        "load_average_1min_at_start": None if load is None else round(load, 2),
        "requests": len(timed_rows),
        "seconds_per_request": seconds,
        "chunk_frames": settings.chunk_frames,
        "prepare": prepare,
        "models_load_seconds": round(load_seconds, 2),
        "fields": {
            "seconds_in": "wall seconds inside AnimateStage's calls of Animator.motion (S2L, blinks, gaze, pose), "
                          "the renderer's start (photo encode + L2L over the clip) and draw (face-vid2vid on a "
                          "batch, frames back on the host); other = packing chunk rows and bookkeeping",
            "share_outside_draw": "1 - draw seconds / wall seconds: the time the GPU waits for the CPU's side "
                                  "(motion, the per-request start, packing chunks) on this one-actor stage",
            "gpu_utilization_percent": "NVML utilisation sampled every 0.1 s during the timed run (null on CPU)",
        },
        "runs": runs,
    }
    return write_result(out, result, indent=1)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=24, help="requests in the campaign")
    p.add_argument("--seconds", type=float, default=None,
                   help="seconds of speech per request (default 4; 10 with --model-stage)")
    p.add_argument("--ray-cpus", type=int, default=2, help="CPUs of the local Ray of run 2")
    p.add_argument("--out", default=None, help=f"JSON to write (default {RESULTS.relative_to(RESULTS.parents[2])}; "
                   f"{MODEL_STAGE_RESULTS.relative_to(RESULTS.parents[2])} with --model-stage)")
    m = p.add_argument_group("--model-stage: AnimateStage alone with a keypoint renderer (random weights)")
    m.add_argument("--model-stage", action="store_true",
                   help="time the render job's model stage instead of the whole job (see above)")
    m.add_argument("--requests", type=int, default=8,
                   help="timed requests (one more is made for the warm-up; with --prepared: at most the file's)")
    m.add_argument("--size", type=int, default=512, choices=(256, 512), help="image side (default 512)")
    m.add_argument("--compile", action="store_true",
                   help="torch.compile the renderer's frame path (model.render); the untimed warm-ups compile it")
    m.add_argument("--renderer", default="facevid2vid", choices=("facevid2vid", "liveportrait"),
                   help="the keypoint renderer measured (default facevid2vid; liveportrait draws 512)")
    m.add_argument("--device", default=None, help="cuda, cuda:N or cpu (default cuda when there is one)")
    m.add_argument("--frames-per-batch", default="16",
                   help="frames per renderer batch; several, comma-separated, give one result each (e.g. 8,16,32)")
    m.add_argument("--dtype", default="float32", choices=MODEL_STAGE_DTYPES,
                   help="bfloat16: torch.autocast around the renderer's start and draw (default float32, as the job runs)")
    m.add_argument("--tiny", action="store_true",
                   help="the narrow test widths (tests/support/tiny_facevid2vid.py) instead of the public vox widths: "
                        "a CPU smoke run")
    m.add_argument("--save-prepared", metavar="FILE",
                   help="also pickle the prepared rows to FILE, for --prepared on a machine without dlib")
    m.add_argument("--prepare-only", action="store_true",
                   help="with --save-prepared: make the rows and stop (no weights, no timing)")
    m.add_argument("--prepared", metavar="FILE",
                   help="rows from --save-prepared instead of making the campaign and running PrepareStage here")
    args = p.parse_args(argv)
    if args.model_stage:
        return model_stage(args, p)
    if args.seconds is None:
        args.seconds = 4.0
    if args.out is None:
        args.out = str(RESULTS)

    import ray
    import torch

    from pipelines.cluster import init_ray
    from pipelines.ray_adapter import iter_ray
    from pipelines.render.campaign import write_campaign
    from pipelines.render.run import RenderRun, render_resources
    from pipelines.render.stages import RenderSettings

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        tick = time.perf_counter()
        requests = str(write_campaign(Path(tmp, "campaign"), rows=args.rows, seconds=args.seconds))
        campaign_seconds = time.perf_counter() - tick
        print(f"campaign: {args.rows} rows x {args.seconds:g} s ({campaign_seconds:.1f} s to make)", flush=True)

        # 1. in this process
        out1 = os.path.join(tmp, "out-local")
        summary = RenderRun(requests, RenderSettings(out=out1), log=quiet).execute(progress=False)
        local = numbers(summary) | video_bytes(out1)
        print("in-process: " + json.dumps({k: local[k] for k in ("wall_seconds", "rendered", "failed",
                                                                 "videos_per_hour", "frames_per_second")}), flush=True)

        # 2. on a local Ray
        out2 = os.path.join(tmp, "out-ray")
        tick = time.perf_counter()
        init_ray(None, args.ray_cpus, progress_bars=False)
        ray_start = time.perf_counter() - tick
        try:
            cluster = ray.cluster_resources()
            run = RenderRun(requests, RenderSettings(out=out2), log=quiet)
            summary = run.execute(iter_ray, render_resources(cluster.get("CPU", args.ray_cpus), 0, False),
                                  progress=False)
        finally:
            ray.shutdown()
        on_ray = {"cpus": args.ray_cpus, "ray_start_seconds": round(ray_start, 2)} | numbers(summary) | \
            video_bytes(out2)
        print("ray: " + json.dumps({k: on_ray[k] for k in ("ray_start_seconds", "wall_seconds", "rendered", "failed",
                                                           "videos_per_hour", "frames_per_second")}), flush=True)

        # 3. the same batch again: nothing to do
        tick = time.perf_counter()
        again = RenderRun(requests, RenderSettings(out=out2), log=quiet)
        plan_seconds = time.perf_counter() - tick
        nothing = again.nothing_to_do
        summary = again.execute(progress=False)
        rerun = {"seconds": round(time.perf_counter() - tick, 3), "plan_seconds": round(plan_seconds, 3),
                 "nothing_to_do": nothing, "skipped": summary.skipped, "rendered": summary.rendered,
                 "ray_started": False}
        print("re-run: " + json.dumps(rerun), flush=True)

    result = {
        "benchmark": "render",
        "renderer": "warp",
        "size": RenderSettings(out="").size,
        "device": "cpu",
        "gpu": None,
        "gpu_note": "not measured: no GPU in this session; the facevid2vid renderer at 512 (and the warp renderer "
                    "on CUDA) needs a session with a GPU and the face-vid2vid weights (--checkpoints)",
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "ray_version": ray.__version__,
        "python": platform.python_version(),
        "load_average_1min_at_start": None if load is None else round(load, 2),
        "campaign": {"rows": args.rows, "seconds_per_row": args.seconds, "frames": local["frames"],
                     "video_seconds": local["video_seconds"], "seconds_to_make": round(campaign_seconds, 1)},
        "settings": "RenderSettings defaults: 256x256, dlib landmarks, crf 18, chunks of 10 s; warp renderer; "
                    "no subtitles",
        "in_process": local,
        "on_ray": on_ray,
        "rerun_nothing_to_do": rerun,
    }
    return write_result(args.out, result, indent=1)


if __name__ == "__main__":
    main()
