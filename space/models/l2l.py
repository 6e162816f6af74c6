"""Landmarks2Latents (L2L): posed landmarks + audio + emotion + the photo's keypoints -> face-vid2vid motion.

    landmarks (B, T, 68, 3)  posed landmarks in crop-normalised coordinates (`crop_normalize`: x, y as
                             pixels / size * 2 - 1, z as pixels / size * 2)
    features  (B, T, W, F)   audio windows (space.audio.features); the paper's ablation: lips are worse without
    emotion   (B, 8)         space.models.emotion, through FiLM
    canonical (B, 15, 3)     the photo's face-vid2vid canonical keypoints (FaceVid2Vid.canonical_keypoints)
      -> (B, T, 51)          per-frame face-vid2vid head parameters: [yaw, pitch, roll (degrees), t (3), exp (45)],
                             the layout of FaceVid2Vid.estimate (space.models.facevid2vid)

    landmarks MLP (B, T, C) + audio encoder (B, T, C) + keypoint embedding (B, 1, C) -> FiLM(emotion)
    -> 2-layer bidirectional GRU (B, T, 2H) -> FiLM(emotion) -> MLP -> standardised 51 -> * std + mean

The output is predicted in standardised units; the per-dimension mean and std of the training targets are
buffers of the model (set by `set_target_stats` before training, saved in the checkpoint). L2L is tied to the
keypoint space of one face-vid2vid checkpoint, so none ships with the package (docs/models.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..audio.features import AudioFeatureConfig
from .film import FiLM
from .s2l import AudioEncoder, check_features, standardize_audio

HEAD_PARAMS = 51  # face-vid2vid's: yaw, pitch, roll, t (3), exp (15 x 3)


@dataclass(frozen=True)
class L2LConfig:
    audio_kind: str = "logmel"
    n_features: int = 80
    context: int = 2
    level_floor: float = 12.0
    keypoints: int = 15
    channels: int = 128  # C
    hidden: int = 128  # H per direction
    layers: int = 2
    emotions: int = 8
    dropout: float = 0.1
    # length of the renderer's head-parameter vector: yaw, pitch, roll, t (3), exp (keypoints x 3), then any
    # extras (LivePortrait's scale: 21 keypoints -> 70); 51 = face-vid2vid's 15 keypoints
    params: int = HEAD_PARAMS

    def __post_init__(self):
        if self.params < 6 + 3 * self.keypoints:
            raise ValueError(f"L2LConfig: params {self.params} < 6 + 3 x {self.keypoints} keypoints")

    def param_groups(self) -> dict[str, slice]:
        """The parts of the head-parameter vector (what the loss weighs alike and the metrics report)."""
        exp_end = 6 + 3 * self.keypoints
        groups = {"angles": slice(0, 3), "translation": slice(3, 6), "expression": slice(6, exp_end)}
        if self.params > exp_end:
            groups["scale"] = slice(exp_end, self.params)
        return groups

    def audio_features(self) -> AudioFeatureConfig:
        if self.audio_kind == "mfcc":
            return AudioFeatureConfig(kind="mfcc", n_mfcc=self.n_features, context=self.context)
        return AudioFeatureConfig(kind=self.audio_kind, n_mels=self.n_features, context=self.context)


def crop_normalize(landmarks_px: np.ndarray, size: float) -> np.ndarray:
    """Posed landmarks in pixels of a square crop of side `size` (..., 68, 3) -> L2L's input coordinates."""
    out = np.asarray(landmarks_px, np.float32) / float(size) * 2.0
    out[..., :2] -= 1.0
    return out


class Landmarks2Latents(nn.Module):
    stage = "l2l"

    def __init__(self, config: L2LConfig = L2LConfig()):
        super().__init__()
        self.config = config
        c, h = config.channels, config.hidden
        self.window = config.audio_features().window
        self.landmarks = nn.Sequential(nn.Linear(68 * 3, 2 * c), nn.GELU(), nn.Linear(2 * c, c))
        self.audio = AudioEncoder(config.n_features, c, config.dropout)
        self.keypoints = nn.Sequential(nn.Linear(config.keypoints * 3, c), nn.GELU(), nn.Linear(c, c))
        self.film_in = FiLM(config.emotions, c)
        self.gru = nn.GRU(c, h, num_layers=config.layers, batch_first=True, bidirectional=True,
                          dropout=config.dropout if config.layers > 1 else 0.0)
        self.film_out = FiLM(config.emotions, 2 * h)
        self.head = nn.Sequential(nn.Linear(2 * h + c, 2 * h), nn.GELU(), nn.Linear(2 * h, config.params))
        self.register_buffer("target_mean", torch.zeros(config.params))
        self.register_buffer("target_std", torch.ones(config.params))

    def set_target_stats(self, targets: torch.Tensor) -> None:
        """targets (N, P) from the training set -> the output's mean and std (std floored at 1e-3)."""
        targets = torch.as_tensor(targets, dtype=torch.float32).reshape(-1, self.config.params)
        self.target_mean.copy_(targets.mean(0))
        self.target_std.copy_(targets.std(0, unbiased=False).clamp_min(1e-3))

    def forward_standardized(self, landmarks, features, emotion, canonical) -> torch.Tensor:
        """-> (B, T, 51) in standardised units (what the loss sees)."""
        check_features(features, self.window, self.config.n_features, "Landmarks2Latents")
        b, t = landmarks.shape[:2]
        x = self.landmarks(landmarks.reshape(b, t, -1))  # (B, T, C)
        x = x + self.audio(standardize_audio(features, self.config.audio_kind, self.config.level_floor))
        kp = self.keypoints(canonical.reshape(b, -1))  # (B, C)
        x = self.film_in(x + kp[:, None], emotion)
        x, _ = self.gru(x)  # (B, T, 2H)
        x = self.film_out(x, emotion)
        return self.head(torch.cat([x, kp[:, None].expand(b, t, -1)], -1))  # (B, T, 51)

    def forward(self, landmarks, features, emotion, canonical) -> torch.Tensor:
        """landmarks (B, T, 68, 3), features (B, T, W, F), emotion (B, 8), canonical (B, 15, 3) -> (B, T, 51)."""
        return self.forward_standardized(landmarks, features, emotion, canonical) * self.target_std + self.target_mean

    @torch.no_grad()
    def predict(self, landmarks, features, emotion, canonical) -> torch.Tensor:
        """Eval mode, no gradients; one clip ((T, 68, 3), (T, W, F), (8,), (15, 3)) or a batch."""
        device = self.target_mean.device
        args = [torch.as_tensor(v, dtype=torch.float32, device=device) for v in (landmarks, features, emotion, canonical)]
        single = args[0].dim() == 3
        if single:
            args = [a[None] for a in args]
        was_training = self.training
        self.eval()
        try:
            out = self(*args)
        finally:
            self.train(was_training)
        return out[0] if single else out
