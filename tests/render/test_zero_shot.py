"""Zero-shot driving (space/render/zero_shot.py): a keypoint renderer moved by its own motion estimator on the
warp renderer's frames, so a renderer checkpoint alone makes a video."""

import numpy as np
import pytest
import torch

from space.animate import AnimateOptions, Animator
from space.errors import MissingWeightsError
from space.render.zero_shot import smooth, zero_shot_params
from tests.support.tiny_facevid2vid import write_renderer_checkpoints


@pytest.fixture(scope="module")
def renderer_only(tmp_path_factory):
    """A checkpoints folder with a face-vid2vid checkpoint and no l2l.pt."""
    folder = tmp_path_factory.mktemp("renderer_only")
    write_renderer_checkpoints(folder)
    (folder / "l2l.pt").unlink()
    return str(folder)


def test_smooth_keeps_slow_motion_and_damps_jitter():
    t = torch.arange(50, dtype=torch.float32)
    slow = torch.stack([torch.full_like(t, 3.0), t * 0.5], 1)  # a constant and a steady ramp: kept
    torch.testing.assert_close(smooth(slow)[3:-3], slow[3:-3])
    torch.testing.assert_close(smooth(slow)[:, 0], slow[:, 0])
    jitter = torch.tensor([[(-1.0) ** i] for i in range(50)])  # frame-to-frame flicker: mostly removed
    assert smooth(jitter).abs().max() < 0.2
    assert torch.equal(smooth(jitter, sigma=0), jitter)
    for length in (1, 2, 3):  # clips shorter than the kernel
        assert smooth(torch.ones(length, 4)).shape == (length, 4)


def test_the_estimator_reads_the_warp_renderers_frames(animator_and_clip):
    """What the estimator sees are exactly the warp renderer's frames of the clip, in order, in [0, 1]."""
    from space.render.warp import WarpRenderer

    portrait, motion = animator_and_clip
    seen = []

    def estimate(images):
        seen.append(images)
        return images.mean(dim=(2, 3))  # (B, 3): one "param" per colour channel

    params = zero_shot_params(estimate, portrait, motion, "cpu", batch_size=4, sigma=0)
    warp = np.stack(list(WarpRenderer().render(portrait, motion)))
    frames = torch.cat(seen)
    assert frames.shape == (len(motion), 3, *warp.shape[1:3]) and [len(s) for s in seen][0] == 4
    np.testing.assert_allclose(frames.permute(0, 2, 3, 1).numpy() * 255, warp, atol=1e-3)
    torch.testing.assert_close(params, torch.as_tensor(warp, dtype=torch.float32).mean(dim=(1, 2)) / 255)


@pytest.fixture(scope="module")
def animator_and_clip(renderer_only):
    from space.portrait import astronaut_portrait

    options = AnimateOptions(renderer="facevid2vid", checkpoints=renderer_only, size=256, pose="natural",
                             driving="zero-shot")
    animator = Animator(options)
    portrait = astronaut_portrait(256)
    speech = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    return portrait, animator.motion(portrait, speech, options)


def test_zero_shot_renders_from_a_renderer_checkpoint_alone(renderer_only, photo_path, tmp_path):
    from space.io.audio import write_wav
    from space.io.probe import probe
    from space.synth.speech import synthesize_speech

    speech = tmp_path / "speech.wav"
    write_wav(speech, synthesize_speech(1.0, seed=1).audio)
    options = AnimateOptions(renderer="facevid2vid", checkpoints=renderer_only, size=256, driving="zero-shot")
    result = Animator(options).run(photo_path, str(speech), str(tmp_path / "zs.mp4"), progress=False)
    info = probe(str(tmp_path / "zs.mp4"))
    assert info.video.frame_count == result.frames == 25 and (info.video.width, info.video.height) == (256, 256)
    assert result.driving == "zero-shot" and "l2l" not in result.models and "facevid2vid" in result.models


def test_zero_shot_params_are_the_estimators_reading_of_the_clip(renderer_only, animator_and_clip):
    """The renderer's head params are its estimator's on the warp frames, smoothed; they move with the clip."""
    from space.render.facevid2vid import FaceVid2VidRenderer

    portrait, motion = animator_and_clip
    animator = Animator(AnimateOptions(renderer="facevid2vid", checkpoints=renderer_only, size=256,
                                       driving="zero-shot"))
    renderer = animator.renderer()
    assert isinstance(renderer, FaceVid2VidRenderer) and renderer.l2l is None
    source, params = renderer.start(portrait, motion)
    assert params.shape == (len(motion), 51) and torch.isfinite(params).all()
    expected = zero_shot_params(renderer.model.estimate, portrait, motion, "cpu")
    torch.testing.assert_close(params, expected)
    assert params.std(0).max() > 0  # it moves with the clip


def test_l2l_driving_without_l2l_points_to_zero_shot(renderer_only):
    with pytest.raises(MissingWeightsError, match="zero-shot"):
        Animator(AnimateOptions(renderer="facevid2vid", checkpoints=renderer_only, size=256))


def test_driving_is_checked():
    with pytest.raises(ValueError, match="keypoint renderers"):
        AnimateOptions(renderer="warp", driving="zero-shot")
    with pytest.raises(ValueError, match="choose one of"):
        AnimateOptions(renderer="facevid2vid", driving="telepathy")


def test_model_files_of_zero_shot_leave_out_l2l(renderer_only):
    from space.animate.stages import model_files

    assert "l2l" not in model_files(renderer_only, "facevid2vid", 256, "zero-shot")
    with pytest.raises(MissingWeightsError):
        model_files(renderer_only, "facevid2vid", 256, "l2l")
