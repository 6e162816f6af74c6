"""LivePortrait (space/models/liveportrait): its released file layout loads strictly, the keypoint transform is
the public one, and rendering behaves as the renderer relies on. Equality with the public code for the same
weights is benchmarks/check_liveportrait_equality.py (it needs a checkout of that code)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from space.errors import MissingWeightsError
from space.models.liveportrait import LAYOUT, LivePortrait, LivePortraitConfig, load_liveportrait
from space.models.liveportrait.model import BASE_FILES, STITCHING_FILE
from tests.support.tiny_liveportrait import tiny_config, write_release


def photo(seed: int = 0, side: int = 64) -> torch.Tensor:
    noise = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
    return torch.sigmoid(torch.nn.functional.interpolate(noise, size=(side, side), mode="bicubic"))


def test_release_sizes_have_the_public_keys_and_shapes():
    """The default config builds the release's networks: a few keys and shapes of the public files."""
    model = LivePortrait()
    states = model.expected_states()
    assert states["motion_extractor"]["detector.fc_pitch.weight"].shape == (66, 768)
    assert states["motion_extractor"]["detector.fc_kp.weight"].shape == (63, 768)
    assert states["appearance_feature_extractor"]["resblocks_3d.3dr5.conv2.weight"].shape == (32, 32, 3, 3, 3)
    assert states["warping_module"]["dense_motion_network.occlusion.weight"].shape[0] == 1
    assert "G_middle_5.conv_0.weight_orig" in states["spade_generator"]
    assert states["stitching"]["mlp.0.weight"].shape == (128, 126)
    assert states["eye"]["mlp.10.weight"].shape == (63, 64)
    assert LAYOUT.size == 70 and model.output_size == 512


def test_release_folder_roundtrip_renders_as_its_source(tmp_path):
    source = write_release(tmp_path / "liveportrait", seed=3)
    for folder in (tmp_path / "liveportrait", tmp_path):  # the release folder, or pretrained_weights/ above it
        loaded = load_liveportrait(str(folder))
        for key, value in source.state_dict().items():
            assert torch.equal(value, loaded.state_dict()[key]), key
    state = loaded.encode(photo())
    kp = loaded.keypoints(state.kp_canonical, loaded.estimate(photo(1)))
    with torch.no_grad():
        assert torch.equal(loaded.render(state, kp), source.render(source.encode(photo()), kp))


def test_missing_or_wrong_files_name_the_file_and_the_key(tmp_path):
    folder = tmp_path / "liveportrait"
    write_release(folder)
    (folder / BASE_FILES["warping_module"]).unlink()
    with pytest.raises(MissingWeightsError, match=r"warping_module\.pth.*no such file.*spade_generator\.pth"):
        load_liveportrait(str(folder))

    write_release(folder)
    state = torch.load(folder / BASE_FILES["motion_extractor"])
    state["detector.fc_kp.weight"] = torch.zeros(45, 16)  # a 15-keypoint head
    torch.save(state, folder / BASE_FILES["motion_extractor"])
    with pytest.raises(MissingWeightsError, match=r"motion_extractor\.pth.*detector\.fc_kp\.weight is \(45, 16\)"):
        load_liveportrait(str(folder))

    write_release(folder)
    entries = torch.load(folder / STITCHING_FILE)
    del entries["retarget_eye"]
    torch.save(entries, folder / STITCHING_FILE)
    with pytest.raises(MissingWeightsError, match=r"stitching_retargeting_module\.pth.*no 'retarget_eye' entry"):
        load_liveportrait(str(folder))


def test_keypoints_are_scale_times_rotated_canonical_plus_expression_then_xy_shift():
    """kp = s (R kc + exp) + (tx, ty, 0), R = Rz(roll) Ry(yaw) Rx(pitch) on column vectors (the public
    get_rotation_matrix returns its transpose for row vectors): checked against scipy's rotation."""
    model = LivePortrait(tiny_config())
    rng = np.random.default_rng(0)
    canonical = torch.as_tensor(rng.normal(0, 0.3, (2, 21, 3)), dtype=torch.float32)
    params = torch.zeros(2, 70)
    params[:, :3] = torch.tensor([[20.0, -10.0, 5.0], [-35.0, 15.0, -8.0]])  # yaw, pitch, roll
    params[:, 3:6] = torch.tensor([[0.1, -0.2, 0.7], [0.0, 0.05, -0.3]])
    params[:, 6:69] = torch.as_tensor(rng.normal(0, 0.02, (2, 63)), dtype=torch.float32)
    params[:, 69] = torch.tensor([1.3, 0.8])
    got = model.keypoints(canonical, params)
    for b in range(2):
        yaw, pitch, roll = params[b, :3].tolist()
        rot = Rotation.from_euler("ZYX", [roll, yaw, pitch], degrees=True).as_matrix()  # Rz @ Ry @ Rx
        want = (canonical[b].numpy() @ rot.T + params[b, 6:69].view(21, 3).numpy()) * params[b, 69].item()
        want[:, :2] += params[b, 3:5].numpy()  # z translation unused
        np.testing.assert_allclose(got[b].numpy(), want, atol=1e-5)
    with pytest.raises(ValueError, match=r"\(B, 70\) expected for 21 keypoints"):
        model.keypoints(canonical, params[:, :51])


def test_estimate_lays_out_degrees_translation_expression_scale():
    model = LivePortrait(tiny_config())
    raw = model.motion(photo())
    params = model.estimate(photo())
    idx = torch.arange(66, dtype=torch.float32)
    yaw = (torch.softmax(raw["yaw"], 1) * idx).sum(1) * 3 - 97.5
    assert params.shape == (1, 70)
    assert torch.allclose(params[:, 0], yaw) and torch.equal(params[:, 3:6], raw["t"])
    assert torch.equal(params[:, 6:69], raw["exp"]) and torch.equal(params[:, 69:], raw["scale"])
    assert model.canonical_keypoints(photo()).shape == (1, 21, 3)


@torch.no_grad()
def test_render_shares_one_photo_over_a_batch_and_stitching_moves_the_keypoints():
    model = LivePortrait(tiny_config(), stitch=True)
    state = model.encode(photo(side=128))  # any photo size: F and M see input_size
    params = torch.cat([model.estimate(photo(s)) for s in (1, 2, 3)])
    kp = model.keypoints(state.kp_canonical, params)
    out = model.render_outputs(state, kp)
    assert out["prediction"].shape == (3, 3, 128, 128)  # G draws 2x F's 64
    assert 0 <= out["prediction"].min() and out["prediction"].max() <= 1
    one = model.render(state, kp[1:2])
    assert (one - out["prediction"][1:2]).abs().max() < 1e-3  # batching changes only float rounding
    assert not torch.allclose(out["kp_driving"], kp)  # the stitching MLP corrected them
    model.stitch = False
    assert torch.equal(model.render_outputs(state, kp)["kp_driving"], kp)
    with pytest.raises(ValueError, match=r"driving keypoints of shape \(3, 15, 3\)"):
        model.render(state, kp[:, :15])


def test_config_roundtrips_through_json():
    config = tiny_config(96)
    assert LivePortraitConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="stitching MLP sizes do not fit num_kp"):
        LivePortraitConfig.from_dict({**config.to_dict(), "motion": {"num_kp": 15},
                                      "warping": {**config.to_dict()["warping"], "num_kp": 15}})
