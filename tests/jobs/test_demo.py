"""The README's main command, jobs/demo.py: the whole chain on embedded defaults, here at its smallest sizes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.lake import Lake
from pipelines.render.run import latest_results

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_one_command_runs_preprocess_train_and_render_and_prints_where_everything_is(tmp_path):
    root = tmp_path / "demo"
    command = [sys.executable, "jobs/demo.py", "--root", str(root), "--clips", "3", "--videos", "3",
               "--seconds", "1.5", "--preset", "tiny", "--num-cpus", "2", "-q"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = dict(re.findall(r"^  (corpus|lake|checkpoints|campaign|videos|gallery)\s+(\S+)", done.stdout, re.M))
    assert set(printed) == {"corpus", "lake", "checkpoints", "campaign", "videos", "gallery"}
    assert all(Path(p).exists() for p in printed.values())
    assert Lake(printed["lake"]).read("clips").num_rows >= 3
    assert (Path(printed["checkpoints"]) / "s2l.pt").exists() and (Path(printed["checkpoints"]) / "pose.pt").exists()
    results = latest_results(Lake(printed["videos"]))
    assert len(results) == 3 and all(r["status"] == "ok" for r in results.values())
    # the videos were made with the checkpoints the demo trained, not the shipped defaults
    assert all(printed["checkpoints"] in r["models"] for r in results.values())
