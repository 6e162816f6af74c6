"""The facevid2vid renderer end to end: checkpoints folder -> Animator -> mp4, with narrow random-init networks
(the real vox-256 widths take ~15 s per frame on a small CPU; the code path is the same)."""

import numpy as np
import pytest
import torch

from space.animate import AnimateOptions, Animator
from space.io.probe import probe
from tests.support.tiny_facevid2vid import write_renderer_checkpoints


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return write_renderer_checkpoints(tmp_path_factory.mktemp("fv2v"))


def test_facevid2vid_renderer_writes_the_video(checkpoints, photo_path, tmp_path):
    from space.io.audio import write_wav
    from space.synth.speech import synthesize_speech

    speech = tmp_path / "short.wav"
    write_wav(speech, synthesize_speech(1.0, seed=1).audio)
    options = AnimateOptions(renderer="facevid2vid", checkpoints=checkpoints, size=256, pose="static", blink_rate=0)
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

    animator = Animator(AnimateOptions(renderer="facevid2vid", checkpoints=checkpoints, size=256))
    portrait = astronaut_portrait(256)
    motion = animator.motion(portrait, np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32),
                             AnimateOptions(renderer="facevid2vid", checkpoints=checkpoints, size=256, pose="static"))
    renderer = animator.renderer()
    assert isinstance(renderer, FaceVid2VidRenderer)
    source = renderer.model.encode(to_tensor(portrait.image, "cpu"))
    params = renderer.head_params(source, motion, 256)
    assert params.shape == (len(motion), 51) and torch.isfinite(params).all()
    motion.landmarks = motion.landmarks + np.array([20.0, 0.0, 0.0])
    assert not torch.allclose(renderer.head_params(source, motion, 256), params)


def test_missing_l2l_names_the_folder(tmp_path):
    from space.errors import MissingWeightsError

    write_renderer_checkpoints(tmp_path)
    (tmp_path / "l2l.pt").unlink()
    with pytest.raises(MissingWeightsError, match="l2l.pt"):
        Animator(AnimateOptions(renderer="facevid2vid", checkpoints=str(tmp_path)))


def test_a_batch_of_two_clips_draws_what_each_clip_draws_alone(checkpoints):
    """The render job fills GPU batches with frames of several requests: each frame must still come from its own
    photo and its own motion."""
    from space.portrait import astronaut_portrait

    options = AnimateOptions(renderer="facevid2vid", checkpoints=checkpoints, size=256, pose="static")
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
