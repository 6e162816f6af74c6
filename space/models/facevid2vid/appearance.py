"""Appearance feature extractor: one photo -> a 3D feature volume (B, 32, 16, S/4, S/4).

2D encoder (3x3 conv block, two downsampling blocks, 1x1 conv to 512 channels), reshaped to 32 channels x
depth 16, refined by six 3D residual blocks. In the public checkpoint these layers are part of the
generator (keys `generator.first.*`, `generator.down_blocks.*`, `generator.second.*`,
`generator.resblocks_3d.*`), so the generator class derives from this one and the keys stay flat.

Follows the encoding half of OcclusionAwareSPADEGenerator in `modules/generator.py` of
zhanglonghao1992/One-Shot_Free-View_Neural_Talking_Head_Synthesis. Shapes for S = 256.
"""

from __future__ import annotations

from torch import Tensor, nn

from .blocks import ConvBlock, ResBlock3d, named_sequential
from .config import FaceVid2VidConfig


class AppearanceFeatureExtractor(nn.Module):
    def __init__(self, config: FaceVid2VidConfig):
        super().__init__()
        g = config.generator
        widths = [min(g.max_features, g.block_expansion * 2**i) for i in range(g.num_down_blocks + 1)]
        self.first = ConvBlock(2, config.image_channel, g.block_expansion, kernel_size=3, padding=1)
        self.down_blocks = nn.ModuleList(
            ConvBlock(2, widths[i], widths[i + 1], resample="down") for i in range(g.num_down_blocks)
        )
        self.second = nn.Conv2d(widths[-1], g.max_features, kernel_size=1)
        self.resblocks_3d = named_sequential("3dr", [ResBlock3d(g.reshape_channel) for _ in range(g.num_resblocks)])
        self.reshape_channel, self.reshape_depth = g.reshape_channel, g.reshape_depth

    def extract(self, image: Tensor) -> Tensor:
        """(B, 3, S, S) in [0, 1] -> (B, 32, 16, S/4, S/4) appearance feature volume."""
        x = self.first(image)  # (B, 64, 256, 256)
        for block in self.down_blocks:
            x = block(x)  # (B, 128, 128, 128) -> (B, 256, 64, 64)
        x = self.second(x)  # (B, 512, 64, 64)
        b, _, h, w = x.shape
        volume = x.view(b, self.reshape_channel, self.reshape_depth, h, w)  # (B, 32, 16, 64, 64)
        return self.resblocks_3d(volume)
