"""W, warping_module: warp the source feature volume to the driving keypoints -> (B, 256, 64, 64) features."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import SameBlock2d
from .config import WarpingConfig
from .dense_motion import DenseMotionNetwork


class WarpingNetwork(nn.Module):
    def __init__(self, cfg: WarpingConfig = WarpingConfig()):
        super().__init__()
        self.cfg = cfg
        self.dense_motion_network = DenseMotionNetwork(cfg.dense_motion, cfg.num_kp, cfg.reshape_channel,
                                                       cfg.estimate_occlusion_map)
        c = cfg.block_expansion * 2 ** cfg.num_down_blocks
        self.third = SameBlock2d(cfg.max_features, c, lrelu=True)
        self.fourth = nn.Conv2d(c, c, 1)

    def forward(self, feature_3d: Tensor, kp_driving: Tensor, kp_source: Tensor) -> dict[str, Tensor]:
        motion = self.dense_motion_network(feature_3d, kp_driving, kp_source)
        out = F.grid_sample(feature_3d, motion["deformation"], align_corners=False)  # (B, 32, 16, 64, 64)
        b, c, d, h, w = out.shape
        out = self.fourth(self.third(out.view(b, c * d, h, w)))  # depth folded into channels -> (B, 256, 64, 64)
        occlusion = motion.get("occlusion_map")
        if occlusion is not None:
            out = out * occlusion
        return {"out": out, "deformation": motion["deformation"], "occlusion_map": occlusion}
