"""Connecting a job to Ray: the cluster named by RAY_ADDRESS (as `ray job submit` sets it) or a local one.

The workers of a cluster started with `ray start` do not inherit the job's environment, so the variables a
worker needs to read the corpus and write the lake the way the driver does (object-store credentials and
endpoint, model caches) travel in the job's runtime environment.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FORWARDED_ENV", "Cluster", "add_cluster_arguments", "connect", "init_ray", "write_summary"]

FORWARDED_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
                 "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ALLOW_HTTP", "AWS_S3_LOCKING_PROVIDER",
                 "AWS_S3_ALLOW_UNSAFE_RENAME", "HF_HOME", "TORCH_HOME", "SPACE_CACHE")


def init_ray(address: str | None = None, num_cpus: int | None = None, progress_bars: bool = True):
    """`ray.init` on `address` (None: RAY_ADDRESS, else a new local Ray with `num_cpus`); returns the module."""
    import ray
    import ray.data

    env = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
    ray.init(address=address, num_cpus=None if address else num_cpus,
             runtime_env={"env_vars": env} if env else None, log_to_driver=True,
             ignore_reinit_error=True)  # the one-command demo runs several jobs in one process
    ray.data.DataContext.get_current().enable_progress_bars = progress_bars
    return ray


def add_cluster_arguments(parser) -> "argparse._ArgumentGroup":
    """The `cluster` argument group the Ray Data jobs share (returned, so a job can add its own to it)."""
    g = parser.add_argument_group("cluster")
    g.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                   help="Ray cluster address (default: RAY_ADDRESS, as `ray job submit` sets it; else a local Ray)")
    g.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (default: all)")
    g.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where the models run: auto = cuda when the cluster has GPUs")
    g.add_argument("--summary-json", help="also write the run summary here as JSON")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return g


@dataclass(frozen=True)
class Cluster:
    """The Ray a job runs on: its CPUs and GPUs, and the device its models use."""

    cpus: float
    gpus: float  # the GPUs the models use: 0 when they run on the CPU
    device: str

    def describe(self) -> str:
        return f"Ray: {self.cpus:g} CPUs, {self.gpus:g} GPUs for the models; models on {self.device}"


def connect(args) -> Cluster:
    """`init_ray` from a job's cluster arguments, then the cluster's resources and the models' device."""
    ray = init_ray(args.address, args.num_cpus, progress_bars=not args.quiet)
    resources = ray.cluster_resources()
    cpus, gpus = resources.get("CPU", 1.0), resources.get("GPU", 0.0)
    device = args.device if args.device != "auto" else ("cuda" if gpus > 0 else "cpu")
    return Cluster(cpus, gpus if device == "cuda" else 0.0, device)


def write_summary(path: str | None, summary) -> None:
    """A job's summary as JSON at `path` (nothing when None)."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(summary, indent=1, default=float))
