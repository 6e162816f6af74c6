"""The mouth's source: S2L, the recognised phones' articulation, or the blend that ships as the default."""

from __future__ import annotations

import numpy as np
import pytest

from space.animate.mouth import PHONE_WEIGHT, blend, keep_lip_thickness, phonetic_landmarks
from space.eval.articulation import CLOSED
from space.face.expression import mouth_opening
from space.models.emotion import emotion_vector
from space.synth.phonetic import identity_base

NEUTRAL = emotion_vector("neutral")


def width(landmarks: np.ndarray) -> np.ndarray:
    return np.linalg.norm(landmarks[..., 54, :2] - landmarks[..., 48, :2], axis=-1)


def frame_at(t: float) -> int:
    return int(t * 25)


def test_phones_close_open_and_round_the_lips():
    """/m/ shuts the lips, /a/ opens them, /u/ narrows the mouth, /i/ spreads it; a pause rests closed."""
    identity = identity_base("mean_face")
    phones = [(0.0, 0.3, ""), (0.3, 0.5, "m"), (0.5, 0.8, "a"), (0.8, 1.0, "m"), (1.0, 1.3, "u"),
              (1.3, 1.5, "p"), (1.5, 1.8, "i"), (1.8, 2.2, "")]
    audio = np.random.default_rng(0).normal(0, 0.05, int(2.2 * 16000)).astype(np.float32)
    face = phonetic_landmarks(phones, audio, identity, NEUTRAL, 55)
    assert face.shape == (55, 68, 3)
    opening = mouth_opening(face)
    assert opening[frame_at(0.1)] < CLOSED and opening[frame_at(0.4)] < CLOSED and opening[frame_at(0.9)] < CLOSED
    assert opening[frame_at(0.65)] > 0.2  # an open /a/: about half the mouth's width
    rest = float(width(identity))
    assert width(face[frame_at(1.15)]) < 0.9 * rest < width(face[frame_at(1.65)])
    np.testing.assert_allclose(face[:, :17][:, [0, 1, 2, 14, 15, 16]], np.repeat(identity[None, [0, 1, 2, 14, 15, 16]], 55, 0))


def test_emotion_offsets_are_worn_as_in_training():
    """The phones' face wears the emotion the same way the corpus's targets did (S2L learnt those)."""
    from space.face.expression import mix_offsets

    identity = identity_base("mean_face")
    neutral = phonetic_landmarks([], np.zeros(16000, np.float32), identity, NEUTRAL, 25)
    happy = phonetic_landmarks([], np.zeros(16000, np.float32), identity, emotion_vector("happy=0.8"), 25)
    np.testing.assert_allclose(happy - neutral, np.repeat(mix_offsets({"happy": 0.8})[None], 25, 0), atol=1e-9)


def test_blend_weights_and_holds_a_short_track():
    a, b = np.zeros((5, 68, 3)), np.ones((4, 68, 3))
    out = blend(a, b)
    assert out.shape == (5, 68, 3)
    np.testing.assert_allclose(out, PHONE_WEIGHT)  # b's last frame held for the fifth
    np.testing.assert_allclose(blend(a, b[:5], 0.0), a)


def test_mouth_option_is_checked():
    from space.animate import AnimateOptions

    with pytest.raises(ValueError, match="blend, s2l, phones"):
        AnimateOptions(mouth="energy")


@pytest.fixture(scope="module")
def animator():
    from space.animate import AnimateOptions, Animator

    return Animator(AnimateOptions())


def test_the_three_sources_through_the_animator(animator):
    """mouth='s2l' is S2L's output as it was; 'phones' the recogniser's articulation; 'blend' between them,
    PHONE_WEIGHT of the way to the phones, with no lip thinner than the photo's allows; each records its
    time."""
    from space.portrait import astronaut_portrait
    from space.synth.speech import synthesize_speech

    portrait = astronaut_portrait(256)
    speech = synthesize_speech(2.0, seed=3).audio
    stages = animator.stages
    features = stages.features(speech)
    emotion = stages.emotion("neutral")
    timings: dict = {}
    s2l = stages.speaking_landmarks(features, speech, portrait.normalized, emotion, "s2l", timings)
    assert "phones" not in timings
    np.testing.assert_allclose(s2l, stages.speech_to_landmarks(features, portrait.normalized, emotion))
    phones = stages.speaking_landmarks(features, speech, portrait.normalized, emotion, "phones")
    mixed = stages.speaking_landmarks(features, speech, portrait.normalized, emotion, "blend", timings)
    assert timings["phones"] > 0 and s2l.shape == phones.shape == mixed.shape == (features.shape[1], 68, 3)
    np.testing.assert_allclose(mixed, keep_lip_thickness((1 - PHONE_WEIGHT) * s2l + PHONE_WEIGHT * phones,
                                                          portrait.normalized))


def test_blended_mouth_closes_and_rounds_on_sentences_no_model_heard(animator):
    """The shipped default path (S2L blended with the recognised phones) on held-out sentences full of /p b m/
    and /u o w/, spoken by three voices: the lips nearly shut on bilabials and narrow on rounded vowels. When
    written, bilabials opened 0.22 (Festival), 0.20 (Flite) and 0.35 (espeak-ng, whose robotic voice the
    recogniser hears least well) of the vowels around them; an energy follower opens them about half-way.
    S2L alone must reach 0.35 on every voice (tests/train/test_training.py)."""
    from tests.support.articulation import held_out_articulation

    stages = animator.stages

    def blended(audio, identity):
        return stages.speaking_landmarks(stages.features(audio), audio, identity, NEUTRAL, "blend")

    for name, m in held_out_articulation(blended).items():
        assert m["bilabials"] >= 15
        assert m["bilabial"] < 0.4 * m["vowels"], (name, m)
        assert m["rounded"] < m["spread"] - 0.08, (name, m)


def test_no_lip_turns_inside_out():
    """A tucked lower lip pressed against a closed mouth can push the upper lip's inner edge above its outer
    edge; the lips keep at least half the photo's thickness, closed but never crossed."""
    from space.animate.mouth import MIN_THICKNESS

    identity = identity_base("mean_face")
    face = identity.copy()
    face[[61, 62, 63], 1] = face[[50, 51, 52], 1] - 0.01  # inner upper edge above the outer one
    face[[65, 66, 67], 1] = face[[61, 62, 63], 1] - 0.02  # and the lower lip crossed above it
    fixed = keep_lip_thickness(face[None], identity)[0]
    upper = fixed[[61, 62, 63], 1] - fixed[[50, 51, 52], 1]
    lower = fixed[[58, 57, 56], 1] - fixed[[67, 66, 65], 1]
    assert np.all(upper >= MIN_THICKNESS * (identity[[61, 62, 63], 1] - identity[[50, 51, 52], 1]) - 1e-9)
    assert np.all(lower >= MIN_THICKNESS * (identity[[58, 57, 56], 1] - identity[[67, 66, 65], 1]) - 1e-9)
    assert np.all(fixed[[67, 66, 65], 1] >= fixed[[61, 62, 63], 1])  # closed, not crossed
    np.testing.assert_allclose(keep_lip_thickness(identity[None], identity)[0], identity)  # a sound face is kept


def test_the_lips_beside_the_corners_keep_their_thickness():
    """An open photo's lower lip raised to close it, on a rounded vowel, rose above the corner beside it (59
    above 60): the warp drew a dark slit there. The outer edge beside each corner stays off the inner lip's
    line (corner to its neighbour) by MIN_THICKNESS of the photo's distance."""
    from space.animate.mouth import MIN_THICKNESS, _line_y

    identity = identity_base("mean_face")
    face = identity.copy()
    face[[59, 55], 1] = face[[60, 64], 1] - 0.01  # lower lip beside the corners above them
    face[[49, 53], 1] = face[[60, 64], 1] + 0.01  # and the upper lip's below them
    fixed = keep_lip_thickness(face[None], identity)[0]
    for outer, corner, inner, below in ((49, 60, 61, False), (53, 64, 63, False), (59, 60, 67, True),
                                        (55, 64, 65, True)):
        sign = 1.0 if below else -1.0
        line = _line_y(fixed, corner, inner, fixed[outer, 0])
        rest = _line_y(identity, corner, inner, identity[outer, 0])
        least = MIN_THICKNESS * sign * (identity[outer, 1] - rest)
        assert least > 0 and sign * (fixed[outer, 1] - line) >= least - 1e-9, (outer, fixed[outer, 1], line)
    np.testing.assert_allclose(np.delete(fixed, [49, 53, 55, 59], 0), np.delete(face, [49, 53, 55, 59], 0))


def test_phones_recognised_on_another_worker_give_the_same_motion(animator):
    """The render job recognises phones on a CPU task and ships them as plain arrays to the animate actor: the
    motion is the one the Animator makes when it recognises them itself."""
    from pipelines.blobs import pack_arrays, unpack_arrays
    from space.animate import AnimateOptions
    from space.audio.phones import phones_from_arrays, phones_to_arrays
    from space.portrait import astronaut_portrait
    from space.synth.speech import synthesize_speech

    portrait = astronaut_portrait(256)
    speech = synthesize_speech(2.0, seed=4).audio
    options = AnimateOptions(pose="static")
    phones = animator.stages.phones(speech)
    assert any(symbol for _, _, symbol in phones)  # formant babble is heard as some words
    shipped = phones_from_arrays(unpack_arrays(pack_arrays(**phones_to_arrays(phones))))
    assert shipped == phones
    here = animator.motion(portrait, speech, options)
    there = animator.motion(portrait, speech, options, phones=shipped)
    np.testing.assert_array_equal(here.normalized, there.normalized)
    assert phones_from_arrays({}) is None
    assert phones_from_arrays(phones_to_arrays([])) == []
