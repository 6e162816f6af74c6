"""A narrow LivePortrait (the same architecture and the release's 21 keypoints) for tests that need its files
in seconds: the release widths take ~10 s per frame on 2 cores."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from space.models.liveportrait import LivePortrait, LivePortraitConfig
from space.models.liveportrait.config import (AppearanceConfig, DenseMotionConfig, MotionConfig, SpadeConfig,
                                              WarpingConfig)


def tiny_config(input_size: int = 64) -> LivePortraitConfig:
    """Narrow networks, 21 keypoints; F and M see `input_size` photos, G draws 2x that."""
    return LivePortraitConfig(
        appearance=AppearanceConfig(block_expansion=4, max_features=16, reshape_channel=2, reshape_depth=8,
                                    num_resblocks=1),
        motion=MotionConfig(depths=(1, 1, 1, 1), dims=(8, 8, 16, 16)),
        warping=WarpingConfig(block_expansion=4, max_features=16, reshape_channel=2,
                              dense_motion=DenseMotionConfig(block_expansion=4, max_features=16, num_blocks=2,
                                                             reshape_depth=8, compress=1)),
        spade=SpadeConfig(block_expansion=4, max_features=16, out_channels=8, spade_hidden=8),
        input_size=input_size,
    )


def tiny_liveportrait(seed: int = 0, input_size: int = 64) -> LivePortrait:
    torch.manual_seed(seed)
    return LivePortrait(tiny_config(input_size)).eval()


def write_release(folder, seed: int = 0, input_size: int = 64) -> LivePortrait:
    """A random-init release in the public layout under `folder` (base_models/, retargeting_models/) plus
    liveportrait.json with its widths (a real release needs none). Returns the model written."""
    model = tiny_liveportrait(seed, input_size)
    model.save_release(folder)
    Path(folder, "liveportrait.json").write_text(json.dumps(model.config.to_dict()))
    return model


def write_renderer_checkpoints(folder, l2l: bool = True) -> str:
    """A checkpoints folder for the liveportrait renderer as a user lays it out: the release under
    liveportrait/ (pretrained_weights/ as downloaded) and, with `l2l`, an L2L for its 21 keypoints and 70 head
    params (random init, our format). Returns the folder."""
    from space.models.checkpoint import save_checkpoint
    from space.models.l2l import L2LConfig, Landmarks2Latents

    folder = Path(folder)
    write_release(folder / "liveportrait")
    if l2l:
        torch.manual_seed(0)
        save_checkpoint(str(folder / "l2l.pt"), Landmarks2Latents(L2LConfig(keypoints=21, params=70)), "l2l",
                        {"note": "random init, for tests"})
    return str(folder)
