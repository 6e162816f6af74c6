"""Speech2Landmarks (S2L): speech + the photo's landmarks + emotion -> per-frame landmarks, pose-free.

    features (B, T, W, F)  audio windows around each 25 fps frame (space.audio.features, log-mel by default)
    identity (B, 68, 3)    the photo's landmarks in the normalized (pose-free) space (space.face.geometry)
    emotion  (B, 8)        intensities in EMOTIONS order (space.models.emotion)
      -> (B, T, 68, 3)     normalized landmarks = identity + displacement * face_size(identity)

The network predicts the displacement in units of the identity's face size, so a face of another shape or size
gets motion of its own scale, and starts (last layer zero) at the photo held still. The audio windows are
standardised per clip (clamped to a floor below the clip's peak, then zero mean and unit variance per feature
over time), so the recording level and the microphone's spectral tilt do not matter.

    standardise -> per-frame conv encoder over the window (B*T, F, W) -> (B, T, C)
    + identity embedding -> FiLM(emotion) -> 2-layer bidirectional GRU (B, T, 2H) -> FiLM(emotion)
    -> MLP head with the identity embedding -> (B, T, 68 * 3) displacement

Sizes and the reasons for them: docs/models.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..audio.features import AudioFeatureConfig
from .film import FiLM

MOUTH = slice(48, 68)


@dataclass(frozen=True)
class S2LConfig:
    audio_kind: str = "logmel"  # the space.audio.features kind the model was trained on
    n_features: int = 80  # F: mel bins (or MFCCs)
    context: int = 2  # video frames of audio context on each side of a frame (W = (2 * context + 1) * 4)
    encoder_channels: int = 128  # C
    hidden: int = 128  # H per GRU direction
    layers: int = 2
    head_hidden: int = 256
    emotions: int = 8
    dropout: float = 0.1
    level_floor: float = 12.0  # log-mel units (nepers of power, ~52 dB) below the clip's peak kept

    def audio_features(self) -> AudioFeatureConfig:
        """The AudioFeatureConfig whose windows this model takes."""
        if self.audio_kind == "mfcc":
            return AudioFeatureConfig(kind="mfcc", n_mfcc=self.n_features, context=self.context)
        return AudioFeatureConfig(kind=self.audio_kind, n_mels=self.n_features, context=self.context)


def face_size(landmarks: torch.Tensor) -> torch.Tensor:
    """(..., 68, 3) -> (...): diagonal of the x, y bounding box of the points (the project's face size)."""
    xy = landmarks[..., :2]
    return (xy.amax(-2) - xy.amin(-2)).norm(dim=-1)


def standardize_audio(features: torch.Tensor, kind: str = "logmel", floor: float = 12.0) -> torch.Tensor:
    """(B, T, W, F) -> the same, per clip: log-mel values below (clip peak - floor) raised to it (so digital
    silence and a noise floor look alike at any level), then zero mean / unit variance per feature over T and W."""
    x = features.float()
    if kind == "logmel":
        peak = x.amax(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
        x = torch.maximum(x, peak - floor)
    mean = x.mean(dim=(1, 2), keepdim=True)  # (B, 1, 1, F)
    x = x - mean
    std = x.square().mean(dim=(1, 2), keepdim=True).sqrt()  # (B, 1, 1, F)
    return x / (std + 1e-3)


class AudioEncoder(nn.Module):
    """Per-frame encoder of one audio window: (B, T, W, F) standardised -> (B, T, C).
    Two strided 1D convolutions along the window's time axis with the F features as channels (W = 20 mel rows of
    10 ms -> 5 positions, one per 40 ms video frame of context), then mean and max pool over them."""

    def __init__(self, n_features: int, channels: int, dropout: float = 0.0):
        super().__init__()
        mid = (3 * channels) // 4
        self.conv = nn.Sequential(
            nn.Conv1d(n_features, mid, 4, padding=1, stride=2), nn.GELU(),
            nn.Conv1d(mid, channels, 3, padding=1, stride=2), nn.GELU(),
        )
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * channels, channels), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, w, f = x.shape
        h = self.conv(x.reshape(b * t, w, f).transpose(1, 2))  # (B*T, C, W/4)
        h = torch.cat([h.mean(-1), h.amax(-1)], -1)  # (B*T, 2C)
        return self.out(h).view(b, t, -1)  # (B, T, C)


def check_features(features: torch.Tensor, window: int, n_features: int, who: str) -> None:
    if features.dim() != 4 or features.shape[2:] != (window, n_features):
        raise ValueError(
            f"{who} takes audio windows (B, T, {window}, {n_features}) from space.audio.features with this "
            f"model's config; got {tuple(features.shape)}"
        )


class Speech2Landmarks(nn.Module):
    stage = "s2l"

    def __init__(self, config: S2LConfig = S2LConfig()):
        super().__init__()
        self.config = config
        c, h = config.encoder_channels, config.hidden
        self.window = config.audio_features().window
        self.audio = AudioEncoder(config.n_features, c, config.dropout)
        self.identity = nn.Sequential(nn.Linear(68 * 3, c), nn.GELU(), nn.Linear(c, c))
        self.film_in = FiLM(config.emotions, c)
        self.gru = nn.GRU(c, h, num_layers=config.layers, batch_first=True, bidirectional=True,
                          dropout=config.dropout if config.layers > 1 else 0.0)
        self.film_out = FiLM(config.emotions, 2 * h)
        self.head = nn.Sequential(
            nn.Linear(2 * h + c, config.head_hidden), nn.GELU(), nn.Linear(config.head_hidden, 68 * 3)
        )
        nn.init.zeros_(self.head[-1].weight)  # start as the photo held still
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, features: torch.Tensor, identity: torch.Tensor, emotion: torch.Tensor) -> torch.Tensor:
        """features (B, T, W, F), identity (B, 68, 3), emotion (B, 8) -> (B, T, 68, 3) normalized landmarks."""
        check_features(features, self.window, self.config.n_features, "Speech2Landmarks")
        b, t = features.shape[:2]
        size = face_size(identity).clamp_min(1e-6)  # (B,)
        centred = (identity - identity.mean(1, keepdim=True)) / size[:, None, None]  # (B, 68, 3)
        ident = self.identity(centred.reshape(b, -1))  # (B, C)

        x = standardize_audio(features, self.config.audio_kind, self.config.level_floor)
        x = self.audio(x) + ident[:, None]  # (B, T, C)
        x = self.film_in(x, emotion)
        x, _ = self.gru(x)  # (B, T, 2H)
        x = self.film_out(x, emotion)
        x = torch.cat([x, ident[:, None].expand(b, t, -1)], -1)  # (B, T, 2H + C)
        displacement = self.head(x).view(b, t, 68, 3)  # face-size units
        return identity[:, None] + displacement * size[:, None, None, None]

    @torch.no_grad()
    def predict(self, features, identity, emotion) -> torch.Tensor:
        """Inference in eval mode without gradients. Takes one clip ((T, W, F), (68, 3), (8,)) or a batch, tensors
        or numpy arrays; returns (T, 68, 3) or (B, T, 68, 3) float32 on the model's device."""
        device = next(self.parameters()).device
        features, identity, emotion = (torch.as_tensor(v, dtype=torch.float32, device=device)
                                       for v in (features, identity, emotion))
        single = features.dim() == 3
        if single:
            features, identity, emotion = features[None], identity[None], emotion[None]
        was_training = self.training
        self.eval()
        try:
            out = self(features, identity, emotion)
        finally:
            self.train(was_training)
        return out[0] if single else out
