"""The render batch in this process: a 50-row campaign with bad rows, the results table, re-runs, long speech in
chunks without seams, and nothing written outside the output prefix."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.lake import Lake
from pipelines.render.campaign import write_campaign
from pipelines.render.run import RESULTS, RenderRun, latest_results
from pipelines.render.stages import RenderSettings
from space.io.audio import load_audio, write_wav
from space.io.mp4 import frame_count_for
from space.io.probe import probe
from space.io.video import read_video
from space.synth.speech import synthesize_speech


def _add_rows(table: Path, rows: list[dict]) -> None:
    with open(table, newline="") as f:
        header = next(csv.reader(f))
    with open(table, "a", newline="") as f:
        writer = csv.DictWriter(f, header)
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in header})


def _rewrite(table: Path, rows: list[dict]) -> None:
    with open(table, "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """50 good rows (every option the campaign maker covers) and 7 bad ones: 4 refused at validation, 3 that
    fail while rendering (a corrupt photo, a photo without a face, silent speech)."""
    folder = tmp_path_factory.mktemp("campaign")
    table = write_campaign(folder, rows=50, seconds=1.2)
    (folder / "photos" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    Image.fromarray(np.full((256, 256, 3), 128, np.uint8)).save(folder / "photos" / "blank.png")
    write_wav(folder / "speech" / "silence.wav", np.zeros(16000, np.float32))
    good_audio = "speech/line_0000_1.2s.wav"
    _add_rows(table, [
        {"request_id": "bad-emotion", "photo": "photos/astronaut.png", "audio": good_audio, "emotion": "hapy=0.5"},
        {"request_id": "bad-missing", "photo": "photos/nobody.png", "audio": good_audio},
        {"request_id": "bad-unsafe", "photo": "photos/astronaut.png", "audio": good_audio, "output": "../escape.mp4"},
        {"request_id": "bad-duplicate", "photo": "photos/astronaut.png", "audio": good_audio,
         "output": "videos/astronaut_happy_0000.mp4"},
        {"request_id": "bad-corrupt", "photo": "photos/corrupt.png", "audio": good_audio},
        {"request_id": "bad-faceless", "photo": "photos/blank.png", "audio": good_audio},
        {"request_id": "bad-silent", "photo": "photos/astronaut.png", "audio": "speech/silence.wav"},
    ])
    return table


@pytest.fixture(scope="module")
def rendered(campaign, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    before = _files(campaign.parent)
    run = RenderRun(str(campaign), RenderSettings(out=str(out), chunk_seconds=0.5), log=lambda _: None)
    summary = run.execute(progress=False)
    return out, summary, before


@pytest.mark.slow
def test_a_50_row_campaign_gives_50_valid_videos_and_a_complete_results_table(campaign, rendered):
    out, summary, _ = rendered
    assert (summary.rendered, summary.invalid, summary.failed) == (50, 4, 3)
    latest = latest_results(Lake(str(out)))
    ok = [r for r in latest.values() if r["status"] == "ok"]
    assert len(ok) == 50 and len(latest) == 57
    for row in ok:
        video = out / row["output_name"]
        info = probe(str(video))
        assert info.video.codec == "h264" and info.audio.codec == "aac"
        assert abs(info.video.fps - 25) < 1e-6
        speech = load_audio(row["audio"])
        assert abs(info.video.frame_count - frame_count_for(len(speech) / 16000)) <= 1
        assert row["frames"] == info.video.frame_count and row["output"] == str(video)
        assert Path(row["poster"]).exists() and row["poster"].endswith(".poster.jpg")
        timings = json.loads(row["timings"])
        assert {"prepare", "motion", "render", "encode", "join"} <= set(timings)
        models = json.loads(row["models"])
        assert set(models) == {"s2l", "pose"} and all(len(m["sha256"]) == 64 for m in models.values())
        assert row["emotion"] and row["renderer"] == "warp" and row["spec"] and row["run_id"] == summary.run_id
    extras = {json.loads(r["extra"])["audience"] for r in ok}
    assert extras == {"emea", "amer", "apac"}  # the campaign's own columns travel to the results


@pytest.mark.slow
def test_bad_rows_are_recorded_with_their_reason_and_the_others_rendered(rendered):
    out, _, _ = rendered
    latest = latest_results(Lake(str(out)))
    expected = {
        "bad-emotion": ("invalid", "validate", "unknown_emotion"),
        "bad-missing": ("invalid", "validate", "missing_file"),
        "bad-unsafe": ("invalid", "validate", "unsafe_output"),
        "bad-duplicate": ("invalid", "validate", "duplicate_output"),
        "bad-corrupt": ("error", "prepare", "corrupt_media"),
        "bad-faceless": ("error", "prepare", "no_face"),
        "bad-silent": ("error", "prepare", "silent_audio"),
    }
    for request_id, (status, stage, kind) in expected.items():
        row = latest[request_id]
        assert (row["status"], row["error_stage"], row["error_kind"]) == (status, stage, kind), row
        assert row["error_reason"] and row["output"] is None
    assert not (out / "escape.mp4").exists() and not (out.parent / "escape.mp4").exists()


@pytest.mark.slow
def test_nothing_is_written_outside_the_output_prefix_and_no_part_files_remain(campaign, rendered):
    out, summary, before = rendered
    assert _files(campaign.parent) == before  # the campaign folder (inputs) is untouched
    written = _files(out)
    assert not [f for f in written if ".part" in f or f.startswith("_staging")]
    assert Path(summary.gallery["html"]).parent == out / "gallery"
    assert Path(summary.gallery["contact_sheet"]).exists()


@pytest.mark.slow
def test_a_rerun_renders_nothing_and_a_changed_row_renders_alone(campaign, rendered):
    out, _, _ = rendered
    lake = Lake(str(out))
    version = lake.version(RESULTS)
    settings = RenderSettings(out=str(out), chunk_seconds=0.5)
    again = RenderRun(str(campaign), settings, retry_failed=False, log=lambda _: None)
    assert again.todo == [] and again.nothing_to_do
    summary = again.execute(progress=False)
    assert (summary.rendered, summary.skipped, summary.not_retried) == (0, 50, 3) and lake.version(RESULTS) == version

    # by default a re-run tries the failed requests again, and only them
    retry = RenderRun(str(campaign), settings, log=lambda _: None)
    assert sorted(r["request_id"] for r in retry.todo) == ["bad-corrupt", "bad-faceless", "bad-silent"]
    summary = retry.execute(progress=False)
    assert (summary.rendered, summary.failed) == (0, 3) and lake.version(RESULTS) == version + 1

    # the same table with one row's emotion changed: only that row renders again (the inputs' URIs are part of
    # a request's spec, so the changed table sits beside the original)
    changed = campaign.parent / "changed.csv"
    rows = list(csv.DictReader(open(campaign, newline="")))
    rows[3]["emotion"] = "happy=1.0"
    _rewrite(changed, rows)
    try:
        third = RenderRun(str(changed), settings, retry_failed=False, log=lambda _: None)
    finally:
        changed.unlink()
    assert [r["request_id"] for r in third.todo] == [rows[3]["request_id"]]


@pytest.mark.slow
def test_long_speech_in_chunks_matches_the_unchunked_video(tmp_path):
    """8 s of speech drawn and encoded 2 s at a time: the joined video has every frame, and it equals the video
    rendered in one piece up to encoding noise, also at the joins (no seam)."""
    write_wav(tmp_path / "long.wav", synthesize_speech(8.0, seed=5).audio)
    Image.fromarray(__import__("skimage.data", fromlist=["astronaut"]).astronaut()).save(tmp_path / "photo.png")
    (tmp_path / "requests.csv").write_text("request_id,photo,audio,pose,output\nlong,photo.png,long.wav,natural,long.mp4\n")
    videos = {}
    for chunk in (2.0, 60.0):
        out = tmp_path / f"out_{chunk:g}"
        summary = RenderRun(str(tmp_path / "requests.csv"), RenderSettings(out=str(out), chunk_seconds=chunk),
                            gallery=False, log=lambda _: None).execute(progress=False)
        assert summary.rendered == 1
        videos[chunk] = read_video(str(out / "long.mp4")).frames.astype(np.float32)
    chunked, whole = videos[2.0], videos[60.0]
    assert len(chunked) == len(whole) == 200
    difference = np.abs(chunked - whole).mean(axis=(1, 2, 3))  # per frame, 0..255
    assert difference.max() < 3.0, difference.max()
    motion = np.abs(np.diff(chunked, axis=0)).mean(axis=(1, 2, 3))  # frame-to-frame change
    joins = motion[[49, 99, 149]]  # frames 49 -> 50, 99 -> 100, 149 -> 150
    assert joins.max() <= np.quantile(motion, 0.98) + 1.0


@pytest.mark.slow
def test_subtitles_and_the_facevid2vid_renderer_in_one_batch(tmp_path):
    """Rows with subtitles get SRT + VTT from whisperx (a tiny random Whisper built locally); facevid2vid rows
    (narrow random networks in the public format) render beside warp rows, frames of several requests per batch."""
    from tests.support.tiny_asr import build_tiny_whisper
    from tests.support.tiny_facevid2vid import write_renderer_checkpoints

    table = write_campaign(tmp_path / "campaign", rows=3, seconds=2.0)
    rows = list(csv.DictReader(open(table, newline="")))
    rows[0].update(subtitles="en", renderer="warp")
    rows[1].update(subtitles="", renderer="facevid2vid")
    rows[2].update(subtitles="auto", renderer="facevid2vid", pose="static")
    _rewrite(table, rows)
    # 256: face-vid2vid at the default 512 spends 6 minutes of CPU on these 100 frames, to show nothing more
    settings = RenderSettings(out=str(tmp_path / "out"), checkpoints=write_renderer_checkpoints(tmp_path / "ckpt"),
                              whisper_model=build_tiny_whisper(tmp_path / "whisper"), chunk_seconds=1.0, size=256)
    summary = RenderRun(str(table), settings, log=lambda _: None).execute(progress=False)
    assert (summary.rendered, summary.failed) == (3, 0), summary.errors
    latest = latest_results(Lake(settings.out))
    for row in latest.values():
        assert probe(row["output"]).video.frame_count == row["frames"] == 50
    fv2v = latest[rows[1]["request_id"]]
    assert fv2v["renderer"] == "facevid2vid" and set(json.loads(fv2v["models"])) == {"s2l", "pose", "l2l",
                                                                                       "facevid2vid"}
    for row in (latest[rows[0]["request_id"]], latest[rows[2]["request_id"]]):
        files = json.loads(row["subtitles"])
        srt, vtt = Path(files["srt"]).read_text(), Path(files["vtt"]).read_text()
        assert vtt.startswith("WEBVTT") and " --> " in vtt and " --> " in srt
    assert latest[rows[1]["request_id"]]["subtitles"] is None


def test_zero_shot_driving_renders_facevid2vid_rows_without_l2l(tmp_path):
    """--driving zero-shot: a checkpoints folder with only face-vid2vid weights renders facevid2vid rows; their
    spec says how they were driven (a rerun renders nothing) and the warp rows' spec does not change."""
    from pipelines.render.run import request_spec
    from tests.support.tiny_facevid2vid import write_renderer_checkpoints

    table = write_campaign(tmp_path / "campaign", rows=2, seconds=1.0)
    rows = list(csv.DictReader(open(table, newline="")))
    rows[0]["renderer"], rows[1]["renderer"] = "warp", "facevid2vid"
    _rewrite(table, rows)
    checkpoints = write_renderer_checkpoints(tmp_path / "ckpt")
    (Path(checkpoints) / "l2l.pt").unlink()
    settings = RenderSettings(out=str(tmp_path / "out"), checkpoints=checkpoints, size=256, driving="zero-shot")
    summary = RenderRun(str(table), settings, gallery=False, log=lambda _: None).execute(progress=False)
    assert (summary.rendered, summary.failed) == (2, 0), summary.errors
    fv2v = latest_results(Lake(settings.out))[rows[1]["request_id"]]
    assert fv2v["renderer"] == "facevid2vid" and set(json.loads(fv2v["models"])) == {"s2l", "pose", "facevid2vid"}
    assert probe(fv2v["output"]).video.frame_count == fv2v["frames"] == 25
    again = RenderRun(str(table), settings, gallery=False, log=lambda _: None)
    assert again.todo == []
    l2l = RenderSettings(out=settings.out, checkpoints=checkpoints, size=256)
    models = {"s2l": {"sha256": "a"}, "pose": {"sha256": "b"}}
    warp, keypoint = {"request_id": "w", "renderer": "warp"}, {"request_id": "k", "renderer": "facevid2vid"}
    assert request_spec(warp, settings, models) == request_spec(warp, l2l, models)
    assert request_spec(keypoint, settings, models) != request_spec(keypoint, l2l, models)


def test_a_new_speech_model_saved_over_the_old_one_renders_the_subtitles_again(tmp_path):
    """Subtitled rows count the Whisper model by what its folder holds: the same model in another folder is the
    same spec, a new model saved over the old folder is another; rows without subtitles do not depend on it."""
    from pipelines.render.run import request_spec, subtitle_models

    def whisper(folder: Path, weights: bytes) -> str:
        folder.mkdir(exist_ok=True)
        (folder / "model.bin").write_bytes(weights)
        (folder / "config.json").write_text("{}")
        return str(folder)

    models = {"s2l": {"sha256": "a"}, "pose": {"sha256": "b"}}
    subtitled = {"request_id": "s", "renderer": "warp", "subtitles": True}
    plain = {"request_id": "p", "renderer": "warp"}
    first = RenderSettings(out=str(tmp_path / "out"), whisper_model=whisper(tmp_path / "w", b"first model"))
    moved = RenderSettings(out=first.out, whisper_model=whisper(tmp_path / "copy", b"first model"))
    spec = request_spec(subtitled, first, models)
    assert request_spec(subtitled, moved, models) == spec == request_spec(subtitled, first, models,
                                                                         subtitle_models(first))
    whisper(tmp_path / "w", b"a retrained model")
    assert request_spec(subtitled, first, models) != spec
    assert request_spec(plain, first, models) == request_spec(plain, moved, models)


@pytest.mark.slow
def test_rows_whose_models_are_missing_fail_alone(tmp_path):
    table = write_campaign(tmp_path / "campaign", rows=3, seconds=1.0)
    rows = list(csv.DictReader(open(table, newline="")))
    rows[1]["subtitles"] = "en"  # no --whisper-model
    rows[2]["renderer"] = "facevid2vid"  # no checkpoints with face-vid2vid weights
    _rewrite(table, rows)
    settings = RenderSettings(out=str(tmp_path / "out"))
    summary = RenderRun(str(table), settings, gallery=False, log=lambda _: None).execute(progress=False)
    assert (summary.rendered, summary.failed) == (1, 2)
    latest = latest_results(Lake(settings.out))
    subtitles, weights = latest[rows[1]["request_id"]], latest[rows[2]["request_id"]]
    assert (subtitles["error_stage"], subtitles["error_kind"]) == ("subtitles", "missing_weights")
    assert (weights["error_stage"], weights["error_kind"]) == ("models", "missing_weights")
    assert "facevid2vid.pth.tar" in weights["error_reason"]


@pytest.mark.parametrize("cpus,gpus,subtitles", [(1, 0, False), (1, 0, True), (2, 0, True), (2, 0, False),
                                                 (16, 0, True), (16, 1, True), (32, 4, False), (32, 4, True)])
def test_stage_resources_leave_a_cpu_to_the_tasks_and_fit_the_gpus(cpus, gpus, subtitles):
    """Actor pools hold their resources for the whole run: if they took every CPU, the prepare and encode tasks
    would never be scheduled and the run would stall (Ray Data waits for resources without an error)."""
    from pipelines.render.run import render_resources

    res = render_resources(cpus, gpus, subtitles)
    pools = [r for r in res.values() if r.uses_actors]
    held = sum(r.cpus * r.actors for r in pools)
    assert held + max(res["prepare"].cpus, res["encode"].cpus) <= cpus + 1e-9
    assert sum(r.gpus * r.actors for r in pools) <= max(gpus, 0) + 1e-9
    assert ("subtitles" in res) == subtitles
    if gpus:
        assert res["animate"].actors == gpus and res["animate"].gpus > 0


@pytest.mark.slow
def test_a_campaign_on_s3(seaweed_s3, tmp_path, monkeypatch):
    """Request table, media and outputs on a real S3 server (SeaweedFS on 127.0.0.1), credentials and endpoint
    from the environment: videos, posters, results and gallery land under the prefix, staging is cleaned."""
    import uuid

    import fsspec

    for key, value in seaweed_s3["env"].items():
        monkeypatch.setenv(key, value)
    fs = fsspec.filesystem("s3", client_kwargs={"endpoint_url": seaweed_s3["endpoint"]},
                           key=seaweed_s3["key"], secret=seaweed_s3["secret"])
    prefix = f"s3://{seaweed_s3['bucket']}/{uuid.uuid4().hex}"
    table = write_campaign(tmp_path / "campaign", rows=2, seconds=1.2)
    for path in (tmp_path / "campaign").rglob("*"):
        if path.is_file() and path.suffix != ".json":
            fs.put_file(str(path), f"{prefix}/campaign/{path.relative_to(tmp_path / 'campaign')}"[5:])
    settings = RenderSettings(out=f"{prefix}/videos", chunk_seconds=0.5)
    summary = RenderRun(f"{prefix}/campaign/{table.name}", settings, log=lambda _: None).execute(progress=False)
    assert (summary.rendered, summary.failed, summary.invalid) == (2, 0, 0), summary.errors
    latest = latest_results(Lake(settings.out))
    for row in latest.values():
        assert row["output"].startswith(f"{prefix}/videos/") and row["photo"].startswith(f"{prefix}/campaign/")
        assert probe(row["output"]).video.frame_count == row["frames"] == 30
        assert fs.exists(row["poster"][5:])
    written = fs.find(f"{prefix}/videos"[5:])
    assert not [p for p in written if "/_staging/" in p or ".part" in p]
    assert fs.exists(summary.gallery["html"][5:]) and fs.exists(summary.gallery["contact_sheet"][5:])
    again = RenderRun(f"{prefix}/campaign/{table.name}", settings, log=lambda _: None)
    assert again.nothing_to_do
