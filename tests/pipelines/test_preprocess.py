"""The preprocessing pipeline end to end (in-process runner; tests/jobs runs it on Ray): the tables hold the expected
rows, landmarks match the synthetic corpus's ground truth, every bad file is an error row with its reason, a
re-run does nothing, new videos are processed alone, changed settings add versioned rows, and s3:// works
against a real S3 server."""

from __future__ import annotations

import dataclasses
import shutil
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from pipelines.lake import Lake, storage_options_from_env, unpack_column
from pipelines.preprocess import PreprocessRun, PreprocessSettings, plan_run, run_local, stage_resources
from pipelines.stages.clips import ClipSettings
from tests.support.corpus import MAX_VIDEO_SECONDS, copy_good, make_corpus

SETTINGS = PreprocessSettings(clips=ClipSettings(max_video_seconds=MAX_VIDEO_SECONDS))
GOOD = 3


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    expected = make_corpus(folder, clips=GOOD)
    return folder, expected


@pytest.fixture(scope="module")
def first_run(corpus, tmp_path_factory):
    """The whole corpus processed once into a fresh lake: (lake, summary, seconds)."""
    folder, _ = corpus
    lake = Lake(str(tmp_path_factory.mktemp("lake")))
    start = time.perf_counter()
    summary = PreprocessRun(str(folder), lake, SETTINGS, log=lambda _: None).execute(run_local)
    return lake, summary, time.perf_counter() - start


def _rows(lake: Lake, table: str) -> list[dict]:
    return lake.read(table).to_pylist()


def test_every_bad_file_is_an_error_row_with_its_reason(corpus, first_run):
    _, expected = corpus
    lake, summary, _ = first_run
    errors = _rows(lake, "errors")
    by_file = {Path(e["source"].split("@")[0]).name: e for e in errors}
    for name, kind in expected.items():
        assert name in by_file, f"{name} is missing from the errors table"
        row = by_file[name]
        assert row["kind"] == kind, f"{name}: {row['kind']} ({row['reason']}), expected {kind}"
        assert row["reason"] and row["stage"] and row["settings_id"] == SETTINGS.settings_id
    assert len(errors) == len(expected)  # and nothing else failed
    assert summary.error_count == len(expected)
    status = {Path(v["uri"]).name: v["status"] for v in _rows(lake, "videos")}
    assert all(status[name] == "error" for name in expected)


def test_clips_cover_the_speech_of_every_good_video(corpus, first_run):
    folder, _ = corpus
    lake, summary, _ = first_run
    clips = _rows(lake, "clips")
    good = sorted(p.name for p in Path(folder).glob("clip_*.mp4"))
    assert sorted({Path(c["uri"]).name for c in clips}) == good
    assert summary.clips == len(clips) and summary.videos == GOOD + len(corpus[1])
    for c in clips:
        assert c["num_frames"] >= 25 * SETTINGS.clips.min_clip and c["num_frames"] <= 25 * SETTINGS.clips.max_clip
        assert c["end"] - c["start"] == pytest.approx(c["num_frames"] / 25)
        assert c["end"] <= c["source_duration"] + 1e-6
        assert c["fps"] == 25 and c["sample_rate"] == 16000 and c["face_detected"] > 0.9
        assert c["settings_id"] == SETTINGS.settings_id and c["run_id"] == summary.run_id
    assert len({c["id"] for c in clips}) == len(clips)
    status = {Path(v["uri"]).name: v["status"] for v in _rows(lake, "videos")}
    assert all(status[name] == "ok" for name in good)


def test_landmarks_match_the_generators_ground_truth(corpus, first_run):
    """The foundation's tolerance: mean point error within 3% of the face size, pose within 3 degrees."""
    from space.synth.corpus import load_truth

    folder, _ = corpus
    lake, _, _ = first_run
    seq = lake.read("sequences")
    clips = {c["id"]: c for c in _rows(lake, "clips")}
    landmarks = unpack_column(seq, "landmarks", "landmarks_shape")
    poses = unpack_column(seq, "poses", "poses_shape")
    for i, clip_id in enumerate(seq.column("id").to_pylist()):
        clip = clips[clip_id]
        truth = load_truth(Path(folder) / Path(clip["uri"]).name)
        lo, n = clip["start_frame"], clip["num_frames"]
        gt = truth["landmarks"][lo : lo + n, :, :2]
        assert landmarks[i].shape == (n, 68, 3)
        size = np.linalg.norm(gt.max(1) - gt.min(1), axis=-1)
        error = (np.linalg.norm(landmarks[i][..., :2] - gt, axis=-1).mean(-1) / size).mean()
        assert error < 0.03, f"{clip['uri']}: mean landmark error {error:.3f} of the face size"
        pose_error = np.abs(poses[i][:, :3] - truth["poses"][lo : lo + n, :3]).mean(0)
        assert (pose_error < 3.0).all(), f"{clip['uri']}: mean pose error {pose_error} degrees"


def test_sequences_hold_every_array_with_its_shape(first_run):
    lake, _, _ = first_run
    seq = lake.read("sequences")
    frames = seq.column("num_frames").to_pylist()
    shapes = {
        "boxes": lambda t: (t, 4), "poses": lambda t: (t, 6), "normalized": lambda t: (t, 68, 3),
        "fit_rms": lambda t: (t,), "audio": lambda t: (t * 640,), "audio_features": lambda t: (t, 20, 80),
    }
    for name, shape in shapes.items():
        for t, array in zip(frames, unpack_column(seq, name, f"{name}_shape")):
            assert array.shape == shape(t), name
            assert np.isfinite(array).all(), name
    assert all(len(d) == t for d, t in zip(seq.column("detected").to_pylist(), frames))
    assert seq.column("kp_params").null_count == seq.num_rows  # no face-vid2vid checkpoint given


def test_rerun_adds_nothing_and_does_no_model_work(corpus, first_run):
    folder, _ = corpus
    lake, _, first_seconds = first_run
    versions = {t: lake.version(t) for t in ("videos", "clips", "sequences", "errors", "runs")}

    def no_work(pipeline, rows):
        raise AssertionError(f"a re-run ran the pipeline on {len(rows)} rows")

    start = time.perf_counter()
    run = PreprocessRun(str(folder), lake, SETTINGS, log=lambda _: None)
    summary = run.execute(no_work)
    seconds = time.perf_counter() - start
    assert run.nothing_to_do and summary.videos == 0 and summary.skipped == GOOD + len(corpus[1])
    assert {t: lake.version(t) for t in versions} == versions
    assert seconds < first_seconds / 5, f"re-run {seconds:.2f} s vs first run {first_seconds:.2f} s"


@pytest.fixture(scope="module")
def one_clip_lake(corpus, tmp_path_factory):
    """A lake holding one good video, and a corpus folder with a second one added after the first run."""
    folder, _ = corpus
    small = tmp_path_factory.mktemp("small")
    copy_good(folder, small, 1)
    lake = Lake(str(tmp_path_factory.mktemp("lake1")))
    run_preprocess_quiet(small, lake, SETTINGS)
    return small, lake


def run_preprocess_quiet(folder, lake, settings, runner=run_local):
    return PreprocessRun(str(folder), lake, settings, log=lambda _: None).execute(runner)


def test_new_videos_are_processed_alone(corpus, one_clip_lake):
    folder, _ = corpus
    small, lake = one_clip_lake
    before = {c["id"] for c in _rows(lake, "clips")}
    second = sorted(Path(folder).glob("clip_*.mp4"))[1]
    shutil.copy(second, small / second.name)
    seen = []

    def counting(pipeline, rows):
        seen.extend(r["uri"] for r in rows)
        return run_local(pipeline, rows)

    summary = run_preprocess_quiet(small, lake, SETTINGS, counting)
    assert [Path(u).name for u in seen] == [second.name]
    assert summary.videos == 1 and summary.skipped == 1
    after = _rows(lake, "clips")
    assert before < {c["id"] for c in after} and len(after) == len({c["id"] for c in after})


def test_a_changed_setting_adds_versioned_rows(one_clip_lake):
    small, lake = one_clip_lake
    old = _rows(lake, "clips")
    changed = dataclasses.replace(SETTINGS, clips=dataclasses.replace(SETTINGS.clips, pad=0.2))
    assert changed.settings_id != SETTINGS.settings_id
    summary = run_preprocess_quiet(small, lake, changed)
    assert summary.videos == len(list(small.glob("*.mp4"))) and summary.skipped == 0 and summary.clips >= 1
    rows = _rows(lake, "clips")
    assert {c["id"] for c in old} <= {c["id"] for c in rows}  # the old version stays
    new = [c for c in rows if c["settings_id"] == changed.settings_id]
    assert new and not {c["id"] for c in new} & {c["id"] for c in old}
    runs = _rows(lake, "runs")
    assert changed.settings_id in {r["settings_id"] for r in runs}


def test_duplicate_content_is_processed_once(corpus, tmp_path):
    folder, _ = corpus
    first = sorted(Path(folder).glob("clip_*.mp4"))[0]
    shutil.copy(first, tmp_path / "a.mp4")
    shutil.copy(first, tmp_path / "b_renamed_copy.mp4")
    plan = plan_run(__import__("pipelines.stages.inputs", fromlist=["x"]).list_inputs(str(tmp_path)),
                    Lake(str(tmp_path / "lake")), SETTINGS.settings_id)
    assert len(plan.todo) == 1 and len(plan.duplicates) == 1
    assert plan.duplicates[0]["same_as"].endswith("a.mp4")


def test_resources_leave_room_for_the_task_stages():
    for cpus in (1, 2, 4, 16):
        for transcripts in (False, True):
            for keypoints in (False, True):
                res = stage_resources(cpus, 0, transcripts, keypoints)
                held = sum(r.cpus * r.actors for r in res.values() if r.uses_actors)
                several = any(r.uses_actors and r.actors > 1 for r in res.values())
                # a CPU stays free for the repartition in front of a pool of several, else a task's quarter
                assert held <= cpus - (1 if several else 0.25) + 1e-9, (cpus, transcripts, keypoints, held)
                assert all(not r.uses_actors or r.cpus > 0 for r in res.values())
    res = stage_resources(16, 2, True, True)
    assert res["landmarks"].actors == 2 and res["landmarks"].gpus * 2 + res["transcripts"].gpus + \
        res["keypoints"].gpus <= 2 + 1e-9
    assert stage_resources(8, 0, False, False)["landmarks"].actors == 8
    assert stage_resources(2, 0, False, False)["landmarks"].actors == 2
    assert stage_resources(1, 0, False, False)["landmarks"].actors == 1


@pytest.mark.slow
def test_the_same_job_on_s3(corpus, seaweed_s3, monkeypatch):  # noqa: F811 - fixture
    """Corpus and lake on a real S3 server (SeaweedFS on 127.0.0.1), credentials and endpoint from the env."""
    import fsspec

    folder, _ = corpus
    for key, value in seaweed_s3["env"].items():
        monkeypatch.setenv(key, value)
    prefix = f"s3://{seaweed_s3['bucket']}/{uuid.uuid4().hex}"
    fs = fsspec.filesystem("s3", client_kwargs={"endpoint_url": seaweed_s3["endpoint"]},
                           key=seaweed_s3["key"], secret=seaweed_s3["secret"])
    videos = sorted(Path(folder).glob("clip_*.mp4"))[:2] + [Path(folder) / "no_face.mp4"]
    for video in videos:
        fs.put_file(str(video), f"{prefix}/raw/{video.name}"[5:])
    lake = Lake(f"{prefix}/lake", storage_options=storage_options_from_env(seaweed_s3["env"]))
    summary = run_preprocess_quiet(f"{prefix}/raw/", lake, SETTINGS)
    assert summary.videos == 3 and summary.clips >= 2 and summary.errors == {"landmarks/no_face": 1}
    clips = _rows(lake, "clips")
    assert {Path(c["uri"]).name for c in clips} == {v.name for v in videos[:2]}
    assert all(c["uri"].startswith("s3://") for c in clips)
    assert lake.read("sequences").num_rows == len(clips)
    again = run_preprocess_quiet(f"{prefix}/raw/", lake, SETTINGS)
    assert again.videos == 0 and again.skipped == 3


@pytest.mark.slow
def test_transcripts_and_keypoints_when_their_models_are_given(corpus, tmp_path):
    """A Whisper model (tiny, CTranslate2) and a face-vid2vid checkpoint (narrow) add the transcripts table and
    the keypoint columns; the stored keypoints are the checkpoint's estimate on the stored crop."""
    import json

    import torch

    from pipelines.stages.audio import TranscriptSettings
    from pipelines.stages.keypoints import KeypointSettings
    from space.io.video import read_video
    from space.models.facevid2vid import FaceVid2Vid
    from space.portrait import crop_square
    from tests.support.tiny_asr import build_tiny_whisper
    from tests.support.tiny_facevid2vid import tiny_config

    folder, _ = corpus
    small = tmp_path / "one"
    copy_good(folder, small, 1)
    torch.manual_seed(0)
    model = FaceVid2Vid(tiny_config(256)).eval()
    model.save_checkpoint(str(tmp_path / "fv2v.pth.tar"))
    (tmp_path / "fv2v.json").write_text(json.dumps(tiny_config(256).to_dict()))
    settings = dataclasses.replace(
        SETTINGS,
        transcripts=TranscriptSettings(model=build_tiny_whisper(tmp_path / "whisper")),
        keypoints=KeypointSettings(checkpoint=str(tmp_path / "fv2v.pth.tar"), config=str(tmp_path / "fv2v.json")),
    )
    lake = Lake(str(tmp_path / "lake"))
    summary = run_preprocess_quiet(small, lake, settings)
    assert summary.error_count == 0 and summary.clips >= 1
    clips = {c["id"]: c for c in _rows(lake, "clips")}
    assert all(c["has_transcript"] and c["has_keypoints"] for c in clips.values())

    transcripts = _rows(lake, "transcripts")
    assert sorted(t["id"] for t in transcripts) == sorted(clips)
    for t in transcripts:
        length = clips[t["id"]]["num_frames"] / 25
        assert t["language"] and t["word_timing"] == "whisper" and t["words"]
        assert " ".join(w["text"].strip() for w in t["words"]).split() == t["text"].split()
        assert all(0 <= w["start"] <= w["end"] <= length + 1e-3 for w in t["words"])

    def assert_keypoints_of(model, clips):
        seq = lake.read("sequences")
        ids = seq.column("id").to_pylist()
        params = unpack_column(seq, "kp_params", "kp_params_shape")
        canonical = unpack_column(seq, "kp_canonical", "kp_canonical_shape")
        crops = unpack_column(seq, "kp_crops", "kp_crops_shape")
        for clip_id, clip in clips.items():
            i, n = ids.index(clip_id), clip["num_frames"]
            assert params[i].shape == (n, 51 - 45 + 3 * 3) and canonical[i].shape == (3, 3)
            assert crops[i].shape == (n, 3)
            frame = read_video(clip["uri"], start_frame=clip["start_frame"], num_frames=1).frames[0]
            image = torch.from_numpy(crop_square(frame, *crops[i][0], 256)).permute(2, 0, 1)[None].float() / 255
            with torch.no_grad():
                expected = model.estimate(image)[0].numpy()
            np.testing.assert_allclose(params[i][0], expected, atol=1e-4)

    assert_keypoints_of(model, clips)

    # retrained weights saved over the same file are new settings: the re-run extracts the keypoints again (with
    # the old id it took the old model's rows as done); the same weights at another path are the same settings
    torch.manual_seed(1)
    retrained = FaceVid2Vid(tiny_config(256)).eval()
    retrained.save_checkpoint(str(tmp_path / "fv2v.pth.tar"))
    same_paths = dataclasses.replace(settings)
    assert same_paths.settings_id != settings.settings_id
    shutil.copy(tmp_path / "fv2v.pth.tar", tmp_path / "elsewhere.pth.tar")
    elsewhere = dataclasses.replace(settings.keypoints, checkpoint=str(tmp_path / "elsewhere.pth.tar"))
    assert dataclasses.replace(settings, keypoints=elsewhere).settings_id == same_paths.settings_id
    again = run_preprocess_quiet(small, lake, same_paths)
    assert again.videos == 1 and again.skipped == 0 and again.error_count == 0
    new = {c["id"]: c for c in _rows(lake, "clips") if c["settings_id"] == same_paths.settings_id}
    assert new and not set(new) & set(clips)
    assert_keypoints_of(retrained, new)
    assert_keypoints_of(model, clips)  # the old version stays
