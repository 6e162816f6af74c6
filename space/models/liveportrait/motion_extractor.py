"""M, motion_extractor: photo -> canonical keypoints, head pose bins, translation, expression, scale."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .config import MotionConfig
from .convnextv2 import ConvNeXtV2


def bins_to_degrees(logits: Tensor) -> Tensor:
    """(B, 66) bin logits -> (B,) degrees: softmax expectation * 3 - 97.5 (public headpose_pred_to_degree)."""
    idx = torch.arange(logits.shape[1], dtype=logits.dtype, device=logits.device)
    return (torch.softmax(logits, dim=1) * idx).sum(1) * 3 - 97.5


class MotionExtractor(nn.Module):
    def __init__(self, cfg: MotionConfig = MotionConfig()):
        super().__init__()
        self.cfg = cfg
        self.detector = ConvNeXtV2(cfg.depths, cfg.dims, cfg.num_kp, cfg.num_bins, cfg.in_chans)  # key prefix

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        return self.detector(image)
