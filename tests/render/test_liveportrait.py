"""The liveportrait renderer end to end: a checkpoints folder holding LivePortrait's release (narrow random-init
networks in the public layout) -> Animator -> mp4, driven by an L2L for its keypoints or zero-shot."""

import numpy as np
import pytest
import torch

from space.animate import AnimateOptions, Animator
from space.errors import MissingWeightsError
from space.io.probe import probe
from tests.support.tiny_liveportrait import write_renderer_checkpoints


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return write_renderer_checkpoints(tmp_path_factory.mktemp("liveportrait"))


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    from space.io.audio import write_wav
    from space.synth.speech import synthesize_speech

    path = tmp_path_factory.mktemp("speech") / "short.wav"
    write_wav(path, synthesize_speech(1.0, seed=1).audio)
    return str(path)


@pytest.mark.parametrize("driving", ["l2l", "zero-shot"])
def test_liveportrait_renderer_writes_the_video(checkpoints, speech, photo_path, tmp_path, driving):
    options = AnimateOptions(renderer="liveportrait", checkpoints=checkpoints, size=256, driving=driving)
    result = Animator(options).run(photo_path, speech, str(tmp_path / "lp.mp4"), progress=False)
    info = probe(str(tmp_path / "lp.mp4"))
    assert result.renderer == "liveportrait" and info.video.frame_count == result.frames == 25
    assert (info.video.width, info.video.height) == (256, 256)  # G's frames resized to the requested size
    assert result.models["liveportrait/motion_extractor"]["checkpoint"].endswith(
        "liveportrait/base_models/motion_extractor.pth")
    assert result.models["liveportrait/stitching_retargeting_module"]["checkpoint"].endswith(
        "retargeting_models/stitching_retargeting_module.pth")
    assert ("l2l" in result.models) == (driving == "l2l")


def test_l2l_predicts_liveportraits_70_params_and_they_move_the_frames(checkpoints):
    from space.portrait import astronaut_portrait
    from space.render.liveportrait import LivePortraitRenderer

    options = AnimateOptions(renderer="liveportrait", checkpoints=checkpoints, size=256, pose="static")
    animator = Animator(options)
    portrait = astronaut_portrait(256)
    motion = animator.motion(portrait, np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32), options)
    renderer = animator.renderer()
    assert isinstance(renderer, LivePortraitRenderer)
    clip = renderer.start(portrait, motion)
    assert clip[1].shape == (len(motion), 70) and torch.isfinite(clip[1]).all()
    frames = renderer.draw([clip], [(0, 0), (0, 5)])
    assert frames.shape == (2, 256, 256, 3) and frames.dtype == np.uint8
    moved = (clip[0], clip[1].clone(), clip[2])
    moved[1][:, 0] += 25  # 25 more degrees of yaw
    assert not np.array_equal(renderer.draw([moved], [(0, 0)])[0], frames[0])


def test_an_l2l_of_another_renderer_is_refused(checkpoints, tmp_path):
    """face-vid2vid's L2L (15 keypoints, 51 params) cannot drive LivePortrait: the error says so and what to do."""
    from space.models.checkpoint import save_checkpoint
    from space.models.l2l import L2LConfig, Landmarks2Latents

    folder = write_renderer_checkpoints(tmp_path, l2l=False)
    save_checkpoint(str(tmp_path / "l2l.pt"), Landmarks2Latents(L2LConfig()), "l2l", {})
    with pytest.raises(MissingWeightsError, match=r"l2l\.pt.*15 keypoints and 51 head params.*21 and 70.*zero-shot"):
        Animator(AnimateOptions(renderer="liveportrait", checkpoints=folder))


def test_a_folder_without_the_release_names_what_is_missing(tmp_path):
    with pytest.raises(MissingWeightsError, match=r"appearance_feature_extractor\.pth.*no such file"):
        Animator(AnimateOptions(renderer="liveportrait", checkpoints=str(tmp_path), driving="zero-shot"))
    with pytest.raises(MissingWeightsError, match="liveportrait renderer needs --checkpoints"):
        Animator(AnimateOptions(renderer="liveportrait", driving="zero-shot"))
