"""Head pose and expression estimator (checkpoint key `he_estimator`): image -> yaw/pitch/roll, t, expression.

A ResNet-50-like network (7x7 stem, bottleneck stages of width 256, 512, 1024, 2048, global average pool)
with five linear heads: three 66-bin angle classifiers (3-degree bins; the angle in degrees is the softmax
expectation sum(p_i * i) * 3 - 99), a translation (3) and per-keypoint expression deltas (K x 3).

Follows HEEstimator in `modules/keypoint_detector.py` of
zhanglonghao1992/One-Shot_Free-View_Neural_Talking_Head_Synthesis. One wiring detail is kept on purpose:
the public code returns `yaw` from the layer named `fc_roll` and `roll` from `fc_yaw`, and trains them that
way (its head-pose loss compares the output called yaw with HopeNet's yaw). So in a public checkpoint
`fc_roll` holds the yaw classifier; we read it the same way, or yaw and roll would come out swapped.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import ResBottleneck, named_sequential
from .config import FaceVid2VidConfig


class HeadPoseLogits(NamedTuple):
    yaw: Tensor  # (B, bins)
    pitch: Tensor  # (B, bins)
    roll: Tensor  # (B, bins)
    t: Tensor  # (B, 3)
    exp: Tensor  # (B, K * 3)


def bins_to_degrees(logits: Tensor) -> Tensor:
    """(B, 66) angle-bin logits -> (B,) degrees: softmax expectation of the bin index, * 3 - 99."""
    probs = F.softmax(logits.float(), dim=1)
    index = torch.arange(logits.shape[1], device=logits.device, dtype=probs.dtype)
    return (probs * index).sum(dim=1) * 3 - 99


class HeadPoseEstimator(nn.Module):
    """(B, 3, S, S) images in [0, 1] -> HeadPoseLogits. Shapes below for S = 256."""

    def __init__(self, config: FaceVid2VidConfig):
        super().__init__()
        c = config.he_estimator
        w1, w2, w3, w4 = (c.max_features // 8, c.max_features // 4, c.max_features // 2, c.max_features)
        self.conv1 = nn.Conv2d(config.image_channel, c.block_expansion, kernel_size=7, padding=3, stride=2)
        self.norm1 = nn.BatchNorm2d(c.block_expansion, affine=True)
        self.conv2 = nn.Conv2d(c.block_expansion, w1, kernel_size=1)
        self.norm2 = nn.BatchNorm2d(w1, affine=True)
        self.block1 = named_sequential("b1_", [ResBottleneck(w1) for _ in range(3)])
        self.conv3 = nn.Conv2d(w1, w2, kernel_size=1)
        self.norm3 = nn.BatchNorm2d(w2, affine=True)
        self.block2 = ResBottleneck(w2, stride=2)
        self.block3 = named_sequential("b3_", [ResBottleneck(w2) for _ in range(3)])
        self.conv4 = nn.Conv2d(w2, w3, kernel_size=1)
        self.norm4 = nn.BatchNorm2d(w3, affine=True)
        self.block4 = ResBottleneck(w3, stride=2)
        self.block5 = named_sequential("b5_", [ResBottleneck(w3) for _ in range(5)])
        self.conv5 = nn.Conv2d(w3, w4, kernel_size=1)
        self.norm5 = nn.BatchNorm2d(w4, affine=True)
        self.block6 = ResBottleneck(w4, stride=2)
        self.block7 = named_sequential("b7_", [ResBottleneck(w4) for _ in range(2)])
        self.fc_roll = nn.Linear(w4, c.num_bins)  # yaw (see the module docstring)
        self.fc_pitch = nn.Linear(w4, c.num_bins)
        self.fc_yaw = nn.Linear(w4, c.num_bins)  # roll (see the module docstring)
        self.fc_t = nn.Linear(w4, 3)
        self.fc_exp = nn.Linear(w4, 3 * config.num_kp)

    def forward(self, image: Tensor) -> HeadPoseLogits:
        x = F.relu(self.norm1(self.conv1(image)))  # (B, 64, 128, 128)
        x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)  # (B, 64, 64, 64)
        x = self.block1(F.relu(self.norm2(self.conv2(x))))  # (B, 256, 64, 64)
        x = self.block3(self.block2(F.relu(self.norm3(self.conv3(x)))))  # (B, 512, 32, 32)
        x = self.block5(self.block4(F.relu(self.norm4(self.conv4(x)))))  # (B, 1024, 16, 16)
        x = self.block7(self.block6(F.relu(self.norm5(self.conv5(x)))))  # (B, 2048, 8, 8)
        x = x.mean(dim=(2, 3))  # (B, 2048)
        return HeadPoseLogits(yaw=self.fc_roll(x), pitch=self.fc_pitch(x), roll=self.fc_yaw(x),
                              t=self.fc_t(x), exp=self.fc_exp(x))
