"""jobs/preprocess.py on Ray: worker processes killed mid-run (the job completes, each clip exactly once, the same
rows as the in-process run), and `ray job submit` to a local `ray start --head` exactly as the README says."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from pipelines.lake import Lake  # noqa: E402
from pipelines.preprocess import PreprocessRun, PreprocessSettings, run_local, stage_resources  # noqa: E402
from pipelines.ray_adapter import run_ray  # noqa: E402
from pipelines.stages.base import Resources, Stage  # noqa: E402
from pipelines.stages.clips import ClipSettings  # noqa: E402
from tests.support.corpus import MAX_VIDEO_SECONDS, copy_good, make_corpus  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SETTINGS = PreprocessSettings(clips=ClipSettings(max_video_seconds=MAX_VIDEO_SECONDS))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Two good videos, one without a face and one that is not a video."""
    full = tmp_path_factory.mktemp("full")
    make_corpus(full, clips=2)
    folder = tmp_path_factory.mktemp("corpus")
    copy_good(full, folder, 2)
    for name in ("no_face.mp4", "not_a_video.mp4"):
        shutil.copy(full / name, folder / name)
    return folder


class DieOnce(Stage):
    """Kills its own worker process (like the OOM killer or a lost node) the first time any worker of this stage
    gets a batch; a marker file remembers across processes. After that it passes rows through."""

    def __init__(self, name: str, marker: str, resources: Resources):
        super().__init__(resources)
        self.name, self.marker = name, marker

    def process(self, rows):
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return rows
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os._exit(1)


def _clip_rows(lake: Lake) -> list[tuple]:
    rows = lake.read("clips", columns=["id", "uri", "start_frame", "num_frames"]).to_pylist()
    return sorted((r["id"], Path(r["uri"]).name, r["start_frame"], r["num_frames"]) for r in rows)


@pytest.mark.slow
def test_killed_workers_still_give_each_clip_exactly_once(corpus, tmp_path):
    reference = Lake(str(tmp_path / "reference"))
    PreprocessRun(str(corpus), reference, SETTINGS, log=lambda _: None).execute(run_local)

    markers = {name: str(tmp_path / f"{name}.pid") for name in ("die_in_actor", "die_in_task")}

    def faulty(pipeline, rows):
        stages = pipeline.stages  # probe, segment, landmarks, audio_features, write
        pipeline.stages = stages[:3] + [
            DieOnce("die_in_actor", markers["die_in_actor"], Resources(cpus=0.25, batch_size=1, actors=1)),
            stages[3],
            DieOnce("die_in_task", markers["die_in_task"], Resources(cpus=0.25, batch_size=1)),
        ] + stages[4:]
        return run_ray(pipeline, rows)

    lake = Lake(str(tmp_path / "lake"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        summary = PreprocessRun(str(corpus), lake, SETTINGS, log=lambda _: None).execute(
            faulty, stage_resources(2, 0, False, False)
        )
    finally:
        ray.shutdown()
    assert all(Path(m).exists() for m in markers.values()), "a fault was not injected"
    clips = _clip_rows(lake)
    assert clips == _clip_rows(reference) and len(clips) >= 2
    assert len({c[0] for c in clips}) == len(clips)
    sequences = lake.read("sequences", columns=["id"]).column("id").to_pylist()
    assert sorted(sequences) == sorted(c[0] for c in clips)
    errors = lake.read("errors", columns=["source", "kind"]).to_pylist()
    assert sorted((Path(e["source"].split("@")[0]).name, e["kind"]) for e in errors) == [
        ("no_face.mp4", "no_face"), ("not_a_video.mp4", "corrupt_media"),
    ]
    assert summary.clips == len(clips) and summary.error_count == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _submit(command: list[str], env: dict, attempts: int = 10) -> subprocess.CompletedProcess:
    """`ray job submit`, again while the head's job agent is still starting (Ray answers "No available agent to
    submit job, please try again later" for a few seconds after `ray start` on a busy machine)."""
    for _ in range(attempts):
        done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=400)
        if "No available agent" not in done.stderr + done.stdout:
            return done
        time.sleep(3)
    return done


@pytest.mark.slow
def test_ray_job_submit_to_a_local_head_as_the_readme_says(corpus, tmp_path):
    """README: export RAY_AUTH_MODE=token; ray start --head; ray job submit --working-dir . -- python
    jobs/preprocess.py --corpus ... --lake ...; a second submit finds everything done."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex,
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}  # `python` is this venv's, as after `activate`
    env.pop("RAY_ADDRESS", None)
    port, dashboard = _free_port(), _free_port()
    temp = Path("/tmp") / f"ray-{uuid.uuid4().hex[:8]}"  # short: Ray's socket paths have a length limit
    start = [str(bin_dir / "ray"), "start", "--head", "--num-cpus", "2", "--port", str(port),
             "--dashboard-port", str(dashboard), "--include-dashboard", "true", "--temp-dir", str(temp),
             "--disable-usage-stats"]
    subprocess.run(start, env=env, check=True, capture_output=True, timeout=120)
    lake = tmp_path / "lake"
    submit = [str(bin_dir / "ray"), "job", "submit", "--address", f"http://127.0.0.1:{dashboard}",
              "--working-dir", ".", "--", "python", "jobs/preprocess.py", "--corpus", str(corpus),
              "--lake", str(lake), "-q"]
    try:
        first = _submit(submit, env)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        assert "succeeded" in first.stdout + first.stderr
        assert "videos: 4 processed, 0 already done" in first.stdout
        second = _submit(submit, env)
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
        assert "videos: 0 processed, 4 already done" in second.stdout
    finally:
        subprocess.run([str(bin_dir / "ray"), "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)
    assert len(Lake(str(lake)).read("clips").to_pylist()) >= 2
