"""Head motion of real talking heads against the shipped pose generator's, on the same speech.

For each real video: its head pose per frame through the project's own landmark path (dlib 68 points, the
mean-face pose fit: what `--pose VIDEO` copies), and the shipped pose generator sampled on its own speech
(`--pose natural`, several seeds). Per angle (yaw, pitch, roll): the std over the clip and the mean speed in
degrees per frame (both after a 2-frame Gaussian smoothing that takes landmark jitter out of the measured
poses, space.synth.head_motion.head_motion_statistics), and how the head's speed follows the speech energy
(Pearson r of the smoothed speed and the frame energy). Writes the per-video numbers, the medians, the ratio
generated / real per angle, and whether each is within 30%.

    python benchmarks/eval_head_motion.py [--videos ../shared/data/videos] [--max-seconds 20] [--seeds 4]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared"
RESULTS = HERE / "results" / "head_motion.json"
ANGLES = ("yaw", "pitch", "roll")


def speed_energy_r(deltas: np.ndarray, energy: np.ndarray, smooth_frames: float = 2.0) -> float:
    """Pearson r of the head's angular speed (all three angles, smoothed) and the speech energy per frame."""
    from scipy.ndimage import gaussian_filter1d

    d = gaussian_filter1d(np.asarray(deltas, np.float64)[:, :3], smooth_frames, axis=0, mode="nearest")
    speed = np.linalg.norm(np.diff(d, axis=0), axis=1)
    e = np.asarray(energy, np.float64)[1 : len(speed) + 1]
    n = min(len(speed), len(e))
    if n < 3 or speed[:n].std() == 0 or e[:n].std() == 0:
        return float("nan")
    return float(np.corrcoef(speed[:n], e[:n])[0, 1])


def describe(deltas: np.ndarray, energy: np.ndarray) -> dict:
    from space.synth.head_motion import head_motion_statistics

    stats = head_motion_statistics(deltas)
    return {"std": [round(v, 3) for v in stats["std"]], "speed": [round(v, 4) for v in stats["speed"]],
            "speed_energy_r": round(speed_energy_r(deltas, energy), 3)}


def measure_video(video: Path, stages, backend, max_seconds: float, seeds: int) -> dict:
    from space.eval.lipsync import audio_energy
    from space.face.landmarks import track_video
    from space.io.audio import SAMPLE_RATE, load_audio

    speech = load_audio(str(video))[: int(max_seconds * SAMPLE_RATE)]
    frames = int(len(speech) / SAMPLE_RATE * 25)
    track, _, _ = track_video(str(video), backend, fps=25, num_frames=frames)  # what `--pose VIDEO` measures
    poses = track.poses.astype(np.float64)
    real = poses - np.median(poses, axis=0)
    energy = audio_energy(speech, SAMPLE_RATE, num_frames=len(real))
    features = stages.features(speech)
    samples = [stages.sample_pose(features, seed, 1.0)[: len(real)] for seed in range(seeds)]
    generated = [describe(s, energy) for s in samples]
    mean = lambda key: np.mean([g[key] for g in generated], axis=0).round(4).tolist()  # noqa: E731
    return {"video": video.name, "frames": len(real), "real": describe(real, energy),
            "generated": {"std": mean("std"), "speed": mean("speed"),
                          "speed_energy_r": round(float(np.nanmean([g["speed_energy_r"] for g in generated])), 3)}}


def summarise(rows: list[dict]) -> dict:
    out = {}
    for side in ("real", "generated"):
        out[side] = {key: np.median([r[side][key] for r in rows], axis=0).round(4).tolist()
                     for key in ("std", "speed")}
        out[side]["speed_energy_r"] = round(float(np.nanmedian([r[side]["speed_energy_r"] for r in rows])), 3)
    ratios = {key: (np.array(out["generated"][key]) / np.array(out["real"][key])).round(3).tolist()
              for key in ("std", "speed")}
    out["ratio_generated_over_real"] = {key: dict(zip(ANGLES, v)) for key, v in ratios.items()}
    out["acceptance"] = {f"{key} within 30% per angle": bool(np.all(np.abs(np.array(v) - 1) <= 0.3))
                         for key, v in ratios.items()}
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", default=str(SHARED / "data" / "videos"), help="folder of real talking-head mp4s")
    parser.add_argument("--checkpoints", default=None, help="pose.pt / s2l.pt folder (default: the shipped ones)")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="the first seconds of each video")
    parser.add_argument("--seeds", type=int, default=4, help="pose samples per video")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from space.animate.stages import load_stages
    from space.face.backend import make_backend

    videos = sorted(Path(args.videos).glob("*.mp4"))
    if not videos:
        raise SystemExit(f"no .mp4 videos in {args.videos}")
    stages = load_stages(args.checkpoints, "warp")
    backend = make_backend("dlib")
    rows = []
    for video in tqdm(videos, desc="head motion", unit="video"):
        rows.append(measure_video(video, stages, backend, args.max_seconds, args.seeds))
        tqdm.write(f"{video.name}: real std {rows[-1]['real']['std']} vs generated {rows[-1]['generated']['std']}")
    result = {"benchmark": "head_motion", "meter": "dlib 68 points + mean-face pose fit (the project's path)",
              "checkpoints": args.checkpoints or "shipped defaults", "max_seconds": args.max_seconds,
              "seeds": args.seeds, "videos": rows, "median": summarise(rows)}
    return write_result(args.out, result)


if __name__ == "__main__":
    main()
