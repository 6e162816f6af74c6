"""A narrow face-vid2vid (same architecture, 3 keypoints) for tests that need a real checkpoint in seconds."""

from __future__ import annotations

from space.models.facevid2vid import FaceVid2VidConfig
from space.models.facevid2vid.config import DenseMotionConfig, GeneratorConfig, HeadPoseConfig, KeypointDetectorConfig


def tiny_config(size: int) -> FaceVid2VidConfig:
    """The same architecture, narrow and with 3 keypoints, so that a 512 forward takes seconds on a CPU (the
    vox-256 widths need ~20 s per 256 frame on 2 cores, ~4x that at 512)."""
    return FaceVid2VidConfig(
        size=size,
        num_kp=3,
        feature_channel=2,
        kp_detector=KeypointDetectorConfig(block_expansion=4, max_features=32, reshape_channel=32 * 16),
        he_estimator=HeadPoseConfig(block_expansion=8, max_features=64),
        generator=GeneratorConfig(block_expansion=4, max_features=2 * 16, reshape_channel=2, num_resblocks=1,
                                  spade_hidden=8, spade_middle_blocks=1,
                                  dense_motion=DenseMotionConfig(block_expansion=2, max_features=16, compress=1)),
    )


def renderer_config() -> FaceVid2VidConfig:
    """Narrow networks with the public 15 keypoints (what an L2L with default settings drives)."""
    return FaceVid2VidConfig(
        num_kp=15, feature_channel=2,
        kp_detector=KeypointDetectorConfig(block_expansion=4, max_features=32, reshape_channel=32 * 16),
        he_estimator=HeadPoseConfig(block_expansion=8, max_features=64),
        generator=GeneratorConfig(block_expansion=4, max_features=32, reshape_channel=2, num_resblocks=1,
                                  spade_hidden=8, spade_middle_blocks=1,
                                  dense_motion=DenseMotionConfig(block_expansion=2, max_features=16, compress=1)),
    )


def write_renderer_checkpoints(folder) -> str:
    """A checkpoints folder for the facevid2vid renderer, random-init in the real formats: facevid2vid.pth.tar
    (public layout) + facevid2vid.json (its widths) + l2l.pt (ours). Returns the folder."""
    import json
    from pathlib import Path

    import torch

    from space.models.checkpoint import save_checkpoint
    from space.models.facevid2vid.model import FaceVid2Vid
    from space.models.l2l import L2LConfig, Landmarks2Latents

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    config = renderer_config()
    FaceVid2Vid(config).save_checkpoint(str(folder / "facevid2vid.pth.tar"))
    (folder / "facevid2vid.json").write_text(json.dumps(config.to_dict()))
    save_checkpoint(str(folder / "l2l.pt"), Landmarks2Latents(L2LConfig()), "l2l", {"note": "random init, for tests"})
    return str(folder)
