"""Canonical keypoint detector (checkpoint key `kp_detector`): image -> K identity-specific 3D keypoints.

The image is low-passed and subsampled (x 0.25), encoded by a 2D hourglass whose bottleneck is reshaped into a
3D volume and decoded in 3D; a 3x3x3 convolution gives one heatmap per keypoint over (D, H, W), a softmax with
temperature 0.1 turns it into a distribution, and the keypoint is its expected (x, y, z) in [-1, 1].

Follows `modules/keypoint_detector.py` (KPDetector) and `modules/util.py` (KPHourglass,
AntiAliasInterpolation2d) of zhanglonghao1992/One-Shot_Free-View_Neural_Talking_Head_Synthesis, vox-256
settings (no jacobians). Shapes below are for a 256 x 256 input.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import AntiAliasDownsample, ConvBlock, coordinate_grid, named_sequential
from .config import FaceVid2VidConfig


class KeypointHourglass(nn.Module):
    """2D encoder -> 1x1 conv -> reshape to 3D -> 3D decoder (no skips). Key prefix `predictor.`"""

    def __init__(self, block_expansion: int, in_features: int, reshape_features: int, reshape_depth: int,
                 num_blocks: int, max_features: int):
        super().__init__()

        def width(level: int) -> int:
            return min(max_features, block_expansion * 2**level)

        self.down_blocks = named_sequential("down", [
            ConvBlock(2, in_features if i == 0 else width(i), width(i + 1), resample="down") for i in range(num_blocks)
        ])
        self.conv = nn.Conv2d(width(num_blocks), reshape_features, kernel_size=1)
        self.up_blocks = named_sequential("up", [
            ConvBlock(3, width(num_blocks - i), width(num_blocks - i - 1), resample="up") for i in range(num_blocks)
        ])
        self.reshape_depth = reshape_depth
        self.out_filters = width(0)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(self.down_blocks(x))  # (B, 3, 64, 64) -> (B, 1024, 2, 2) -> (B, 16384, 2, 2)
        b, c, h, w = out.shape
        out = out.view(b, c // self.reshape_depth, self.reshape_depth, h, w)  # (B, 1024, 16, 2, 2)
        return self.up_blocks(out)  # (B, 32, 16, 64, 64)


class KeypointDetector(nn.Module):
    """(B, 3, S, S) images in [0, 1] -> (B, K, 3) canonical keypoints (x, y, z) in [-1, 1]."""

    def __init__(self, config: FaceVid2VidConfig):
        super().__init__()
        c = config.kp_detector
        self.predictor = KeypointHourglass(c.block_expansion, config.image_channel, c.reshape_channel,
                                           c.reshape_depth, c.num_blocks, c.max_features)
        self.kp = nn.Conv3d(self.predictor.out_filters, config.num_kp, kernel_size=3, padding=1)
        self.temperature = c.temperature
        self.scale_factor = c.scale_factor
        if c.scale_factor != 1:
            self.down = AntiAliasDownsample(config.image_channel, c.scale_factor)

    def heatmaps(self, image: Tensor) -> Tensor:
        """-> (B, K, D, H, W) probabilities (each keypoint's sums to 1)."""
        if self.scale_factor != 1:
            image = self.down(image)  # (B, 3, 256, 256) -> (B, 3, 64, 64)
        logits = self.kp(self.predictor(image))  # (B, K, 16, 64, 64)
        probs = F.softmax(logits.flatten(2).float() / self.temperature, dim=2)  # softmax in float32
        return probs.view(logits.shape)

    def forward(self, image: Tensor) -> Tensor:
        probs = self.heatmaps(image)  # (B, K, D, H, W)
        grid = coordinate_grid(*probs.shape[2:], like=probs)  # (D, H, W, 3)
        return (probs[..., None] * grid).sum(dim=(2, 3, 4))  # expected position (B, K, 3)
