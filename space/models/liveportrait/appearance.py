"""F, appearance_feature_extractor: (B, 3, 256, 256) photo -> (B, 32, 16, 64, 64) feature volume."""

from __future__ import annotations

from torch import Tensor, nn

from .blocks import DownBlock, ResBlock3d, SameBlock2d
from .config import AppearanceConfig


class AppearanceFeatureExtractor(nn.Module):
    def __init__(self, cfg: AppearanceConfig = AppearanceConfig()):
        super().__init__()
        self.cfg = cfg
        be, mf = cfg.block_expansion, cfg.max_features
        self.first = SameBlock2d(cfg.image_channel, be)
        widths = [min(mf, be * 2 ** i) for i in range(cfg.num_down_blocks + 1)]
        self.down_blocks = nn.ModuleList(DownBlock(widths[i], widths[i + 1]) for i in range(cfg.num_down_blocks))
        self.second = nn.Conv2d(widths[-1], mf, 1)
        self.resblocks_3d = nn.Sequential()
        for i in range(cfg.num_resblocks):  # public names '3dr0'... are the state-dict keys
            self.resblocks_3d.add_module(f"3dr{i}", ResBlock3d(cfg.reshape_channel))

    def forward(self, image: Tensor) -> Tensor:
        x = self.first(image)  # (B, 64, 256, 256)
        for block in self.down_blocks:
            x = block(x)  # -> (B, 256, 64, 64)
        x = self.second(x)  # (B, 512, 64, 64)
        b, _, h, w = x.shape
        # 2D channels are lifted to a 3D volume: 512 = 32 channels x 16 depth
        return self.resblocks_3d(x.view(b, self.cfg.reshape_channel, self.cfg.reshape_depth, h, w))
