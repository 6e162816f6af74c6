import numpy as np
import pytest
import torch

from space.audio.features import AudioFeatures
from space.face.geometry import POSE_FIELDS
from space.face.geometry import compose_pose
from space.models.pose import POSE_DELTA_FIELDS, PoseConfig, PoseGenerator, pose_deltas
from space.synth.speech import synthesize_speech

SMALL = PoseConfig(encoder_channels=16, hidden=24, layers=1)


@pytest.fixture(scope="module")
def features():
    audio = synthesize_speech(3.0, seed=5).audio
    return AudioFeatures(SMALL.audio_features())(torch.as_tensor(audio))  # (1, 75, W, F)


def test_deltas_and_their_inverse():
    rng = np.random.default_rng(0)
    poses = np.column_stack([rng.normal(0, 10, (20, 3)), rng.uniform(100, 140, (20, 2)), rng.uniform(70, 90, 20)])
    d = pose_deltas(poses)
    assert len(POSE_FIELDS) == len(POSE_DELTA_FIELDS) == 6
    assert np.allclose(d[0], 0)
    assert np.allclose(d[:, 3], (poses[:, 3] - poses[0, 3]) / poses[0, 5])  # translation in units of rest scale
    assert np.allclose(compose_pose(poses[0], d), poses)
    rest = np.array([1.0, -2.0, 3.0, 128.0, 110.0, 80.0])
    assert np.allclose(pose_deltas(compose_pose(rest, d), rest), d)


def test_teacher_forcing_shapes_and_a_finite_likelihood(features):
    model = PoseGenerator(SMALL)
    deltas = torch.cumsum(torch.randn(2, features.shape[1], 6) * 0.1, 1)
    deltas = deltas - deltas[:, :1]
    mean, log_std = model(features.expand(2, -1, -1, -1), deltas)
    assert mean.shape == log_std.shape == (2, features.shape[1], 6)
    nll = model.nll(features.expand(2, -1, -1, -1), deltas)
    assert torch.isfinite(nll)
    nll.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_sampling_is_seedable(features):
    torch.manual_seed(0)
    model = PoseGenerator(SMALL)
    a, b, c = model.sample(features, seed=7), model.sample(features, seed=7), model.sample(features[0], seed=8)
    assert a.shape == (features.shape[1], 6) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.abs(a - c).max() > 0.1
    assert np.allclose(a[0], 0, atol=1e-6)  # the first frame is the photo's own pose
    cold = [model.sample(features, seed=s, temperature=0.0) for s in (1, 2)]
    assert np.array_equal(*cold)
    with pytest.raises(ValueError, match=r"\(1, T, W, F\)"):
        model.sample(features.expand(2, -1, -1, -1), seed=0)


def test_limits_hold_whatever_the_weights(features):
    """A model gone wild (huge outputs) still gives a bounded, continuous trajectory."""
    torch.manual_seed(0)
    model = PoseGenerator(SMALL)
    torch.nn.init.normal_(model.head[-1].weight, std=5.0)
    torch.nn.init.constant_(model.head[-1].bias, 2.0)
    s = model.sample(features, seed=1, temperature=2.0)
    limits, max_v = np.array(SMALL.limits), np.array(SMALL.max_velocity)
    assert np.all(np.abs(s) <= limits + 1e-5)
    assert np.all(np.abs(np.diff(s, axis=0)) <= max_v + 1e-5)
