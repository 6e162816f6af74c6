"""Preprocess a talking-head corpus into Delta tables with Ray Data.

    ray job submit --working-dir . -- python jobs/preprocess.py --corpus s3://bucket/raw/ --lake s3://bucket/lake/

With no arguments: makes the synthetic corpus (out/preprocess/corpus) and processes it into out/lake on a local
Ray. Run `python jobs/preprocess.py --help` for every option; docs/lake.md describes the tables.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python jobs/preprocess.py` from a checkout

from pipelines.cluster import add_cluster_arguments, connect, write_summary  # noqa: E402
from pipelines.preprocess import PreprocessRun, PreprocessSettings, stage_resources  # noqa: E402
from pipelines.stages.audio import TranscriptSettings  # noqa: E402
from pipelines.stages.clips import ClipSettings  # noqa: E402
from pipelines.stages.faces import FaceSettings  # noqa: E402
from pipelines.stages.keypoints import KeypointSettings  # noqa: E402

DEFAULT_CORPUS = "out/preprocess/corpus"
DEFAULT_LAKE = "out/lake"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    c, f = ClipSettings(), FaceSettings()
    p = argparse.ArgumentParser(
        prog="jobs/preprocess.py",
        description=(
            "Cut talking-head videos into speech clips and extract per-frame 3D landmarks, head pose, normalized "
            "landmarks, audio features, transcripts with word times (with --whisper-model) and a keypoint "
            "renderer's keypoints (with --facevid2vid or --liveportrait) into Delta tables (videos, clips, sequences, transcripts, errors, "
            "runs). Re-running skips what the lake already has for the same settings; bad inputs land in the "
            "errors table with the stage and the reason, and the job goes on."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("data")
    g.add_argument("--corpus", help="folder or s3:// prefix of videos, or a manifest (.csv, .parquet or a Delta "
                   "table) with a `uri` column and optional speaker, emotion, intensity, split columns. Default: "
                   f"make the synthetic corpus in {DEFAULT_CORPUS}")
    g.add_argument("--lake", default=DEFAULT_LAKE, help="folder or s3:// prefix holding the tables")
    g.add_argument("--synthetic-clips", type=int, default=8, help="clips of the synthetic corpus (no --corpus)")
    g.add_argument("--retry-errors", action="store_true", help="process again the videos that had errors")
    g = p.add_argument_group("clips (voice activity)")
    g.add_argument("--min-clip", type=float, default=c.min_clip, help="seconds: shorter speech is dropped")
    g.add_argument("--max-clip", type=float, default=c.max_clip, help="seconds: longer speech is cut at a pause")
    g.add_argument("--min-gap", type=float, default=c.min_gap, help="seconds: shorter pauses do not end a clip")
    g.add_argument("--max-video-seconds", type=float, default=c.max_video_seconds, help="longer files are refused")
    g = p.add_argument_group("landmarks")
    g.add_argument("--landmarks", choices=["dlib", "fan"], default=f.backend,
                   help="dlib (CPU, offline) or fan (face-alignment 3D FAN; GPU when the cluster has one)")
    g.add_argument("--fan-weights", help="folder or URI of the FAN weights (default: the torch hub cache)")
    g.add_argument("--max-side", type=int, default=f.max_side, help="frames are downscaled to this longer side")
    g.add_argument("--detect-every", type=int, default=f.detect_every, help="run the face detector every k frames")
    g.add_argument("--min-detected", type=float, default=f.min_detected, help="least share of frames with the face")
    g.add_argument("--max-crowded", type=float, default=f.max_crowded,
                   help="most share of frames with a second face of comparable size")
    g = p.add_argument_group("transcripts (whisperx)")
    g.add_argument("--whisper-model", help="CTranslate2 Whisper folder, s3:// URI, or a model name in the local "
                   "Hugging Face cache (e.g. large-v3). Without it, no transcripts")
    g.add_argument("--align-model", help="wav2vec2 folder or URI for word alignment (default: Whisper's word times)")
    g.add_argument("--language", help="language code (default: detected per clip)")
    g.add_argument("--compute-type", default="default", help="CTranslate2 compute type (float16 on GPU by default)")
    g = p.add_argument_group("keypoint-renderer keypoints (L2L's training targets; one renderer per lake)")
    k = g.add_mutually_exclusive_group()
    k.add_argument("--facevid2vid", help="public-format or SadTalker face-vid2vid checkpoint (path or URI). Without "
                   "it or --liveportrait, no keypoints")
    k.add_argument("--liveportrait", metavar="FOLDER", help="LivePortrait's release folder (base_models/, "
                   "retargeting_models/; path or URI): its 21 keypoints and 70 head params per frame")
    g.add_argument("--facevid2vid-config", help="JSON of the network widths, for weights that are not the public ones "
                   "(FaceVid2VidConfig, or LivePortraitConfig with --liveportrait)")
    g.add_argument("--keypoint-size", type=int, choices=[256, 512], default=256, help="the checkpoint's image size")
    g = add_cluster_arguments(p)
    g.add_argument("--landmark-actors", type=int, help="landmark actors (default: one per GPU, or per spare CPU)")
    return p.parse_args(argv)


def settings_from(args: argparse.Namespace) -> PreprocessSettings:
    return PreprocessSettings(
        clips=ClipSettings(min_clip=args.min_clip, max_clip=args.max_clip, min_gap=args.min_gap,
                           max_video_seconds=args.max_video_seconds),
        faces=FaceSettings(backend=args.landmarks, weights=args.fan_weights, max_side=args.max_side,
                           detect_every=args.detect_every, min_detected=args.min_detected,
                           max_crowded=args.max_crowded),
        transcripts=TranscriptSettings(model=args.whisper_model, align_model=args.align_model,
                                       language=args.language, compute_type=args.compute_type),
        keypoints=KeypointSettings(checkpoint=args.facevid2vid or args.liveportrait, config=args.facevid2vid_config,
                                   size=args.keypoint_size,
                                   renderer="liveportrait" if args.liveportrait else "facevid2vid"),
    )


def default_corpus(clips: int, quiet: bool) -> str:
    from space.synth.corpus import CorpusConfig, write_corpus

    write_corpus(DEFAULT_CORPUS, CorpusConfig(clips=clips), progress=not quiet)
    return DEFAULT_CORPUS


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from pipelines.lake import Lake

    settings = settings_from(args)
    corpus = args.corpus or default_corpus(args.synthetic_clips, args.quiet)
    run = PreprocessRun(corpus, Lake(args.lake), settings, retry_errors=args.retry_errors)
    if run.nothing_to_do:
        summary = run.execute()  # skips Ray entirely
    else:
        cluster = connect(args)
        from pipelines.ray_adapter import run_ray

        resources = stage_resources(cluster.cpus, cluster.gpus, bool(args.whisper_model),
                                    bool(args.facevid2vid or args.liveportrait),
                                    args.landmark_actors)
        print(f"lake {run.lake.uri}; {cluster.describe()}; settings {settings.settings_id}")
        summary = run.execute(run_ray, resources, cluster.device)
    print(summary.text())
    write_summary(args.summary_json, summary.to_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
