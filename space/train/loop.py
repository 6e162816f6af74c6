"""Plain-torch training loops for S2L, the pose generator and L2L.

Each loop is one function (train, val, config, steps, lr, seed, device, progress) -> (model, metrics), with no
global state, so a Ray Train worker can call it as it is (pipelines/ passes a `progress` callable that reports).
`train` and `val` are SequenceDatasets (or lists of ClipSequence: train gets the random identity augmentation,
val a fixed one per clip). `progress`: None (silent), True (a tqdm bar) or a callable taking a dict
({"step", "loss", "lr"} every few steps and the validation metrics at the end).

Losses:
  S2L   L1 of the landmarks in units of the identity's face size, mouth points (48-67) weighted `mouth_weight`,
        plus `velocity_weight` x the same L1 on the frame-to-frame differences (lip motion, not only shape).
  pose  Gaussian negative log-likelihood of the next frame's pose change (teacher forcing).
  L2L   L1 of the standardised face-vid2vid parameters (rotation, translation and expression groups weighted
        alike) plus a velocity term.

Metrics (S2L): validation mouth landmark error = mean Euclidean distance over points 48-67 and all frames, in units
of the identity's face size (space.models.s2l.face_size), for the model and for the mean-face baseline (the photo's
identity held still), and the relative reduction; the mouth-corner distance (48 to 54) the model predicts with
happy=1 and with neutral, on the same validation audio.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch

from ..models.emotion import emotion_vector
from ..models.l2l import L2LConfig, Landmarks2Latents
from ..models.pose import PoseConfig, PoseGenerator
from ..models.s2l import MOUTH, S2LConfig, Speech2Landmarks, face_size
from .data import ClipSequence, SequenceDataset

Progress = Callable[[dict], None] | bool | None


def _datasets(train, val) -> tuple[SequenceDataset, SequenceDataset]:
    if not isinstance(train, SequenceDataset):
        train = SequenceDataset(list(train), augment="random")
    if not isinstance(val, SequenceDataset):
        val = SequenceDataset(list(val), augment="fixed", seed=12345)
    return train, val


class _Reporter:
    def __init__(self, progress: Progress, steps: int, desc: str, every: int = 25):
        self.callback = progress if callable(progress) else None
        self.bar = None
        self.every = every
        if progress is True:
            from tqdm import tqdm

            self.bar = tqdm(total=steps, desc=desc, unit="step")

    def step(self, step: int, loss: float, lr: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if step % self.every == 0:
                self.bar.set_postfix(loss=f"{loss:.4f}")
        if self.callback is not None and (step % self.every == 0):
            self.callback({"step": step, "loss": loss, "lr": lr})

    def done(self, metrics: dict) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.callback is not None:
            self.callback(dict(metrics))


def _optimizer(model: torch.nn.Module, lr: float, steps: int, weight_decay: float):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    warmup = max(1, steps // 20)

    def factor(step):  # linear warm-up, then cosine down to 5%
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _run(model, train: SequenceDataset, loss_fn, steps, lr, seed, device, progress, batch_size, frames,
         weight_decay, desc) -> tuple[dict, _Reporter]:
    rng = np.random.default_rng(seed)
    opt, schedule = _optimizer(model, lr, steps, weight_decay)
    reporter = _Reporter(progress, steps, desc)
    model.train()
    start = time.perf_counter()
    losses = []
    for step in range(1, steps + 1):
        batch = {k: v.to(device) for k, v in train.sample_batch(batch_size, frames, rng).items()}
        loss = loss_fn(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        schedule.step()
        losses.append(float(loss.detach()))
        reporter.step(step, losses[-1], schedule.get_last_lr()[0])
    model.eval()
    tail = losses[-max(1, steps // 10):]
    return {"steps": steps, "train_seconds": round(time.perf_counter() - start, 2),
            "final_train_loss": float(np.mean(tail)), "batch_size": batch_size, "frames": frames, "lr": lr,
            "seed": seed}, reporter


# ---- S2L --------------------------------------------------------------------------------------------------------

def _point_weights(mouth_weight: float, device) -> torch.Tensor:
    w = torch.ones(68, device=device)
    w[MOUTH] = mouth_weight
    return w / w.mean()


def weighted_l1(err: torch.Tensor, w: torch.Tensor, velocity_weight: float) -> torch.Tensor:
    """Weighted L1 of a (B, T, ...) error, plus the same on its frame-to-frame change (smooth motion)."""
    loss = (err.abs() * w).mean()
    if velocity_weight and err.shape[1] > 1:
        loss = loss + velocity_weight * (torch.diff(err, dim=1).abs() * w).mean()
    return loss


def s2l_loss(model: Speech2Landmarks, batch: dict, mouth_weight: float = 3.0, velocity_weight: float = 1.0):
    pred = model(batch["features"], batch["identity"], batch["emotion"])  # (B, T, 68, 3)
    size = face_size(batch["identity"])[:, None, None, None]
    err = (pred - batch["normalized"]) / size
    w = _point_weights(mouth_weight, err.device)[None, None, :, None]
    return weighted_l1(err, w, velocity_weight)


@torch.no_grad()
def evaluate_s2l(model: Speech2Landmarks, val: SequenceDataset, device="cpu") -> dict[str, float]:
    """Validation mouth error (model and still-photo baseline, face-size units) and the emotion check."""
    model.eval()
    err_sum = base_sum = all_sum = 0.0
    frames = 0
    corner = {"happy": [], "neutral": []}
    for i in range(len(val)):
        b = {k: v.to(device) for k, v in val.clip_batch(i).items()}
        pred = model(b["features"], b["identity"], b["emotion"])[0]  # (T, 68, 3)
        target, identity = b["normalized"][0], b["identity"][0]
        size = face_size(identity)
        err_sum += float(((pred - target)[:, MOUTH].norm(dim=-1) / size).mean(-1).sum())
        base_sum += float(((identity[None] - target)[:, MOUTH].norm(dim=-1) / size).mean(-1).sum())
        all_sum += float(((pred - target).norm(dim=-1) / size).mean(-1).sum())
        frames += len(target)
        for label in corner:
            emo = torch.as_tensor(emotion_vector({label: 1.0}), device=device)[None]
            p = model(b["features"], b["identity"], emo)[0]
            corner[label].append(float(((p[:, 54] - p[:, 48]).norm(dim=-1) / size).mean()))
    err, base = err_sum / frames, base_sum / frames
    return {
        "val_mouth_error": err,
        "val_mouth_error_baseline": base,
        "val_mouth_error_reduction": 1.0 - err / base,
        "val_landmark_error": all_sum / frames,
        "val_corner_distance_happy": float(np.mean(corner["happy"])),
        "val_corner_distance_neutral": float(np.mean(corner["neutral"])),
        "val_clips": len(val),
        "val_frames": frames,
    }


def train_s2l(train, val, config: S2LConfig = S2LConfig(), steps: int = 1000, lr: float = 2e-3, seed: int = 0,
              device: str | torch.device = "cpu", progress: Progress = None, *, batch_size: int = 16,
              frames: int = 50, mouth_weight: float = 3.0, velocity_weight: float = 1.0,
              weight_decay: float = 1e-4, model: Speech2Landmarks | None = None):
    """-> (Speech2Landmarks in eval mode, metrics). `model` continues training an existing one."""
    train, val = _datasets(train, val)
    train.require("normalized", "identity", who="S2L training")
    val.require("normalized", "identity", who="S2L validation")
    torch.manual_seed(seed)
    model = (model or Speech2Landmarks(config)).to(device)
    loss = lambda m, b: s2l_loss(m, b, mouth_weight, velocity_weight)  # noqa: E731
    metrics, reporter = _run(model, train, loss, steps, lr, seed, device, progress, batch_size, frames,
                             weight_decay, "S2L")
    metrics.update(evaluate_s2l(model, val, device))
    metrics["params"] = sum(p.numel() for p in model.parameters())
    reporter.done(metrics)
    return model, metrics


# ---- pose -------------------------------------------------------------------------------------------------------

@torch.no_grad()
def evaluate_pose(model: PoseGenerator, val: SequenceDataset, device="cpu", samples: int = 4) -> dict[str, float]:
    """Validation NLL, and statistics of sampled trajectories next to those of the validation poses."""
    model.eval()
    nll, frames = 0.0, 0
    data_deltas, sampled = [], []
    for i in range(len(val)):
        b = {k: v.to(device) for k, v in val.clip_batch(i).items()}
        t = b["pose_deltas"].shape[1]
        nll += float(model.nll(b["features"], b["pose_deltas"])) * (t - 1)
        frames += t - 1
        data_deltas.append(b["pose_deltas"][0].cpu().numpy())
        if i < samples:
            sampled.append(model.sample(b["features"], seed=i))
    data, samp = np.concatenate(data_deltas), np.concatenate(sampled)
    speed = lambda seqs: np.mean(np.concatenate([np.abs(np.diff(s, axis=0)) for s in seqs]), 0)  # noqa: E731
    out = {"val_nll": nll / frames, "val_clips": len(val)}
    from ..models.pose import POSE_DELTA_FIELDS

    for j, name in enumerate(POSE_DELTA_FIELDS):
        out[f"sample_max_abs_{name}"] = float(np.abs(samp[:, j]).max())
        out[f"sample_std_{name}"] = float(samp[:, j].std())
        out[f"data_std_{name}"] = float(data[:, j].std())
        out[f"sample_speed_{name}"] = float(speed(sampled)[j])
        out[f"data_speed_{name}"] = float(speed(data_deltas)[j])
    return out


def train_pose(train, val, config: PoseConfig = PoseConfig(), steps: int = 600, lr: float = 2e-3, seed: int = 0,
               device: str | torch.device = "cpu", progress: Progress = None, *, batch_size: int = 16,
               frames: int = 50, weight_decay: float = 1e-4, model: PoseGenerator | None = None):
    """-> (PoseGenerator in eval mode, metrics). Teacher forcing on pose deltas from each crop's first frame."""
    train, val = _datasets(train, val)
    train.require("poses", who="pose training")
    val.require("poses", who="pose validation")
    torch.manual_seed(seed)
    model = (model or PoseGenerator(config)).to(device)
    loss = lambda m, b: m.nll(b["features"], b["pose_deltas"])  # noqa: E731
    metrics, reporter = _run(model, train, loss, steps, lr, seed, device, progress, batch_size, frames,
                             weight_decay, "pose")
    metrics.update(evaluate_pose(model, val, device))
    metrics["params"] = sum(p.numel() for p in model.parameters())
    reporter.done(metrics)
    return model, metrics


# ---- L2L --------------------------------------------------------------------------------------------------------

def l2l_weights(config: L2LConfig) -> torch.Tensor:
    """(P,) loss weights under which each part of the head params (angles, translation, expression[, scale])
    counts alike, whatever its length; mean 1."""
    groups = config.param_groups()
    w = torch.empty(config.params)
    for part in groups.values():
        w[part] = config.params / (len(groups) * (part.stop - part.start))
    return w


def l2l_loss(model: Landmarks2Latents, batch: dict, velocity_weight: float = 1.0):
    pred = model.forward_standardized(batch["landmarks"], batch["features"], batch["emotion"], batch["canonical"])
    target = (batch["targets"] - model.target_mean) / model.target_std
    err = pred - target  # (B, T, P), standardised
    w = l2l_weights(model.config).to(err.device)  # the rotation, the translation, the expression count alike
    return weighted_l1(err, w, velocity_weight)


@torch.no_grad()
def evaluate_l2l(model: Landmarks2Latents, val: SequenceDataset, device="cpu") -> dict[str, float]:
    """Mean absolute error per group (angles in degrees, translation, expression) for the model and for the
    constant baseline (the training targets' mean), and the reduction of the standardised squared error."""
    model.eval()
    groups = model.config.param_groups()
    sums = {f"{w}_{g}": 0.0 for w in ("model", "baseline") for g in groups}
    sq = {"model": 0.0, "baseline": 0.0}
    frames = 0
    for i in range(len(val)):
        b = {k: v.to(device) for k, v in val.clip_batch(i).items()}
        pred = model(b["landmarks"], b["features"], b["emotion"], b["canonical"])[0]
        target = b["targets"][0]
        for who, guess in (("model", pred), ("baseline", model.target_mean.expand_as(target))):
            for g, sl in groups.items():
                sums[f"{who}_{g}"] += float((guess - target)[:, sl].abs().mean(-1).sum())
            sq[who] += float((((guess - target) / model.target_std) ** 2).mean(-1).sum())
        frames += len(target)
    out = {f"val_mae_{k}": v / frames for k, v in sums.items()}
    out["val_mse_standardized"] = sq["model"] / frames
    out["val_mse_standardized_baseline"] = sq["baseline"] / frames
    out["val_mse_reduction"] = 1.0 - sq["model"] / max(sq["baseline"], 1e-12)
    out["val_clips"] = len(val)
    return out


def train_l2l(train, val, config: L2LConfig = L2LConfig(), steps: int = 800, lr: float = 2e-3, seed: int = 0,
              device: str | torch.device = "cpu", progress: Progress = None, *, batch_size: int = 16,
              frames: int = 50, velocity_weight: float = 1.0, weight_decay: float = 1e-4,
              model: Landmarks2Latents | None = None):
    """-> (Landmarks2Latents in eval mode, metrics). Clips need landmarks, canonical and targets (T, P), the
    latter from the user's keypoint renderer (FaceVid2Vid.estimate on the clip's frames: P = 51; LivePortrait's
    motion extractor: P = 70, with config.keypoints = 21 and config.params = 70)."""
    train, val = _datasets(train, val)
    train.require("landmarks", "canonical", "targets", who="L2L training")
    val.require("landmarks", "canonical", "targets", who="L2L validation")
    expected = (model.config if model is not None else config)
    for clip in train.clips + val.clips:  # every clip in the renderer's parameter space the model predicts
        if clip.targets.shape[-1] != expected.params or np.shape(clip.canonical) != (expected.keypoints, 3):
            raise ValueError(f"clip {clip.clip_id}: targets (T, {clip.targets.shape[-1]}) and canonical keypoints "
                             f"{tuple(np.shape(clip.canonical))} do not fit L2L's params={expected.params}, "
                             f"keypoints={expected.keypoints} (set L2LConfig for this renderer)")
    torch.manual_seed(seed)
    if model is None:  # a new model takes the output scale of the training targets; one passed in keeps its own
        model = Landmarks2Latents(config)
        model.set_target_stats(torch.as_tensor(np.concatenate([c.targets for c in train.clips])))
    model = model.to(device)
    loss = lambda m, b: l2l_loss(m, b, velocity_weight)  # noqa: E731
    metrics, reporter = _run(model, train, loss, steps, lr, seed, device, progress, batch_size, frames,
                             weight_decay, "L2L")
    metrics.update(evaluate_l2l(model, val, device))
    metrics["params"] = sum(p.numel() for p in model.parameters())
    reporter.done(metrics)
    return model, metrics


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["train_s2l", "train_pose", "train_l2l", "evaluate_s2l", "evaluate_pose", "evaluate_l2l", "s2l_loss",
           "l2l_loss", "ClipSequence", "SequenceDataset", "count_params"]
