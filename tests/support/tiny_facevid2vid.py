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
