"""pipelines.lake on a local folder and on s3:// against a real SeaweedFS server."""

import socket
import threading
import time
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipelines.lake import Lake, LakeError, pack_array, pack_column, storage_options_from_env, unpack_column


@pytest.fixture(params=["local", "s3"])
def lake(request, tmp_path):
    if request.param == "local":
        return Lake(str(tmp_path / "lake"))
    s3 = request.getfixturevalue("seaweed_s3")
    opts = storage_options_from_env(s3["env"])
    return Lake(f"s3://{s3['bucket']}/{uuid.uuid4().hex}", storage_options=opts)


def _clips(ids, rng, lengths=None):
    lengths = lengths or [int(rng.integers(3, 9)) for _ in ids]
    arrays = [rng.normal(size=(t, 68, 3)).astype(np.float32) for t in lengths]
    values, shapes = pack_column(arrays)
    return pa.table({"id": list(ids), "frames": lengths, "landmarks": values, "landmarks_shape": shapes}), arrays


def test_storage_options_from_env():
    env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "eu-west-1",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9000"}  # fmt: skip
    opts = storage_options_from_env(env)
    assert opts["AWS_REGION"] == "eu-west-1" and opts["AWS_ALLOW_HTTP"] == "true"
    assert opts["aws_conditional_put"] == "etag" and "AWS_S3_ALLOW_UNSAFE_RENAME" not in opts
    opts = storage_options_from_env({"AWS_ENDPOINT_URL": "https://x", "AWS_S3_ALLOW_UNSAFE_RENAME": "true"})
    assert "AWS_ALLOW_HTTP" not in opts and "aws_conditional_put" not in opts
    assert opts["AWS_S3_ALLOW_UNSAFE_RENAME"] == "true"
    assert Lake("/tmp/x").storage_options is None


def test_pack_unpack():
    a = np.arange(24, dtype=np.float64).reshape(2, 4, 3)
    flat, shape = pack_array(a)
    assert flat.dtype == np.float32 and shape == [2, 4, 3]
    values, shapes = pack_column([a, a[:1]])
    table = pa.table({"v": values, "s": shapes})
    out = unpack_column(table, "v", "s")
    assert [o.shape for o in out] == [(2, 4, 3), (1, 4, 3)] and np.array_equal(out[1], a[:1])
    with pytest.raises(ValueError, match="stack"):
        unpack_column(table, "v", "s", stack=True)
    assert unpack_column(table.slice(1), "v", "s", stack=True).shape == (1, 1, 4, 3)


def test_absent_table_reads_empty(lake):
    assert not lake.exists("clips")
    assert lake.read("clips").num_rows == 0
    assert lake.read("clips", columns=["id"]).column_names == ["id"]
    assert lake.ids("clips") == set()
    assert lake.version("clips") is None


def test_round_trip_and_versions(lake):
    rng = np.random.default_rng(0)
    t1, a1 = _clips(["a", "b"], rng)
    t2, a2 = _clips(["c"], rng)
    t3, a3 = _clips(["d", "e"], rng)
    v0 = lake.commit("clips", t1, description="step 1")
    assert v0 == 0 and lake.exists("clips")
    assert lake.commit("clips", [t2, t3.to_batches()[0]]) == v0 + 1  # several parts, one commit
    assert lake.commit("clips", []) == v0 + 1  # nothing to write: no commit
    got = lake.read("clips").sort_by("id")
    assert got.column("id").to_pylist() == ["a", "b", "c", "d", "e"]
    for want, have in zip(a1 + a2 + a3, unpack_column(got, "landmarks", "landmarks_shape")):
        assert have.dtype == np.float32 and have.shape == want.shape and np.array_equal(have, want)
    assert lake.ids("clips") == {"a", "b", "c", "d", "e"}
    few = lake.read("clips", columns=["id"], filter=pc.field("frames") >= 6)
    assert set(few.column("id").to_pylist()) == {r["id"] for r in got.to_pylist() if r["frames"] >= 6}


def test_readers_see_all_or_nothing(lake):
    """A commit of many files is one version: a reader polling during it sees 0 or all rows, never a part."""
    rng = np.random.default_rng(1)
    lake.commit("steps", _clips(["seed"], rng)[0])
    parts = [_clips([f"r{i}"], rng)[0] for i in range(20)]
    seen, done = set(), threading.Event()

    def poll():
        while not done.is_set():
            seen.add(lake.read("steps", columns=["id"]).num_rows)

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        version = lake.commit("steps", parts)
    finally:
        done.set()
        reader.join()
    assert version == 1
    assert seen <= {1, 21}
    assert lake.read("steps").num_rows == 21


def test_staged_worker_files_commit_once(lake):
    rng = np.random.default_rng(2)
    t1, a1 = _clips(["w1a", "w1b"], rng)
    t2, a2 = _clips(["w2a"], rng)
    staged = lake.stage_files("feat", t1) + lake.stage_files("feat", t2)  # two "workers"
    assert not lake.exists("feat")  # staged files are not a table yet
    assert lake.commit_files("feat", staged, t1.schema, description="workers") == 0
    got = lake.read("feat").sort_by("id")
    assert got.column("id").to_pylist() == ["w1a", "w1b", "w2a"]
    assert all(np.array_equal(x, y) for x, y in zip(a1 + a2, unpack_column(got, "landmarks", "landmarks_shape")))
    more = lake.stage_files("feat", _clips(["w3"], rng)[0])
    assert lake.read("feat").num_rows == 3  # written but uncommitted: invisible
    assert lake.commit_files("feat", more, t1.schema) == 1 and lake.ids("feat") == {"w1a", "w1b", "w2a", "w3"}


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_lake_names_the_table():
    env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_closed_port()}"}  # fmt: skip
    lake = Lake("s3://nowhere/lake", storage_options=storage_options_from_env(env))
    start = time.monotonic()
    with pytest.raises(LakeError, match="s3://nowhere/lake/clips"):
        lake.read("clips")
    assert time.monotonic() - start < 30


def test_wrong_credentials_name_the_table(seaweed_s3):
    env = {**seaweed_s3["env"], "AWS_SECRET_ACCESS_KEY": "wrong"}
    lake = Lake(f"s3://{seaweed_s3['bucket']}/creds", storage_options=storage_options_from_env(env))
    start = time.monotonic()
    with pytest.raises(LakeError, match=f"s3://{seaweed_s3['bucket']}/creds/clips"):
        lake.commit("clips", pa.table({"id": ["x"]}))
    assert time.monotonic() - start < 30
