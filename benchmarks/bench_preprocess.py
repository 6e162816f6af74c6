"""Throughput of the preprocessing job on Ray with 1 and 2 CPUs, next to the standalone decode + landmark cost.

For each CPU count: a fresh local Ray (`ray.init(num_cpus=n)`, its start timed apart), a fresh lake, the whole job
(`PreprocessRun` with `run_ray` and `stage_resources(n, ...)`): seconds of source video per wall second and clip
frames per second. Then, in this process and on one thread, the same clips' decode + face track + landmarks
(`space.face.landmarks.track_video` with the job's settings), the work that dominates the job: the gap between the
two is Ray's overhead plus the stages the standalone loop leaves out (probe, VAD, audio features, the writes).

    python benchmarks/bench_preprocess.py                                   # 16 synthetic clips
    python benchmarks/bench_preprocess.py --corpus ../shared/data/videos --out benchmarks/results/preprocess_shared.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402
from benchmarks.bench_fan import cpu_name  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "preprocess.json"


def run_job(corpus: str, lake_uri: str, cpus: int) -> dict:
    import ray

    from pipelines.lake import Lake
    from pipelines.preprocess import PreprocessRun, PreprocessSettings, stage_resources
    from pipelines.ray_adapter import run_ray

    start = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    ray_start = time.perf_counter() - start
    try:
        settings = PreprocessSettings()
        run = PreprocessRun(corpus, Lake(lake_uri), settings, log=lambda _: None)
        summary = run.execute(run_ray, stage_resources(cpus, 0, False, False))
    finally:
        ray.shutdown()
    t = summary.throughput()
    return {
        "cpus": cpus,
        "ray_start_seconds": round(ray_start, 2),
        "job_seconds": round(summary.wall_seconds, 2),
        "videos": summary.videos,
        "clips": summary.clips,
        "frames": summary.frames,
        "source_seconds": round(summary.source_seconds, 2),
        "clip_seconds": round(summary.clip_seconds, 2),
        "errors": summary.errors,
        "source_seconds_per_second": round(t["source_seconds_per_second"], 3),
        "frames_per_second": round(t["frames_per_second"], 2),
    }


def standalone(lake_uri: str) -> dict:
    """Decode + landmarks of the clips the job made, one after another, one thread."""
    import torch

    from pipelines.lake import Lake
    from pipelines.stages.faces import FaceSettings
    from space.face.backend import make_backend
    from space.face.landmarks import track_video

    torch.set_num_threads(1)
    s = FaceSettings()
    backend = make_backend(s.backend)
    clips = Lake(lake_uri).read("clips", columns=["uri", "start_frame", "num_frames"]).to_pylist()
    frames = 0
    start = time.perf_counter()
    for c in clips:
        track, _, _ = track_video(c["uri"], backend, max_side=s.max_side, start_frame=c["start_frame"],
                                  num_frames=c["num_frames"], detect_every=s.detect_every,
                                  min_detected=s.min_detected, max_crowded=s.max_crowded)
        frames += len(track)
    seconds = time.perf_counter() - start
    return {"clips": len(clips), "frames": frames, "seconds": round(seconds, 2),
            "frames_per_second": round(frames / max(seconds, 1e-9), 2)}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", help="folder of videos (default: make the synthetic corpus)")
    p.add_argument("--clips", type=int, default=16, help="synthetic clips when no --corpus")
    p.add_argument("--cpus", type=int, nargs="+", default=[1, 2], help="local Ray CPU counts to run")
    p.add_argument("--out", default=str(RESULTS), help="JSON to write")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-preprocess-") as tmp:
        corpus = args.corpus
        if corpus is None:
            from space.synth.corpus import CorpusConfig, write_corpus

            corpus = os.path.join(tmp, "corpus")
            write_corpus(corpus, CorpusConfig(clips=args.clips, seed=1), progress=False)
        runs = []
        for cpus in args.cpus:
            lake = os.path.join(tmp, f"lake-{cpus}")
            runs.append(run_job(corpus, lake, cpus))
            print(json.dumps(runs[-1]), flush=True)
        alone = standalone(os.path.join(tmp, f"lake-{args.cpus[0]}"))
        print(json.dumps({"standalone": alone}), flush=True)
    result = {
        "benchmark": "preprocess",
        "corpus": args.corpus or f"synthetic ({args.clips} clips, 256x256)",
        "cpu": cpu_name(),
        "machine_cpus": os.cpu_count(),
        "settings": "defaults (dlib landmarks, detect every 5th frame, max side 640; no transcripts, no keypoints)",
        "runs": runs,
        "standalone_decode_landmarks": alone,
        "ray_vs_standalone_frames_per_second": {
            str(r["cpus"]): round(r["frames_per_second"] / max(alone["frames_per_second"], 1e-9), 3) for r in runs
        },
        "errors_by_reason": dict(Counter({k: v for r in runs[:1] for k, v in r["errors"].items()})),
    }
    return write_result(args.out, result, indent=1)


if __name__ == "__main__":
    main()
