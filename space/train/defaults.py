"""The default checkpoints shipped in space/checkpoints/: S2L and the pose generator, trained on the synthetic corpus.

    python -m space.train.defaults [--out space/checkpoints] [--quick] [--threads 1]

Deterministic: fixed corpus seeds (training and validation clips come from different seeds) and training seeds,
so a re-run on the same machine writes the same weights. A few minutes on 2 CPU cores; --quick is a smoke run
(tens of seconds, weights good enough only for tests). Each checkpoint records the exact command, the corpus
digests, the steps, the seed and the validation metrics (space.models.checkpoint).

No l2l.pt is made: Landmarks2Latents maps onto one face-vid2vid checkpoint's keypoint space, so it is trained
against the user's face-vid2vid (space.train.loop.train_l2l; docs/models.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import time
from pathlib import Path

import torch

from ..models.checkpoint import CHECKPOINTS_DIR, save_checkpoint
from ..models.pose import PoseConfig
from ..models.s2l import S2LConfig
from .data import SequenceDataset, corpus_digest, synthetic_clips
from .loop import train_pose, train_s2l

TRAIN_SEED, VAL_SEED, AUGMENT_SEED = 101, 202, 303
FULL = {"train_clips": 320, "val_clips": 32, "s2l_steps": 500, "pose_steps": 400}
QUICK = {"train_clips": 48, "val_clips": 8, "s2l_steps": 40, "pose_steps": 40}


def _fmt(metrics: dict) -> str:
    keys = [k for k in metrics if k.startswith("val_") and isinstance(metrics[k], float)][:6]
    return ", ".join(f"{k}={metrics[k]:.4g}" for k in keys)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m space.train.defaults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(CHECKPOINTS_DIR), help="folder or URI for s2l.pt and pose.pt")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few clips and steps")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: the same weights on any machine, and small GRU ops "
                             "gain nothing from more)")
    args = parser.parse_args(argv)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(max(1, args.threads))
    try:
        return _train_and_write(args, argv)
    finally:
        torch.set_num_threads(threads_before)


def _train_and_write(args, argv: list[str]) -> int:
    plan = QUICK if args.quick else FULL
    command = shlex.join(["python", "-m", "space.train.defaults", *argv])
    started = time.perf_counter()

    train_clips = synthetic_clips(plan["train_clips"], TRAIN_SEED, progress=True)
    val_clips = synthetic_clips(plan["val_clips"], VAL_SEED, progress=True)
    data = {
        "source": "space.synth.corpus (astronaut photo, formant speech), no frames rendered",
        "train": {"seed": TRAIN_SEED, "clips": len(train_clips), "frames": sum(map(len, train_clips)),
                  "digest": corpus_digest(len(train_clips), TRAIN_SEED)},
        "val": {"seed": VAL_SEED, "clips": len(val_clips), "frames": sum(map(len, val_clips)),
                "digest": corpus_digest(len(val_clips), VAL_SEED)},
        "identity_augmentation": "space.train.data.random_warp: random per draw (train), fixed per clip (val)",
    }
    train = SequenceDataset(train_clips, augment="random")
    val = SequenceDataset(val_clips, augment="fixed", seed=AUGMENT_SEED)
    out = args.out.rstrip("/")
    join = (lambda name: f"{out}/{name}") if "://" in out else (lambda name: str(Path(out) / name))

    for stage, trainer, config, steps in (
        ("s2l", train_s2l, S2LConfig(), plan["s2l_steps"]),
        ("pose", train_pose, PoseConfig(), plan["pose_steps"]),
    ):
        seed = 0
        model, metrics = trainer(train, val, config, steps=steps, lr=2e-3, seed=seed, device="cpu", progress=True)
        training = {
            "data": data, "steps": steps, "seed": seed, "metrics": metrics, "command": command,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "torch_version": torch.__version__, "threads": torch.get_num_threads(), "quick": args.quick,
        }
        uri = save_checkpoint(join(f"{stage}.pt"), model, stage, training)
        print(f"{stage}: {uri} ({metrics['params']} parameters, {metrics['train_seconds']:.0f} s): {_fmt(metrics)}")
    print(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
