"""pipelines.stages without Ray: errors as data, setup once, corpus listing and manifests, the probe stage."""

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.stages import Pipeline, Resources, Stage, error_row, run_items
from pipelines.stages.inputs import ProbeStage, list_inputs, video_id
from space.errors import CorruptMediaError


class Square(Stage):
    name = "square"
    resources = Resources(batch_size=3)

    def __init__(self):
        self.setups = 0

    def setup(self):
        self.setups += 1

    def process(self, rows):
        return self.run_items(rows, self._one)

    @staticmethod
    def _one(row):
        if row["x"] == 3:
            raise ValueError("three is bad")
        if row["x"] == 5:
            raise CorruptMediaError(f"mem/{row['x']}", "not media")
        return {**row, "y": row["x"] ** 2}


class Explode(Stage):
    name = "explode"

    def process(self, rows):
        raise RuntimeError("batch failed")


def test_run_items_errors_are_rows():
    rows = [{"id": i, "uri": f"u{i}", "x": i} for i in range(7)]
    out = run_items(rows, Square._one, "square")
    assert [r.get("y") for r in out if not r.get("error")] == [0, 1, 4, 16, 36]
    bad = {r["id"]: r for r in out if r.get("error")}
    assert bad[3] == {"id": 3, "video_id": None, "source": "u3", "stage": "square", "kind": "exception",
                      "reason": "ValueError: three is bad", "error": True}
    assert bad[5] == {"id": 5, "video_id": None, "source": "mem/5", "stage": "square", "kind": "corrupt_media",
                      "reason": "not media", "error": True}


def test_error_rows_pass_through_untouched_and_setup_once():
    earlier = error_row({"video_id": "v9", "uri": "u9"}, "inputs", FileNotFoundError("gone"))
    assert earlier["id"] == "v9" and earlier["video_id"] == "v9" and earlier["stage"] == "inputs"
    rows = [{"id": i, "uri": f"u{i}", "x": i} for i in range(8)] + [earlier]
    sq = Square()
    out = Pipeline([sq]).run_local(rows)
    assert sq.setups == 1  # 3 batches, one setup
    assert len(out) == 9
    assert earlier in out  # untouched, still naming its own stage
    ok, bad = Pipeline.split(out)
    assert sorted(r["x"] for r in ok) == [0, 1, 2, 4, 6, 7]
    assert sorted(r["id"] for r in bad if r["stage"] == "square") == [3, 5]


def test_a_failing_batch_becomes_error_rows():
    out = Pipeline([Square(), Explode()]).run_local([{"id": i, "x": i} for i in range(4)])
    ok, bad = Pipeline.split(out)
    assert ok == []
    assert sorted((r["id"], r["stage"]) for r in bad) == [(0, "explode"), (1, "explode"), (2, "explode"), (3, "square")]
    assert all(r["reason"] == "RuntimeError: batch failed" for r in bad if r["stage"] == "explode")


def test_resources_validated_and_names_unique():
    with pytest.raises(ValueError):
        Resources(batch_size=0)
    with pytest.raises(ValueError):
        Resources(actors=0)
    with pytest.raises(ValueError, match="unique"):
        Pipeline([Square(), Square()])


def _write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def test_list_inputs_folder_ids_follow_content(tmp_path):
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    corpus = tmp_path / "corpus"
    _write(corpus / "a.mp4", big)
    _write(corpus / "sub" / "b.MOV", b"small file")
    _write(corpus / "notes.txt", b"not a video")
    rows = list_inputs(str(corpus))
    assert [os.path.relpath(r["uri"], corpus) for r in rows] == ["a.mp4", os.path.join("sub", "b.MOV")]
    assert rows[0]["size"] == 300_000 and len(rows[0]["video_id"]) == 32
    ids = {os.path.basename(r["uri"]): r["video_id"] for r in rows}
    os.rename(corpus / "a.mp4", corpus / "renamed.mkv")
    after = {os.path.basename(r["uri"]): r["video_id"] for r in list_inputs(str(corpus))}
    assert after["renamed.mkv"] == ids["a.mp4"]  # a rename keeps the id
    changed = bytearray(big)
    changed[-10] ^= 0xFF  # a change in the last 64 KiB
    _write(corpus / "renamed.mkv", bytes(changed))
    assert video_id(str(corpus / "renamed.mkv")) != ids["a.mp4"]
    _write(corpus / "renamed.mkv", big + b"x")  # a changed size
    assert video_id(str(corpus / "renamed.mkv")) != ids["a.mp4"]
    assert list_inputs(str(corpus), extensions=(".txt",))[0]["uri"].endswith("notes.txt")


def test_list_inputs_memory_prefix():
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/space-test-corpus/x/1.mp4", b"one")
    fs.pipe("/space-test-corpus/2.webm", b"two")
    rows = list_inputs("memory://space-test-corpus")
    uris = sorted(r["uri"] for r in rows)
    assert [u.startswith("memory://") for u in uris] == [True, True]  # an fsspec URI, as for s3://
    assert [u.rsplit("space-test-corpus/", 1)[1] for u in uris] == ["2.webm", "x/1.mp4"]
    assert all(not r.get("error") for r in rows) and [r["size"] for r in rows] == [3, 3]


@pytest.mark.parametrize("kind", ["csv", "parquet", "delta"])
def test_manifests_resolve_relative_uris(tmp_path, kind):
    videos = tmp_path / "data" / "videos"
    a = _write(videos / "a.mp4", b"aaaa")
    b = _write(tmp_path / "elsewhere" / "b.mp4", b"bbbb")
    table = pa.table({
        "uri": ["videos/a.mp4", b, "videos/missing.mp4"],
        "speaker": ["s1", "s2", "s3"],
        "intensity": [0.5, 1.0, None],
        "split": ["train", "test", "train"],
        "ignored": [1, 2, 3],
    })
    if kind == "csv":
        manifest = str(tmp_path / "data" / "m.csv")
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, manifest)
    elif kind == "parquet":
        manifest = str(tmp_path / "data" / "m.parquet")
        pq.write_table(table, manifest)
    else:
        from deltalake import write_deltalake

        manifest = str(tmp_path / "data" / "manifest")
        write_deltalake(manifest, table)
    rows = list_inputs(manifest)
    assert [r.get("uri") for r in rows[:2]] == [a, b]
    assert rows[0]["speaker"] == "s1" and rows[0]["intensity"] == 0.5 and rows[1]["split"] == "test"
    assert "emotion" not in rows[0] and "ignored" not in rows[0]
    assert rows[0]["video_id"] == video_id(a)
    assert rows[2]["error"] and rows[2]["kind"] == "missing_file" and rows[2]["stage"] == "inputs"
    assert rows[2]["source"].endswith(os.path.join("data", "videos", "missing.mp4"))


def test_manifest_without_uri_column(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,speaker\na.mp4,s1\n")
    with pytest.raises(ValueError, match=r"m\.csv.*'uri'"):
        list_inputs(str(manifest))


def test_probe_stage_real_mp4_and_garbage(tmp_path):
    from space.io.mp4 import write_mp4

    frames = np.zeros((10, 32, 48, 3), np.uint8)
    audio = (0.1 * np.sin(np.linspace(0, 200, 6400))).astype(np.float32)
    good = write_mp4(str(tmp_path / "good.mp4"), frames, audio, fps=25)
    garbage = _write(tmp_path / "garbage.mp4", b"this is not a video" * 100)
    rows = list_inputs(str(tmp_path))
    out = Pipeline([ProbeStage()]).run_local(rows)
    ok, bad = Pipeline.split(out)
    assert len(ok) == 1 and ok[0]["uri"] == good
    assert ok[0]["fps"] == pytest.approx(25) and (ok[0]["width"], ok[0]["height"]) == (48, 32)
    assert ok[0]["has_audio"] and ok[0]["has_video"] and ok[0]["duration"] == pytest.approx(0.4, abs=0.1)
    assert len(bad) == 1 and bad[0]["source"] == garbage and bad[0]["stage"] == "probe"
    assert bad[0]["kind"] == "corrupt_media" and bad[0]["reason"]
    assert bad[0]["id"] == video_id(garbage)


def test_a_stage_may_split_an_item_into_several_rows():
    def halves(row):
        if row["x"] == 2:
            raise ValueError("two")
        return [{**row, "id": f"{row['id']}a"}, {**row, "id": f"{row['id']}b"}]

    out = run_items([{"id": str(i), "video_id": f"v{i}", "x": i} for i in range(3)], halves, "split")
    assert [r["id"] for r in out if not r.get("error")] == ["0a", "0b", "1a", "1b"]
    assert [(r["id"], r["video_id"], r["kind"]) for r in out if r.get("error")] == [("2", "v2", "exception")]


def test_keypoint_stage_extracts_liveportraits_params_and_keeps_old_settings_ids(tmp_path):
    """With LivePortrait's release folder the stage stores its 70 head params and 21 canonical keypoints per clip
    (what L2L trains on for the liveportrait renderer): the model's estimate on the crop the stage cuts. A missing
    release fails the stage's setup naming the file; face-vid2vid settings keep the id they had before the field existed."""
    import torch

    from pipelines.blobs import pack_arrays, unpack_arrays
    from pipelines.stages.keypoints import KeypointSettings, KeypointStage, clip_crops
    from space.io.mp4 import write_mp4
    from space.io.video import read_video
    from space.portrait import crop_square
    from tests.support.tiny_liveportrait import write_release

    rng = np.random.default_rng(0)
    frames = np.repeat(rng.integers(0, 255, (1, 96, 96, 3), dtype=np.uint8), 6, axis=0)
    frames[3:] = np.roll(frames[3:], 4, axis=2)  # the "head" moves halfway through
    video = write_mp4(str(tmp_path / "clip.mp4"), frames, np.zeros(6 * 640, np.float32), fps=25)
    boxes = np.tile(np.array([[30.0, 25.0, 66.0, 70.0]], np.float32), (6, 1))
    row = {"id": "c1", "uri": video, "start_frame": 0, "num_frames": 6, "face": pack_arrays(boxes=boxes)}
    model = write_release(tmp_path / "liveportrait")
    settings = KeypointSettings(checkpoint=str(tmp_path), renderer="liveportrait", batch_frames=4)
    stage = KeypointStage(settings)
    stage.setup()
    out = stage.process([row])[0]
    kp = unpack_arrays(out["keypoints"])
    assert kp["params"].shape == (6, 70) and kp["canonical"].shape == (21, 3) and kp["crops"].shape == (6, 3)
    decoded = read_video(video).frames
    crop = clip_crops(boxes)[4]
    image = torch.from_numpy(crop_square(decoded[4], *crop, 256)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        np.testing.assert_allclose(kp["params"][4], model.estimate(image)[0].numpy(), atol=1e-4)
    assert not np.allclose(kp["params"][0], kp["params"][4])

    missing = KeypointStage(KeypointSettings(checkpoint=str(tmp_path / "nowhere"), renderer="liveportrait"))
    with pytest.raises(Exception, match=r"nowhere/base_models/appearance_feature_extractor\.pth"):
        missing.setup()
    assert "renderer" not in KeypointSettings(checkpoint="a.pth.tar").to_dict()
    assert KeypointSettings(checkpoint="lp", renderer="liveportrait").to_dict()["renderer"] == "liveportrait"
    with pytest.raises(ValueError, match="choose one of facevid2vid, liveportrait"):
        KeypointSettings(renderer="emoportrait")
