"""Building blocks shared by the face-vid2vid networks, and the coordinate helpers of the motion model.

Every block keeps the attribute names of the public re-implementation's `modules/util.py`
(zhanglonghao1992/One-Shot_Free-View_Neural_Talking_Head_Synthesis) -- `conv`, `norm`, `conv1`, `norm4`,
`mlp_shared.0`, `conv_0.weight_orig` ... -- because those names are the checkpoint's state-dict keys. Batch
norms are plain torch BatchNorm2d/3d (the public code's SynchronizedBatchNorm has the same keys, including
`num_batches_tracked`). Resampling follows the public code: average pooling to go down, nearest-neighbour
upsampling to go up, so that public weights see the inputs they were trained on.

Coordinates: a volume of depth D, height H, width W is addressed by (x, y, z) in [-1, 1], x along W, y along
H, z along D (grid_sample's order), with the end points on the first and last voxel centres.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn


# -- coordinates ----------------------------------------------------------------------------------------------


def _axis(n: int, like: Tensor) -> Tensor:
    """n points from -1 to 1 (as the public code computes them, 2 * i / (n - 1) - 1)."""
    i = torch.arange(n, device=like.device, dtype=like.dtype)
    return 2 * (i / (n - 1)) - 1


def coordinate_grid(depth: int, height: int, width: int, like: Tensor) -> Tensor:
    """-> (D, H, W, 3): the (x, y, z) coordinates of every voxel, in `like`'s dtype and device."""
    z, y, x = torch.meshgrid(_axis(depth, like), _axis(height, like), _axis(width, like), indexing="ij")
    return torch.stack([x, y, z], dim=-1)


def keypoint_gaussians(kp: Tensor, spatial: tuple[int, int, int], variance: float = 0.01) -> Tensor:
    """(B, K, 3) keypoints -> (B, K, D, H, W) unnormalised gaussians exp(-|p - kp|^2 / (2 variance))."""
    grid = coordinate_grid(*spatial, like=kp)  # (D, H, W, 3)
    diff = grid[None, None] - kp[:, :, None, None, None, :]  # (B, K, D, H, W, 3)
    return torch.exp(-0.5 * diff.pow(2).sum(-1) / variance)


# -- convolution blocks ---------------------------------------------------------------------------------------


class ConvBlock(nn.Module):
    """conv -> batch norm -> ReLU (or LeakyReLU), in 2D or 3D, optionally resampling.

    resample="down": average-pool by 2 after the activation (in 3D over H and W only: the depth is kept);
    resample="up":   nearest-neighbour upsample by 2 (H and W) before the convolution.
    The public SameBlock2d / DownBlock2d / DownBlock3d / UpBlock3d are this block with their settings.
    """

    def __init__(self, dims: int, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1,
                 resample: str | None = None, leaky: bool = False):
        super().__init__()
        if dims not in (2, 3) or resample not in (None, "down", "up"):
            raise ValueError(f"bad ConvBlock settings: dims={dims}, resample={resample!r}")
        conv, norm = (nn.Conv2d, nn.BatchNorm2d) if dims == 2 else (nn.Conv3d, nn.BatchNorm3d)
        self.conv = conv(in_features, out_features, kernel_size=kernel_size, padding=padding)
        self.norm = norm(out_features, affine=True)
        self.dims, self.resample, self.leaky = dims, resample, leaky

    def _scale(self) -> tuple[int, ...]:
        return (2, 2) if self.dims == 2 else (1, 2, 2)

    def forward(self, x: Tensor) -> Tensor:
        if self.resample == "up":
            x = F.interpolate(x, scale_factor=self._scale(), mode="nearest")
        x = self.norm(self.conv(x))
        x = F.leaky_relu(x, 0.01) if self.leaky else F.relu(x)
        if self.resample == "down":
            x = F.avg_pool2d(x, 2) if self.dims == 2 else F.avg_pool3d(x, (1, 2, 2))
        return x


class ResBlock3d(nn.Module):
    """Pre-activation residual block at constant shape: x + conv(relu(bn(conv(relu(bn(x))))))."""

    def __init__(self, features: int, kernel_size: int = 3, padding: int = 1):
        super().__init__()
        self.conv1 = nn.Conv3d(features, features, kernel_size=kernel_size, padding=padding)
        self.conv2 = nn.Conv3d(features, features, kernel_size=kernel_size, padding=padding)
        self.norm1 = nn.BatchNorm3d(features, affine=True)
        self.norm2 = nn.BatchNorm3d(features, affine=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return x + out


class ResBottleneck(nn.Module):
    """ResNet bottleneck (1x1 -> 3x3 -> 1x1, width / 4 inside); stride 2 adds a projected shortcut."""

    def __init__(self, features: int, stride: int = 1):
        super().__init__()
        inner = features // 4
        self.conv1 = nn.Conv2d(features, inner, kernel_size=1)
        self.conv2 = nn.Conv2d(inner, inner, kernel_size=3, padding=1, stride=stride)
        self.conv3 = nn.Conv2d(inner, features, kernel_size=1)
        self.norm1 = nn.BatchNorm2d(inner, affine=True)
        self.norm2 = nn.BatchNorm2d(inner, affine=True)
        self.norm3 = nn.BatchNorm2d(features, affine=True)
        self.stride = stride
        if stride != 1:
            self.skip = nn.Conv2d(features, features, kernel_size=1, stride=stride)
            self.norm4 = nn.BatchNorm2d(features, affine=True)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.norm1(self.conv1(x)))
        out = F.relu(self.norm2(self.conv2(out)))
        out = self.norm3(self.conv3(out))
        shortcut = self.norm4(self.skip(x)) if self.stride != 1 else x
        return F.relu(out + shortcut)


def named_sequential(prefix: str, blocks: list[nn.Module]) -> nn.Sequential:
    """nn.Sequential whose children are named prefix0, prefix1, ... (the public checkpoint's key names)."""
    return nn.Sequential(OrderedDict((f"{prefix}{i}", block) for i, block in enumerate(blocks)))


# -- the 3D hourglass (dense motion) --------------------------------------------------------------------------


def _width(block_expansion: int, max_features: int, level: int) -> int:
    return min(max_features, block_expansion * 2 ** level)


class HourglassEncoder3d(nn.Module):
    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        self.down_blocks = nn.ModuleList(
            ConvBlock(3, in_features if i == 0 else _width(block_expansion, max_features, i),
                      _width(block_expansion, max_features, i + 1), resample="down")
            for i in range(num_blocks)
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        """-> [x, x/2, x/4, ...]: the input and every level's output (H and W halve, depth kept)."""
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class HourglassDecoder3d(nn.Module):
    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            width_in = _width(block_expansion, max_features, i + 1) * (1 if i == num_blocks - 1 else 2)
            blocks.append(ConvBlock(3, width_in, _width(block_expansion, max_features, i), resample="up"))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = block_expansion + in_features
        self.conv = nn.Conv3d(self.out_filters, self.out_filters, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(self.out_filters, affine=True)

    def forward(self, skips: list[Tensor]) -> Tensor:
        skips = list(skips)
        out = skips.pop()
        for block in self.up_blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)  # U-Net skip: concatenate the same level
        return F.relu(self.norm(self.conv(out)))


class Hourglass3d(nn.Module):
    """3D U-Net over (C, D, H, W): (B, in_features, D, H, W) -> (B, block_expansion + in_features, D, H, W)."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        self.encoder = HourglassEncoder3d(block_expansion, in_features, num_blocks, max_features)
        self.decoder = HourglassDecoder3d(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))


# -- anti-aliased downsampling (keypoint detector input) ------------------------------------------------------


class AntiAliasDownsample(nn.Module):
    """Gaussian low-pass, then keep every (1/scale)-th pixel. The kernel is the buffer `weight` (C, 1, k, k),
    saved in checkpoints; sigma = (1/scale - 1) / 2 and k = 2 round(4 sigma) + 1 (13 at scale 0.25)."""

    def __init__(self, channels: int, scale: float):
        super().__init__()
        sigma = (1 / scale - 1) / 2
        size = 2 * round(sigma * 4) + 1
        self.pad_before = size // 2
        self.pad_after = self.pad_before - 1 if size % 2 == 0 else self.pad_before
        offsets = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
        g = torch.exp(-(offsets**2) / (2 * sigma**2))
        kernel = torch.outer(g, g)
        kernel = kernel / kernel.sum()
        self.register_buffer("weight", kernel[None, None].repeat(channels, 1, 1, 1))
        self.scale, self.step = scale, int(1 / scale)

    def forward(self, x: Tensor) -> Tensor:
        if self.scale == 1.0:
            return x
        x = F.pad(x, (self.pad_before, self.pad_after, self.pad_before, self.pad_after))
        # a strided depthwise convolution = the full convolution subsampled at 0, step, 2 step, ...
        return F.conv2d(x, self.weight.to(x.dtype), stride=self.step, groups=x.shape[1])


# -- SPADE ----------------------------------------------------------------------------------------------------


class SPADE(nn.Module):
    """Spatially-adaptive normalisation: instance-norm x (no affine), then x * (1 + gamma(seg)) + beta(seg),
    gamma and beta predicted from the segmentation/feature map `seg` resized (nearest) to x."""

    def __init__(self, norm_features: int, label_features: int, hidden: int = 128):
        super().__init__()
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_features, hidden, kernel_size=3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_features, kernel_size=3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, norm_features, kernel_size=3, padding=1)

    def forward(self, x: Tensor, seg: Tensor) -> Tensor:
        normalized = F.instance_norm(x, eps=1e-5)
        if seg.shape[2:] != x.shape[2:]:
            seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
        hidden = self.mlp_shared(seg)
        return normalized * (1 + self.mlp_gamma(hidden)) + self.mlp_beta(hidden)


class SPADEResBlock(nn.Module):
    """SPADE residual block: two (SPADE -> LeakyReLU(0.2) -> spectral-normed 3x3 conv) steps, and a learned
    (SPADE -> 1x1 conv, no bias) shortcut when the width changes. The middle width is min(in, out)."""

    def __init__(self, in_features: int, out_features: int, label_features: int, hidden: int = 128):
        super().__init__()
        middle = min(in_features, out_features)
        self.learned_shortcut = in_features != out_features
        sn = nn.utils.spectral_norm  # the hook version: keys weight_orig / weight_u / weight_v, as the checkpoint
        self.conv_0 = sn(nn.Conv2d(in_features, middle, kernel_size=3, padding=1))
        self.conv_1 = sn(nn.Conv2d(middle, out_features, kernel_size=3, padding=1))
        if self.learned_shortcut:
            self.conv_s = sn(nn.Conv2d(in_features, out_features, kernel_size=1, bias=False))
        self.norm_0 = SPADE(in_features, label_features, hidden)
        self.norm_1 = SPADE(middle, label_features, hidden)
        if self.learned_shortcut:
            self.norm_s = SPADE(in_features, label_features, hidden)

    def forward(self, x: Tensor, seg: Tensor) -> Tensor:
        shortcut = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return shortcut + dx
