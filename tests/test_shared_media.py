"""`space probe` and `space landmarks` on every file of the team's real media (skipped without ../shared)."""

import json

import numpy as np
import pytest

from space.cli import main
from tests.support.paths import SHARED_DATA, needs_shared

pytestmark = [needs_shared, pytest.mark.shared]


def _files(folder):
    return sorted((SHARED_DATA / folder).glob("*")) if SHARED_DATA.is_dir() else []


@pytest.mark.parametrize("path", _files("videos") + _files("audio"), ids=lambda p: p.name)
def test_probe(path, capsys):
    assert main(["probe", str(path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["duration"] > 1 and info["audio"]["sample_rate"] >= 16000
    if path.suffix == ".mp4":
        assert info["video"]["fps"] > 20 and info["video"]["width"] >= 256


@pytest.mark.parametrize("path", _files("images"), ids=lambda p: p.name)
def test_landmarks_of_photos(path, tmp_path):
    out = tmp_path / "lm.json"
    assert main(["landmarks", str(path), "-o", str(out), "-q"]) == 0
    frame = json.loads(out.read_text())["frames"][0]
    landmarks = np.array(frame["landmarks"])
    x1, y1, x2, y2 = frame["box"]
    # The points lie on the face that was found, and the pose is that of a portrait.
    assert np.all(landmarks[:, 0] > x1 - 0.3 * (x2 - x1)) and np.all(landmarks[:, 0] < x2 + 0.3 * (x2 - x1))
    assert abs(frame["pose"]["yaw"]) < 45 and abs(frame["pose"]["roll"]) < 30


@pytest.mark.slow
@pytest.mark.parametrize("path", _files("videos"), ids=lambda p: p.name)
def test_landmarks_of_videos(path, tmp_path):
    out = tmp_path / "lm.json"
    assert main(["landmarks", str(path), "-o", str(out), "-q", "--detect-every", "5"]) == 0
    result = json.loads(out.read_text())
    times = np.array([f["time"] for f in result["frames"]])
    assert np.allclose(np.diff(times), 0.04)
    assert result["frames_with_face"] >= 0.9 * np.ceil(result["num_frames"] / 5)
    poses = np.array([[f["pose"][k] for k in ("yaw", "pitch", "roll")] for f in result["frames"]])
    assert np.all(np.abs(poses[:, 0]) < 60)
    print(path.name, result["num_frames"], "frames; mean |yaw| %.1f" % np.abs(poses[:, 0]).mean())
