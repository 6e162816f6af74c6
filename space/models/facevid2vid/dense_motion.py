"""Dense motion network (key prefix `generator.dense_motion_network.`): keypoints -> a 3D warp and occlusion.

For each keypoint k the driving->source motion near it is a translation, p -> p - kp_driving[k] +
kp_source[k]; with the identity (background) that gives K + 1 candidate sampling grids. The source feature
volume (compressed to 4 channels) is warped by each of them; together with the difference of driving and
source keypoint gaussians it is fed to a 3D hourglass, which predicts a softmax mask over the K + 1
candidates per voxel (the dense motion is the mask-weighted sum of the grids) and a 2D occlusion map.

Follows DenseMotionNetwork in `modules/dense_motion.py` of
zhanglonghao1992/One-Shot_Free-View_Neural_Talking_Head_Synthesis (no jacobians, vox-256). grid_sample uses
align_corners=False, the default the public checkpoints were trained with. Shapes for S = 256
(feature volume D=16, H=W=64).

Batching: `render` draws B driving frames against one photo, so the source inputs may have batch 1 while the
driving keypoints have batch B; the source volume is compressed once and then broadcast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import Hourglass3d, coordinate_grid, keypoint_gaussians
from .config import FaceVid2VidConfig

KP_VARIANCE = 0.01  # gaussian variance of the keypoint heatmaps, in [-1, 1] units


class DenseMotionNetwork(nn.Module):
    def __init__(self, config: FaceVid2VidConfig):
        super().__init__()
        c = config.generator.dense_motion
        self.num_kp = config.num_kp
        in_features = (config.num_kp + 1) * (c.compress + 1)  # per candidate: compressed features + 1 heatmap
        self.hourglass = Hourglass3d(c.block_expansion, in_features, c.num_blocks, c.max_features)
        self.mask = nn.Conv3d(self.hourglass.out_filters, config.num_kp + 1, kernel_size=7, padding=3)
        self.compress = nn.Conv3d(config.feature_channel, c.compress, kernel_size=1)
        self.norm = nn.BatchNorm3d(c.compress, affine=True)
        if config.generator.estimate_occlusion_map:
            self.occlusion = nn.Conv2d(self.hourglass.out_filters * c.reshape_depth, 1, kernel_size=7, padding=3)
        else:
            self.occlusion = None

    def sparse_motions(self, spatial: tuple[int, int, int], kp_driving: Tensor, kp_source: Tensor) -> Tensor:
        """-> (B, K+1, D, H, W, 3) sampling grids: identity, then p - kp_driving[k] + kp_source[k]."""
        identity = coordinate_grid(*spatial, like=kp_driving)  # (D, H, W, 3)
        def at(kp: Tensor) -> Tensor:
            return kp[:, :, None, None, None, :]  # (B, K, 1, 1, 1, 3)

        per_kp = identity[None, None] - at(kp_driving) + at(kp_source)  # (B, K, D, H, W, 3)
        background = identity.expand(kp_driving.shape[0], 1, *identity.shape)  # (B, 1, D, H, W, 3)
        return torch.cat([background, per_kp], dim=1)

    def forward(self, feature: Tensor, kp_driving: Tensor, kp_source: Tensor) -> dict[str, Tensor]:
        """feature (B or 1, C, D, H, W), kp_driving (B, K, 3), kp_source (B or 1, K, 3) ->
        {"deformation": (B, D, H, W, 3), "mask": (B, K+1, D, H, W), "occlusion_map": (B, 1, H, W)}."""
        b, k = kp_driving.shape[:2]
        _, _, d, h, w = feature.shape
        # keypoints and sampling coordinates stay float32 under autocast (bfloat16 would be off by ~half a voxel)
        kp_driving, kp_source = kp_driving.float(), kp_source.expand(b, -1, -1).float()
        compressed = F.relu(self.norm(self.compress(feature)))  # (1 or B, 4, D, H, W)
        compressed = compressed.expand(b, *compressed.shape[1:])

        motions = self.sparse_motions((d, h, w), kp_driving, kp_source)  # (B, K+1, D, H, W, 3)
        repeated = compressed[:, None].expand(b, k + 1, *compressed.shape[1:]).reshape(b * (k + 1), -1, d, h, w)
        warped = F.grid_sample(repeated.float(), motions.reshape(b * (k + 1), d, h, w, 3), align_corners=False)
        warped = warped.view(b, k + 1, -1, d, h, w)  # (B, K+1, 4, D, H, W)

        heat = keypoint_gaussians(kp_driving, (d, h, w), KP_VARIANCE) - keypoint_gaussians(kp_source, (d, h, w),
                                                                                            KP_VARIANCE)
        heat = torch.cat([heat.new_zeros(b, 1, d, h, w), heat], dim=1)  # (B, K+1, D, H, W), background: 0
        x = torch.cat([heat[:, :, None], warped], dim=2).view(b, -1, d, h, w)  # (B, 80, D, H, W)

        prediction = self.hourglass(x)  # (B, 112, D, H, W)
        mask = F.softmax(self.mask(prediction), dim=1)  # (B, K+1, D, H, W)
        deformation = (motions * mask.float()[..., None]).sum(dim=1)  # mask-weighted grids (B, D, H, W, 3)
        out = {"deformation": deformation, "mask": mask}
        if self.occlusion is not None:
            flat = prediction.reshape(b, -1, h, w)  # (B, 112 * 16, H, W)
            out["occlusion_map"] = torch.sigmoid(self.occlusion(flat))  # (B, 1, H, W)
        return out
