"""Render one talking-head video per row of a request table, on Ray.

    ray job submit --working-dir . -- python jobs/render.py --requests s3://bucket/campaign.csv --out s3://bucket/videos/

With no arguments: makes a small demo campaign (out/render/campaign) and renders it into out/render with the
shipped models on a local Ray. Run `python jobs/render.py --help` for every option; docs/render.md describes the
request table, the outputs and the results table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python jobs/render.py` from a checkout

from pipelines.cluster import add_cluster_arguments, connect, write_summary  # noqa: E402
from pipelines.render.stages import RenderSettings  # noqa: E402
from space.animate.options import RENDERERS  # noqa: E402

DEFAULT_CAMPAIGN = "out/render/campaign"
DEFAULT_OUT = "out/render"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = RenderSettings(out=DEFAULT_OUT)
    p = argparse.ArgumentParser(
        prog="jobs/render.py",
        description=(
            "Render one talking-head mp4 (H.264 + AAC, 25 fps) per row of a request table: a photo and a speech "
            "file per row, with emotion and intensity, head pose (natural, static, keyframes, or copied from a "
            "reference video), blinks, gaze, renderer, output name and optional subtitles. Every row is validated "
            "first; invalid rows are reported with their reason and the others are rendered. Writes the videos, "
            "a poster frame per video, subtitles, a results Delta table (<out>/_results) and a review gallery "
            "(<out>/gallery). Re-running renders only what is missing or failed."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("batch")
    g.add_argument("--requests", help="request table: .csv, .parquet or a Delta table (local or s3://); columns: "
                   "request_id, photo, audio, emotion, pose, yaw, pitch, roll, blink, gaze, renderer, output, "
                   f"subtitles, seed (docs/render.md). Default: make a demo campaign in {DEFAULT_CAMPAIGN}")
    g.add_argument("--out", default=DEFAULT_OUT, help="output prefix (folder or s3://): videos, posters, subtitles, "
                   "_results, gallery")
    g.add_argument("--demo-rows", type=int, default=8, help="rows of the demo campaign (no --requests)")
    g.add_argument("--no-retry-failed", action="store_true", help="leave requests that failed before as they are")
    g.add_argument("--no-gallery", action="store_true", help="do not write the review gallery")
    g = p.add_argument_group("models")
    g.add_argument("--checkpoints", help="folder or URI with s2l.pt, pose.pt (and l2l.pt + facevid2vid.pth.tar for "
                   "the facevid2vid renderer, l2l.pt + LivePortrait's release for liveportrait); missing s2l / pose "
                   "fall back to the shipped defaults")
    g.add_argument("--renderer", choices=list(RENDERERS), default="warp",
                   help="renderer of the rows that do not name one")
    g.add_argument("--driving", choices=["l2l", "zero-shot"], default=d.driving,
                   help="keypoint-renderer rows (facevid2vid, liveportrait): l2l (an L2L trained against the checkpoint, l2l.pt) or zero-shot (no "
                   "L2L: the renderer's own motion estimator on the warp renderer's frames)")
    g.add_argument("--size", type=int, choices=[256, 512], default=d.size, help="video size in pixels")
    g.add_argument("--landmarks", choices=["dlib", "fan"], default=d.landmarks, help="landmark backend for photos")
    g.add_argument("--crf", type=int, default=d.crf, help="H.264 quality (lower is better and bigger)")
    g.add_argument("--mouth", choices=["blend", "s2l", "phones"], default=d.mouth,
                   help="the lips' source: S2L blended with the phones a real-speech recogniser hears, S2L alone, "
                        "or the phones alone (space.animate.mouth)")
    g.add_argument("--chunk-seconds", type=float, default=d.chunk_seconds,
                   help="long speech is drawn and encoded this many seconds at a time")
    g.add_argument("--max-seconds", type=float, default=d.max_seconds, help="longer speech is refused")
    g.add_argument("--whisper-model", help="CTranslate2 Whisper folder, URI or cached name, for rows with subtitles")
    g.add_argument("--align-model", help="wav2vec2 folder or URI for word times (default: Whisper's)")
    add_cluster_arguments(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from pipelines.render.run import RenderRun, render_resources

    requests = args.requests
    if requests is None:
        from pipelines.render.campaign import write_campaign

        requests = str(write_campaign(DEFAULT_CAMPAIGN, rows=args.demo_rows))
    settings = RenderSettings(
        out=args.out, checkpoints=args.checkpoints, size=args.size, landmarks=args.landmarks, crf=args.crf,
        chunk_seconds=args.chunk_seconds, max_seconds=args.max_seconds, whisper_model=args.whisper_model,
        align_model=args.align_model, driving=args.driving,
    )
    run = RenderRun(requests, settings, default_renderer=args.renderer, retry_failed=not args.no_retry_failed,
                    gallery=not args.no_gallery)
    if not run.todo:
        summary = run.execute(progress=not args.quiet)  # nothing to render: no Ray
    else:
        cluster = connect(args)
        from dataclasses import replace

        from pipelines.ray_adapter import iter_ray

        run.settings = replace(settings, device=cluster.device)
        subtitles = any(r.get("subtitles") for r in run.todo) and bool(args.whisper_model)
        resources = render_resources(cluster.cpus, cluster.gpus, subtitles)
        print(f"out {settings.out}; {cluster.describe()}")
        summary = run.execute(iter_ray, resources, progress=not args.quiet)
    print(summary.text())
    write_summary(args.summary_json, summary.to_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
