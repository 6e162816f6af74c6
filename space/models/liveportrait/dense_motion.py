"""Dense motion (inside W): source/driving keypoints + feature volume -> 3D warp field and occlusion map."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import DownBlock, UpBlock3d, coordinate_grid, gaussian_heatmaps
from .config import DenseMotionConfig


class Encoder(nn.Module):
    def __init__(self, be: int, cin: int, n: int, mf: int):
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock(cin if i == 0 else min(mf, be * 2 ** i), min(mf, be * 2 ** (i + 1)), dims=3) for i in range(n))

    def forward(self, x: Tensor) -> list[Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class Decoder(nn.Module):
    def __init__(self, be: int, cin: int, n: int, mf: int):
        super().__init__()
        # the deepest block sees only the bottleneck, the others bottleneck + skip (x2 channels)
        self.up_blocks = nn.ModuleList(
            UpBlock3d((1 if i == n - 1 else 2) * min(mf, be * 2 ** (i + 1)), min(mf, be * 2 ** i))
            for i in reversed(range(n)))
        self.out_filters = be + cin  # the last skip is the input itself
        self.conv = nn.Conv3d(self.out_filters, self.out_filters, 3, padding=1)
        self.norm = nn.BatchNorm3d(self.out_filters)

    def forward(self, skips: list[Tensor]) -> Tensor:
        skips = list(skips)
        x = skips.pop()
        for block in self.up_blocks:
            x = torch.cat([block(x), skips.pop()], dim=1)
        return F.relu(self.norm(self.conv(x)))


class Hourglass(nn.Module):
    def __init__(self, be: int, cin: int, n: int, mf: int):
        super().__init__()
        self.encoder = Encoder(be, cin, n, mf)
        self.decoder = Decoder(be, cin, n, mf)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))


class DenseMotionNetwork(nn.Module):
    def __init__(self, cfg: DenseMotionConfig, num_kp: int, feature_channel: int, estimate_occlusion_map: bool):
        super().__init__()
        self.num_kp = num_kp
        cin = (num_kp + 1) * (cfg.compress + 1)  # per keypoint + background: heatmap (1) + warped feature
        self.hourglass = Hourglass(cfg.block_expansion, cin, cfg.num_blocks, cfg.max_features)
        c = self.hourglass.out_filters
        self.mask = nn.Conv3d(c, num_kp + 1, 7, padding=3)
        self.compress = nn.Conv3d(feature_channel, cfg.compress, 1)
        self.norm = nn.BatchNorm3d(cfg.compress)
        self.occlusion = nn.Conv2d(c * cfg.reshape_depth, 1, 7, padding=3) if estimate_occlusion_map else None

    def forward(self, feature: Tensor, kp_driving: Tensor, kp_source: Tensor) -> dict[str, Tensor]:
        """feature (B, 32, D, H, W), keypoints (B, K, 3) -> deformation (B, D, H, W, 3), mask, occlusion."""
        feature = F.relu(self.norm(self.compress(feature)))  # (B, 4, D, H, W)
        b, c, d, h, w = feature.shape
        k = self.num_kp
        grid = coordinate_grid(d, h, w, kp_source)[None, None]  # (1, 1, D, H, W, 3)
        # zero-order motion per keypoint: a driving point moves to its source point; plus identity background
        to_source = grid - kp_driving.view(b, k, 1, 1, 1, 3) + kp_source.view(b, k, 1, 1, 1, 3)
        motions = torch.cat([grid.expand(b, 1, d, h, w, 3), to_source], dim=1)  # (B, K+1, D, H, W, 3)
        repeated = feature[:, None].expand(b, k + 1, c, d, h, w).reshape(b * (k + 1), c, d, h, w)
        deformed = F.grid_sample(repeated, motions.reshape(b * (k + 1), d, h, w, 3), align_corners=False)
        deformed = deformed.view(b, k + 1, c, d, h, w)
        heat = gaussian_heatmaps(kp_driving, d, h, w) - gaussian_heatmaps(kp_source, d, h, w)  # (B, K, D, H, W)
        heat = torch.cat([heat.new_zeros(b, 1, d, h, w), heat], dim=1)[:, :, None]  # (B, K+1, 1, D, H, W)
        x = torch.cat([heat, deformed], dim=2).view(b, -1, d, h, w)  # (B, (K+1)*5, D, H, W)
        prediction = self.hourglass(x)
        mask = torch.softmax(self.mask(prediction), dim=1)  # (B, K+1, D, H, W)
        deformation = (motions.permute(0, 1, 5, 2, 3, 4) * mask[:, :, None]).sum(1).permute(0, 2, 3, 4, 1)
        out = {"mask": mask, "deformation": deformation}
        if self.occlusion is not None:
            out["occlusion_map"] = torch.sigmoid(self.occlusion(prediction.reshape(b, -1, h, w)))  # (B, 1, H, W)
        return out
