"""LivePortrait network sizes: the defaults are `src/config/models.yaml` (`model_params`) of KwaiVGI/LivePortrait,
with which every state-dict key and shape equals the released weights'. Tests build narrow variants."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class AppearanceConfig:
    """F: photo -> 3D feature volume (reshape_channel, reshape_depth, S/4, S/4)."""

    image_channel: int = 3
    block_expansion: int = 64
    num_down_blocks: int = 2
    max_features: int = 512  # = reshape_channel * reshape_depth
    reshape_channel: int = 32
    reshape_depth: int = 16
    num_resblocks: int = 6


@dataclass(frozen=True)
class MotionConfig:
    """M: ConvNeXt-V2 tiny -> canonical keypoints, pose bins, t, exp, scale."""

    num_kp: int = 21
    num_bins: int = 66
    in_chans: int = 3
    depths: tuple[int, ...] = (3, 3, 9, 3)
    dims: tuple[int, ...] = (96, 192, 384, 768)


@dataclass(frozen=True)
class DenseMotionConfig:
    block_expansion: int = 32
    max_features: int = 1024
    num_blocks: int = 5
    reshape_depth: int = 16
    compress: int = 4


@dataclass(frozen=True)
class WarpingConfig:
    """W: keypoints -> warp field + occlusion, applied to the feature volume."""

    num_kp: int = 21
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    reshape_channel: int = 32
    estimate_occlusion_map: bool = True
    dense_motion: DenseMotionConfig = field(default_factory=DenseMotionConfig)


@dataclass(frozen=True)
class SpadeConfig:
    """G: SPADE decoder, 64x64 warped features -> 512x512 image (upscale 2 by pixel shuffle)."""

    upscale: int = 2
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    out_channels: int = 64
    spade_hidden: int = 128  # fixed in the public SPADE block


@dataclass(frozen=True)
class MLPConfig:
    input_size: int
    hidden_sizes: tuple[int, ...]
    output_size: int


@dataclass(frozen=True)
class StitchingConfig:
    """S and R: the stitching MLP and the eye / lip retargeting MLPs (sizes for 21 keypoints)."""

    stitching: MLPConfig = MLPConfig(126, (128, 128, 64), 65)  # (kp_s, kp_d) -> exp delta + (tx, ty)
    lip: MLPConfig = MLPConfig(65, (128, 128, 64), 63)  # (kp_s, 2 lip ratios) -> exp delta
    eye: MLPConfig = MLPConfig(66, (256, 256, 128, 128, 64), 63)  # (kp_s, 3 eye ratios) -> exp delta


@dataclass(frozen=True)
class LivePortraitConfig:
    appearance: AppearanceConfig = field(default_factory=AppearanceConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    warping: WarpingConfig = field(default_factory=WarpingConfig)
    spade: SpadeConfig = field(default_factory=SpadeConfig)
    stitching: StitchingConfig = field(default_factory=StitchingConfig)
    input_size: int = 256  # F and M see 256x256 photos

    def __post_init__(self):
        k = self.motion.num_kp
        a, w = self.appearance, self.warping
        checks = [
            (w.num_kp == k, "warping.num_kp != motion.num_kp"),
            (a.reshape_channel * a.reshape_depth == a.max_features, "appearance max_features != channel * depth"),
            (w.reshape_channel == a.reshape_channel, "warping.reshape_channel != appearance.reshape_channel"),
            (w.dense_motion.reshape_depth == a.reshape_depth, "dense_motion.reshape_depth != appearance depth"),
            (w.max_features == a.max_features, "warping.max_features != appearance.max_features"),
            (self.stitching.stitching.input_size == 6 * k and self.stitching.stitching.output_size == 3 * k + 2,
             "stitching MLP sizes do not fit num_kp"),
        ]
        for ok, why in checks:
            if not ok:
                raise ValueError(f"inconsistent LivePortraitConfig: {why}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "LivePortraitConfig":
        """The inverse of `to_dict` (nested dicts per network; lists where tuples were)."""
        top = dict(values)
        motion = dict(top.pop("motion", {}))
        for key in ("depths", "dims"):
            if key in motion:
                motion[key] = tuple(motion[key])
        warping = dict(top.pop("warping", {}))
        stitching = {part: MLPConfig(m["input_size"], tuple(m["hidden_sizes"]), m["output_size"])
                     for part, m in dict(top.pop("stitching", {})).items()}
        return cls(
            appearance=AppearanceConfig(**top.pop("appearance", {})),
            motion=MotionConfig(**motion),
            warping=WarpingConfig(dense_motion=DenseMotionConfig(**warping.pop("dense_motion", {})), **warping),
            spade=SpadeConfig(**top.pop("spade", {})),
            stitching=StitchingConfig(**stitching),
            **top,
        )
