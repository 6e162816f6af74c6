"""The pose generator: natural head motion sampled from speech, seedable.

Head pose is carried as deltas from the photo's rest pose, one row per 25 fps frame (POSE_DELTA_FIELDS):

    yaw, pitch, roll   degrees of the rotation R @ R_rest^T (the head's turn in the camera frame)
    tx, ty             translation in units of the rest pose's scale (pixels / rest scale: mean-face units; the
                       face is about 1.5 of them across), so motion does not depend on the photo's resolution
    log_scale          log(scale / rest scale)

These are space.face.geometry's `pose_delta` / `compose_pose` units, shared with pose transfer and keyframes:
`pose_deltas(poses)` gives the deltas of a track from its first frame.

The model is autoregressive: at frame t a GRU sees the audio window of frame t and the previous delta and velocity
and outputs a Gaussian (mean, log-std) over the velocity (delta_t - delta_{t-1}), in units of `velocity_scale`.
Training is teacher forcing (maximum likelihood); `sample` draws a trajectory from a seed:

    features (1, T, W, F) -> standardise -> conv encoder (1, T, C) --+
    previous delta / pose_scale, previous velocity / velocity_scale -+-> GRU -> (mean, log-std) (6 + 6)
    v_t = mean + temperature * std * noise;  delta_t = delta_{t-1} + v_t  (soft limits, then light smoothing)

Limits (documented in docs/models.md) keep samples natural whatever the model does far from its data: the
velocity is soft-clipped to `max_velocity` per frame and the delta, past 70% of `limits`, is squashed towards it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..audio.features import AudioFeatureConfig
from ..face.geometry import pose_delta
from .s2l import AudioEncoder, check_features, standardize_audio

POSE_DELTA_FIELDS = ("yaw", "pitch", "roll", "tx", "ty", "log_scale")


@dataclass(frozen=True)
class PoseConfig:
    audio_kind: str = "logmel"
    n_features: int = 80
    context: int = 2
    level_floor: float = 12.0
    encoder_channels: int = 64
    hidden: int = 128
    layers: int = 2
    dropout: float = 0.1
    pose_scale: tuple = (10.0, 5.0, 5.0, 0.1, 0.1, 0.03)  # typical delta, per field (input normalisation)
    velocity_scale: tuple = (1.0, 0.5, 0.5, 0.01, 0.01, 0.003)  # typical change per frame (output units)
    limits: tuple = (30.0, 15.0, 15.0, 0.3, 0.3, 0.1)  # |delta| never exceeds these
    max_velocity: tuple = (4.0, 2.0, 2.0, 0.04, 0.04, 0.01)  # per frame (100 deg/s of yaw)
    smooth_frames: float = 1.0  # sigma of the Gaussian smoothing of a sample, frames (0: none)
    min_log_std: float = -6.0

    def audio_features(self) -> AudioFeatureConfig:
        if self.audio_kind == "mfcc":
            return AudioFeatureConfig(kind="mfcc", n_mfcc=self.n_features, context=self.context)
        return AudioFeatureConfig(kind=self.audio_kind, n_mels=self.n_features, context=self.context)


def pose_deltas(poses: np.ndarray, rest: np.ndarray | None = None) -> np.ndarray:
    """Absolute poses (T, 6) -> (T, 6) deltas from `rest` (default: the first frame); compose_pose inverts it."""
    poses = np.asarray(poses, np.float64)
    return pose_delta(poses[0] if rest is None else rest, poses)


def _soft_limit(x: torch.Tensor, limit: torch.Tensor, knee: float = 0.7) -> torch.Tensor:
    """Identity up to knee * limit, then squashed smoothly so |x| < limit."""
    k = knee * limit
    over = (x.abs() - k).clamp_min(0)
    squashed = k + (limit - k) * torch.tanh(over / (limit - k))
    return torch.where(x.abs() <= k, x, x.sign() * squashed)


class PoseGenerator(nn.Module):
    stage = "pose"

    def __init__(self, config: PoseConfig = PoseConfig()):
        super().__init__()
        self.config = config
        c, h = config.encoder_channels, config.hidden
        self.window = config.audio_features().window
        self.audio = AudioEncoder(config.n_features, c, config.dropout)
        self.inp = nn.Linear(c + 12, h)
        self.gru = nn.GRU(h, h, num_layers=config.layers, batch_first=True,
                          dropout=config.dropout if config.layers > 1 else 0.0)
        self.head = nn.Sequential(nn.Linear(h, h), nn.GELU(), nn.Linear(h, 12))  # (mean, log-std) x 6
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)
        for name in ("pose_scale", "velocity_scale", "limits", "max_velocity"):
            self.register_buffer(f"_{name}", torch.tensor(getattr(config, name), dtype=torch.float32), persistent=False)

    def _encode(self, features: torch.Tensor) -> torch.Tensor:
        check_features(features, self.window, self.config.n_features, "PoseGenerator")
        return self.audio(standardize_audio(features, self.config.audio_kind, self.config.level_floor))

    def _step_inputs(self, audio: torch.Tensor, prev_delta: torch.Tensor, prev_velocity: torch.Tensor):
        x = torch.cat([audio, prev_delta / self._pose_scale, prev_velocity / self._velocity_scale], -1)
        return torch.nn.functional.gelu(self.inp(x))

    def _gaussian(self, h: torch.Tensor):
        mean, log_std = self.head(h).chunk(2, -1)
        return mean, log_std.clamp(self.config.min_log_std, 3.0)

    def forward(self, features: torch.Tensor, deltas: torch.Tensor):
        """Teacher forcing. features (B, T, W, F), deltas (B, T, 6) from the first frame ->
        mean, log_std (B, T, 6) of the velocity at each frame, in units of velocity_scale."""
        audio = self._encode(features)  # (B, T, C)
        velocity = torch.diff(deltas, dim=1, prepend=torch.zeros_like(deltas[:, :1]))  # (B, T, 6)
        prev_delta = torch.cat([torch.zeros_like(deltas[:, :1]), deltas[:, :-1]], 1)
        prev_velocity = torch.cat([torch.zeros_like(velocity[:, :1]), velocity[:, :-1]], 1)
        h, _ = self.gru(self._step_inputs(audio, prev_delta, prev_velocity))  # (B, T, H)
        return self._gaussian(h)

    def nll(self, features: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
        """Mean Gaussian negative log-likelihood per frame and field (frame 0, always zero, left out)."""
        mean, log_std = self(features, deltas)
        velocity = torch.diff(deltas, dim=1) / self._velocity_scale  # (B, T - 1, 6)
        z = (velocity - mean[:, 1:]) * torch.exp(-log_std[:, 1:])
        return (0.5 * z**2 + log_std[:, 1:]).mean() + 0.5 * float(np.log(2 * np.pi))

    @torch.no_grad()
    def sample(self, features, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
        """features (1, T, W, F) (or (T, W, F)) -> (T, 6) float32 deltas from the rest pose (POSE_DELTA_FIELDS).
        The same seed gives the same trajectory; temperature scales the noise (0: the mean trajectory)."""
        device = next(self.parameters()).device
        features = torch.as_tensor(features, dtype=torch.float32, device=device)
        if features.dim() == 3:
            features = features[None]
        if features.shape[0] != 1:
            raise ValueError(f"PoseGenerator.sample draws one trajectory: features must be (1, T, W, F), got {tuple(features.shape)}")
        was_training = self.training
        self.eval()
        try:
            audio = self._encode(features)[0]  # (T, C)
            frames = audio.shape[0]
            noise = torch.randn(frames, 6, generator=torch.Generator().manual_seed(int(seed))).to(device)
            delta = torch.zeros(6, device=device)
            velocity = torch.zeros(6, device=device)
            hidden = None
            out = torch.zeros(frames, 6, device=device)
            for t in range(frames):
                x = self._step_inputs(audio[t], delta, velocity)[None, None]  # (1, 1, H)
                h, hidden = self.gru(x, hidden)
                if t == 0:
                    continue  # frame 0 is the rest pose
                mean, log_std = self._gaussian(h[0, 0])
                v = (mean + temperature * torch.exp(log_std) * noise[t]) * self._velocity_scale
                v = _soft_limit(v, self._max_velocity)
                new = _soft_limit(delta + v, self._limits)
                velocity, delta = new - delta, new
                out[t] = delta
        finally:
            self.train(was_training)
        return smooth(out.cpu().numpy(), self.config.smooth_frames).astype(np.float32)


def smooth(deltas: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along time (edges repeated), keeping frame 0 at the rest pose."""
    if sigma <= 0 or len(deltas) < 3:
        return deltas
    from scipy.ndimage import gaussian_filter1d

    out = gaussian_filter1d(deltas, sigma, axis=0, mode="nearest")
    return out - out[:1] * np.exp(-np.arange(len(out)) / max(1.0, 3 * sigma))[:, None]
