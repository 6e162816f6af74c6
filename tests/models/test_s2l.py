import numpy as np
import pytest
import torch

from space.audio.features import AudioFeatures
from space.face.expression import EMOTIONS
from space.models.emotion import emotion_batch, emotion_vector
from space.models.film import FiLM
from space.models.s2l import S2LConfig, Speech2Landmarks, face_size, standardize_audio
from space.synth.corpus import astronaut_portrait
from space.synth.speech import synthesize_speech

SMALL = S2LConfig(encoder_channels=32, hidden=24, head_hidden=32)


@pytest.fixture(scope="module")
def identity():
    return torch.as_tensor(astronaut_portrait().normalized, dtype=torch.float32)


@pytest.fixture(scope="module")
def speech():
    return synthesize_speech(2.0, seed=3).audio


def _features(audio, gain=1.0):
    return AudioFeatures(SMALL.audio_features())(torch.as_tensor(audio * gain, dtype=torch.float32))  # (1, T, W, F)


def _moving(config=SMALL, seed=0):
    """A model whose output head is not zero, so the displacement is not trivially nothing."""
    torch.manual_seed(seed)
    model = Speech2Landmarks(config)
    torch.nn.init.normal_(model.head[-1].weight, std=0.05)
    return model.eval()


def test_emotion_vector_order_neutral_remainder_and_errors():
    assert emotion_vector("happy=0.7").tolist() == pytest.approx([0.3, 0.7, 0, 0, 0, 0, 0, 0])
    assert emotion_vector({"neutral": 0.0}).tolist() == emotion_vector("neutral").tolist() == [1.0] + [0.0] * 7
    assert emotion_vector({"surprise": 0.5, "fear": 0.25})[EMOTIONS.index("fear")] == 0.25
    assert emotion_vector({"happy": 1, "sad": 1})[0] == 0.0
    assert emotion_batch("sad", batch=3).shape == (3, 8)
    with pytest.raises(ValueError, match="unknown emotion 'joy'.*known: neutral, happy"):
        emotion_vector({"joy": 0.5})
    with pytest.raises(ValueError, match="outside"):
        emotion_vector({"happy": 1.5})
    with pytest.raises(ValueError, match="outside"):
        emotion_vector({"happy": float("nan")})
    with pytest.raises(ValueError, match="not a number"):
        emotion_vector({"happy": "lots"})


def test_film_starts_as_identity_and_conditions_per_batch_item():
    film = FiLM(8, 16)
    x = torch.randn(2, 5, 16)
    cond = torch.rand(2, 8)
    assert torch.equal(film(x, cond), x)
    torch.nn.init.normal_(film.proj.weight)
    y = film(x, cond)
    assert y.shape == x.shape and not torch.allclose(y[0], y[1] * x[0] / x[1])


def test_shapes_and_a_fresh_model_holds_the_photo_still(identity, speech):
    feats = _features(speech)
    model = Speech2Landmarks(SMALL)
    out = model(feats.expand(2, -1, -1, -1), identity[None].expand(2, -1, -1), torch.rand(2, 8))
    assert out.shape == (2, feats.shape[1], 68, 3)
    assert torch.allclose(out, identity.expand_as(out))


def test_displacement_is_in_face_size_units(identity, speech):
    """A face twice as big (or moved) gets motion twice as big (moved along): displacement scales with the face."""
    model = _moving()
    feats, emo = _features(speech), torch.as_tensor(emotion_vector("happy"))[None]
    base = model(feats, identity[None], emo)
    assert (base - identity).abs().max() > 1e-3
    assert torch.allclose(model(feats, 2 * identity[None], emo), 2 * base, atol=1e-5)
    shift = torch.tensor([0.3, -0.2, 0.1])
    assert torch.allclose(model(feats, identity[None] + shift, emo), base + shift, atol=1e-5)
    span = (identity[:, :2].amax(0) - identity[:, :2].amin(0)).numpy()
    assert face_size(identity).item() == pytest.approx(float(np.hypot(*span)))


def test_recording_level_does_not_matter(identity, speech):
    model = _moving()
    emo = torch.as_tensor(emotion_vector("neutral"))[None]
    loud, quiet = (model(_features(speech, g), identity[None], emo) for g in (1.0, 0.05))
    assert torch.allclose(loud, quiet, atol=1e-4)
    x = standardize_audio(_features(speech))
    assert x.mean(dim=(1, 2)).abs().max() < 1e-4 and (x.std(dim=(1, 2), unbiased=False) - 1).abs().max() < 0.01


def test_predict_takes_one_clip_in_numpy_and_keeps_the_mode(identity, speech):
    model = _moving().train()
    feats = _features(speech)[0].numpy()
    out = model.predict(feats, identity.numpy(), emotion_vector("sad"))
    assert out.shape == (feats.shape[0], 68, 3) and not out.requires_grad
    assert model.training
    again = model.predict(feats, identity.numpy(), emotion_vector("sad"))
    assert torch.equal(out, again)  # eval mode inside: no dropout


def test_wrong_feature_shape_is_a_clear_error(identity):
    model = Speech2Landmarks(SMALL)
    with pytest.raises(ValueError, match=r"audio windows \(B, T, 20, 80\).*got \(1, 10, 20, 40\)"):
        model(torch.zeros(1, 10, 20, 40), identity[None], torch.zeros(1, 8))
