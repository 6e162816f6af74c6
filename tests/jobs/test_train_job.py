"""jobs/train.py's engine on a local 2-CPU Ray: two DDP workers (gloo) learn S2L and L2L on a lake made from the
synthetic corpus, a killed worker resumes from the last checkpoint, and a finished run trains nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from pipelines.train.presets import apply_overrides, preset  # noqa: E402
from pipelines.train.trainer import FAIL_ONCE_ENV, run_training  # noqa: E402
from tests.support.lakes import make_training_lake  # noqa: E402


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    return make_training_lake(tmp_path_factory.mktemp("train"), clips=12)


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _quiet(_):
    pass


@pytest.mark.slow
def test_s2l_two_workers_learn_lip_motion_and_a_finished_run_trains_nothing(lake, ray_local, tmp_path):
    from space.models.checkpoint import load_checkpoint, resolve_checkpoint

    chosen = preset("s2l", "small")
    summary = run_training("s2l", lake, str(tmp_path), chosen, "small", num_workers=2, log=_quiet)
    assert summary.trained and [h["epoch"] for h in summary.history] == list(range(1, chosen.epochs + 1))
    losses = [h["train_loss"] for h in summary.history]
    assert losses[-1] < 0.8 * losses[0], losses
    best = summary.best
    assert best["val_mouth_error"] <= 0.7 * best["val_mouth_error_baseline"], best  # >= 30% below the mean face
    model, meta = load_checkpoint(resolve_checkpoint("s2l", str(tmp_path)), stage="s2l")
    assert meta["training"]["epoch"] == summary.best_epoch and meta["training"]["run"] == summary.run
    marker = json.loads((tmp_path / "s2l.json").read_text())
    assert marker["best_epoch"] == summary.best_epoch and len(marker["history"]) == chosen.epochs
    assert (tmp_path / "s2l_metrics.csv").read_text().count("\n") == chosen.epochs + 1
    assert (tmp_path / "s2l_curves.png").read_bytes()[:4] == b"\x89PNG"

    start = time.perf_counter()
    again = run_training("s2l", lake, str(tmp_path), chosen, "small", num_workers=2, log=_quiet)
    assert not again.trained and again.run == summary.run and time.perf_counter() - start < 10


@pytest.mark.slow
def test_l2l_losses_fall(lake, ray_local, tmp_path):
    chosen = apply_overrides(preset("l2l", "small"), ["epochs=6"])
    summary = run_training("l2l", lake, str(tmp_path), chosen, "small", num_workers=2, log=_quiet)
    losses = [h["train_loss"] for h in summary.history]
    val = [h["val_loss"] for h in summary.history]
    assert losses[-1] < 0.8 * losses[0], losses
    assert min(val) < val[0], val
    assert all(k in summary.best for k in ("val_mae_model_angles", "val_mse_reduction"))


@pytest.mark.slow
def test_a_killed_worker_resumes_from_the_last_checkpoint(lake, ray_local, tmp_path):
    marker = tmp_path / "killed.pid"
    chosen = apply_overrides(preset("pose", "tiny"), ["epochs=4"])
    summary = run_training("pose", lake, str(tmp_path / "ckpt"), chosen, "tiny", num_workers=2,
                           worker_env={FAIL_ONCE_ENV: str(marker)}, log=_quiet)
    assert marker.exists(), "no worker was killed"
    assert [h["epoch"] for h in summary.history] == [1, 2, 3, 4]  # each epoch once, none lost, none repeated
    resumed = [h["resumed_from_epoch"] for h in summary.history]
    # the worker died in epoch 3: the new attempt starts from the last registered checkpoint (epoch 2, or 1 if
    # the controller had not polled the epoch-2 report yet), never from scratch
    at = resumed[-1]
    assert at in (1, 2) and resumed == [-1] * at + [at] * (4 - at), resumed
    assert Path(summary.checkpoint).exists()
