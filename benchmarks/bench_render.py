"""Throughput of the render job (jobs/render.py's engine) with the warp renderer on this machine's CPUs.

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


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=24, help="requests in the campaign")
    p.add_argument("--seconds", type=float, default=4.0, help="seconds of speech per request")
    p.add_argument("--ray-cpus", type=int, default=2, help="CPUs of the local Ray of run 2")
    p.add_argument("--out", default=str(RESULTS), help="JSON to write")
    args = p.parse_args(argv)

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
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
