"""Decode and landmark throughput of the foundation on this machine; writes benchmarks/results/foundation.json.

    python benchmarks/bench_foundation.py [--clips 4] [--real ../shared/data/videos]

Measures, on the synthetic corpus (made on the fly in a temporary folder, or given with --corpus):
- decode fps: read_video at 25 fps (decord), frames per wall second;
- landmark fps with the dlib backend: detection + 68 points + pose fit + normalization, per frame;
  and the 68-point stage alone, given boxes (what a tracker that detects every k frames would pay);
- when --real is given, the same on real talking-head videos (decode, and landmarks at most 100 frames each).
The FAN backend with random weights has its own script, bench_fan.py.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python benchmarks/...` from a checkout

from benchmarks.common import write_result  # noqa: E402


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def bench_videos(paths, backend, max_frames=None) -> dict:
    from space.face.landmarks import fit_to_side, landmarks_from_boxes, track_face
    from space.io.video import read_video

    decoded = decode_s = track_s = track5_s = mark_s = 0
    for path in paths:
        video, seconds = _timed(lambda: read_video(str(path), fps=25.0, max_frames=max_frames))
        decoded += len(video)
        decode_s += seconds
        frames = [fit_to_side(f, 960)[0] for f in video.frames]  # as `space landmarks` does
        track, seconds = _timed(lambda: track_face(frames, backend, source=str(path)))
        track_s += seconds
        _, seconds = _timed(lambda: track_face(frames, backend, source=str(path), detect_every=5))
        track5_s += seconds
        _, seconds = _timed(lambda: landmarks_from_boxes(frames, track.boxes, backend))
        mark_s += seconds
    return {
        "videos": len(paths),
        "frames": decoded,
        "decode_fps": round(decoded / decode_s, 1),
        "landmark_fps_dlib_detect_every_frame": round(decoded / track_s, 1),
        "landmark_fps_dlib_detect_every_5th": round(decoded / track5_s, 1),
        "landmark_fps_dlib_given_boxes": round(decoded / mark_s, 1),
    }


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=4, help="synthetic clips to make (default 4)")
    parser.add_argument("--corpus", help="use this existing synthetic corpus folder instead of making one")
    parser.add_argument("--real", help="also measure on the videos in this folder")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "foundation.json"))
    args = parser.parse_args()

    import torch

    from space.face.dlib_backend import DlibBackend
    from space.synth.corpus import CorpusConfig, write_corpus

    backend = DlibBackend()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.corpus or tmp
        paths, make_s = _timed(lambda: write_corpus(folder, CorpusConfig(clips=args.clips), progress=False))
        result = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch_threads": torch.get_num_threads()},
            "synthetic": {**bench_videos(paths, backend), "corpus_write_s": round(make_s, 2), "frame_size": [256, 256]},
        }
    if args.real:
        real = sorted(Path(args.real).glob("*.mp4"))
        result["real"] = bench_videos(real, backend, max_frames=100)
    out = Path(args.out)
    return write_result(out, result, indent=2)


if __name__ == "__main__":
    main()
