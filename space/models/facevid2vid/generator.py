"""Occlusion-aware SPADE generator (checkpoint key `generator`): source features + keypoints -> image.

    photo -> appearance feature volume (B, 32, 16, S/4, S/4)          [appearance.py, computed once per photo]
    dense motion (kp_source, kp_driving) -> 3D warp + occlusion map   [dense_motion.py]
    warp the volume (trilinear grid_sample), flatten depth into channels (B, 512, S/4, S/4)
    -> 3x3 conv block (LeakyReLU) to 256 -> 1x1 conv -> x occlusion map
    -> SPADE decoder: 3x3 conv to 512, six SPADE residual blocks, (x2, 512 -> 256), (x2, 256 -> 64), 3x3 conv
       to RGB, sigmoid -> (B, 3, S, S) in [0, 1]; every SPADE block is conditioned on the 256-channel map.

Follows OcclusionAwareSPADEGenerator and SPADEDecoder in `modules/generator.py` (and SPADE /
SPADEResnetBlock in `modules/util.py`) of zhanglonghao1992/One-Shot_Free-View_Neural_Talking_Head_Synthesis.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .appearance import AppearanceFeatureExtractor
from .blocks import ConvBlock, SPADEResBlock
from .config import FaceVid2VidConfig
from .dense_motion import DenseMotionNetwork


class SPADEDecoder(nn.Module):
    """(B, C, h, w) warped features -> (B, 3, 4h, 4w) image in [0, 1]; C = 256 for vox-256. Key `decoder.`"""

    def __init__(self, features: int, out_features: int, middle_blocks: int = 6, hidden: int = 128,
                 image_channel: int = 3):
        super().__init__()
        wide = 2 * features
        self.fc = nn.Conv2d(features, wide, kernel_size=3, padding=1)
        for i in range(middle_blocks):  # attribute names G_middle_0 ... are checkpoint keys
            setattr(self, f"G_middle_{i}", SPADEResBlock(wide, wide, features, hidden))
        self.middle_blocks = middle_blocks
        self.up_0 = SPADEResBlock(wide, features, features, hidden)
        self.up_1 = SPADEResBlock(features, out_features, features, hidden)
        self.conv_img = nn.Conv2d(out_features, image_channel, kernel_size=3, padding=1)

    def forward(self, feature: Tensor) -> Tensor:
        seg = feature  # every SPADE layer is conditioned on the decoder's input
        x = self.fc(feature)  # (B, 512, 64, 64)
        for i in range(self.middle_blocks):
            x = getattr(self, f"G_middle_{i}")(x, seg)
        x = self.up_0(F.interpolate(x, scale_factor=2, mode="nearest"), seg)  # (B, 256, 128, 128)
        x = self.up_1(F.interpolate(x, scale_factor=2, mode="nearest"), seg)  # (B, 64, 256, 256)
        x = self.conv_img(F.leaky_relu(x, 0.2))  # (B, 3, 256, 256)
        return x.float().sigmoid()  # float32 frames, also under autocast


class OcclusionAwareSpadeGenerator(AppearanceFeatureExtractor):
    """The public `generator`: appearance encoder (inherited, flat keys) + dense motion + SPADE decoder."""

    def __init__(self, config: FaceVid2VidConfig):
        super().__init__(config)
        g = config.generator
        self.dense_motion_network = DenseMotionNetwork(config)
        decoder_in = g.block_expansion * 2**g.num_down_blocks  # 256
        self.third = ConvBlock(2, g.max_features, decoder_in, kernel_size=3, padding=1, leaky=True)
        self.fourth = nn.Conv2d(decoder_in, decoder_in, kernel_size=1)
        self.decoder = SPADEDecoder(decoder_in, g.block_expansion, g.spade_middle_blocks, g.spade_hidden,
                                    config.image_channel)

    @staticmethod
    def deform(volume: Tensor, deformation: Tensor) -> Tensor:
        """Sample (B, C, D, H, W) at (B, D', H', W', 3) coordinates; the field is resized to the volume first."""
        if deformation.shape[1:4] != volume.shape[2:]:
            field = F.interpolate(deformation.permute(0, 4, 1, 2, 3), size=volume.shape[2:], mode="trilinear")
            deformation = field.permute(0, 2, 3, 4, 1)
        return F.grid_sample(volume.float(), deformation.float(), align_corners=False)  # float32 coordinates

    def render(self, feature: Tensor, kp_driving: Tensor, kp_source: Tensor) -> dict[str, Tensor]:
        """feature (B or 1, 32, 16, h, w) from `extract`, kp_driving (B, K, 3), kp_source (B or 1, K, 3) ->
        {"prediction": (B, 3, 4h, 4w) in [0, 1], "occlusion_map": (B, 1, h, w), "mask": (B, K+1, 16, h, w),
        "deformation": (B, 16, h, w, 3)}."""
        b = kp_driving.shape[0]
        motion = self.dense_motion_network(feature, kp_driving, kp_source)
        volume = feature.expand(b, *feature.shape[1:])
        warped = self.deform(volume, motion["deformation"])  # (B, 32, 16, h, w)
        x = warped.reshape(b, -1, *warped.shape[3:])  # (B, 512, h, w)
        x = self.fourth(self.third(x))  # (B, 256, h, w)
        occlusion = motion.get("occlusion_map")
        if occlusion is not None:
            if occlusion.shape[2:] != x.shape[2:]:
                occlusion = F.interpolate(occlusion, size=x.shape[2:], mode="bilinear")
            x = x * occlusion
        out = {"prediction": self.decoder(x), "mask": motion["mask"], "deformation": motion["deformation"]}
        if occlusion is not None:
            out["occlusion_map"] = occlusion
        return out

    def forward(self, source_image: Tensor, kp_driving: Tensor, kp_source: Tensor) -> dict[str, Tensor]:
        """The public call: source image (B, 3, S, S), keypoints (B, K, 3) -> `render`'s dict."""
        return self.render(self.extract(source_image), kp_driving, kp_source)
