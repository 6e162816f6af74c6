"""Long clips through the sequence models: cross-faded windows, no seams."""

import numpy as np
import pytest
import torch

from space.animate.windows import window_starts, windowed


def test_windows_cover_the_clip_and_end_at_its_end():
    assert window_starts(100, 400, 50) == [0]
    starts = window_starts(1000, 400, 50)
    assert starts[0] == 0 and starts[-1] + 400 == 1000
    assert all(b - a <= 350 for a, b in zip(starts, starts[1:]))  # every neighbour pair overlaps >= 50 frames
    with pytest.raises(ValueError, match="overlap"):
        window_starts(1000, 100, 100)


def test_a_model_that_agrees_with_itself_is_reproduced_exactly():
    signal = torch.sin(torch.arange(1234, dtype=torch.float64) / 17)[:, None].repeat(1, 3)
    out = windowed(lambda a, b: signal[a:b], len(signal), window=300, overlap=40)
    torch.testing.assert_close(out, signal)


def test_windows_that_disagree_are_blended_without_a_step():
    """Each window's output is offset by its own constant (as independent windows of a real model are): the
    result moves from one to the next gradually, never by more than offset / overlap per frame."""
    length, window, overlap = 1000, 300, 50
    starts = window_starts(length, window, overlap)
    offsets = {s: float(i % 2) for i, s in enumerate(starts)}  # 0, 1, 0, 1: a step of 1 at each hand-over
    out = windowed(lambda a, b: torch.full((b - a, 1), offsets[a], dtype=torch.float64), length, window, overlap)
    steps = out[1:, 0].sub(out[:-1, 0]).abs()
    assert steps.max() <= 1.0 / overlap + 1e-9
    assert out[0, 0] == 0 and out[-1, 0] == offsets[starts[-1]]


def test_s2l_on_a_minute_of_speech_moves_as_smoothly_across_window_joins_as_within(tmp_path):
    from space.animate import AnimateOptions, Animator
    from space.portrait import astronaut_portrait
    from space.synth.speech import synthesize_speech

    speech = synthesize_speech(40.0, seed=3).audio  # 1000 frames: three windows of 400
    animator = Animator(AnimateOptions())
    portrait = astronaut_portrait(256)
    features = animator.stages.features(speech)
    emotion = animator.stages.emotion("neutral")
    landmarks = animator.stages.speech_to_landmarks(features, portrait.normalized, emotion)  # (T, 68, 3)
    assert landmarks.shape == (features.shape[1], 68, 3)
    speed = np.linalg.norm(np.diff(landmarks, axis=0), axis=-1).mean(-1)  # (T-1,) mean point motion per frame
    joins = [s for s in window_starts(len(landmarks))[1:]]
    near = np.concatenate([speed[j - 2:j + 52] for j in joins])  # the cross-fade regions
    assert near.max() <= np.quantile(speed, 0.999) * 1.5
