"""pipelines.ray_adapter on a local 2-CPU Ray: same rows as run_local, setup once per actor, errors survive."""

import json
import os
import uuid

import pytest

ray = pytest.importorskip("ray")

from pipelines.ray_adapter import map_kwargs, run_ray  # noqa: E402
from pipelines.stages import Pipeline, Resources, Stage  # noqa: E402


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


class Double(Stage):
    """A cheap stage (tasks); item 3 is bad."""

    name = "double"
    resources = Resources(cpus=0.5, batch_size=4)

    def process(self, rows):
        return self.run_items(rows, self._one)

    @staticmethod
    def _one(row):
        if row["x"] == 3:
            raise ValueError("three")
        return {**row, "d": 2 * row["x"]}


class Model(Stage):
    """A model stage (actor pool): setup leaves one file per call in `marks`; item 7 is bad."""

    name = "model"
    resources = Resources(cpus=0.5, batch_size=3, actors=2)

    def __init__(self, marks: str):
        self.marks = marks
        self.weights = None

    def setup(self):
        with open(os.path.join(self.marks, f"{os.getpid()}-{uuid.uuid4().hex}.json"), "w") as f:
            json.dump({"pid": os.getpid()}, f)
        self.weights = 10

    def process(self, rows):
        assert self.weights == 10, "process before setup"
        return self.run_items(rows, self._one)

    def _one(self, row):
        if row["x"] == 7:
            raise KeyError("seven")
        return {**row, "m": row["d"] * self.weights, "tag": f"t{row['x']}"}


def _key(row):
    return json.dumps(row, sort_keys=True)


def test_map_kwargs_from_resources(tmp_path):
    kw = map_kwargs(Model(str(tmp_path)))
    assert kw["batch_size"] == 3 and kw["num_cpus"] == 0.5 and "num_gpus" not in kw
    assert isinstance(kw["compute"], ray.data.ActorPoolStrategy)
    assert "compute" not in map_kwargs(Double())
    gpu = type("Gpu", (Double,), {"resources": Resources(gpus=1, batch_size=2, actors=1)})()
    assert map_kwargs(gpu)["num_gpus"] == 1 and "memory" not in map_kwargs(gpu)
    big = type("Big", (Double,), {"resources": Resources(batch_size=2, actors=1, memory_gb=1.5)})()
    assert map_kwargs(big)["memory"] == int(1.5 * 2**30)


@pytest.mark.parametrize("batch_format", ["pyarrow", "pandas"])
def test_run_ray_matches_run_local(ray_local, tmp_path, batch_format):
    rows = [{"id": f"v{i}", "uri": f"mem/{i}", "x": i} for i in range(20)]
    local_marks, ray_marks = tmp_path / "local", tmp_path / "ray"
    local_marks.mkdir()
    ray_marks.mkdir()
    local = Pipeline([Double(), Model(str(local_marks))]).run_local(rows)
    ok, bad = run_ray(Pipeline([Double(), Model(str(ray_marks))]), rows, batch_format=batch_format)
    local_ok, local_bad = Pipeline.split(local)
    assert sorted(map(_key, ok)) == sorted(map(_key, local_ok))
    assert sorted(map(_key, bad)) == sorted(map(_key, local_bad))
    # the error rows survive: 3 failed in the task stage and passed through the actor stage untouched
    expected = {("v3", "double", "exception"), ("v7", "model", "exception")}
    assert {(r["id"], r["stage"], r["kind"]) for r in bad} == expected
    assert next(r for r in bad if r["id"] == "v7")["reason"] == "KeyError: 'seven'"
    # setup ran once per actor: at most the pool size, one per actor process
    pids = [json.loads(p.read_text())["pid"] for p in ray_marks.iterdir()]
    assert 1 <= len(pids) <= 2 and len(set(pids)) == len(pids)
    assert len(list(local_marks.iterdir())) == 1


def test_run_ray_empty(ray_local):
    assert run_ray(Pipeline([Double()]), []) == ([], [])


class Fanout(Stage):
    """One row in, five out (like a video cut into clips): all of them land in one output block."""

    name = "fanout"
    resources = Resources(cpus=0.25, batch_size=8)

    def process(self, rows):
        return [{**r, "id": f"{r['id']}-{k}"} for r in rows for k in range(5)]


class Slow(Stage):
    """A model stage that records which actor process served each row."""

    name = "slow"
    resources = Resources(cpus=0.5, batch_size=1, actors=2)

    def process(self, rows):
        import time

        time.sleep(0.3)  # long enough for the second actor to be up before the first has served every row
        return [{**r, "pid": os.getpid()} for r in rows]


def test_rows_split_from_one_item_spread_over_the_actor_pool(ray_local):
    ok, bad = run_ray(Pipeline([Fanout(), Slow()]), [{"id": "video"}, {"id": "other"}])
    assert not bad and len(ok) == 10
    assert len({r["pid"] for r in ok}) == 2, "one actor got every clip of the video"
