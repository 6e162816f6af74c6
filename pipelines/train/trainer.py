"""Distributed training of S2L, the pose generator and L2L with Ray Train (TorchTrainer, DDP).

    driver:  lake -> clip table (split by video) -> Ray Data windows ("train", split across workers)
             TorchTrainer(train_loop, ScalingConfig(workers, GPU), RunConfig(storage, name, FailureConfig,
             CheckpointConfig(best 2 by val_loss + the latest)))
    worker:  resume from ray.train.get_checkpoint() -> per epoch: stream window batches (identity augmentation for
             S2L), AdamW + warm-up/cosine, gradient clipping, bf16 autocast on GPU -> validate on whole clips
             (every worker, same numbers) -> ray.train.report(metrics, checkpoint from rank 0)
    driver:  the best checkpoint by validation becomes <checkpoints>/<stage>.pt (what `space animate` and the
             render job load), with <stage>.json marking it, <stage>_metrics.csv and <stage>_curves.png

face-vid2vid fine-tuning (pipelines/train/facevid2vid.py) has its own worker loop and data, and shares the driver
side here: run names, the finished-run check, the validation split, the TorchTrainer setup and `_finish`
(its files: facevid2vid.pth.tar, marker facevid2vid.run.json, since facevid2vid.json is the network config).

Resume: a run is named by stage, preset digest and the lake's settings id. Submitting the same run again
resumes from its latest checkpoint (Ray Train's storage); a finished run (its <stage>.json names it) trains
nothing. A worker that dies mid-run is replaced (FailureConfig) and training resumes from the last checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from pipelines.lake import Lake
from pipelines.train.data import (clip_sequences, clip_table, latest_settings_id, nonzero_offsets, sync_note,
                                  training_datasets, with_offsets)
from pipelines.train.presets import TrainPreset

__all__ = ["TrainSummary", "fit", "marker_name", "materialize_if_small", "previous_summary", "run_name",
           "run_training", "train_loop", "validation_ids", "weights_name"]

#: the validation metric that picks the best checkpoint, per stage (lower is better)
VAL_LOSS = {"s2l": "val_landmark_error", "pose": "val_nll", "l2l": "val_mse_standardized",
            "facevid2vid": "val_reconstruction_l1"}
#: what the curves show beside train_loss and val_loss (dashed: baselines)
PLOT_EXTRA = {"s2l": ((), ("val_mouth_error", "val_mouth_error_baseline")), "pose": ((), ()),
              "l2l": ((), ("val_mse_standardized_baseline",)),
              "facevid2vid": (("train_reconstruction",), ("val_copy_l1",))}
#: the files in <checkpoints> where they are not <stage>.pt and <stage>.json (face-vid2vid: what `space animate
#: --renderer facevid2vid` loads, next to its network config facevid2vid.json)
WEIGHTS = {"facevid2vid": "facevid2vid.pth.tar"}
MARKERS = {"facevid2vid": "facevid2vid.run.json"}
#: a test hook: the path of a marker file; the first worker to finish training epoch 3 creates it and dies (like an
#: OOM kill), once
FAIL_ONCE_ENV = "SPACE_TRAIN_FAIL_ONCE"


# -- the worker side -----------------------------------------------------------------------------------------------


def _model(stage: str, preset: TrainPreset):
    from space.models.checkpoint import STAGES

    config_cls, model_cls = STAGES[stage]
    return model_cls(config_cls(**preset.model))


def _loss_module(stage: str, model, preset: TrainPreset):
    """The model and its loss as one module, so DDP's forward hook runs (the losses call methods, not forward)."""
    import torch

    from space.train.loop import l2l_loss, s2l_loss

    class WithLoss(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, batch):
            if stage == "s2l":
                return s2l_loss(self.model, batch, preset.mouth_weight, preset.velocity_weight)
            if stage == "pose":
                return self.model.nll(batch["features"], batch["pose_deltas"])
            return l2l_loss(self.model, batch, preset.velocity_weight)

    return WithLoss()


def _evaluate(stage: str, model, val, device) -> dict:
    from space.train.loop import evaluate_l2l, evaluate_pose, evaluate_s2l

    metrics = {"s2l": evaluate_s2l, "pose": evaluate_pose, "l2l": evaluate_l2l}[stage](model, val, device)
    if stage == "s2l":  # velocity error: how well the lips move, not only where they are
        metrics.update(_velocity_error(model, val, device))
    return metrics


def _velocity_error(model, val, device) -> dict:
    import torch

    from space.models.s2l import face_size

    err = base = 0.0
    frames = 0
    with torch.no_grad():
        for i in range(len(val)):
            b = {k: v.to(device) for k, v in val.clip_batch(i).items()}
            pred = model(b["features"], b["identity"], b["emotion"])[0]
            size = face_size(b["identity"][0])
            true_v, pred_v = torch.diff(b["normalized"][0], dim=0), torch.diff(pred, dim=0)
            err += float(((pred_v - true_v).norm(dim=-1) / size).mean(-1).sum())
            base += float((true_v.norm(dim=-1) / size).mean(-1).sum())  # a still face: zero velocity
            frames += len(true_v)
    return {"val_velocity_error": err / max(frames, 1), "val_velocity_error_baseline": base / max(frames, 1)}


def _schedule(optimizer, total_steps: int, warmup_share: float):
    import torch

    warmup = max(1, int(total_steps * warmup_share))

    def factor(step):  # linear warm-up, then cosine down to 5%
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _batch_items(stage: str, batch: dict, rng, augment: bool) -> list[dict]:
    from space.train.data import random_warp, training_item

    keys = ("normalized", "poses", "landmarks", "targets")
    items = []
    for i in range(len(batch["features"])):
        window = {k: batch[k][i] for k in keys if k in batch}
        items.append(training_item(
            batch["features"][i], batch["emotion"][i], identity=batch["identity"][i] if "identity" in batch else None,
            canonical=batch["canonical"][i] if "canonical" in batch else None,
            warp=random_warp(rng) if augment else None, **window,
        ))
    return items


def _maybe_fail(epoch: int) -> None:
    """The test hook: die once, after training the third epoch and before reporting it (two checkpoints exist by
    then; the controller registers a report when it next polls the workers, so a kill right after a report could
    lose it, as a real crash could)."""
    marker = os.environ.get(FAIL_ONCE_ENV)
    if marker and epoch == 2:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os._exit(1)


def train_loop(config: dict) -> None:
    """One Ray Train worker. `config`: stage, preset (dict), steps_per_epoch, lake, storage_options,
    settings_id, val_ids, target_stats (L2L), run, av_offsets (the clips out of sync, measured by the driver)."""
    import ray.train
    import ray.train.torch
    import torch

    from space.models.checkpoint import save_checkpoint
    from space.train.data import SequenceDataset, collate

    stage, preset = config["stage"], TrainPreset(**config["preset"])
    rank = ray.train.get_context().get_world_rank()
    device = ray.train.torch.get_device()
    torch.manual_seed(preset.seed)
    model = _model(stage, preset)
    if stage == "l2l":
        model.set_target_stats(torch.as_tensor(np.asarray(config["target_stats"], np.float32)))
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=preset.lr, weight_decay=preset.weight_decay)
    total = config["steps_per_epoch"] * preset.epochs
    scheduler = _schedule(optimizer, total, preset.warmup_share)
    start, history, resumed_from = 0, [], -1  # -1: this attempt started from scratch
    checkpoint = ray.train.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as folder:
            state = torch.load(os.path.join(folder, "state.pt"), map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start, history = state["epoch"], state["history"]
        resumed_from = start
    wrapped = ray.train.torch.prepare_model(_loss_module(stage, model, preset), move_to_device=False)

    # the driver measured each clip's sync once (clip_table): its offsets come in the config, not measured again
    table = clip_table(Lake(config["lake"], config["storage_options"]), stage, config["settings_id"], "off")
    val_rows = with_offsets(table.filter(_is_in(table, config["val_ids"])), config.get("av_offsets", {}))
    val = SequenceDataset(clip_sequences(val_rows, stage), augment="fixed", seed=12345)
    shard = ray.train.get_dataset_shard("train")
    autocast = device.type == "cuda" and preset.amp
    for epoch in range(start, preset.epochs):
        rng = np.random.default_rng([preset.seed, epoch, rank])
        wrapped.train()
        losses, samples, waited, computed = [], 0, 0.0, 0.0
        tick = time.perf_counter()
        for batch in shard.iter_batches(batch_size=preset.batch_size, batch_format="numpy",
                                        local_shuffle_buffer_size=preset.shuffle_buffer,
                                        local_shuffle_seed=preset.seed + epoch):
            got = time.perf_counter()
            waited += got - tick
            items = {k: v.to(device) for k, v in collate(_batch_items(stage, batch, rng, stage == "s2l")).items()}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                loss = wrapped(items)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), preset.grad_clip)
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            samples += len(batch["features"])
            tick = time.perf_counter()
            computed += tick - got
        _maybe_fail(epoch)
        model.eval()
        metrics = {"epoch": epoch + 1, "resumed_from_epoch": resumed_from,
                   "train_loss": float(np.mean(losses)) if losses else float("nan"),
                   "samples": samples, "samples_per_second": samples / max(waited + computed, 1e-9),
                   "data_wait_share": waited / max(waited + computed, 1e-9), "lr": scheduler.get_last_lr()[0]}
        metrics.update(_evaluate(stage, model, val, device))
        metrics["val_loss"] = metrics[VAL_LOSS[stage]]
        history.append(metrics)
        with tempfile.TemporaryDirectory() as folder:
            report = None
            if rank == 0:
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(), "epoch": epoch + 1, "history": history},
                           os.path.join(folder, "state.pt"))
                save_checkpoint(os.path.join(folder, f"{stage}.pt"), model.cpu(), stage, training={
                    "run": config["run"], "epoch": epoch + 1, "preset": preset.to_dict(),
                    "lake": config["lake"], "settings_id": config["settings_id"], "metrics": metrics,
                })
                model.to(device)
                report = ray.train.Checkpoint.from_directory(folder)
            ray.train.report(metrics, checkpoint=report)


def _is_in(table, ids):
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.is_in(table.column("id"), value_set=pa.array(ids, pa.string()))


# -- the driver side -----------------------------------------------------------------------------------------------


@dataclass
class TrainSummary:
    stage: str
    run: str
    trained: bool  # False: the run had finished before, nothing was trained
    checkpoint: str = ""  # <checkpoints>/<stage>.pt
    best_epoch: int = 0
    best: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # what a reader should know (e.g. a loss term that was off)

    def text(self) -> str:
        notes = "".join(f"\n  note: {n}" for n in self.notes)
        if not self.trained:
            return f"{self.stage}: run {self.run} already finished; nothing to train ({self.checkpoint}){notes}"
        keys = [k for k in ("val_loss", "val_mouth_error", "val_mouth_error_baseline", "val_mouth_error_reduction",
                            "val_nll", "val_mse_reduction", "val_copy_l1") if k in self.best]
        shown = ", ".join(f"{k} {self.best[k]:.4g}" for k in keys)
        return (f"{self.stage}: run {self.run}, {len(self.history)} epochs in {self.seconds:.0f} s; best epoch "
                f"{self.best_epoch}: {shown}\n  -> {self.checkpoint}{notes}")


def run_name(stage: str, preset_name: str, preset: TrainPreset, settings_id: str, source: dict | None = None) -> str:
    """`<stage>-<preset>-<digest>-<settings id>`; the digest covers the preset and `source` (what a fine-tune
    starts from), so changing either starts a new run."""
    digest = preset.digest
    if source:
        payload = json.dumps({"preset": preset.to_dict(), "source": source}, sort_keys=True, default=str)
        digest = hashlib.sha256(payload.encode()).hexdigest()[:8]
    return f"{stage}-{preset_name}-{digest}-{settings_id}"


def weights_name(stage: str) -> str:
    return WEIGHTS.get(stage, f"{stage}.pt")


def marker_name(stage: str) -> str:
    return MARKERS.get(stage, f"{stage}.json")


def _storage(checkpoints: str) -> str:
    """Ray Train's storage for the runs: <checkpoints>/runs, absolute (Ray refuses a relative path)."""
    base = checkpoints if "://" in checkpoints else os.path.abspath(checkpoints)
    return _join(base, "runs")


def _join(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name if "://" in base else os.path.join(base, name)


def _write(uri: str, data: bytes) -> None:
    from space.io.uri import is_remote, open_uri, to_local

    if not is_remote(uri):
        path = to_local(uri)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        tmp = f"{path}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)  # a reader sees the old file or the new one
        return
    with open_uri(uri, "wb") as f:
        f.write(data)


def _finished(marker_uri: str, run: str) -> dict | None:
    from space.errors import SpaceError
    from space.io.uri import open_uri

    try:
        with open_uri(marker_uri, "r") as f:
            marker = json.load(f)
    except (SpaceError, FileNotFoundError, json.JSONDecodeError):
        return None
    return marker if marker.get("run") == run and marker.get("finished") else None


def previous_summary(stage: str, run: str, checkpoints: str) -> TrainSummary | None:
    """The summary of `run` when its marker in `checkpoints` says it finished (nothing to train), else None."""
    done = _finished(_join(checkpoints, marker_name(stage)), run)
    if not done:
        return None
    return TrainSummary(stage, run, False, _join(checkpoints, weights_name(stage)), done["best_epoch"], done["best"],
                        done["history"], notes=done.get("notes", []))


def validation_ids(table, lake: Lake) -> list[str]:
    """The ids of the clip table's validation clips; ValueError when there are none."""
    splits = table.column("split").to_pylist()
    ids = [i for i, s in zip(table.column("id").to_pylist(), splits) if s == "val"]
    if not ids:
        raise ValueError(f"{lake.uri}: no validation clips (one video only?); add videos or a split column")
    return ids


def run_training(stage: str, lake: Lake, checkpoints: str, preset: TrainPreset, preset_name: str = "custom",
                 num_workers: int = 2, use_gpu: bool = False, settings_id: str | None = None,
                 max_failures: int = 3, worker_env: dict[str, str] | None = None, log=print) -> TrainSummary:
    """Train `stage` (s2l, pose, l2l) on `lake` into `checkpoints` (a folder or s3:// prefix) with Ray Train; Ray
    must be up. `worker_env`: extra environment variables of the training workers. face-vid2vid:
    pipelines.train.facevid2vid.run_facevid2vid_training."""
    if stage not in ("s2l", "pose", "l2l"):
        hint = " (use pipelines.train.facevid2vid.run_facevid2vid_training)" if stage == "facevid2vid" else ""
        raise ValueError(f"run_training trains s2l, pose or l2l, not {stage!r}{hint}")
    settings_id = settings_id or latest_settings_id(lake)
    run = run_name(stage, preset_name, preset, settings_id)
    done = previous_summary(stage, run, checkpoints)
    if done:
        return done
    start = time.time()
    table = clip_table(lake, stage, settings_id, preset.av_sync)
    if stage == "l2l":  # L2L's output is the lake's keypoint space: face-vid2vid's (15, 51) or LivePortrait's (21, 70)
        preset = fit_l2l_preset(preset, table, lake.uri)
    val_ids = validation_ids(table, lake)
    datasets = training_datasets(table, stage, preset.frames, preset.stride)
    datasets["train"] = materialize_if_small(datasets["train"], _window_bytes(table, preset))
    windows = datasets["train"].count()
    if windows == 0:
        raise ValueError(f"{lake.uri}: no training clip is {preset.frames} frames long (set frames=... lower)")
    steps = max(1, math.ceil(windows / (preset.batch_size * num_workers)))
    log(f"{stage}: {table.num_rows - len(val_ids)} training clips ({windows} windows of {preset.frames} frames), "
        f"{len(val_ids)} validation clips; {num_workers} workers, {steps} steps per epoch; run {run}")
    config = {"stage": stage, "preset": preset.to_dict(), "steps_per_epoch": steps, "lake": lake.uri,
              "storage_options": lake.storage_options, "settings_id": settings_id, "val_ids": val_ids, "run": run,
              "av_offsets": nonzero_offsets(table)}
    if stage == "l2l":  # the output scale: the training targets' mean and std, fixed before any worker starts
        config["target_stats"] = _target_stats(table)
    note = sync_note(table, preset.av_sync)
    if note:
        log(f"{stage}: {note}")
    return fit(stage, run, train_loop, config, datasets, checkpoints, num_workers, use_gpu, max_failures,
               worker_env, start, notes=[note] if note else None)


def materialize_if_small(dataset, nbytes: float):
    """`dataset` made once (materialized) when its `nbytes` fit in a quarter of the object store, not again every
    epoch (making the windows was most of the step time on small lakes); else as it is, streamed each epoch."""
    import ray

    if nbytes <= 0.25 * ray.available_resources().get("object_store_memory", 0):
        return dataset.materialize()
    return dataset


def fit(stage: str, run: str, loop, config: dict, datasets: dict, checkpoints: str, num_workers: int, use_gpu: bool,
        max_failures: int, worker_env: dict[str, str] | None, start: float, files: dict[str, bytes] | None = None,
        notes: list[str] | None = None) -> TrainSummary:
    """Run `loop` on `num_workers` Ray Train workers (DDP), the "train" dataset split across them, checkpoints in
    <checkpoints>/runs/<run> (the best 2 by val_loss, and the latest), then `_finish`. `files`: more
    {name: bytes} for <checkpoints>, written before the marker."""
    import ray.train
    from ray.train.torch import TorchTrainer

    trainer = TorchTrainer(
        loop,
        train_loop_config=config,
        scaling_config=ray.train.ScalingConfig(num_workers=num_workers, use_gpu=use_gpu,
                                               resources_per_worker=_worker_resources(num_workers, use_gpu)),
        run_config=ray.train.RunConfig(
            name=run, storage_path=_storage(checkpoints),
            failure_config=ray.train.FailureConfig(max_failures=max_failures),
            worker_runtime_env={"env_vars": dict(worker_env)} if worker_env else None,
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2, checkpoint_score_attribute="val_loss",
                                                         checkpoint_score_order="min"),
        ),
        datasets=datasets,
        dataset_config=ray.train.DataConfig(datasets_to_split=["train"]),
    )
    result = trainer.fit()
    return _finish(stage, run, checkpoints, result, time.time() - start, files, notes)


def _worker_resources(num_workers: int, use_gpu: bool) -> dict:
    """Each worker's reservation. On CPUs the workers leave a CPU to Ray Data, which makes the windows while they
    train (with every CPU held by a worker the stream stalls); a reservation is bookkeeping, and torch in each
    worker still uses its threads."""
    import ray

    cpus = ray.cluster_resources().get("CPU", 1.0)
    share = min(1.0, max(0.25, (cpus - 1) / num_workers))
    return {"CPU": share, "GPU": 1} if use_gpu else {"CPU": share}


def _window_bytes(table, preset: TrainPreset) -> float:
    """An upper bound of the training windows' size: float32 audio windows (20 x 80) and up to ~300 more values
    per frame (landmarks, targets)."""
    import pyarrow.compute as pc

    frames = table.filter(pc.equal(table.column("split"), "train")).column("num_frames").to_numpy()
    windows = np.maximum(0, (frames - preset.frames) // preset.stride + 1).sum()
    return float(windows) * preset.frames * (20 * 80 + 300) * 4


def fit_l2l_preset(preset: TrainPreset, table, uri: str) -> TrainPreset:
    """`preset` with L2L's keypoints and params set to the lake's keypoints (the renderer they came from); a
    preset that names other sizes is an error naming both."""
    import dataclasses

    (k, _), (_, p) = table.column("kp_canonical_shape")[0].as_py(), table.column("kp_params_shape")[0].as_py()
    model = dict(preset.model)
    for name, value in (("keypoints", k), ("params", p)):
        if model.setdefault(name, value) != value:
            raise ValueError(f"{uri}: the lake's keypoints are {k} x 3 with {p} head params, the preset's L2L "
                             f"wants {name}={model[name]}; leave it out and it follows the lake")
    return dataclasses.replace(preset, model=model)


def _target_stats(table) -> list:
    import pyarrow.compute as pc

    from pipelines.lake import unpack_column

    train = table.filter(pc.equal(table.column("split"), "train"))
    return np.concatenate(unpack_column(train, "kp_params", "kp_params_shape")).tolist()


def _finish(stage: str, run: str, checkpoints: str, result, seconds: float, files: dict[str, bytes] | None = None,
            notes: list[str] | None = None) -> TrainSummary:
    import torch

    best_ckpt, best = min(result.best_checkpoints, key=lambda cm: cm[1]["val_loss"])
    with result.checkpoint.as_directory() as folder:  # the latest holds the whole history
        history = torch.load(os.path.join(folder, "state.pt"), map_location="cpu", weights_only=False)["history"]
    with best_ckpt.as_directory() as folder:
        with open(os.path.join(folder, weights_name(stage)), "rb") as f:
            weights = f.read()
    target = _join(checkpoints, weights_name(stage))
    _write(target, weights)
    for name, data in (files or {}).items():
        _write(_join(checkpoints, name), data)
    _write(_join(checkpoints, f"{stage}_metrics.csv"), _csv(history).encode())
    _write(_join(checkpoints, f"{stage}_curves.png"), _plot(stage, history))
    marker = {"run": run, "finished": True, "best_epoch": int(best["epoch"]), "best": best,
              "best_checkpoint": best_ckpt.path, "history": history, "checkpoint": target, "notes": notes or []}
    _write(_join(checkpoints, marker_name(stage)), json.dumps(marker, indent=1, default=float).encode())
    return TrainSummary(stage, run, True, target, int(best["epoch"]), best, history, seconds, list(notes or []))


def _csv(history: list[dict]) -> str:
    keys = list(dict.fromkeys(k for h in history for k in h if isinstance(h[k], (int, float))))
    lines = [",".join(keys)] + [",".join(f"{h.get(k, '')}" for k in keys) for h in history]
    return "\n".join(lines) + "\n"


def _plot(stage: str, history: list[dict]) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    train_extra, extra = PLOT_EXTRA[stage]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    axes[0].plot(epochs, [h["train_loss"] for h in history], label="train loss")
    for key in train_extra:
        axes[0].plot(epochs, [h.get(key, float("nan")) for h in history], label=key)
    axes[0].set_xlabel("epoch")
    axes[0].legend()
    axes[1].plot(epochs, [h["val_loss"] for h in history], label=f"validation ({VAL_LOSS[stage]})")
    for key in extra:
        axes[1].plot(epochs, [h.get(key, float("nan")) for h in history], label=key,
                     linestyle="--" if "baseline" in key or "copy" in key else "-")
    axes[1].set_xlabel("epoch")
    axes[1].legend()
    fig.suptitle(f"{stage} training")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()
