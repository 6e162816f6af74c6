"""The default checkpoints shipped in space/checkpoints/: S2L and the pose generator, trained on the phonetic
corpus (space.synth.phonetic: speech from espeak-ng, Festival and Flite whose phone timings are exact, with
coarticulated mouth targets, and monologues with speech-driven head motion calibrated to real talking heads).

    python -m space.train.defaults [--out space/checkpoints] [--quick] [--threads 1]

Needs espeak-ng, festival (festvox-kallpc16k, festvox-us-slt-hts) and flite (scripts/setup.sh installs them).
Deterministic: fixed corpus seeds (training and validation utterances come from different seeds) and training
seeds, so a re-run on the same machine writes the same weights. About an hour on one CPU core; --quick is a
smoke run (a minute, weights good enough only for tests). Each checkpoint records the exact command, the corpus
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
from dataclasses import asdict
from pathlib import Path

import torch

from ..models.checkpoint import CHECKPOINTS_DIR, save_checkpoint
from ..models.pose import PoseConfig
from ..models.s2l import S2LConfig
from ..synth.phonetic import PhoneticCorpusConfig, build_corpus, build_monologues
from .data import SequenceDataset, monologue_sequences, phonetic_sequences
from .loop import train_pose, train_s2l

TRAIN_SEED, VAL_SEED, AUGMENT_SEED = 101, 202, 303
FULL = {"train_utterances": 4000, "val_utterances": 48, "train_monologues": 600, "val_monologues": 16,
        "s2l_steps": 12000, "pose_steps": 1500}
QUICK = {"train_utterances": 40, "val_utterances": 8, "train_monologues": 12, "val_monologues": 4,
         "s2l_steps": 40, "pose_steps": 40}
#: batch size and crop length (frames) per stage: S2L sees 3.2 s windows, the pose generator 8 s from the start
S2L_BATCH, POSE_BATCH = (16, 80), (8, 200)
#: the pose generator's units for a few degrees of motion (real talking heads: std 2.5-3 degrees, 0.2-0.3
#: degrees per frame); the generic PoseConfig default is sized for the wide sweeps of the formant corpus
POSE_CONFIG = PoseConfig(pose_scale=(3.0, 3.0, 3.0, 0.03, 0.03, 0.01),
                         velocity_scale=(0.3, 0.3, 0.3, 0.003, 0.003, 0.001),
                         limits=(20.0, 15.0, 15.0, 0.2, 0.2, 0.06),
                         max_velocity=(2.0, 2.0, 2.0, 0.02, 0.02, 0.005))


def _fmt(metrics: dict) -> str:
    keys = [k for k in metrics if k.startswith(("val_", "sample_std", "data_std")) and isinstance(metrics[k], float)]
    return ", ".join(f"{k}={metrics[k]:.4g}" for k in keys[:9])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m space.train.defaults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(CHECKPOINTS_DIR), help="folder or URI for s2l.pt and pose.pt")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few utterances and steps")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: the same weights on any machine, and small GRU ops "
                             "gain nothing from more)")
    parser.add_argument("--stages", default="s2l,pose", help="which checkpoints to train (comma separated)")
    args = parser.parse_args(argv)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(max(1, args.threads))
    try:
        return _train_and_write(args, argv)
    finally:
        torch.set_num_threads(threads_before)


def _corpus(plan: dict, progress: bool):
    """(train, val) phonetic clips, (train, val) monologues, and the description recorded in the checkpoints."""
    configs = {"train": PhoneticCorpusConfig(utterances=plan["train_utterances"], seed=TRAIN_SEED),
               "val": PhoneticCorpusConfig(utterances=plan["val_utterances"], seed=VAL_SEED)}
    clips, monologues, data = {}, {}, {"source": "space.synth.phonetic (espeak-ng, Festival, Flite)"}
    for split, config in configs.items():
        built, errors = build_corpus(config, progress=progress)
        if not built:
            reasons = "; ".join(sorted({e["reason"] for e in errors}))[:300]
            raise RuntimeError(f"the phonetic corpus ({split}) has no clips: every utterance failed ({reasons})")
        count = plan[f"{split}_monologues"]
        clips[split] = phonetic_sequences(built, progress=progress)
        monologues[split] = monologue_sequences(build_monologues(built, count, config.seed), progress=progress)
        data[split] = {"config": asdict(config), "digest": config.digest(), "clips": len(built),
                       "failed_utterances": len(errors), "frames": sum(map(len, clips[split])),
                       "monologues": count, "monologue_frames": sum(map(len, monologues[split])),
                       "engines": _count(c.plan.engine for c in built)}
    data["identity_augmentation"] = "space.train.data.random_warp: random per draw (train), fixed per clip (val)"
    data["spectral_augmentation"] = "space.train.data.spectral_augment on every S2L training draw"
    return clips, monologues, data


def _count(values) -> dict:
    out: dict = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def _train_and_write(args, argv: list[str]) -> int:
    plan = QUICK if args.quick else FULL
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(stages) - {"s2l", "pose"})
    if unknown:
        raise SystemExit(f"--stages: unknown stage(s) {', '.join(unknown)}; choose from s2l, pose")
    command = shlex.join(["python", "-m", "space.train.defaults", *argv])
    started = time.perf_counter()
    clips, monologues, data = _corpus(plan, progress=True)
    out = args.out.rstrip("/")
    join = (lambda name: f"{out}/{name}") if "://" in out else (lambda name: str(Path(out) / name))

    runs = {
        "s2l": (train_s2l, S2LConfig(), plan["s2l_steps"], S2L_BATCH,
                SequenceDataset(clips["train"], augment="random", spectral=True),
                SequenceDataset(clips["val"], augment="fixed", seed=AUGMENT_SEED)),
        "pose": (train_pose, POSE_CONFIG, plan["pose_steps"], POSE_BATCH,
                 SequenceDataset(monologues["train"], crops="start"),
                 SequenceDataset(monologues["val"], crops="start")),
    }
    for stage in stages:
        trainer, config, steps, (batch_size, frames), train, val = runs[stage]
        seed = 0
        model, metrics = trainer(train, val, config, steps=steps, lr=2e-3, seed=seed, device="cpu", progress=True,
                                 batch_size=batch_size, frames=frames)
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
