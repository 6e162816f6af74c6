"""Connecting a job to Ray: the cluster named by RAY_ADDRESS (as `ray job submit` sets it) or a local one.

The workers of a cluster started with `ray start` do not inherit the job's environment, so the variables a
worker needs to read the corpus and write the lake the way the driver does (object-store credentials and
endpoint, model caches) travel in the job's runtime environment.
"""

from __future__ import annotations

import os

__all__ = ["FORWARDED_ENV", "init_ray"]

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
