"""The facevid2vid renderer end to end: checkpoints folder -> Animator -> mp4, with narrow random-init networks
(the real vox-256 widths take ~15 s per frame on a small CPU; the code path is the same)."""

import json

import numpy as np
import pytest
import torch

from space.animate import AnimateOptions, Animator
from space.io.probe import probe
from space.models.checkpoint import save_checkpoint
from space.models.facevid2vid.config import (
    DenseMotionConfig, FaceVid2VidConfig, GeneratorConfig, HeadPoseConfig, KeypointDetectorConfig,
)
from space.models.facevid2vid.model import FaceVid2Vid
from space.models.l2l import L2LConfig, Landmarks2Latents


def narrow_config() -> FaceVid2VidConfig:
    return FaceVid2VidConfig(
        num_kp=15, feature_channel=2,
        kp_detector=KeypointDetectorConfig(block_expansion=4, max_features=32, reshape_channel=32 * 16),
        he_estimator=HeadPoseConfig(block_expansion=8, max_features=64),
        generator=GeneratorConfig(block_expansion=4, max_features=32, reshape_channel=2, num_resblocks=1,
                                  spade_hidden=8, spade_middle_blocks=1,
                                  dense_motion=DenseMotionConfig(block_expansion=2, max_features=16, compress=1)),
    )


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fv2v")
    torch.manual_seed(0)
    config = narrow_config()
    FaceVid2Vid(config).save_checkpoint(str(folder / "facevid2vid.pth.tar"))
    (folder / "facevid2vid.json").write_text(json.dumps(config.to_dict()))
    save_checkpoint(str(folder / "l2l.pt"), Landmarks2Latents(L2LConfig()), "l2l", {"note": "random init, for tests"})
    return str(folder)


def test_facevid2vid_renderer_writes_the_video(checkpoints, photo_path, tmp_path):
    from space.io.audio import write_wav
    from space.synth.speech import synthesize_speech

    speech = tmp_path / "short.wav"
    write_wav(speech, synthesize_speech(1.0, seed=1).audio)
    options = AnimateOptions(renderer="facevid2vid", checkpoints=checkpoints, pose="static", blink_rate=0)
    animator = Animator(options)
    result = animator.run(photo_path, str(speech), str(tmp_path / "fv2v.mp4"), progress=False)
    info = probe(str(tmp_path / "fv2v.mp4"))
    assert result.renderer == "facevid2vid" and info.video.frame_count == result.frames == 25
    assert (info.video.width, info.video.height) == (256, 256)
    # the folder had no s2l.pt / pose.pt: the shipped defaults were used, and the result says so
    assert result.models["s2l"]["checkpoint"].endswith("space/checkpoints/s2l.pt")
    assert result.models["facevid2vid"]["checkpoint"].endswith("facevid2vid.pth.tar")


def test_l2l_drives_the_keypoints(checkpoints):
    """The renderer's head params come from L2L: different landmarks give different driving keypoints."""
    from space.portrait import astronaut_portrait
    from space.render.facevid2vid import FaceVid2VidRenderer, to_tensor

    animator = Animator(AnimateOptions(renderer="facevid2vid", checkpoints=checkpoints))
    portrait = astronaut_portrait(256)
    motion = animator.motion(portrait, np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32),
                             AnimateOptions(renderer="facevid2vid", checkpoints=checkpoints, pose="static"))
    renderer = animator.renderer()
    assert isinstance(renderer, FaceVid2VidRenderer)
    source = renderer.model.encode(to_tensor(portrait.image, "cpu"))
    params = renderer.head_params(source, motion, 256)
    assert params.shape == (len(motion), 51) and torch.isfinite(params).all()
    motion.landmarks = motion.landmarks + np.array([20.0, 0.0, 0.0])
    assert not torch.allclose(renderer.head_params(source, motion, 256), params)


def test_missing_l2l_names_the_folder(tmp_path):
    from space.errors import MissingWeightsError

    torch.manual_seed(0)
    config = narrow_config()
    FaceVid2Vid(config).save_checkpoint(str(tmp_path / "facevid2vid.pth.tar"))
    (tmp_path / "facevid2vid.json").write_text(json.dumps(config.to_dict()))
    with pytest.raises(MissingWeightsError, match="l2l.pt"):
        Animator(AnimateOptions(renderer="facevid2vid", checkpoints=str(tmp_path)))


def test_a_batch_of_two_clips_draws_what_each_clip_draws_alone(checkpoints):
    """The render job fills GPU batches with frames of several requests: each frame must still come from its own
    photo and its own motion."""
    from space.portrait import astronaut_portrait

    options = AnimateOptions(renderer="facevid2vid", checkpoints=checkpoints, pose="static")
    animator = Animator(options)
    renderer = animator.renderer()
    portrait = astronaut_portrait(256)
    flipped = astronaut_portrait(256)
    flipped.image = np.ascontiguousarray(flipped.image[:, ::-1])  # another photo, same landmarks
    rng = np.random.default_rng(1)
    motions = [animator.motion(p, rng.normal(0, 0.1, 6400).astype(np.float32), options) for p in (portrait, flipped)]
    alone = [np.stack(list(renderer.render(p, m))) for p, m in zip((portrait, flipped), motions)]
    clips = [renderer.start(p, m) for p, m in zip((portrait, flipped), motions)]
    refs = [(0, 3), (1, 0), (0, 7), (1, 5)]
    mixed = renderer.draw(clips, refs)
    for frame, (i, t) in zip(mixed, refs):
        np.testing.assert_allclose(frame.astype(int), alone[i][t].astype(int), atol=1)
    assert not np.array_equal(mixed[0], mixed[1])
