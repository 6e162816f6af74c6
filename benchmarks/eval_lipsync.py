"""Lip sync of `space animate` on real photos and real speech, measured by an independent landmark model.

For each (photo, speech) pair from the team's shared media, animate with the warp renderer and the default
checkpoints, track the output with PFLD (ONNX; not the pipeline's own dlib path) and report the Pearson r of the
mouth opening against the speech energy at the best lag within +-5 frames, next to a control: the same mouth
against the speech shifted by 2 s. Writes JSON.

    python benchmarks/eval_lipsync.py [--shared ../shared] [--out benchmarks/results/lipsync.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "lipsync.json"
PAIRS = [
    ("i01_woman_80s_photo.jpg", "a10_english_finance.wav"),
    ("i05_woman_white_top.png", "a06_english_radio.wav"),
    ("i08_japanese_woman.png", "a02_french.wav"),
    ("i09_older_chinese_man.png", "a05_mandarin_news.wav"),
    ("i12_man_black_tshirt.png", "a10_english_finance.wav"),
    ("i13_woman_long_hair.jpg", "a08_spanish.wav"),
    ("i15_young_woman.jpg", "a04_japanese.wav"),
    ("i02_man_bw.jpg", "a01_german.wav"),
]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"),
                        help="folder with data/ and weights/ (default ../shared)")
    parser.add_argument("--out", default=str(RESULTS), help=f"JSON output (default {RESULTS})")
    args = parser.parse_args(argv)

    from space.animate import AnimateOptions, Animator
    from space.eval.lipsync import audio_energy, best_lag_correlation, mouth_opening
    from space.eval.onnx_face import OnnxFaceLandmarker
    from space.io.audio import load_audio
    from space.io.video import read_video

    shared = Path(args.shared)
    landmarker = OnnxFaceLandmarker(shared / "weights")
    animator = Animator(AnimateOptions())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for photo, speech in PAIRS:
            out = str(Path(tmp) / f"{Path(photo).stem}.mp4")
            animator.run(str(shared / "data" / "images" / photo), str(shared / "data" / "audio" / speech), out, progress=False)
            frames = read_video(out, fps=25).frames
            opening = mouth_opening(landmarker.track(frames))
            audio = load_audio(out)
            r, lag = best_lag_correlation(audio_energy(audio, 16000, num_frames=len(frames)), opening)
            r_shift, _ = best_lag_correlation(audio_energy(np.roll(audio, 32000), 16000, num_frames=len(frames)), opening)
            row = {"photo": photo, "speech": speech, "frames": len(frames), "r": round(float(r), 3), "lag": int(lag),
                   "r_speech_shifted_2s": round(float(r_shift), 3)}
            print(row, flush=True)
            rows.append(row)
    r_values = [row["r"] for row in rows]
    result = {"benchmark": "lipsync", "renderer": "warp", "checkpoints": "shipped defaults", "measure":
              "PFLD ONNX mouth opening vs speech RMS dB per frame, best lag within +-5 frames",
              "pairs": rows, "r_mean": round(float(np.mean(r_values)), 3), "r_min": round(float(np.min(r_values)), 3)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
