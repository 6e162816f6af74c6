"""The `space` command line. Each subcommand is a thin wrapper over a library function.

Bad input never ends in a traceback: a SpaceError (or a ValueError about an argument) prints one line,
`space <command>: <input>: <reason>`, and the exit code is 1 (2 for bad usage, as argparse does).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import SpaceError


def _probe(args: argparse.Namespace) -> None:
    from .io.probe import probe

    print(json.dumps(probe(args.file).to_dict(), indent=2))


def _landmarks(args: argparse.Namespace) -> None:
    from .face.backend import make_backend
    from .face.geometry import POSE_FIELDS
    from .face.landmarks import track_face, track_video
    from .io.image import is_image, load_image

    options = {"weights": args.weights, "device": args.device} if args.backend == "fan" else {}
    backend = make_backend(args.backend, **options)
    if is_image(args.input):
        image = load_image(args.input)
        track, times, kind = track_face([image], backend, source=args.input), [None], "image"
        size = (image.shape[1], image.shape[0])
    else:
        track, times, size = track_video(
            args.input, backend, fps=args.fps, progress=not args.quiet, detect_every=args.detect_every
        )
        kind = "video"
    result = {
        "source": args.input,
        "kind": kind,
        "backend": args.backend,
        "fps": args.fps if kind == "video" else None,
        "width": size[0],
        "height": size[1],
        "num_frames": len(track),
        "frames_with_face": int(track.detected.sum()),
        "max_faces": track.max_faces,
        "pose_fields": list(POSE_FIELDS),
        "frames": [track.frame_record(i, t) for i, t in enumerate(times)],
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result))
    if not args.quiet:
        print(f"{args.output}: {len(track)} frame(s), face in {result['frames_with_face']}", file=sys.stderr)


def _synth_corpus(args: argparse.Namespace) -> None:
    from .synth.corpus import CorpusConfig, write_corpus

    config = CorpusConfig(clips=args.clips, seed=args.seed, size=args.size)
    paths = write_corpus(args.out_dir, config, progress=not args.quiet)
    print(f"{len(paths)} clips in {args.out_dir} (mp4 + ground-truth json each; index: corpus.json)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="space", description="SPACE: speech-driven portrait animation with controllable expression."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("probe", help="print a media file's streams as JSON", description=(
        "Print duration, video (fps, frame count, size, codec) and audio (sample rate, channels, codec) as JSON. "
        "Exit 1 with a one-line reason for a file that is not usable media."))
    p.add_argument("file", help="local path or fsspec URI (s3://...)")
    p.set_defaults(run=_probe)

    p = sub.add_parser("landmarks", help="68-point 3D landmarks, face box and head pose per frame", description=(
        "Find the main face in a photo or in every frame of a video and write, per frame, the 68 x 3 landmarks "
        "(image pixels, iBUG order), the face box, the head pose (yaw, pitch, roll in degrees, translation in "
        "pixels, scale) and the normalized (pose-free) landmarks, as JSON."))
    p.add_argument("input", help="image or video: local path or fsspec URI")
    p.add_argument("-o", "--output", required=True, help="output JSON path")
    p.add_argument("--backend", choices=["dlib", "fan"], default="dlib",
                   help="dlib: offline, CPU, weights ship with the package (default); fan: face-alignment 3D FAN")
    p.add_argument("--fps", type=float, default=25.0, help="frame rate to sample videos at (default 25)")
    p.add_argument("--detect-every", type=int, default=1, metavar="K",
                   help="videos: run the face detector on every K-th frame and interpolate the box (default 1)")
    p.add_argument("--weights", default=None,
                   help="fan only: folder or URI with the face-alignment weight files (default: the torch hub cache)")
    p.add_argument("--device", default="auto", help="fan only: cpu, cuda, or auto (default)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(run=_landmarks)

    p = sub.add_parser("synth-corpus", help="make the synthetic talking-head corpus", description=(
        "Write N short clips (mp4, H.264 + AAC) animating a real photo that ships with scikit-image, driven by "
        "synthesised speech, each with a JSON of ground truth: per-frame landmarks, head pose, mouth opening, "
        "blink closure and the clip's emotion. Re-running adds only missing clips."))
    p.add_argument("out_dir", help="output folder")
    p.add_argument("--clips", type=int, default=8, help="number of clips (default 8)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--size", type=int, default=256, help="frame size in pixels, square (default 256)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_synth_corpus)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except SpaceError as exc:
        print(f"space {args.command}: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"space {args.command}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error. Point stdout at devnull so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
