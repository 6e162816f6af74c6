import numpy as np
import pytest
import torch

from space.models.emotion import emotion_vector
from space.models.l2l import HEAD_PARAMS, L2LConfig, Landmarks2Latents, crop_normalize

SMALL = L2LConfig(channels=32, hidden=24)


def _inputs(batch=2, frames=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, frames, 68, 3, generator=g) * 2 - 1, torch.randn(batch, frames, 20, 80, generator=g),
            torch.as_tensor(emotion_vector("happy=0.5"))[None].expand(batch, -1), torch.randn(batch, 15, 3, generator=g))


def test_layout_is_the_facevid2vid_contract():
    assert HEAD_PARAMS == 3 + 3 + 15 * 3 == 51
    out = Landmarks2Latents(SMALL)(*_inputs())
    assert out.shape == (2, 12, 51)


def test_param_groups_and_loss_weights_fit_any_renderer():
    from space.train.loop import l2l_weights

    face_vid2vid, live_portrait = L2LConfig(), L2LConfig(keypoints=21, params=70)
    assert face_vid2vid.param_groups() == {"angles": slice(0, 3), "translation": slice(3, 6),
                                           "expression": slice(6, 51)}
    assert live_portrait.param_groups()["expression"] == slice(6, 69)
    assert live_portrait.param_groups()["scale"] == slice(69, 70)
    for config in (face_vid2vid, live_portrait):
        w = l2l_weights(config)
        assert w.shape == (config.params,) and torch.isclose(w.mean(), torch.tensor(1.0))
        sums = [float(w[part].sum()) for part in config.param_groups().values()]
        assert max(sums) == pytest.approx(min(sums))  # each part counts alike
    with pytest.raises(ValueError, match="params 50"):
        L2LConfig(params=50)


def test_output_scale_comes_from_the_training_targets():
    model = Landmarks2Latents(SMALL).eval()
    targets = torch.randn(500, 51) * torch.linspace(0.01, 20, 51) + torch.linspace(-5, 5, 51)
    model.set_target_stats(targets)
    assert torch.allclose(model.target_mean, targets.mean(0), atol=1e-4)
    assert torch.allclose(model.target_std, targets.std(0, unbiased=False), rtol=1e-4)
    assert {"target_mean", "target_std"} <= set(model.state_dict())
    args = _inputs()
    assert torch.allclose(model(*args), model.forward_standardized(*args) * model.target_std + model.target_mean)


def test_predict_one_clip_and_wrong_shapes():
    model = Landmarks2Latents(SMALL).train()
    lm, feats, emo, kp = _inputs(batch=1)
    out = model.predict(lm[0].numpy(), feats[0].numpy(), emo[0].numpy(), kp[0].numpy())
    assert out.shape == (12, 51) and model.training
    with pytest.raises(ValueError, match="Landmarks2Latents takes audio windows"):
        model(lm, feats[..., :40], emo, kp)


def test_crop_normalize():
    px = np.array([[[0.0, 256.0, 128.0], [128.0, 64.0, -32.0]]])
    out = crop_normalize(px, 256)
    assert np.allclose(out, [[[-1.0, 1.0, 1.0], [0.0, -0.5, -0.25]]])
