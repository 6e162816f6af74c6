"""Train the SPACE stages on a preprocessed lake with Ray Train.

    ray job submit --working-dir . -- python jobs/train.py --stage s2l --lake s3://bucket/lake --checkpoints s3://bucket/ckpt

With no arguments: every stage the lake at out/lake can feed (S2L and pose; L2L when the lake has face-vid2vid
keypoints), preset `small`, 2 workers on a local Ray, checkpoints into out/checkpoints. Fine-tuning face-vid2vid
is its own stage (never part of `all`: it is expensive):

    python jobs/train.py --stage facevid2vid --facevid2vid vox-256.pth.tar [--vgg-weights vgg19-dcbb9e9d.pth]

Run `python jobs/train.py --help` for every option.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python jobs/train.py` from a checkout

from pipelines.cluster import init_ray, write_summary  # noqa: E402
from pipelines.train.presets import PRESETS, apply_overrides, preset  # noqa: E402

STAGES = ("s2l", "pose", "l2l")  # what --stage all may train
FINE_TUNE = "facevid2vid"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="jobs/train.py",
        description=(
            "Train Speech2Landmarks, the pose generator and Landmarks2Latents on the Delta tables of "
            "jobs/preprocess.py with Ray Train (DDP across workers, gloo on CPUs, NCCL on GPUs). Checkpoints go "
            "to --checkpoints through Ray Train's storage; the best by validation becomes <stage>.pt there, "
            "which `space animate --checkpoints` and jobs/render.py load, next to <stage>.json (the run, the "
            "best epoch, every epoch's metrics), <stage>_metrics.csv and <stage>_curves.png. Submitting the "
            "same run again resumes it; a finished run trains nothing. --stage facevid2vid fine-tunes a public "
            "face-vid2vid checkpoint (--facevid2vid) on (source, driving) frame pairs of the lake's clips; the best "
            "epoch by validation L1 becomes facevid2vid.pth.tar (+ facevid2vid.json, its network config) for "
            "`space animate --renderer facevid2vid`, with the marker facevid2vid.run.json."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--stage", choices=[*STAGES, FINE_TUNE, "all"], default="all",
                   help="what to train; all = every stage the lake has the data for among s2l, pose and l2l "
                        "(never facevid2vid: fine-tuning it is expensive, ask for it by name)")
    p.add_argument("--lake", default="out/lake", help="the preprocessing lake (folder or s3:// prefix)")
    p.add_argument("--checkpoints", default="out/checkpoints", help="where checkpoints go (folder or s3:// prefix)")
    p.add_argument("--settings-id", help="which preprocessing settings' rows (default: the newest run's)")
    p.add_argument("--preset", default="small", help=f"training preset: {', '.join(PRESETS['s2l'])}")
    g = p.add_argument_group("face-vid2vid fine-tuning (--stage facevid2vid)")
    g.add_argument("--facevid2vid", metavar="CHECKPOINT",
                   help="public-format face-vid2vid checkpoint to fine-tune (path or URI every worker can read); "
                        "required for --stage facevid2vid")
    g.add_argument("--facevid2vid-config", metavar="JSON",
                   help="JSON of the network widths (FaceVid2VidConfig), for a checkpoint that is not vox-256")
    g.add_argument("--vgg-weights", metavar="PATH",
                   help="torchvision's VGG19 ImageNet weights (vgg19-dcbb9e9d.pth) for the perceptual loss; without "
                        "them the perceptual term is off (the summary says so)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a preset value, e.g. --set epochs=5 --set lr=1e-3 --set model.hidden=64")
    p.add_argument("--num-workers", type=int, default=2, help="Ray Train workers (DDP ranks)")
    p.add_argument("--gpu", action="store_true", help="one GPU per worker (NCCL, bfloat16 autocast)")
    p.add_argument("--max-failures", type=int, default=3, help="worker failures to recover from per run")
    p.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                   help="Ray cluster address (default: RAY_ADDRESS, as `ray job submit` sets it; else a local Ray)")
    p.add_argument("--summary-json", help="also write the summaries here as JSON")
    return p.parse_args(argv)


def _stages(requested: str, lake) -> list[str]:
    if requested != "all":
        return [requested]
    has_keypoints = lake.exists("sequences") and lake.read("sequences", columns=["kp_params"]).column(
        "kp_params").null_count < lake.read("sequences", columns=["id"]).num_rows
    return ["s2l", "pose"] + (["l2l"] if has_keypoints else [])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.stage == FINE_TUNE and not args.facevid2vid:
        raise SystemExit("jobs/train.py: --stage facevid2vid needs --facevid2vid CHECKPOINT (the public-format "
                         "checkpoint to fine-tune)")
    from pipelines.lake import Lake
    from pipelines.train.trainer import run_training

    lake = Lake(args.lake)
    stages = _stages(args.stage, lake)
    source = None
    if args.stage == FINE_TUNE:
        from pipelines.train.facevid2vid import FaceVid2VidSource

        from space.errors import SpaceError

        try:  # the files must be there (and the config valid) before Ray starts
            source = FaceVid2VidSource.from_files(args.facevid2vid, args.facevid2vid_config, args.vgg_weights)
        except (SpaceError, ValueError, TypeError) as exc:
            raise SystemExit(f"jobs/train.py: {exc}") from exc
    init_ray(args.address)
    summaries = []
    for stage in stages:
        chosen = apply_overrides(preset(stage, args.preset), args.overrides)
        if stage == FINE_TUNE:
            from pipelines.train.facevid2vid import run_facevid2vid_training

            summary = run_facevid2vid_training(lake, args.checkpoints, chosen, source, args.preset, args.num_workers,
                                               args.gpu, args.settings_id, args.max_failures)
        else:
            summary = run_training(stage, lake, args.checkpoints, chosen, args.preset, args.num_workers, args.gpu,
                                   args.settings_id, args.max_failures)
        print(summary.text(), flush=True)
        summaries.append(summary)
    write_summary(args.summary_json, [s.__dict__ for s in summaries])
    return 0


if __name__ == "__main__":
    sys.exit(main())
