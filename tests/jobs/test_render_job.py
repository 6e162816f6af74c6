"""jobs/render.py on Ray: worker processes killed mid-batch (every row still rendered exactly once), and the job's
command line on a local Ray."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from pipelines.lake import Lake  # noqa: E402
from pipelines.ray_adapter import iter_ray  # noqa: E402
from pipelines.render.campaign import write_campaign  # noqa: E402
from pipelines.render.run import RESULTS, RenderRun, latest_results, render_resources  # noqa: E402
from pipelines.render.stages import AnimateStage, RenderSettings  # noqa: E402
from pipelines.stages.base import Resources  # noqa: E402
from space.io.probe import probe  # noqa: E402
from tests.jobs.test_preprocess_job import DieOnce  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    return write_campaign(tmp_path_factory.mktemp("campaign"), rows=6, seconds=1.2)


class AnimateDiesMidBatch(AnimateStage):
    """The animate actor dies after it has sent its first chunk downstream (once across all processes): Ray
    restarts it and runs the batch again, so chunks arrive twice and a request may be joined twice."""

    def __init__(self, stage: AnimateStage, marker: str):
        super().__init__(stage.settings, stage.frames_per_batch, resources=stage.resources)
        self.marker = marker

    def process_stream(self, rows):
        for part in super().process_stream(rows):
            yield part
            if not os.path.exists(self.marker):
                Path(self.marker).write_text(str(os.getpid()))
                os._exit(1)


@pytest.mark.slow
def test_killed_workers_still_render_every_row_exactly_once(campaign, tmp_path):
    markers = {name: str(tmp_path / f"{name}.pid") for name in ("die_in_actor", "die_in_task")}

    def faulty(pipeline, rows):
        prepare, animate, encode = pipeline.stages
        pipeline.stages = [
            prepare,
            AnimateDiesMidBatch(animate, markers["die_in_actor"]),
            DieOnce("die_in_task", markers["die_in_task"], Resources(cpus=0.25, batch_size=1)),
            encode,
        ]
        return iter_ray(pipeline, rows)

    out = tmp_path / "out"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        run = RenderRun(str(campaign), RenderSettings(out=str(out), chunk_seconds=0.5), log=lambda _: None)
        resources = render_resources(2, 0, False)
        resources["prepare"] = Resources(cpus=0.5, batch_size=1)  # room for the two fault stages
        summary = run.execute(faulty, resources, progress=False)
    finally:
        ray.shutdown()
    assert all(Path(m).exists() for m in markers.values()), "a fault was not injected"
    assert (summary.rendered, summary.failed) == (6, 0)
    rows = Lake(str(out)).read(RESULTS).to_pylist()
    assert sorted(r["request_id"] for r in rows) == [f"demo-{i:04d}" for i in range(6)]  # one row each
    for row in rows:
        assert row["status"] == "ok" and probe(row["output"]).video.frame_count == row["frames"] == 30
    videos = sorted(p.name for p in out.rglob("*.mp4"))
    assert len(videos) == 6 and not [p for p in out.rglob("*") if ".part" in p.name]


@pytest.mark.slow
def test_the_job_command_renders_and_a_second_run_finds_nothing_to_do(campaign, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "jobs/render.py", "--requests", str(campaign), "--out", str(out), "--num-cpus", "2",
               "--summary-json", str(tmp_path / "summary.json"), "-q"]
    first = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["rendered"] == 6 and summary["failed"] == 0
    assert Path(summary["gallery"]["html"]).exists()
    assert len(latest_results(Lake(str(out)))) == 6
    second = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    again = json.loads((tmp_path / "summary.json").read_text())
    assert again["rendered"] == 0 and again["skipped"] == 6
    assert "Ray:" not in second.stdout  # nothing to do: Ray is not started
