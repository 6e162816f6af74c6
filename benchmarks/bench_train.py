"""Training throughput of jobs/train.py's engine: samples/s with 1 and 2 Ray Train workers on CPU, and the share of
step time spent waiting for data (Ray Data making windows) rather than computing.

A lake is made from the synthetic corpus (or given with --lake); each worker count trains S2L with the `small`
preset for a few epochs into a fresh folder; the figures are the mean over the epochs after the first (the
first pays for actor start-up). samples/s is per worker; the job's is that times the workers.

    python benchmarks/bench_train.py                    # CPU, 1 and 2 workers
    python benchmarks/bench_train.py --gpu --workers 1  # on a GPU machine with Ray
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402
from benchmarks.bench_fan import cpu_name  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "train.json"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lake", help="a preprocessed lake (default: make one from 16 synthetic clips)")
    p.add_argument("--stage", default="s2l", choices=["s2l", "pose", "l2l"])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--gpu", action="store_true")
    p.add_argument("--out", default=str(RESULTS))
    args = p.parse_args(argv)

    import numpy as np
    import ray

    from pipelines.lake import Lake
    from pipelines.train.presets import apply_overrides, preset
    from pipelines.train.trainer import run_training

    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        if args.lake:
            lake = Lake(args.lake)
        else:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
            from tests.support.lakes import make_training_lake

            lake = make_training_lake(tmp, clips=16, keypoints=args.stage == "l2l")
        ray.init(include_dashboard=False, log_to_driver=False)
        try:
            for workers in args.workers:
                chosen = apply_overrides(preset(args.stage, "small"), [f"epochs={args.epochs}", "seed=1"])
                summary = run_training(args.stage, lake, os.path.join(tmp, f"ckpt-{workers}"), chosen,
                                       f"bench{workers}", num_workers=workers, use_gpu=args.gpu, log=print)
                later = summary.history[1:] or summary.history
                run = {
                    "workers": workers,
                    "epochs": len(summary.history),
                    "train_seconds": round(summary.seconds, 1),
                    "samples_per_epoch": int(sum(h["samples"] for h in later) / len(later)),
                    "samples_per_second_per_worker": round(float(np.mean([h["samples_per_second"] for h in later])), 2),
                    "data_wait_share": round(float(np.mean([h["data_wait_share"] for h in later])), 3),
                    "best_val_loss": round(float(summary.best["val_loss"]), 5),
                }
                run["samples_per_second"] = round(run["samples_per_second_per_worker"] * workers, 2)
                runs.append(run)
                print(json.dumps(run), flush=True)
        finally:
            ray.shutdown()
    result = {"benchmark": "train", "stage": args.stage, "preset": "small", "device": "cuda" if args.gpu else "cpu",
              "cpu": cpu_name(), "machine_cpus": os.cpu_count(), "lake": args.lake or "synthetic (16 clips)",
              "runs": runs}
    return write_result(args.out, result, indent=1)


if __name__ == "__main__":
    main()
