"""The whole chain on embedded defaults, in one command: no inputs, no weights, no cluster needed.

    python jobs/demo.py

    synthetic corpus -> jobs/preprocess.py (lake: out/demo/lake)
    -> jobs/train.py: S2L and head pose, preset small (out/demo/checkpoints); L2L too with --facevid2vid
    -> jobs/render.py: a campaign of several photos, emotions and intensities, natural / static / keyframed
       head motion, a pose copied from a corpus video, blinks and a gaze change (out/demo/videos)
    -> the review gallery

Each step is the job itself (the same `main` that `ray job submit` runs) on one local Ray, so re-running the demo
redoes nothing that is done. L2L maps landmarks into the keypoint space of one face-vid2vid checkpoint: with
`--facevid2vid CKPT` (a public-format checkpoint) the lake gets face-vid2vid keypoints, L2L is trained on them and
the campaign's videos use the facevid2vid renderer; without one (the default: no weights ship) L2L is skipped and
the warp renderer draws the videos.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python jobs/demo.py` from a checkout

import jobs.preprocess as preprocess  # noqa: E402
import jobs.render as render  # noqa: E402
import jobs.train as train  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="jobs/demo.py", description=__doc__.split("\n\n")[0] + " Synthetic corpus "
                                "-> preprocess -> train -> render a small campaign -> gallery.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--root", default="out/demo", help="where everything goes")
    p.add_argument("--clips", type=int, default=8, help="clips of the synthetic corpus")
    p.add_argument("--videos", type=int, default=8, help="rows of the campaign")
    p.add_argument("--seconds", type=float, default=3.0, help="seconds of speech per video")
    p.add_argument("--preset", default="small", help="training preset (tiny is faster, for a smoke test)")
    p.add_argument("--facevid2vid", metavar="CHECKPOINT",
                   help="a public-format face-vid2vid checkpoint: adds keypoints, L2L and the facevid2vid renderer")
    p.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (default: all)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(args.root)
    lake, checkpoints, out = root / "lake", root / "checkpoints", root / "videos"
    corpus = root / "corpus"
    common = (["--num-cpus", str(args.num_cpus)] if args.num_cpus else []) + (["-q"] if args.quiet else [])
    started, steps = time.time(), {}

    def step(name: str, fn, argv: list[str]) -> None:
        print(f"\n== {name}: {' '.join(argv)}", flush=True)
        tick = time.time()
        if fn(argv) != 0:
            raise SystemExit(f"demo: the {name} step failed")
        steps[name] = time.time() - tick

    from space.synth.corpus import CorpusConfig, write_corpus

    clips = write_corpus(corpus, CorpusConfig(clips=args.clips), progress=not args.quiet)
    keypoints = ["--facevid2vid", args.facevid2vid] if args.facevid2vid else []
    step("preprocess", preprocess.main, ["--corpus", str(corpus), "--lake", str(lake), *keypoints, *common])
    step("train", train.main, ["--lake", str(lake), "--checkpoints", str(checkpoints), "--preset", args.preset])
    if args.facevid2vid:  # the renderer reads facevid2vid.pth.tar beside l2l.pt
        import shutil

        shutil.copy(args.facevid2vid, checkpoints / "facevid2vid.pth.tar")
    from pipelines.render.campaign import write_campaign

    table = write_campaign(root / "campaign", rows=args.videos, seconds=args.seconds, reference=clips[0])
    renderer = "facevid2vid" if args.facevid2vid else "warp"
    step("render", render.main, ["--requests", str(table), "--out", str(out), "--checkpoints", str(checkpoints),
                                 "--renderer", renderer, *common])

    print(f"\ndemo done in {time.time() - started:.0f} s ("
          + ", ".join(f"{k} {v:.0f} s" for k, v in steps.items()) + ")")
    print(f"  corpus       {corpus}\n  lake         {lake}  (docs/lake.md)\n  checkpoints  {checkpoints}\n"
          f"  campaign     {table}\n  videos       {out}  (results: {out / '_results'})\n"
          f"  gallery      {sorted((out / 'gallery').glob('*.html'))[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
