"""Conv blocks shared by F, W and G (public `src/modules/util.py` names, so state-dict keys match)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SameBlock2d(nn.Module):
    """conv -> BN -> ReLU (or LeakyReLU 0.01), same resolution."""

    def __init__(self, cin: int, cout: int, lrelu: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm = nn.BatchNorm2d(cout)
        self.lrelu = lrelu

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(self.conv(x))
        return F.leaky_relu(x) if self.lrelu else F.relu(x)


class DownBlock(nn.Module):
    """conv -> BN -> ReLU -> 2x2 average pool (2D), or (1,2,2) pool in 3D (depth is kept)."""

    def __init__(self, cin: int, cout: int, dims: int = 2):
        super().__init__()
        self.dims = dims
        self.conv = (nn.Conv2d if dims == 2 else nn.Conv3d)(cin, cout, 3, padding=1)
        self.norm = (nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d)(cout)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.norm(self.conv(x)))
        return F.avg_pool2d(x, 2) if self.dims == 2 else F.avg_pool3d(x, (1, 2, 2))


class UpBlock3d(nn.Module):
    """nearest (1,2,2) upsample -> conv -> BN -> ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, 3, padding=1)
        self.norm = nn.BatchNorm3d(cout)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.norm(self.conv(F.interpolate(x, scale_factor=(1, 2, 2)))))


class ResBlock3d(nn.Module):
    """pre-activation residual block: x + conv2(relu(bn2(conv1(relu(bn1(x))))))."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv3d(c, c, 3, padding=1)
        self.conv2 = nn.Conv3d(c, c, 3, padding=1)
        self.norm1 = nn.BatchNorm3d(c)
        self.norm2 = nn.BatchNorm3d(c)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.norm2(self.conv1(F.relu(self.norm1(x))))))


def coordinate_grid(d: int, h: int, w: int, ref: Tensor) -> Tensor:
    """(d, h, w, 3) grid of (x, y, z) in [-1, 1], x right, y down, z in (grid_sample's order)."""
    axes = [2 * (torch.arange(n, dtype=ref.dtype, device=ref.device) / (n - 1)) - 1 for n in (d, h, w)]
    z, y, x = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([x, y, z], dim=-1)


def gaussian_heatmaps(kp: Tensor, d: int, h: int, w: int, variance: float = 0.01) -> Tensor:
    """(B, K, 3) keypoints -> (B, K, d, h, w) unnormalised gaussians exp(-|g - kp|^2 / 2var)."""
    grid = coordinate_grid(d, h, w, kp)  # (d, h, w, 3)
    diff = grid[None, None] - kp[:, :, None, None, None, :]
    return torch.exp(-0.5 * (diff ** 2).sum(-1) / variance)
