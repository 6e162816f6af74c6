"""FiLM (Perez et al. 2018): feature-wise scale and shift computed from a conditioning vector.

SPACE feeds the emotion vector (space.models.emotion, (B, 8)) through FiLM layers in Speech2Landmarks and
Landmarks2Latents. The projection starts at zero, so a fresh FiLM is the identity (scale 1, shift 0) and the
emotion only changes the features as far as training makes it.
"""

from __future__ import annotations

import torch
from torch import nn


class FiLM(nn.Module):
    def __init__(self, cond_dim: int, channels: int):
        super().__init__()
        self.channels = channels
        self.proj = nn.Linear(cond_dim, 2 * channels)  # cond -> (delta scale, shift)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B, ..., C), cond (B, cond_dim) -> (B, ..., C): x * (1 + gamma) + beta, per channel."""
        gamma, beta = self.proj(cond).chunk(2, dim=-1)  # (B, C) each
        shape = (cond.shape[0],) + (1,) * (x.dim() - 2) + (self.channels,)
        return x * (1.0 + gamma.view(shape)) + beta.view(shape)
