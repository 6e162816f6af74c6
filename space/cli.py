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


def _gaze(text: str) -> tuple[float, float]:
    try:
        yaw, pitch = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected YAW,PITCH in degrees, e.g. 10,-5") from None
    return yaw, pitch


def _animate(args: argparse.Namespace) -> None:
    from .animate import AnimateOptions, animate

    options = AnimateOptions(
        emotion=args.emotion, mouth=args.mouth, pose=args.pose, yaw=args.yaw, pitch=args.pitch, roll=args.roll,
        keyframes=args.keyframes or (), pose_temperature=args.pose_temperature, blink_rate=args.blink_rate,
        blink_times=tuple(args.blink_at) if args.blink_at else None, gaze=args.gaze, renderer=args.renderer,
        driving=args.driving,
        size=args.size, checkpoints=args.checkpoints, landmarks=args.landmarks, device=args.device, seed=args.seed,
    )
    result = animate(args.photo, args.audio, args.output, options, progress=not args.quiet)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    elif not args.quiet:
        total = sum(result.timings.values())
        print(f"{result.output}: {result.frames} frames, {result.duration:.2f} s of speech, {result.size}px, "
              f"{result.renderer} renderer, {result.pose_source} pose ({total:.1f} s)", file=sys.stderr)


def _demo(args: argparse.Namespace) -> None:
    """`space animate` on inputs the project makes itself: a photo that ships with scikit-image and synthetic speech."""
    import skimage.data
    from PIL import Image

    from .io.audio import write_wav
    from .synth.speech import synthesize_speech

    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    photo, speech = out.with_name(out.stem + "_photo.png"), out.with_name(out.stem + "_speech.wav")
    Image.fromarray(skimage.data.astronaut()).save(photo)
    write_wav(speech, synthesize_speech(args.seconds, seed=args.seed).audio)
    args.photo, args.audio = str(photo), str(speech)
    _animate(args)


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

    p = sub.add_parser("animate", help="one photo + speech -> a talking-head video", description=(
        "Animate a portrait photo with a speech clip: lip sync from the speech, emotion with intensity, head "
        "motion (sampled from the speech, static, keyframed, or copied from a reference video), blinks and gaze. "
        "Writes an mp4 (H.264 + AAC, 25 fps) whose audio is the input speech. Without --checkpoints it uses the "
        "small default models that ship with the package (trained on the project's synthetic corpus)."),
        epilog="example: space animate me.jpg hello.wav -o out.mp4 --emotion happy=0.7 --pose static --gaze 10,0")
    p.add_argument("photo", help="portrait photo (jpg/png/...): local path or fsspec URI")
    p.add_argument("audio", help="speech (wav/mp3/m4a/... or a video's audio track): local path or URI")
    p.add_argument("-o", "--output", required=True, help="output .mp4 path or URI")
    _animation_options(p)
    p.set_defaults(run=_animate)

    p = sub.add_parser("demo", help="animate a built-in photo with synthetic speech (no inputs needed)", description=(
        "Write a talking-head video from inputs the project makes itself: scikit-image's astronaut photo and "
        "formant-synthesised speech, with every `space animate` option available. The photo and speech are "
        "saved next to the video."))
    p.add_argument("-o", "--output", default="out/demo.mp4", help="output .mp4 (default out/demo.mp4)")
    p.add_argument("--seconds", type=float, default=4.0, help="length of the synthetic speech (default 4)")
    _animation_options(p, emotion="happy=0.6")
    p.set_defaults(run=_demo)
    return parser


def _animation_options(p: argparse.ArgumentParser, emotion: str = "neutral") -> None:
    g = p.add_argument_group("expression")
    g.add_argument("--emotion", default=emotion, metavar="LABEL=I[,LABEL=I]",
                   help="neutral, happy, sad, surprise, fear, angry, disgust, contempt with intensities in [0, 1], "
                        f"e.g. happy=0.7,surprise=0.3 (default {emotion})")
    g.add_argument("--mouth", choices=["blend", "s2l", "phones"], default="blend",
                   help="where the lip motion comes from: blend (default): S2L blended with the phones a speech "
                        "recogniser trained on real voices hears (pocketsphinx's US-English model); s2l: the "
                        "Speech2Landmarks model alone; phones: the recognised phones alone")
    g = p.add_argument_group("head pose")
    g.add_argument("--pose", default="natural", metavar="natural|static|REF_VIDEO",
                   help="natural: sampled from the speech (default); static: the photo's pose held; or a reference "
                        "video whose head motion is copied (relative to its first frame)")
    g.add_argument("--yaw", type=float, default=0.0, metavar="D", help="turn the head by D degrees (+ = to image right)")
    g.add_argument("--pitch", type=float, default=0.0, metavar="D", help="nod by D degrees (+ = down)")
    g.add_argument("--roll", type=float, default=0.0, metavar="D", help="tilt by D degrees (+ = clockwise)")
    g.add_argument("--keyframes", default=None, metavar="T:Y,P,R;...",
                   help="head pose keys relative to the photo, time in seconds: '0:0,0,0; 2:15,-5,0' "
                        "(optionally ,TX,TY,SCALE in face units); overrides --pose")
    g.add_argument("--pose-temperature", type=float, default=1.0, metavar="T",
                   help="natural pose: 0 = the average motion, 1 = as varied as training data (default 1)")
    g = p.add_argument_group("eyes")
    g.add_argument("--blink-rate", type=float, default=15.0, metavar="PER_MIN", help="blinks per minute (default 15)")
    g.add_argument("--blink-at", type=float, action="append", metavar="SECONDS",
                   help="blink at this time (repeatable); overrides --blink-rate")
    g.add_argument("--gaze", type=_gaze, default=(0.0, 0.0), metavar="YAW,PITCH",
                   help="eye direction relative to the head in degrees (+ = right, down), e.g. 10,-5")
    from .animate.options import RENDERERS

    g = p.add_argument_group("rendering")
    g.add_argument("--renderer", choices=list(RENDERERS), default="warp",
                   help="warp: no weights, warps the photo (default); facevid2vid, liveportrait: neural renderers, "
                        "need --checkpoints with their weights")
    g.add_argument("--checkpoints", default=None, metavar="DIR_OR_URI",
                   help="folder or URI with s2l.pt, pose.pt (and l2l.pt + facevid2vid.pth.tar or SadTalker's "
                        "files for facevid2vid; l2l.pt + LivePortrait's release folders for liveportrait); missing "
                        "s2l/pose fall back to the shipped defaults")
    g.add_argument("--driving", choices=["l2l", "zero-shot"], default="l2l",
                   help="keypoint renderers: how their keypoints move. l2l: an L2L trained against the checkpoint (l2l.pt, "
                        "default); zero-shot: no L2L, the renderer's own motion estimator reads each frame of "
                        "the warp renderer (a video from a renderer checkpoint alone; docs/architecture.md)")
    g.add_argument("--size", type=int, choices=[256, 512], default=512, help="output size in pixels (default 512)")
    g.add_argument("--landmarks", choices=["dlib", "fan"], default="dlib", help="landmark backend (default dlib)")
    g.add_argument("--device", default="cpu", help="torch device for the models: cpu (default), cuda, cuda:1")
    g.add_argument("--seed", type=int, default=0, help="seed for the sampled head motion and blinks (default 0)")
    p.add_argument("--json", action="store_true", help="print the result (frames, timings, models) as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")


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
