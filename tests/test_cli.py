import json
import subprocess
import sys

import numpy as np
import pytest
import skimage.data
from PIL import Image

from space.cli import main
from space.synth.corpus import CorpusConfig, load_truth, write_corpus


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli_corpus")
    return write_corpus(out, CorpusConfig(clips=1, seed=3, min_seconds=1.0, max_seconds=1.2), progress=False)[0]


@pytest.fixture(scope="module")
def portrait(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(path)
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_probe_prints_json(capsys, clip):
    code, out, _ = run(capsys, "probe", clip)
    info = json.loads(out)
    assert code == 0
    assert info["video"]["codec"] == "h264" and info["video"]["fps"] == 25.0
    assert info["audio"]["sample_rate"] == 16000 and info["audio"]["channels"] == 1
    assert info["duration"] == pytest.approx(load_truth(clip)["duration"], abs=0.05)


def test_landmarks_of_a_photo(capsys, tmp_path, portrait):
    out_json = tmp_path / "lm.json"
    code, _, _ = run(capsys, "landmarks", portrait, "-o", out_json, "-q")
    result = json.loads(out_json.read_text())
    assert code == 0 and result["kind"] == "image" and result["num_frames"] == 1
    frame = result["frames"][0]
    assert np.array(frame["landmarks"]).shape == (68, 3) and np.array(frame["normalized"]).shape == (68, 3)
    assert set(frame["pose"]) == {"yaw", "pitch", "roll", "tx", "ty", "scale"}
    x1, y1, x2, y2 = frame["box"]
    assert 150 < x1 < x2 < 300 and 50 < y1 < y2 < 200


def test_landmarks_of_a_video(capsys, tmp_path, clip):
    out_json = tmp_path / "lm.json"
    code, _, _ = run(capsys, "landmarks", clip, "-o", out_json, "--fps", "25", "-q")
    result = json.loads(out_json.read_text())
    truth = load_truth(clip)
    assert code == 0 and result["kind"] == "video"
    assert result["num_frames"] == truth["num_frames"] == len(result["frames"])
    assert result["frames"][1]["time"] == pytest.approx(0.04)
    landmarks = np.array([f["landmarks"] for f in result["frames"]])
    error = np.linalg.norm(landmarks[..., :2] - truth["landmarks"][..., :2], axis=-1).mean()
    assert error < 4.0  # pixels, on a ~150 px face


def test_landmarks_resamples_to_the_asked_fps(capsys, tmp_path, clip):
    out_json = tmp_path / "lm.json"
    run(capsys, "landmarks", clip, "-o", out_json, "--fps", "10", "-q")
    result = json.loads(out_json.read_text())
    assert abs(result["num_frames"] - load_truth(clip)["duration"] * 10) <= 1


def test_synth_corpus_command(capsys, tmp_path):
    code, out, _ = run(capsys, "synth-corpus", tmp_path, "--clips", "1", "--seed", "11", "-q")
    assert code == 0 and "1 clips" in out
    assert len(list(tmp_path.glob("*.mp4"))) == 1 and len(list(tmp_path.glob("clip_*.json"))) == 1


def _bad_files(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    return {"empty": empty, "text": text, "missing": tmp_path / "missing.mp4"}


@pytest.mark.parametrize("kind", ["empty", "text", "missing"])
def test_probe_bad_file_is_one_line_and_nonzero(capsys, tmp_path, kind):
    path = _bad_files(tmp_path)[kind]
    code, out, err = run(capsys, "probe", path)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and path.name in err and err.startswith("space probe: ")


def test_probe_truncated_mp4(capsys, tmp_path, clip):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 3])
    code, _, err = run(capsys, "probe", cut)
    assert code == 1 and "cut.mp4" in err and err.count("\n") == 1


def test_landmarks_no_face(capsys, tmp_path):
    wall = tmp_path / "wall.png"
    Image.fromarray(np.full((240, 320, 3), 200, np.uint8)).save(wall)
    code, _, err = run(capsys, "landmarks", wall, "-o", tmp_path / "x.json")
    assert code == 1 and "wall.png" in err and "no face" in err and not (tmp_path / "x.json").exists()


def test_landmarks_huge_image_refused(capsys, tmp_path):
    huge = tmp_path / "huge.png"
    Image.new("1", (10000, 10000)).save(huge)  # 1-bit: small in memory and on disk
    code, _, err = run(capsys, "landmarks", huge, "-o", tmp_path / "x.json")
    assert code == 1 and "huge.png" in err and "10000x10000" in err


def test_entry_point_help():
    result = subprocess.run([sys.executable, "-m", "space", "landmarks", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--backend" in result.stdout and "normalized" in result.stdout
