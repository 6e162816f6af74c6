"""G, spade_generator: (B, 256, 64, 64) warped features -> (B, 3, 512, 512) image in [0, 1]."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import spectral_norm

from .config import SpadeConfig


class SPADE(nn.Module):
    """instance norm, then a per-pixel scale and shift predicted from the (resized) conditioning map."""

    def __init__(self, c: int, label_c: int, hidden: int):
        super().__init__()
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_c, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, c, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, c, 3, padding=1)

    def forward(self, x: Tensor, seg: Tensor) -> Tensor:
        a = self.mlp_shared(F.interpolate(seg, size=x.shape[2:], mode="nearest"))
        return F.instance_norm(x) * (1 + self.mlp_gamma(a)) + self.mlp_beta(a)


class SPADEResnetBlock(nn.Module):
    """Spectral-normalised convs (keys weight_orig / weight_u / weight_v: torch's classic spectral_norm, which
    in eval mode uses the stored u, v without power iterations, as the public model does)."""

    def __init__(self, fin: int, fout: int, label_c: int, hidden: int):
        super().__init__()
        mid = min(fin, fout)
        self.learned_shortcut = fin != fout
        self.conv_0 = spectral_norm(nn.Conv2d(fin, mid, 3, padding=1))
        self.conv_1 = spectral_norm(nn.Conv2d(mid, fout, 3, padding=1))
        if self.learned_shortcut:
            self.conv_s = spectral_norm(nn.Conv2d(fin, fout, 1, bias=False))
        self.norm_0 = SPADE(fin, label_c, hidden)
        self.norm_1 = SPADE(mid, label_c, hidden)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, label_c, hidden)

    def forward(self, x: Tensor, seg: Tensor) -> Tensor:
        skip = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        return skip + self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))


class SPADEDecoder(nn.Module):
    def __init__(self, cfg: SpadeConfig = SpadeConfig()):
        super().__init__()
        self.cfg = cfg
        c = min(cfg.max_features, cfg.block_expansion * 2 ** cfg.num_down_blocks)  # 256: W's output width
        h = cfg.spade_hidden
        self.fc = nn.Conv2d(c, 2 * c, 3, padding=1)
        for i in range(6):
            setattr(self, f"G_middle_{i}", SPADEResnetBlock(2 * c, 2 * c, c, h))
        self.up_0 = SPADEResnetBlock(2 * c, c, c, h)
        self.up_1 = SPADEResnetBlock(c, cfg.out_channels, c, h)
        if cfg.upscale is None or cfg.upscale <= 1:
            self.conv_img = nn.Conv2d(cfg.out_channels, 3, 3, padding=1)
        else:  # 256 -> 512 by sub-pixel convolution (the public code hard-wires a factor of 2)
            self.conv_img = nn.Sequential(nn.Conv2d(cfg.out_channels, 3 * 4, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, feature: Tensor) -> Tensor:
        seg = feature  # (B, 256, 64, 64) conditions every SPADE
        x = self.fc(feature)  # (B, 512, 64, 64)
        for i in range(6):
            x = getattr(self, f"G_middle_{i}")(x, seg)
        x = self.up_0(F.interpolate(x, scale_factor=2), seg)  # (B, 256, 128, 128)
        x = self.up_1(F.interpolate(x, scale_factor=2), seg)  # (B, 64, 256, 256)
        return torch.sigmoid(self.conv_img(F.leaky_relu(x, 0.2)))  # (B, 3, 512, 512)
