"""The face-vid2vid network sizes, grouped as in the public `config/vox-256.yaml` (`model_params`).

The defaults are the vox-256 configuration of the common public re-implementation
(zhanglonghao1992/One-Shot_Free-View_Neural_Talking_Head_Synthesis): with them the three networks have exactly
the state-dict keys and shapes of that project's checkpoints (`generator` = OcclusionAwareSPADEGenerator,
`kp_detector`, `he_estimator`), so a public checkpoint loads with strict=True.

`size` is the image side the model works at, 256 or 512. It changes no weight: every state-dict key and shape
is the same at both sizes (a vox-256 checkpoint loads into a 512 model, which is how one would start a 512
fine-tune). What changes at 512:

* the generator (appearance encoder, dense motion, SPADE decoder) runs on the full 512 image: the appearance
  feature volume is (32, 16, 128, 128) instead of (32, 16, 64, 64), the dense-motion hourglass, the masks and
  the occlusion map are 128 x 128, the decoder upsamples 128 -> 512; about 4x the compute per frame;
* the keypoint detector and the head-pose/expression estimator keep seeing `estimator_size` (256) images:
  a 512 input is resized (antialiased bilinear) before them, so canonical keypoints and head parameters are
  the ones the 256 networks were trained to produce, in the same units, and the estimators cost the same.
  (Their anti-aliased 0.25 downsampling is a weight of the checkpoint, `kp_detector.down.weight`, so it
  cannot be retuned for 512 without changing the key shapes.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

SIZES = (256, 512)


@dataclass(frozen=True)
class KeypointDetectorConfig:
    """`kp_detector_params`: canonical keypoints from a 2D->3D hourglass and a softmax over a 3D heatmap."""

    temperature: float = 0.1
    block_expansion: int = 32
    max_features: int = 1024
    scale_factor: float = 0.25  # the image is low-passed and subsampled by this before the hourglass
    num_blocks: int = 5
    reshape_channel: int = 16384  # 1024 channels x depth 16 after the 2D encoder
    reshape_depth: int = 16


@dataclass(frozen=True)
class HeadPoseConfig:
    """`he_estimator_params`: a ResNet-50-like bottleneck network -> yaw/pitch/roll bins, translation, expression."""

    block_expansion: int = 64  # width of the 7x7 stem
    max_features: int = 2048  # width of the last stage; the stages are max/8, max/4, max/2, max
    num_bins: int = 66  # 3-degree bins from -99 to +99 degrees


@dataclass(frozen=True)
class DenseMotionConfig:
    """`generator_params.dense_motion_params`: the 3D hourglass that mixes the sparse keypoint motions."""

    block_expansion: int = 32
    max_features: int = 1024
    num_blocks: int = 5
    reshape_depth: int = 16
    compress: int = 4  # feature channels kept (1x1x1 conv) before warping the volume once per keypoint


@dataclass(frozen=True)
class GeneratorConfig:
    """`generator_params` of the occlusion-aware SPADE generator (the appearance encoder lives inside it)."""

    block_expansion: int = 64
    max_features: int = 512  # = reshape_channel * reshape_depth: the 2D features lifted to the 3D volume
    num_down_blocks: int = 2  # the feature volume is size / 2**num_down_blocks on a side
    reshape_channel: int = 32
    reshape_depth: int = 16
    num_resblocks: int = 6
    estimate_occlusion_map: bool = True
    spade_hidden: int = 128  # SPADE's shared-MLP width (fixed in the public code)
    spade_middle_blocks: int = 6  # SPADE residual blocks at the feature resolution (fixed in the public code)
    dense_motion: DenseMotionConfig = field(default_factory=DenseMotionConfig)


@dataclass(frozen=True)
class FaceVid2VidConfig:
    """All sizes of the three networks; the defaults are vox-256 (see the module docstring for `size`)."""

    size: int = 256
    estimator_size: int = 256  # the keypoint detector and head-pose estimator see images of this side
    # the keypoint detector's own input side when it differs: SadTalker feeds its detector the full-size image
    # (its 512 release was trained so), while the head-pose estimator stays at estimator_size
    keypoint_size: int | None = None
    num_kp: int = 15
    image_channel: int = 3
    feature_channel: int = 32  # channels of the appearance feature volume (= generator.reshape_channel)
    estimate_jacobian: bool = False  # the vox-256 model has no jacobians; True is not supported
    kp_detector: KeypointDetectorConfig = field(default_factory=KeypointDetectorConfig)
    he_estimator: HeadPoseConfig = field(default_factory=HeadPoseConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)

    def __post_init__(self):
        problems = []
        if self.size not in SIZES:
            problems.append(f"size must be one of {SIZES}, got {self.size}")
        if self.estimate_jacobian:
            problems.append("estimate_jacobian=True is not supported (the vox-256 networks have no jacobian head)")
        g, kp = self.generator, self.kp_detector
        if g.max_features != g.reshape_channel * g.reshape_depth:
            problems.append(f"generator.max_features ({g.max_features}) must equal reshape_channel x reshape_depth "
                            f"({g.reshape_channel} x {g.reshape_depth})")
        if g.reshape_channel != self.feature_channel:
            problems.append(f"generator.reshape_channel ({g.reshape_channel}) must equal feature_channel "
                            f"({self.feature_channel})")
        if g.num_down_blocks != 2:
            problems.append("the SPADE decoder upsamples twice, so generator.num_down_blocks must be 2")
        if g.dense_motion.reshape_depth != g.reshape_depth:
            problems.append("generator.dense_motion.reshape_depth must equal generator.reshape_depth")
        deepest = min(kp.max_features, kp.block_expansion * 2 ** kp.num_blocks)
        if kp.reshape_channel != deepest * kp.reshape_depth:
            problems.append(f"kp_detector.reshape_channel ({kp.reshape_channel}) must be {deepest} x reshape_depth "
                            f"({kp.reshape_depth})")
        if self.size % 2 ** g.num_down_blocks or (self.size // 2 ** g.num_down_blocks) % 2 ** g.dense_motion.num_blocks:
            problems.append(f"size {self.size} is not divisible by the generator's and dense motion's downsampling")
        if (self.keypoint_input_size * kp.scale_factor) % 2 ** kp.num_blocks:
            problems.append(f"keypoint input side {self.keypoint_input_size} x scale_factor {kp.scale_factor} is not "
                            f"divisible by the keypoint hourglass's downsampling (2**{kp.num_blocks})")
        if problems:
            raise ValueError("invalid FaceVid2VidConfig: " + "; ".join(problems))

    @property
    def keypoint_input_size(self) -> int:
        """Side of the images the keypoint detector sees (keypoint_size, else estimator_size)."""
        return self.keypoint_size or self.estimator_size

    @property
    def feature_size(self) -> int:
        """Side of the appearance feature volume (64 at 256, 128 at 512)."""
        return self.size // 2 ** self.generator.num_down_blocks

    @classmethod
    def from_model_params(cls, model_params: Mapping[str, Any], size: int = 256) -> "FaceVid2VidConfig":
        """From the public yaml's `model_params` dict (common/kp_detector/he_estimator/generator params)."""
        gen = dict(model_params.get("generator_params", {}))
        dense = _pick(DenseMotionConfig, gen.pop("dense_motion_params", {}))
        return cls(
            size=size,
            **{k: v for k, v in model_params.get("common_params", {}).items() if k in _names(cls)},
            kp_detector=_pick(KeypointDetectorConfig, model_params.get("kp_detector_params", {})),
            he_estimator=_pick(HeadPoseConfig, model_params.get("he_estimator_params", {})),
            generator=_pick(GeneratorConfig, gen, dense_motion=dense),
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "FaceVid2VidConfig":
        """The inverse of `to_dict` (nested dicts for the networks' groups)."""
        top = dict(values)
        gen = dict(top.pop("generator", {}))
        return cls(
            kp_detector=KeypointDetectorConfig(**top.pop("kp_detector", {})),
            he_estimator=HeadPoseConfig(**top.pop("he_estimator", {})),
            generator=GeneratorConfig(dense_motion=DenseMotionConfig(**gen.pop("dense_motion", {})), **gen),
            **top,
        )


@dataclass(frozen=True)
class DiscriminatorConfig:
    """`discriminator_params`: the multi-scale patch discriminator used only for training (key `discriminator`).

    Kept out of FaceVid2VidConfig: the inference model never builds it, and a config JSON written for
    rendering stays valid. `scales` are image scales (1 = full size, 0.5 = half ...); each scale's network is
    stored under `discs.<scale with '.' written '-'>`, so (1,) gives the public keys `discs.1.*`.
    `num_channels` is the public Discriminator's own default (3): the public run.py never sets it.
    """

    scales: tuple[float, ...] = (1,)
    block_expansion: int = 32
    max_features: int = 512
    num_blocks: int = 4
    sn: bool = True  # spectral norm on every convolution (keys conv.weight_orig / weight_u / weight_v)
    num_channels: int = 3

    def __post_init__(self):
        # 1.0 and 1 name the same network: keep integral scales as ints so the key is `discs.1`, not `discs.1-0`
        scales = tuple(int(s) if float(s).is_integer() else float(s) for s in self.scales)
        object.__setattr__(self, "scales", scales)
        problems = []
        if not scales or len(set(scales)) != len(scales) or not all(0 < s <= 1 for s in scales):
            problems.append(f"scales must be distinct values in (0, 1], got {self.scales}")
        if self.num_blocks < 1 or self.block_expansion < 1 or self.max_features < 1 or self.num_channels < 1:
            problems.append("num_blocks, block_expansion, max_features and num_channels must be positive")
        if problems:
            raise ValueError("invalid DiscriminatorConfig: " + "; ".join(problems))

    @classmethod
    def from_model_params(cls, model_params: Mapping[str, Any]) -> "DiscriminatorConfig":
        """From the public yaml's `model_params` dict (its `discriminator_params`)."""
        return _pick(cls, model_params.get("discriminator_params", {}))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "DiscriminatorConfig":
        return cls(**values)


def _names(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _pick(cls, values: Mapping[str, Any], **extra):
    """cls built from the entries of `values` it has fields for (the yaml has a few more), plus `extra`."""
    return cls(**{k: v for k, v in values.items() if k in _names(cls)}, **extra)
