"""Self-reconstruction of real talking-head videos: how close `space animate` comes to the real speaker.

For each real video: its first frame is the photo, its own speech the audio and its own head motion the pose
(`--pose VIDEO`, measured by the project's dlib path); the generated video (warp renderer, shipped models, 512)
is compared with the real frames cut to the same crop, through the independent ONNX landmark meter (PFLD):

    mouth r        Pearson r of the mouth openings, best lag within +-2 frames; next to it the r of the real
                   mouth with the speech energy (what an energy follower would reach)
    synced mouth r the same, the lags centred on the real video's own audio-visual offset where it has a clear
                   one (space.eval.lipsync.av_offset: its mouth follows its own loudness best that many frames
                   away, r >= 0.3 and 0.15 above the in-sync lags; from the real video alone, never from the
                   generated one). A speech-driven face cannot follow a recording whose sound is out of step
                   with its picture; the plain mouth r stays the acceptance measure
    mouth dist     mouth landmark distance after a rigid-point alignment, / inter-ocular distance, against the
                   still photo's mouth (the mean-face baseline: S2L's output when it has learnt nothing) and
                   against the bound of any still mouth: the real speaker's own mean mouth held still (taken
                   from the whole real video, so no model reaches it without predicting the motion itself)
    PSNR / SSIM    of the face region, against the static photo held for every frame
    seam           gradient energy in the band where the moving head blends into the still background, per
                   frame, over the photo's (1.0 = as sharp as the photo; a tear raises it, a smear lowers it)

Writes JSON (per video and the medians, and whether each acceptance holds) and a contact sheet PNG of real vs
generated frames.

    python benchmarks/eval_reconstruction.py [--videos ../shared/data/videos] [--weights ../shared/weights]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared"
RESULTS = HERE / "results" / "reconstruction.json"
SHEET = HERE / "results" / "reconstruction_sheet.png"


def reconstruct(video: Path, animator, landmarker, size: int, workdir: Path, max_seconds: float | None) -> dict:
    """Generate the video's self-reconstruction and measure it. Returns the row and the frames for the sheet."""
    import cv2

    from space.eval.lipsync import audio_energy, av_offset, best_lag_correlation, mouth_opening
    from space.eval.reconstruction import (face_box, face_similarity, mouth_correlation, mouth_distance, psnr,
                                           seam_band, seam_ratios, speaker_mean_mouth)
    from space.io.audio import SAMPLE_RATE, load_audio
    from space.io.mp4 import write_mp4
    from space.io.video import read_video
    from space.portrait import crop_square

    tick = time.perf_counter()
    max_frames = None if max_seconds is None else int(max_seconds * 25)
    real = read_video(str(video), fps=25, max_frames=max_frames).frames
    speech = load_audio(str(video))
    if max_frames is not None:
        speech = speech[: int(max_frames / 25 * SAMPLE_RATE)]
        clipped = workdir / f"{video.stem}_speech.mp4"  # the pose source cut to the same length
        write_mp4(str(clipped), iter(real), speech, fps=25, sample_rate=SAMPLE_RATE)
        pose_source = str(clipped)
    else:
        pose_source = str(video)
    photo = workdir / f"{video.stem}_frame0.png"
    cv2.imwrite(str(photo), cv2.cvtColor(real[0], cv2.COLOR_RGB2BGR))
    options = animator.options.with_overrides(pose=pose_source)
    out = workdir / f"{video.stem}_generated.mp4"
    result = animator.run(str(photo), pose_source, str(out), options, progress=False)
    generated = read_video(str(out), fps=25).frames
    portrait = animator.portrait(str(photo), options)
    cx, cy, side = portrait.window
    real_crops = np.stack([crop_square(frame, cx, cy, side, size, soft_border=True) for frame in real])
    n = min(len(real_crops), len(generated))
    real_crops, generated = real_crops[:n], generated[:n]

    real_lm = landmarker.track(real_crops, detect_every=1)
    gen_lm = landmarker.track(generated, detect_every=1)
    r, lag = mouth_correlation(real_lm, gen_lm)
    energy = audio_energy(speech, SAMPLE_RATE, num_frames=n)
    real_open = mouth_opening(real_lm)
    r_energy, _ = best_lag_correlation(energy, real_open, 2)
    sync = av_offset(energy, real_open)
    r_synced, lag_synced = mouth_correlation(real_lm, gen_lm, real_offset=sync["offset"])
    # Frame 0 is the photo itself: every measure below starts at frame 1.
    model_dist = mouth_distance(real_lm, gen_lm)[1:]
    still_dist = mouth_distance(real_lm, real_lm[0])[1:]
    mean_dist = mouth_distance(real_lm, speaker_mean_mouth(real_lm))[1:]
    mse, ssim, mse_still, ssim_still = [], [], [], []
    for t in range(1, n):
        if not np.isfinite(real_lm[t]).all():
            continue
        box = face_box(real_lm[t], real_crops[t].shape)
        p, s = face_similarity(real_crops[t], generated[t], box)
        ps, ss = face_similarity(real_crops[t], portrait.image, box)
        mse.append(p), ssim.append(s), mse_still.append(ps), ssim_still.append(ss)
    band = seam_band(animator.renderer().prepare(portrait).deformation.head_mask)
    seams = seam_ratios(generated[1:], portrait.image, band)
    row = {
        "video": video.name, "frames": int(n), "seconds": round(time.perf_counter() - tick, 1),
        "mouth_r": round(float(r), 3), "mouth_lag": int(lag), "energy_r": round(float(r_energy), 3),
        "av_offset": sync, "mouth_r_synced": round(float(r_synced), 3), "mouth_lag_synced": int(lag_synced),
        "mouth_distance": round(float(np.nanmean(model_dist)), 4),
        "mouth_distance_still": round(float(np.nanmean(still_dist)), 4),
        "mouth_distance_speaker_mean": round(float(np.nanmean(mean_dist)), 4),
        "psnr": round(psnr(np.mean(mse)), 2), "psnr_still": round(psnr(np.mean(mse_still)), 2),
        "ssim": round(float(np.mean(ssim)), 4), "ssim_still": round(float(np.mean(ssim_still)), 4),
        "seam_min": round(float(seams.min()), 3), "seam_max": round(float(seams.max()), 3),
        "seam_median": round(float(np.median(seams)), 3),
        "generated_mouth_open_mean": round(float(np.nanmean(mouth_opening(gen_lm))), 4),
        "real_mouth_open_mean": round(float(np.nanmean(real_open)), 4),
        "timings": result.timings,
    }
    picks = np.linspace(0, n - 1, 5).astype(int)[1:]
    return row, [(real_crops[t], generated[t]) for t in picks]


def contact_sheet(rows: list[tuple[str, list]], path: Path, tile: int = 160) -> None:
    """One row per video: (real, generated) pairs at four times, labelled."""
    import cv2

    lines = []
    for name, pairs in rows:
        tiles = []
        for real, generated in pairs:
            pair = np.concatenate([cv2.resize(real, (tile, tile), interpolation=cv2.INTER_AREA),
                                   cv2.resize(generated, (tile, tile), interpolation=cv2.INTER_AREA)], 1)
            tiles.append(np.pad(pair, ((0, 0), (0, 6), (0, 0)), constant_values=255))
        line = np.concatenate(tiles, 1)
        label = np.full((18, line.shape[1], 3), 255, np.uint8)
        cv2.putText(label, f"{name}: real | generated", (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
        lines += [label, line]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(lines, 0), cv2.COLOR_RGB2BGR))


def summarise(rows: list[dict]) -> dict:
    med = lambda key: round(float(np.median([r[key] for r in rows])), 4)  # noqa: E731
    summary = {key: med(key) for key in ("mouth_r", "mouth_r_synced", "energy_r", "mouth_distance",
                                         "mouth_distance_still", "mouth_distance_speaker_mean", "psnr",
                                         "psnr_still", "ssim", "ssim_still")}
    for name, key in (("mouth_distance_reduction", "mouth_distance"),
                      ("speaker_mean_reduction", "mouth_distance_speaker_mean")):  # the still-mouth bound's
        summary[name] = round(1 - summary[key] / summary["mouth_distance_still"], 3)
    summary["seam_range_all_frames"] = [min(r["seam_min"] for r in rows), max(r["seam_max"] for r in rows)]
    summary["acceptance"] = {
        "median mouth r >= 0.5": summary["mouth_r"] >= 0.5,
        "mouth distance >= 30% below the still photo's": summary["mouth_distance_reduction"] >= 0.3,
        "face SSIM above the static photo's": summary["ssim"] > summary["ssim_still"],
        "seam within 20% of the photo's on every frame": 0.8 <= summary["seam_range_all_frames"][0]
        and summary["seam_range_all_frames"][1] <= 1.2,
    }
    return summary


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", default=str(SHARED / "data" / "videos"), help="folder of real talking-head mp4s")
    parser.add_argument("--weights", default=str(SHARED / "weights"), help="folder with the two ONNX files")
    parser.add_argument("--checkpoints", default=None, help="s2l.pt / pose.pt folder (default: the shipped ones)")
    parser.add_argument("--size", type=int, default=512, choices=(256, 512))
    parser.add_argument("--mouth", default="blend", choices=("blend", "s2l", "phones"),
                        help="the mouth's source (AnimateOptions.mouth; default blend, as shipped)")
    parser.add_argument("--max-seconds", type=float, default=None, help="use only the first seconds of each video")
    parser.add_argument("--only", default=None, help="comma-separated file names to run (default: all)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--sheet", default=str(SHEET))
    args = parser.parse_args(argv)

    from space.animate import AnimateOptions, Animator
    from space.eval.onnx_face import OnnxFaceLandmarker

    videos = sorted(Path(args.videos).glob("*.mp4"))
    if args.only:
        videos = [v for v in videos if v.name in args.only.split(",")]
    if not videos:
        raise SystemExit(f"no .mp4 videos in {args.videos}")
    landmarker = OnnxFaceLandmarker(args.weights)
    animator = Animator(AnimateOptions(size=args.size, checkpoints=args.checkpoints, mouth=args.mouth))
    rows, sheet = [], []
    with tempfile.TemporaryDirectory(prefix="space-recon-") as tmp:
        for video in videos:
            row, pairs = reconstruct(video, animator, landmarker, args.size, Path(tmp), args.max_seconds)
            print({k: v for k, v in row.items() if k != "timings"}, flush=True)
            rows.append(row)
            sheet.append((video.stem, pairs))
    contact_sheet(sheet, Path(args.sheet))
    result = {"benchmark": "reconstruction", "renderer": "warp", "size": args.size,
              "checkpoints": args.checkpoints or "shipped defaults", "mouth": args.mouth,
              "meter": "Ultra-Light detector + PFLD 68 (ONNX)",
              "videos": rows, "median": summarise(rows), "sheet": str(args.sheet)}
    return write_result(args.out, result)


if __name__ == "__main__":
    main()
