"""Fine-tuning face-vid2vid on the lake's clips with Ray Train (`jobs/train.py --stage facevid2vid`).

    driver:  lake -> clip table (stage "facevid2vid": the face boxes and each clip's video range; the split of
             pipelines/train/data.py) -> Ray Data, one block per training clip: decode the clip's frames, crop
             them with the keypoint stage's steady crop (`clip_crops`) at the model's size, emit `pairs_per_clip`
             seeded (source, driving) frame pairs of the clip as uint8 (S, S, 3) arrays
             TorchTrainer(facevid2vid_loop, ...) set up as for the other stages (pipelines/train/trainer.py)
    worker:  FaceVid2VidTraining from the user's public-format checkpoint, or from ray.train.get_checkpoint() when
             resuming (networks, discriminator, optimizers, step, epoch, history); its generator and discriminator
             objectives wrapped in DDP (prepare_model) -> per epoch: the shard's pair batches, one generator and
             one discriminator update each -> validation: mean L1 of the redrawn driving frame on fixed pairs of the
             validation clips (split over the workers, summed with all_reduce) -> ray.train.report(metrics,
             checkpoint from rank 0: state.pt = the training state and history, facevid2vid.pth.tar = the three
             networks in the public format)
    driver:  the best checkpoint by validation L1 becomes <checkpoints>/facevid2vid.pth.tar next to
             facevid2vid.json (its FaceVid2VidConfig): what `space animate --renderer facevid2vid --checkpoints`
             loads. The run's marker is facevid2vid.run.json (facevid2vid.json is the network config's name there),
             with facevid2vid_metrics.csv and facevid2vid_curves.png.

The run name covers the preset and what the fine-tune starts from (checkpoint URI, network config, VGG weights
URI), so resubmitting the same run resumes it and a finished run trains nothing. The pairs are drawn once per
clip (seeded by the clip id): every epoch sees the same pairs, in a new order (decoded once when they fit in a
quarter of the object store, else again each epoch).

Fine-tuning changes the keypoint detector and head-pose estimator too: an L2L trained on keypoints of the
original checkpoint (the lake's kp_params) no longer matches exactly; re-run preprocessing with the fine-tuned
checkpoint and retrain L2L for the facevid2vid renderer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipelines.lake import Lake, unpack_column
from pipelines.train.data import clip_dataset, clip_table, latest_settings_id
from pipelines.train.presets import TrainPreset
from pipelines.train.trainer import (
    TrainSummary,
    _is_in,
    _maybe_fail,
    fit,
    materialize_if_small,
    previous_summary,
    run_name,
    validation_ids,
)

__all__ = ["STAGE", "FaceVid2VidSource", "clip_pairs", "facevid2vid_loop", "pair_batches", "pair_datasets",
           "pair_indices", "run_facevid2vid_training", "training_options"]

STAGE = "facevid2vid"
WEIGHTS_FILE = "facevid2vid.pth.tar"  # = space.animate.stages.FACEVID2VID_FILE (its network config: CONFIG_FILE)
CONFIG_FILE = "facevid2vid.json"
VAL_SEED = 1234  # the validation pairs: the same whatever the preset's seed


@dataclass(frozen=True)
class FaceVid2VidSource:
    """What a fine-tune starts from: a public-format checkpoint (path or URI, readable by every worker), its
    network config (FaceVid2VidConfig.to_dict(); None: vox-256) and optional VGG19 weights (the perceptual term;
    None: off)."""

    checkpoint: str
    config: dict | None = None
    vgg_weights: str | None = None

    @classmethod
    def from_files(cls, checkpoint: str, config_uri: str | None = None,
                   vgg_weights: str | None = None) -> "FaceVid2VidSource":
        """The config read from its JSON file (and checked); the checkpoint and the VGG weights must exist (they
        are read by the workers). MissingFileError / ValueError naming the file otherwise."""
        from space.io.uri import file_size

        config = None
        if config_uri:
            from space.io.uri import open_uri
            from space.models.facevid2vid import FaceVid2VidConfig

            with open_uri(config_uri, "r") as f:
                config = FaceVid2VidConfig.from_dict(json.load(f)).to_dict()
        for uri in filter(None, (checkpoint, vgg_weights)):
            file_size(uri)  # MissingFileError naming it, before any worker starts
        return cls(str(checkpoint), config, str(vgg_weights) if vgg_weights else None)

    def model_config(self):
        from space.models.facevid2vid import FaceVid2VidConfig

        return FaceVid2VidConfig.from_dict(self.config) if self.config else FaceVid2VidConfig()


# -- training options (the preset's `model` entries) ---------------------------------------------------------------


def training_options(model: dict) -> dict:
    """A preset's `model` dict -> keyword arguments of FaceVid2VidTraining: the loss weights
    (FaceVid2VidLossWeights fields: reconstruction, perceptual [5], equivariance, keypoint, expression,
    generator_gan, discriminator_gan, feature_matching [per block]), `gan_mode` (ls, hinge), `discriminator`
    (DiscriminatorConfig fields), `transform` (TransformParams fields, or null: no equivariance warp).
    ValueError naming an unknown entry."""
    from space.models.facevid2vid.config import DiscriminatorConfig
    from space.train.facevid2vid import FaceVid2VidLossWeights, TransformParams

    weight_names = {f.name for f in dataclasses.fields(FaceVid2VidLossWeights)}
    unknown = sorted(set(model) - weight_names - {"gan_mode", "discriminator", "transform"})
    if unknown:
        raise ValueError(f"unknown face-vid2vid training option(s) {', '.join(unknown)}: known are "
                         f"{', '.join(sorted(weight_names))}, gan_mode, discriminator, transform")
    weights = {k: tuple(v) if isinstance(v, list) else v for k, v in model.items() if k in weight_names}
    transform = model.get("transform", {})
    return {
        "weights": FaceVid2VidLossWeights(**weights),
        "gan_mode": model.get("gan_mode", "ls"),
        "discriminator_config": DiscriminatorConfig.from_dict(
            {k: tuple(v) if isinstance(v, list) else v for k, v in model.get("discriminator", {}).items()}),
        "transform": None if transform is None else TransformParams(**transform),
    }


# -- the pairs -----------------------------------------------------------------------------------------------------


def pair_indices(clip_id: str, num_frames: int, pairs: int, seed: int) -> np.ndarray:
    """(pairs, 2) clip frame indices (source, driving), two different frames when the clip has two; the same for
    the same clip id and seed."""
    rng = np.random.default_rng([seed, int(hashlib.sha256(clip_id.encode()).hexdigest()[:12], 16)])
    n = max(int(num_frames), 1)
    source = rng.integers(0, n, pairs)
    driving = (source + rng.integers(1, n, pairs)) % n if n > 1 else source
    return np.stack([source, driving], axis=1).astype(np.int64)


def clip_pairs(clip_id: str, uri: str, start_frame: int, num_frames: int, boxes: np.ndarray, pairs: int,
               size: int = 256, seed: int = 0, fps: float = 25.0, chunk: int = 32) -> dict[str, np.ndarray]:
    """One clip -> `pairs` (source, driving) frame pairs: the clip's frames (grid frames start_frame ..
    start_frame + num_frames - 1 of `uri` at `fps`) cropped with `clip_crops(boxes)` (the keypoint stage's steady
    crop) to size x size. Returns {"clip_id": (P,), "source_frame", "driving_frame": (P,) clip frame indices,
    "source", "driving": (P, size, size, 3) uint8}. Only the frames up to the last one needed are decoded."""
    from pipelines.stages.keypoints import clip_crops
    from space.io.video import iter_video
    from space.portrait import crop_square

    index = pair_indices(clip_id, num_frames, pairs, seed)
    needed, last = set(index.ravel().tolist()), int(index.max())
    crops = clip_crops(np.asarray(boxes, np.float32).reshape(-1, 4))
    images: dict[int, np.ndarray] = {}
    k = 0
    for part in iter_video(uri, fps=fps, chunk=chunk, start_frame=int(start_frame), num_frames=int(num_frames)):
        for frame in part.frames:
            if k in needed:
                images[k] = crop_square(frame, *crops[min(k, len(crops) - 1)], size)
            k += 1
        if k > last:
            break
    if k <= last:
        raise ValueError(f"{uri}: clip {clip_id} (frames {start_frame}+{num_frames}) decodes to {k} frames; "
                         f"frame {last} was drawn")
    return {"clip_id": np.array([clip_id] * pairs), "source_frame": index[:, 0], "driving_frame": index[:, 1],
            "source": np.stack([images[i] for i in index[:, 0]]),
            "driving": np.stack([images[i] for i in index[:, 1]])}


def pair_batches(batch: pa.Table, pairs: int, size: int, seed: int) -> Iterator[dict[str, np.ndarray]]:
    """Clips (rows of the "facevid2vid" clip table) -> one `clip_pairs` dict per clip."""
    boxes = unpack_column(batch, "boxes", "boxes_shape")
    rows = batch.select(["id", "uri", "start_frame", "num_frames", "fps"]).to_pylist()
    for row, clip_boxes in zip(rows, boxes):
        yield clip_pairs(row["id"], row["uri"], row["start_frame"], row["num_frames"], clip_boxes, pairs, size,
                         seed, float(row["fps"] or 25.0))


def pair_datasets(table: pa.Table, pairs: int, size: int, seed: int):
    """{"train": Dataset of (source, driving) pairs of the training clips} (imports Ray)."""

    def make(batch: pa.Table):
        yield from pair_batches(batch, pairs, size, seed)

    return {"train": clip_dataset(table, make)}


# -- the worker side -----------------------------------------------------------------------------------------------


def _frames(images: np.ndarray, device):
    """(B, S, S, 3) uint8 -> (B, 3, S, S) float in [0, 1] on `device`."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float() / 255.0


def _all_reduce(values: list[float], device, op: str = "sum") -> list[float]:
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op={"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}[op])
    return tensor.tolist()


def _validate(model, pairs: dict[str, np.ndarray], batch_size: int, device) -> dict:
    """Mean L1 of the redrawn driving frame (source's appearance and canonical keypoints, driving frame's head
    params) over every worker's validation pairs, and of copying the source frame (the baseline)."""
    import torch

    model.eval()
    total = copy = 0.0
    with torch.no_grad():
        for lo in range(0, len(pairs["source"]), batch_size):
            source = _frames(pairs["source"][lo : lo + batch_size], device)
            driving = _frames(pairs["driving"][lo : lo + batch_size], device)
            fake = model(source, driving)["prediction"]
            total += float((fake - driving).abs().mean(dim=(1, 2, 3)).sum())
            copy += float((source - driving).abs().mean(dim=(1, 2, 3)).sum())
    total, copy, count = _all_reduce([total, copy, float(len(pairs["source"]))], device)
    return {"val_reconstruction_l1": total / max(count, 1), "val_copy_l1": copy / max(count, 1),
            "val_pairs": int(count)}


def _sync_buffers(training) -> None:
    """Rank 0's buffers (batch-norm running statistics, spectral-norm vectors) everywhere: DDP broadcasts them at
    each forward, but the last training forward moved each worker's own; validation and the checkpoint use these."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        for module in (training.model, training.discriminator):
            for buffer in module.buffers():
                dist.broadcast(buffer.data, src=0)


def _replica_spread(training, device) -> float:
    """max - min over the workers of a checksum of every trained parameter: 0 when DDP keeps the replicas equal."""
    import torch

    with torch.no_grad():
        checksum = sum(float(p.double().sum()) for module in (training.model, training.discriminator)
                       for p in module.parameters())
    (high,), (low,) = _all_reduce([checksum], device, "max"), _all_reduce([checksum], device, "min")
    return high - low


def facevid2vid_loop(config: dict) -> None:
    """One Ray Train worker. `config`: preset (dict), source (FaceVid2VidSource fields), lake, storage_options,
    settings_id, val_ids, run."""
    import ray.train
    import ray.train.torch
    import torch

    from space.models.facevid2vid import FaceVid2Vid
    from space.models.facevid2vid.discriminator import FaceVid2VidDiscriminator
    from space.models.facevid2vid.model import read_checkpoint
    from space.train.facevid2vid import FaceVid2VidTraining

    preset, source = TrainPreset(**config["preset"]), FaceVid2VidSource(**config["source"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()
    options = training_options(preset.model)
    model_config = source.model_config()
    torch.manual_seed(preset.seed)  # a discriminator the checkpoint lacks starts equal everywhere (DDP checks)
    training = FaceVid2VidTraining(
        FaceVid2Vid(model_config).to(device), FaceVid2VidDiscriminator(options.pop("discriminator_config")),
        source.vgg_weights, lr=preset.lr, seed=preset.seed + rank, **options)
    start, history, resumed_from = 0, [], -1  # -1: this attempt started from the user's checkpoint
    checkpoint = ray.train.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as folder:
            state = torch.load(os.path.join(folder, "state.pt"), map_location=device, weights_only=False)
        training.load_state(state["training"], f"{config['run']} (Ray Train checkpoint)")
        start, history = state["epoch"], state["history"]
        resumed_from = start
    else:
        training.load_state(read_checkpoint(source.checkpoint, device), source.checkpoint)
        for optimizer in training.optimizers.values():  # a public training checkpoint brings its own (decayed) lr
            for group in optimizer.param_groups:
                group["lr"] = preset.lr
    training.distribute(lambda module: ray.train.torch.prepare_model(module, move_to_device=False))

    table = clip_table(Lake(config["lake"], config["storage_options"]), STAGE, config["settings_id"])
    val_rows = table.filter(_is_in(table, config["val_ids"]))
    mine = val_rows.take(pa.array(range(rank, val_rows.num_rows, world), pa.int64()))  # each worker: its share
    parts = list(pair_batches(mine, preset.pairs_per_clip, model_config.size, VAL_SEED))
    val = {k: np.concatenate([p[k] for p in parts]) if parts else
           np.zeros((0, model_config.size, model_config.size, 3), np.uint8) for k in ("source", "driving")}
    shard = ray.train.get_dataset_shard("train")
    for epoch in range(start, preset.epochs):
        sums: dict[str, float] = {}
        steps, samples, waited, computed = 0, 0, 0.0, 0.0
        tick = time.perf_counter()
        for batch in shard.iter_batches(batch_size=preset.batch_size, batch_format="numpy",
                                        local_shuffle_buffer_size=preset.shuffle_buffer or None,
                                        local_shuffle_seed=preset.seed + epoch):
            got = time.perf_counter()
            waited += got - tick
            losses = training.step(_frames(batch["source"], device), _frames(batch["driving"], device))
            for key, value in losses.items():
                if value is not None:
                    sums[key] = sums.get(key, 0.0) + value
            steps += 1
            samples += len(batch["source"])
            tick = time.perf_counter()
            computed += tick - got
        _maybe_fail(epoch)
        training.epoch = epoch + 1
        metrics = {"epoch": epoch + 1, "resumed_from_epoch": resumed_from, "world_size": world,
                   "train_loss": sums.get("generator_total", float("nan")) / max(steps, 1),
                   **{f"train_{k}": v / max(steps, 1) for k, v in sums.items() if k != "generator_total"},
                   "steps": training.step_count, "samples": samples,
                   "samples_per_second": samples / max(waited + computed, 1e-9),
                   "data_wait_share": waited / max(waited + computed, 1e-9), "lr": preset.lr}
        _sync_buffers(training)
        metrics.update(_validate(training.model, val, preset.batch_size, device))
        metrics["replica_spread"] = _replica_spread(training, device)
        metrics["val_loss"] = metrics["val_reconstruction_l1"]
        history.append(metrics)
        with tempfile.TemporaryDirectory() as folder:
            report = None
            if rank == 0:
                torch.save({"training": training.state(), "epoch": epoch + 1, "history": history},
                           os.path.join(folder, "state.pt"))
                training.model.save_checkpoint(os.path.join(folder, WEIGHTS_FILE))
                report = ray.train.Checkpoint.from_directory(folder)
            ray.train.report(metrics, checkpoint=report)


# -- the driver side -----------------------------------------------------------------------------------------------


def run_facevid2vid_training(lake: Lake, checkpoints: str, preset: TrainPreset, source: FaceVid2VidSource,
                             preset_name: str = "custom", num_workers: int = 2, use_gpu: bool = False,
                             settings_id: str | None = None, max_failures: int = 3,
                             worker_env: dict[str, str] | None = None, log=print) -> TrainSummary:
    """Fine-tune the face-vid2vid of `source` on `lake`'s clips into `checkpoints` (a folder or s3:// prefix) with
    Ray Train; Ray must be up. The best epoch by validation L1 becomes <checkpoints>/facevid2vid.pth.tar with
    facevid2vid.json beside it."""
    training_options(preset.model)  # an unknown option fails here, not in every worker
    model_config = source.model_config()
    settings_id = settings_id or latest_settings_id(lake)
    run = run_name(STAGE, preset_name, preset, settings_id, dataclasses.asdict(source))
    done = previous_summary(STAGE, run, checkpoints)
    if done:
        return done
    start = time.time()
    table = clip_table(lake, STAGE, settings_id)
    val_ids = validation_ids(table, lake)
    train_clips = table.num_rows - len(val_ids)
    datasets = pair_datasets(table, preset.pairs_per_clip, model_config.size, preset.seed)
    pairs = train_clips * preset.pairs_per_clip
    # the same pairs every epoch: decoded once when they fit (a quarter of the object store), else each epoch
    datasets["train"] = materialize_if_small(datasets["train"], pairs * 2 * model_config.size**2 * 3)
    steps = max(1, math.ceil(pairs / (preset.batch_size * num_workers)))
    notes = [] if source.vgg_weights else ["perceptual term off (no VGG19 weights given: --vgg-weights)"]
    if not training_options(preset.model)["weights"].generator_gan:
        notes.append("GAN terms off (generator_gan = 0)")
    log(f"{STAGE}: {train_clips} training clips ({pairs} frame pairs at {model_config.size} px), {len(val_ids)} "
        f"validation clips; {num_workers} workers, {steps} steps per epoch; from {source.checkpoint}; run {run}")
    for note in notes:
        log(f"{STAGE}: {note}")
    config = {"preset": preset.to_dict(), "source": dataclasses.asdict(source), "lake": lake.uri,
              "storage_options": lake.storage_options, "settings_id": settings_id, "val_ids": val_ids, "run": run}
    files = {CONFIG_FILE: json.dumps(model_config.to_dict(), indent=1).encode()}
    return fit(STAGE, run, facevid2vid_loop, config, datasets, checkpoints, num_workers, use_gpu, max_failures,
               worker_env, start, files=files, notes=notes)
