"""Frames per second of each step of `space animate`, and of the warp renderer at 256 and 512.

Inputs are made here (scikit-image's astronaut photo, 8 s of synthetic speech) unless `--speech` names a
recording; the models are the shipped default checkpoints (Speech2Landmarks, pose; Landmarks2Latents random-init,
as none ships) and the default mouth (S2L blended with the recognised phones: `phones` is the recogniser's share of
`motion_total`). Each step is timed on the whole clip after one warm-up run; frames/s = clip frames / seconds.
`realtime_<size>` is the whole path (motion + render + encode) in frames/s: above 25 is faster than real time.
The face-vid2vid renderer's forward speed is in bench_facevid2vid.py.

    python benchmarks/bench_animate.py                  # cpu
    python benchmarks/bench_animate.py --speech ../shared/data/audio/a06_english_radio.wav   # real speech
    python benchmarks/bench_animate.py --device cuda    # the models on a GPU (warp renderer stays on CPU)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402
from benchmarks.bench_fan import cpu_name  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "animate.json"


def timed(fn, repeat: int = 3):
    fn()  # warm-up: first-call allocations, lazy imports
    best = float("inf")
    for _ in range(repeat):
        tick = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - tick)
    return best, out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="speech length (default 8 s = 200 frames)")
    parser.add_argument("--speech", default=None,
                        help="a speech file to use (its first --seconds); default: synthetic speech made here")
    parser.add_argument("--device", default="cpu", help="torch device for the models (default cpu)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="render sizes (default 256 512)")
    parser.add_argument("--out", default=str(RESULTS), help=f"JSON output (default {RESULTS})")
    args = parser.parse_args(argv)

    import torch

    from space.animate import AnimateOptions, Animator
    from space.io.mp4 import write_mp4
    from space.portrait import astronaut_portrait
    from space.render.warp import WarpRenderer
    from space.synth.speech import synthesize_speech

    from space.io.audio import SAMPLE_RATE, load_audio

    if args.speech:
        speech = load_audio(args.speech)[: int(args.seconds * SAMPLE_RATE)]
    else:
        speech = synthesize_speech(args.seconds, seed=1).audio.astype(np.float32)
    options = AnimateOptions(device=args.device)
    animator = Animator(options)
    stages = animator.stages
    steps: dict[str, dict] = {}

    def record(name, seconds, frames):
        steps[name] = {"seconds": round(seconds, 4), "frames": frames, "frames_per_s": round(frames / seconds, 1)}

    for size in args.sizes:
        portrait = astronaut_portrait(size)
        motion_seconds, motion = timed(lambda: animator.motion(portrait, speech, options), repeat=2)
        frames = len(motion)
        if size == args.sizes[0]:
            record("motion_total", motion_seconds, frames)
            record("phones", timed(lambda: stages.phones(speech), repeat=1)[0], frames)
            features = stages.features(speech)
            emotion = stages.emotion("happy=0.5")
            record("audio_features", timed(lambda: stages.features(speech))[0], frames)
            record("speech2landmarks", timed(lambda: stages.speech_to_landmarks(features, portrait.normalized, emotion))[0], frames)
            record("pose_sample", timed(lambda: stages.sample_pose(features, 0, 1.0))[0], frames)
            record("photo_to_portrait", timed(lambda: astronaut_portrait(size), repeat=1)[0], 1)
            # L2L ships no default (it is tied to a face-vid2vid checkpoint); a fresh one costs the same to run
            from space.models.l2l import Landmarks2Latents, crop_normalize

            l2l = Landmarks2Latents().to(args.device).eval()
            canonical = torch.zeros(15, 3)
            landmarks = crop_normalize(motion.landmarks, size)
            record("landmarks2latents", timed(lambda: l2l.predict(landmarks, motion.audio_features, motion.emotion, canonical))[0], frames)
        renderer = WarpRenderer()
        render_seconds, rendered = timed(lambda: list(renderer.render(portrait, motion)), repeat=1)
        record(f"warp_render_{size}", render_seconds, frames)
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "x.mp4")
            encode_seconds = timed(lambda: write_mp4(out, rendered, speech, fps=25), repeat=1)[0]
        record(f"encode_mp4_{size}", encode_seconds, frames)
        record(f"realtime_{size}", motion_seconds + render_seconds + encode_seconds, frames)

    result = {
        "benchmark": "animate",
        "device": args.device,
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "speech": args.speech or "synthetic",
        "speech_seconds": round(len(speech) / SAMPLE_RATE, 2),
        "mouth": options.mouth,
        "steps": steps,
    }
    return write_result(args.out, result, indent=2)


if __name__ == "__main__":
    main()
