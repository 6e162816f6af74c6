import numpy as np


def test_advance_moves_frames_earlier_and_holds_the_last():
    from space.animate.stages import advance

    frames = np.arange(6, dtype=np.float64)[:, None]
    assert advance(frames, 2)[:, 0].tolist() == [2, 3, 4, 5, 5, 5]
    assert advance(frames, 0) is frames
    assert advance(frames[:2], 5)[:, 0].tolist() == [1, 1]  # a lead longer than the clip holds its last frame


def test_the_face_leads_its_sound_by_the_measured_frames():
    from space.animate import AnimateOptions, Animator
    from space.animate.stages import MOUTH_LEAD_FRAMES
    from space.portrait import astronaut_portrait
    from space.synth.speech import synthesize_speech

    animator = Animator(AnimateOptions())
    portrait = astronaut_portrait(256)
    features = animator.stages.features(synthesize_speech(3.0, seed=5).audio)
    emotion = animator.stages.emotion("neutral")
    heard = animator.stages.speech_to_landmarks(features, portrait.normalized, emotion, lead=0)
    shown = animator.stages.speech_to_landmarks(features, portrait.normalized, emotion)
    assert MOUTH_LEAD_FRAMES == 1
    assert shown.shape == heard.shape
    # frame t shows the mouth of the sound at t + 1: the lips close before a /b/ is heard
    np.testing.assert_allclose(shown[:-MOUTH_LEAD_FRAMES], heard[MOUTH_LEAD_FRAMES:])
    np.testing.assert_allclose(shown[-MOUTH_LEAD_FRAMES:], np.repeat(heard[-1:], MOUTH_LEAD_FRAMES, 0))
    assert not np.allclose(shown, heard)
