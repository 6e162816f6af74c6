"""The multi-scale patch discriminator of face-vid2vid training (checkpoint key `discriminator`), and the
public training-checkpoint format that holds it.

    image pyramid {scale: (B, 3, S*scale, S*scale)} --discs[scale]--> per scale: the feature map of every
    down block [(B, 64, S/2-2, ...), ...] and a patch prediction map (B, 1, h, w)

Each scale's network is pix2pix-like: `num_blocks` DownBlock2d (4x4 convolution without padding, instance norm
with affine parameters from the second block on, LeakyReLU 0.2, 2x2 average pooling except after the last),
then a 1x1 convolution to one channel; every convolution spectral-normalised (torch's hook version, keys
`conv.weight_orig` / `weight_u` / `weight_v`). The module and attribute names are those of `MultiScaleDiscriminator`
in `modules/discriminator.py` of zhanglonghao1992/One-Shot_Free-View_Neural_Talking_Head_Synthesis, so its
checkpoints' `discriminator` entries load strictly: `discs.1.down_blocks.0.conv.weight_orig`,
`discs.1.down_blocks.1.norm.weight`, ..., `discs.1.conv.bias`. That project's discriminator sees the image
only (the keypoint-heatmap input of the first-order-motion-model discriminator is gone), and so does this one.

The training checkpoint (`save_training_checkpoint`) is the public trainer's: the four networks' state dicts,
`optimizer_generator` / `optimizer_discriminator` / `optimizer_kp_detector` / `optimizer_he_estimator` and
`epoch`; FaceVid2Vid.from_checkpoint reads the three inference networks from it and ignores the rest.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Mapping, NamedTuple

import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import AntiAliasDownsample
from .config import DiscriminatorConfig
from .model import FaceVid2Vid, NETWORKS, check_state, clean_state, read_checkpoint, write_checkpoint

DISCRIMINATOR = "discriminator"
OPTIMIZERS = tuple(f"optimizer_{name}" for name in ("generator", "discriminator", "kp_detector", "he_estimator"))


def scale_key(scale: float) -> str:
    """The public name of a scale: 1 -> "1", 0.5 -> "0-5" (a ModuleDict key cannot hold a dot)."""
    return str(scale).replace(".", "-")


def image_pyramid(images: Tensor, scales: tuple[float, ...]) -> dict[float, Tensor]:
    """(B, C, S, S) -> {scale: (B, C, S*scale, S*scale)}: gaussian low-pass then subsampling, the public
    ImagePyramide (AntiAliasInterpolation2d) used for the losses and the discriminator's input; scale 1 is the
    image itself."""
    out = {}
    for scale in scales:
        out[scale] = images if scale == 1 else AntiAliasDownsample(images.shape[1], scale).to(images)(images)
    return out


class DiscriminatorOutput(NamedTuple):
    features: list[Tensor]  # the output of every down block, (B, C_i, h_i, w_i)
    prediction: Tensor  # (B, 1, h, w) patch scores


class DownBlock2d(nn.Module):
    """4x4 conv (no padding) -> [instance norm] -> LeakyReLU 0.2 -> [2x2 average pool]."""

    def __init__(self, in_features: int, out_features: int, norm: bool, pool: bool, sn: bool):
        super().__init__()
        conv = nn.Conv2d(in_features, out_features, kernel_size=4)
        self.conv = nn.utils.spectral_norm(conv) if sn else conv
        self.norm = nn.InstanceNorm2d(out_features, affine=True) if norm else None
        self.pool = pool

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        x = F.leaky_relu(x, 0.2)
        return F.avg_pool2d(x, 2) if self.pool else x


class Discriminator(nn.Module):
    """One scale: (B, 3, s, s) -> DiscriminatorOutput. Widths min(max_features, block_expansion * 2**(i+1))."""

    def __init__(self, config: DiscriminatorConfig):
        super().__init__()
        c = config

        def width(level: int) -> int:
            return min(c.max_features, c.block_expansion * 2**level)

        self.down_blocks = nn.ModuleList(
            DownBlock2d(c.num_channels if i == 0 else width(i), width(i + 1), norm=i != 0,
                        pool=i != c.num_blocks - 1, sn=c.sn)
            for i in range(c.num_blocks)
        )
        conv = nn.Conv2d(width(c.num_blocks), 1, kernel_size=1)
        self.conv = nn.utils.spectral_norm(conv) if c.sn else conv
        self.num_blocks = c.num_blocks

    def min_size(self) -> int:
        """The smallest input side that leaves at least one pixel after every block."""
        side = 1
        for i in reversed(range(self.num_blocks)):
            side = (side * 2 if i != self.num_blocks - 1 else side) + 3  # undo the pool, then the 4x4 conv
        return side

    def forward(self, x: Tensor) -> DiscriminatorOutput:
        features = []
        for block in self.down_blocks:
            x = block(x)
            features.append(x)
        return DiscriminatorOutput(features, self.conv(x))


class FaceVid2VidDiscriminator(nn.Module):
    """The public MultiScaleDiscriminator: one Discriminator per image scale, under `discs.<scale>`.

    forward takes a (B, 3, S, S) batch (its pyramid is made here) or a ready pyramid {scale: images}, and
    returns {scale: DiscriminatorOutput}.
    """

    def __init__(self, config: DiscriminatorConfig = DiscriminatorConfig()):
        super().__init__()
        self.config = config
        self.scales = config.scales
        self.discs = nn.ModuleDict(OrderedDict((scale_key(s), Discriminator(config)) for s in config.scales))

    def forward(self, images: Tensor | Mapping[float, Tensor]) -> dict[float, DiscriminatorOutput]:
        pyramid = image_pyramid(images, self.scales) if isinstance(images, Tensor) else images
        out = {}
        for scale in self.scales:
            disc = self.discs[scale_key(scale)]
            x = pyramid[scale]
            if min(x.shape[-2:]) < disc.min_size():
                raise ValueError(f"discriminator scale {scale}: images of {tuple(x.shape[-2:])} are smaller than the "
                                 f"{disc.min_size()} pixels its {disc.num_blocks} blocks need")
            out[scale] = disc(x)
        return out

    # -- checkpoints ----------------------------------------------------------------------------------------

    def load_state(self, checkpoint_uri: str | os.PathLike, map_location: Any = "cpu") -> bool:
        """Load the `discriminator` entry of a public training checkpoint, strictly. Returns True when it was
        loaded, False when the file has no such entry (an inference-only checkpoint: the discriminator keeps
        its fresh weights). MissingWeightsError naming the file when it cannot be read or the entry does not fit."""
        text = os.fspath(checkpoint_uri)
        return self.load_from(read_checkpoint(text, map_location), text)

    def load_from(self, checkpoint: Mapping[str, Any], uri: str = "<checkpoint>") -> bool:
        """`load_state` on an already-read checkpoint dict; `uri` names it in errors."""
        if DISCRIMINATOR not in checkpoint:
            return False
        state = clean_state(checkpoint[DISCRIMINATOR], DISCRIMINATOR, uri)
        check_state(self.state_dict(), state, DISCRIMINATOR, uri)
        self.load_state_dict(state, strict=True)
        return True


def training_checkpoint_dict(model: FaceVid2Vid, discriminator: FaceVid2VidDiscriminator,
                             optimizers: Mapping[str, Mapping[str, Any]] | None = None,
                             epoch: int | None = None, **extra: Any) -> dict[str, Any]:
    """The public training checkpoint: the three inference networks, `discriminator`, the optimizer state
    dicts given (keys from OPTIMIZERS), `epoch` when given, and `extra` entries (plain values)."""
    unknown = sorted(set(optimizers or {}) - set(OPTIMIZERS))
    if unknown:
        raise ValueError(f"unknown optimizer entries {unknown}; expected some of {', '.join(OPTIMIZERS)}")
    out: dict[str, Any] = dict(model.checkpoint_dict())
    state = discriminator.state_dict()
    out[DISCRIMINATOR] = OrderedDict((k, v.detach().cpu()) for k, v in state.items())
    out[DISCRIMINATOR]._metadata = getattr(state, "_metadata", {})  # spectral norm's version: loads as saved
    out.update(optimizers or {})
    if epoch is not None:
        out["epoch"] = int(epoch)
    clash = sorted(set(extra) & (set(NETWORKS) | {DISCRIMINATOR, "epoch"} | set(OPTIMIZERS)))
    if clash:
        raise ValueError(f"extra entries {clash} would replace the checkpoint's own")
    out.update(extra)
    return out


def save_training_checkpoint(model: FaceVid2Vid, discriminator: FaceVid2VidDiscriminator, uri: str | os.PathLike,
                             optimizers: Mapping[str, Mapping[str, Any]] | None = None, epoch: int | None = None,
                             **extra: Any) -> None:
    """Write `training_checkpoint_dict` to a local path (atomically) or an fsspec URI. FaceVid2Vid.from_checkpoint
    and FaceVid2VidDiscriminator.load_state read it back; so would the public trainer (`--checkpoint`)."""
    write_checkpoint(training_checkpoint_dict(model, discriminator, optimizers, epoch, **extra), uri)
