"""pipelines.render.requests: a campaign's request table loaded and validated, every bad row reported with its
reason while the good rows go on (CSV, Parquet, Delta; local and fsspec URIs)."""

import csv
import hashlib
import json
import shutil
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.render.requests import (
    REQUEST_FIELDS,
    REQUEST_SCHEMA,
    RequestTableError,
    animate_options,
    load_requests,
    safe_output_name,
)
from space.errors import SpaceError

HEADER = ["request_id", "photo", "audio", "emotion", "pose", "yaw", "pitch", "roll", "blink", "gaze", "renderer",
          "output", "subtitles", "seed"]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """Real media files: a PNG portrait, two WAVs and a short reference mp4, in a campaign folder."""
    import skimage.data
    from PIL import Image

    from space.io.audio import write_wav
    from space.io.mp4 import write_mp4

    folder = tmp_path_factory.mktemp("media")
    Image.fromarray(skimage.data.astronaut()[::4, ::4]).save(folder / "presenter.png")
    t = np.arange(8000) / 16000
    write_wav(folder / "hello.wav", 0.3 * np.sin(2 * np.pi * 220 * t))
    write_wav(folder / "bye.wav", 0.3 * np.sin(2 * np.pi * 330 * t))
    write_mp4(folder / "ref.mp4", np.zeros((5, 64, 64, 3), np.uint8))
    return folder


@pytest.fixture
def campaign(tmp_path, media):
    """A fresh campaign folder with the media next to where its table will be."""
    folder = tmp_path / "campaign"
    shutil.copytree(media, folder)
    return folder


def write_csv(path, rows, header=None):
    """rows: dicts (missing keys are blank cells) or lists of cells."""
    header = header or sorted({k for r in rows if isinstance(r, dict) for k in r}, key=_column_order)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow([r.get(h, "") for h in header] if isinstance(r, dict) else r)
    return str(path)


def _column_order(name):
    return HEADER.index(name) if name in HEADER else len(HEADER)


def good(**cells):
    return {"photo": "presenter.png", "audio": "hello.wav", **cells}


def load(campaign, rows, **kwargs):
    return load_requests(write_csv(campaign / "requests.csv", rows), **kwargs)


# ---------------------------------------------------------------------------------------------- valid rows


def test_good_rows_are_normalized_with_defaults(campaign):
    rows = [
        ["presenter.png", "hello.wav", "", "", "Anna", " gold "],
        ["presenter.png", "bye.wav", "happy=0.70,Surprise=0.3", "0:0,0,0; 2: 15,-5,0", "Bob", ""],
        [str(campaign / "presenter.png"), "bye.wav", "neutral", "ref.mp4", "", ""],
    ]
    path = write_csv(campaign / "requests.csv", rows, header=["Image", "SPEECH", "Emotion", "pose", "customer", "Tier"])
    result = load_requests(path)
    assert result.invalid == []
    a, b, c = result.valid
    assert list(a) == list(REQUEST_FIELDS)
    assert a["photo"] == str(campaign / "presenter.png")  # relative to the table's folder
    assert a["audio"] == str(campaign / "hello.wav") and c["audio"] == str(campaign / "bye.wav")
    assert (a["emotion"], a["pose"], a["keyframes"]) == ("neutral", "natural", "")
    assert (a["yaw"], a["pitch"], a["roll"], a["gaze"]) == (0.0, 0.0, 0.0, [0.0, 0.0])
    assert (a["blink_rate"], a["blink_times"], a["renderer"], a["subtitles"]) == (15.0, None, "warp", None)
    assert json.loads(a["extra"]) == {"customer": "Anna", "Tier": " gold "}
    assert json.loads(c["extra"]) == {"customer": None, "Tier": None}
    # derived: the id from the settings, the output and the seed from the id
    for r in (a, b, c):
        assert len(r["request_id"]) == 16 and int(r["request_id"], 16) >= 0
        assert r["output"] == f"{r['request_id']}.mp4"
        assert r["seed"] == int(hashlib.sha256(r["request_id"].encode()).hexdigest()[:8], 16) % 2**31
    assert len({a["request_id"], b["request_id"], c["request_id"]}) == 3
    assert len({a["seed"], b["seed"], c["seed"]}) == 3  # a campaign's videos do not all move alike
    assert [r["request_id"] for r in load_requests(path).valid] == [a["request_id"], b["request_id"], c["request_id"]]
    # canonical emotion (labels in the order given) and the keyframe spec detected as keyframes
    assert b["emotion"] == "happy=0.7,surprise=0.3"
    assert (b["pose"], b["keyframes"]) == ("natural", "0:0,0,0; 2:15,-5,0")
    assert c["pose"] == str(campaign / "ref.mp4") and c["keyframes"] == ""
    # the job turns a request into AnimateOptions as they are
    options = animate_options(b)
    assert options.pose_source == "keyframes" and [k.yaw for k in options.keyframes] == [0.0, 15.0]
    assert animate_options(c).pose_source == "reference" and animate_options(a).seed == a["seed"]
    assert result.valid_table().schema == REQUEST_SCHEMA and result.valid_table().num_rows == 3


def test_every_column_and_alias(campaign):
    header = ["ID", "photo_uri", "Audio_URI", "emotion", "pose", "yaw", "PITCH", "roll", "blink", "gaze",
              "renderer", "Output_Name", "Subtitle_Language", "seed"]
    rows = [
        ["promo-1", "presenter.png", "hello.wav", "happy", "static", "10", "-5.5", "2", "off", "10,-5",
         "FaceVid2Vid", "de/Anna", "DE", "42"],
        ["promo.2", "presenter.png", "bye.wav", "sad=0.4", "", "", "", "", "at:3.5, 1.2", "", "", "b.MP4", "auto", ""],
        ["p_3", "presenter.png", "bye.wav", "", "", "", "", "", "20", "", "", "", "", ""],
    ]
    one, two, three = load_requests(write_csv(campaign / "requests.csv", rows, header=header)).valid
    assert one["request_id"] == "promo-1" and one["emotion"] == "happy=1"
    assert (one["pose"], one["yaw"], one["pitch"], one["roll"]) == ("static", 10.0, -5.5, 2.0)
    assert (one["blink_rate"], one["gaze"], one["renderer"]) == (0.0, [10.0, -5.0], "facevid2vid")
    assert (one["output"], one["subtitles"], one["seed"]) == ("de/Anna.mp4", "de", 42)
    assert (two["blink_rate"], two["blink_times"]) == (15.0, [1.2, 3.5])
    assert (two["output"], two["subtitles"]) == ("b.MP4", "auto")
    assert two["seed"] == int(hashlib.sha256(b"promo.2").hexdigest()[:8], 16) % 2**31
    assert (three["blink_rate"], three["blink_times"], three["output"]) == (20.0, None, "p_3.mp4")


def test_derived_id_follows_the_settings_not_the_campaign_columns(campaign):
    result = load(campaign, [
        good(customer="Anna"),
        good(emotion="happy=0.5", customer="Anna"),
        good(customer="Bob"),  # the same video as row 0: a duplicate, whatever the campaign's own columns say
        good(seed="7"),
    ])
    ids = [r["request_id"] for r in result.valid]
    assert len(ids) == 3 and len(set(ids)) == 3
    assert [(e["row"], e["kind"]) for e in result.invalid] == [(2, "duplicate_request")]
    assert f"request_id {ids[0]!r} is also row 0's" in result.invalid[0]["reason"]


def test_default_renderer_is_an_argument(campaign):
    path = write_csv(campaign / "requests.csv", [good(), good(audio="bye.wav", renderer="warp")])
    assert [r["renderer"] for r in load_requests(path, default_renderer="facevid2vid").valid] == [
        "facevid2vid", "warp"]
    with pytest.raises(ValueError, match="sora"):
        load_requests(path, default_renderer="sora")


# ---------------------------------------------------------------------------------------------- invalid rows

BAD_ROWS = [
    ("unknown_emotion", {"emotion": "hapy=0.5"}, ["emotion 'hapy=0.5': unknown label 'hapy' (known: neutral, happy"]),
    ("bad_value", {"emotion": "happy=1.5"}, ["emotion 'happy=1.5'", "outside [0, 1]"]),
    ("bad_value", {"pose": "0:0,0,0; 2:abc"}, ["pose '0:0,0,0; 2:abc': keyframe '2:abc': expected TIME:YAW"]),
    ("bad_value", {"pose": "1:5; 1:6"}, ["pose '1:5; 1:6'", "same time"]),
    ("bad_value", {"pose": "dance"}, ["pose 'dance'", "natural, static"]),
    ("bad_value", {"yaw": "left"}, ["yaw 'left': not a number"]),
    ("bad_value", {"roll": "200"}, ["roll '200'", "+-90"]),
    ("bad_value", {"blink": "-3"}, ["blink rate -3", ">= 0"]),
    ("bad_value", {"blink": "sometimes"}, ["blink 'sometimes'"]),
    ("bad_value", {"blink": "at:"}, ["blink 'at:'", "no times"]),
    ("bad_value", {"gaze": "50,0"}, ["gaze (50.0, 0.0)", "+-45"]),
    ("bad_value", {"gaze": "10"}, ["gaze '10'", "yaw,pitch"]),
    ("bad_value", {"renderer": "sora"}, ["renderer 'sora'", "warp, facevid2vid"]),
    ("bad_value", {"subtitles": "klingon"}, ["subtitles 'klingon'"]),
    ("bad_value", {"seed": "1.5"}, ["seed '1.5'"]),
    ("bad_value", {"seed": "-1"}, ["seed '-1'"]),
    ("bad_value", {"request_id": "a b"}, ["request_id 'a b'"]),
    ("missing_value", {"photo": ""}, ["photo is blank"]),
    ("missing_value", {"audio": ""}, ["audio is blank"]),
    ("missing_file", {"photo": "nobody.png"}, ["photo 'nobody.png'", "nobody.png): no such file"]),
    ("missing_file", {"audio": "sub/missing.wav"}, ["audio 'sub/missing.wav'", "no such file"]),
    ("missing_file", {"pose": "other.mp4"}, ["reference video 'other.mp4'", "no such file"]),
    ("unsupported_format", {"photo": "presenter.gif"}, ["photo 'presenter.gif': extension '.gif' is not an image"]),
    ("unsupported_format", {"audio": "speech.txt"}, ["audio 'speech.txt'", "is not audio"]),
    ("unsupported_format", {"pose": "ref.gif"}, ["pose 'ref.gif'", "is not a video"]),
    ("unsafe_output", {"output": "../x.mp4"}, ["output '../x.mp4' leaves the output folder"]),
    ("unsafe_output", {"output": "/srv/x.mp4"}, ["output '/srv/x.mp4' is an absolute path"]),
    ("unsafe_output", {"output": "C:/x.mp4"}, ["drive letter"]),
    ("unsafe_output", {"output": "s3://bucket/x.mp4"}, ["is a URL"]),
    ("unsafe_output", {"output": "a//b.mp4"}, ["empty folder name"]),
    ("unsafe_output", {"output": "_results/x.mp4"}, ["'_results'", "reserved"]),
    ("unsafe_output", {"output": ".staging/x"}, ["'.staging'", "reserved"]),
    ("unsafe_output", {"output": "x.mov"}, ["extension '.mov'"]),
    ("unsafe_output", {"output": "a\\b.mp4"}, ["backslash"]),
    ("unsafe_output", {"output": "x\x07.mp4"}, ["control characters"]),
    ("unsafe_output", {"output": "v" * 300}, ["at most 255"]),
    ("unsafe_output", {"request_id": "_x"}, ["default from request_id '_x'", "reserved"]),
]


@pytest.mark.parametrize(("kind", "cells", "fragments"), BAD_ROWS, ids=[f"{k}-{i}" for i, (k, _, _) in
                                                                         enumerate(BAD_ROWS)])
def test_a_bad_row_gets_its_kind_and_the_good_rows_go_on(campaign, kind, cells, fragments):
    path = write_csv(campaign / "requests.csv", [good(), good(**cells), good(audio="bye.wav")], header=HEADER)
    result = load_requests(path)
    assert [r["row"] for r in result.valid] == [0, 2]
    (error,) = result.invalid
    assert error["kind"] == kind, error["reason"]
    assert error["reason"].startswith("row 1: ")
    for fragment in fragments:
        assert fragment in error["reason"]
    assert (error["row"], error["stage"], error["error"]) == (1, "validate", True)
    assert error["source"] == f"{path}#row=1" and error["request_id"]
    assert result.invalid_table().num_rows == 1


def test_all_problems_of_a_row_in_one_reason(campaign):
    result = load(campaign, [good(request_id="r1", emotion="angy", gaze="0,99", photo="gone.png", output="../a")])
    (error,) = result.invalid
    assert error["kind"] == "unknown_emotion" and error["request_id"] == "r1"
    parts = error["reason"].removeprefix("row 0: ").split("; ")
    assert [p.split(" ")[0] for p in parts] == ["emotion", "gaze", "output", "photo"]
    assert "no such file" in parts[-1]


def test_files_are_not_checked_when_asked_not_to(campaign):
    rows = [good(photo="gone.png"), good(audio="gone.wav", pose="gone.mp4")]
    assert [e["kind"] for e in load(campaign, rows).invalid] == ["missing_file", "missing_file"]
    assert len(load(campaign, rows, check_files=False).valid) == 2


def test_duplicate_outputs_compare_ignoring_case(campaign):
    result = load(campaign, [
        good(output="Anna.mp4"),
        good(output="anna", emotion="happy"),
        good(output="ANNA.MP4", emotion="sad"),
        good(output="carl.mp4", emotion="nope"),  # invalid itself: does not claim its name
        good(output="Carl", emotion="fear"),
        good(output="bob"),
        good(output="dora", photo="gone.png"),  # a missing file: does not claim its name either
        good(output="Dora", emotion="angry"),
    ])
    assert [(r["row"], r["output"]) for r in result.valid] == [
        (0, "Anna.mp4"), (4, "Carl.mp4"), (5, "bob.mp4"), (7, "Dora.mp4")]
    errors = {e["row"]: e for e in result.invalid}
    assert [errors[i]["kind"] for i in (1, 2, 3, 6)] == [
        "duplicate_output", "duplicate_output", "unknown_emotion", "missing_file"]
    assert "output 'anna.mp4' is also row 0's ('Anna.mp4'" in errors[1]["reason"]
    assert "row 0's" in errors[2]["reason"]


def test_duplicate_request_ids_name_the_first_row(campaign):
    result = load(campaign, [good(request_id="a"), good(request_id="b", audio="bye.wav"), good(request_id="a",
                                                                                            output="other")])
    assert [r["request_id"] for r in result.valid] == ["a", "b"]
    (error,) = result.invalid
    assert (error["row"], error["kind"], error["request_id"]) == (2, "duplicate_request", "a")
    assert "request_id 'a' is also row 0's" in error["reason"]


def test_blank_lines_are_skipped_and_keep_their_number(campaign):
    path = campaign / "requests.csv"
    path.write_text("photo,audio,emotion\npresenter.png,hello.wav,\n,,\n\npresenter.png,bye.wav,sad,extra cell\n"
                    "presenter.png,bye.wav,happy\n")
    result = load_requests(str(path))
    assert [r["row"] for r in result.valid] == [0, 4]
    (error,) = result.invalid
    assert (error["row"], error["kind"]) == (3, "bad_value") and "more cell" in error["reason"]


# ---------------------------------------------------------------------------------------------- table formats


def _strip_source(result):
    return result.valid, [{k: v for k, v in e.items() if k != "source"} for e in result.invalid]


def test_parquet_and_delta_load_like_the_csv(campaign):
    from deltalake import write_deltalake

    rows = [good(customer="Anna"), good(audio="bye.wav", emotion="happy=0.5", yaw="12.5", seed="3"),
            good(emotion="hapy"), good(photo="gone.png", audio="bye.wav"), good(output="x", blink="at:1")]
    from_csv = load(campaign, rows)
    assert len(from_csv.valid) == 3 and len(from_csv.invalid) == 2
    table = pa.Table.from_pylist([{h: r.get(h, "") for h in [*HEADER, "customer"]} for r in rows])
    pq.write_table(table, campaign / "requests.parquet")
    write_deltalake(str(campaign / "requests_delta"), table)  # relative paths: against the folder holding it
    assert _strip_source(load_requests(str(campaign / "requests.parquet"))) == _strip_source(from_csv)
    delta = load_requests(str(campaign / "requests_delta"))
    assert _strip_source(delta) == _strip_source(from_csv)
    assert delta.invalid[0]["source"] == f"{campaign / 'requests_delta'}#row=2"
    assert _strip_source(load_requests(str(campaign / "requests_delta"), storage_options={})) == _strip_source(
        from_csv)
    # typed columns (numbers, nulls) read like their CSV text
    typed = table.set_column(table.schema.get_field_index("yaw"), "yaw", pa.array([None, 12.5, None, None, None]))
    typed = typed.set_column(typed.schema.get_field_index("seed"), "seed", pa.array([None, 3, None, None, None]))
    pq.write_table(typed, campaign / "typed.parquet")
    assert _strip_source(load_requests(str(campaign / "typed.parquet"))) == _strip_source(from_csv)


def test_memory_uri_table(media):
    import fsspec

    fs = fsspec.filesystem("memory")
    root = "render-requests-test"  # memory://BUCKET/..., as s3://bucket/...
    try:
        fs.pipe(f"/{root}/media/p.png", (media / "presenter.png").read_bytes())
        fs.pipe(f"/{root}/media/a.wav", (media / "hello.wav").read_bytes())
        fs.pipe(f"/{root}/requests.csv", b"photo,audio\nmedia/p.png,media/a.wav\nmedia/p.png,media/b.wav\n")
        result = load_requests(f"memory://{root}/requests.csv", workers=2)
        (request,) = result.valid
        assert request["photo"] == f"memory://{root}/media/p.png"  # an fsspec URI, as for s3://
        assert request["audio"] == f"memory://{root}/media/a.wav"
        (error,) = result.invalid
        assert error["kind"] == "missing_file" and f"memory://{root}/media/b.wav" in error["reason"]
    finally:
        fs.rm(f"/{root}", recursive=True)


def test_unusable_tables_raise_naming_the_table(campaign):
    missing = str(campaign / "nope.csv")
    with pytest.raises(RequestTableError, match="nope.csv: no such file") as info:
        load_requests(missing)
    assert isinstance(info.value, SpaceError) and info.value.source == missing
    with pytest.raises(RequestTableError, match="not a request table"):
        load_requests(str(campaign))  # a folder without _delta_log
    no_photo = write_csv(campaign / "no_photo.csv", [{"audio": "hello.wav", "emotion": "happy"}])
    with pytest.raises(RequestTableError, match=r"no_photo.csv: no 'photo' \(or 'photo_uri', 'image'\) column"):
        load_requests(no_photo)
    twice = write_csv(campaign / "twice.csv", [["a.png", "b.png", "hello.wav"]], header=["photo", "Image", "audio"])
    with pytest.raises(RequestTableError, match="'photo' and 'Image' both give the photo"):
        load_requests(twice)
    (campaign / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(RequestTableError, match="broken.parquet: cannot read the table"):
        load_requests(str(campaign / "broken.parquet"))
    (campaign / "empty.csv").write_bytes(b"")
    with pytest.raises(RequestTableError, match="empty.csv: the CSV is empty"):
        load_requests(str(campaign / "empty.csv"))


# ---------------------------------------------------------------------------------------------- output names


def test_safe_output_name():
    assert safe_output_name("de/anna") == "de/anna.mp4"
    assert safe_output_name(" Promo 1.MP4 ") == "Promo 1.MP4"
    assert safe_output_name("a.b/c-d_e") == "a.b/c-d_e.mp4"
    for name, reason in [("", "empty"), ("../a", "leaves"), ("a/../b", "leaves"), ("/a", "absolute"),
                         ("d:x", "drive letter"), ("http://x/y.mp4", "URL"), ("a/", "empty folder"),
                         ("a/.hidden.mp4", "reserved"), ("x.webm", ".webm"), ("a\nb", "control")]:
        with pytest.raises(ValueError, match=reason):
            safe_output_name(name)


# ---------------------------------------------------------------------------------------------- scale


def test_two_thousand_rows_validate_quickly(tmp_path, media):
    audio = (media / "hello.wav").read_bytes()
    (tmp_path / "audio").mkdir()
    rows = []
    for i in range(2000):
        if i % 400 != 7:  # five rows point at audio that was never written
            (tmp_path / "audio" / f"{i}.wav").write_bytes(audio)
        rows.append({"photo": str(media / "presenter.png"), "audio": f"audio/{i}.wav", "emotion": "happy=0.6",
                     "output": f"v/{i}", "customer": f"c{i}"})
    path = write_csv(tmp_path / "requests.csv", rows)
    start = time.perf_counter()
    result = load_requests(path, workers=4)
    elapsed = time.perf_counter() - start
    assert len(result.valid) == 1995 and [e["row"] for e in result.invalid] == [7, 407, 807, 1207, 1607]
    assert {e["kind"] for e in result.invalid} == {"missing_file"}
    assert elapsed < 10, f"{elapsed:.1f} s for 2000 rows"


def test_no_ray_import():
    code = "import sys, pipelines.render.requests; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
