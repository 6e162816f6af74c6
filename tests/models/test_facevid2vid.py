"""face-vid2vid networks: the public checkpoint format (keys, shapes, strict loading), save/load, the keypoint
transform, forward passes at 256 and 512, and the errors for bad checkpoint files.

data/facevid2vid_vox256_keys.json was made without our code: the public re-implementation's classes
(zhanglonghao1992/One-Shot_Free-View_Neural_Talking_Head_Synthesis, commits in its "source" field) built with
config/vox-256.yaml, their state-dict keys and shapes dumped; "transform_reference" holds that project's own
keypoint-transform outputs (headpose_pred_to_degree, get_rotation_matrix, keypoint_transformation) for a few
random inputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from space.errors import MissingFileError, MissingWeightsError
from space.models.facevid2vid import (
    PARAM_DIM,
    PARAM_LAYOUT,
    FaceVid2Vid,
    FaceVid2VidConfig,
    SourceState,
    rotation_matrix,
)
from space.models.facevid2vid.head_pose import bins_to_degrees
from space.models.facevid2vid.model import NETWORKS
from tests.support.tiny_facevid2vid import tiny_config

MANIFEST_PATH = Path(__file__).parent / "data" / "facevid2vid_vox256_keys.json"


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(MANIFEST_PATH.read_text())


@pytest.fixture(scope="module")
def vox256() -> FaceVid2Vid:
    torch.manual_seed(0)
    return FaceVid2Vid()


def manifest_states(manifest: dict, fill=None) -> dict[str, dict[str, torch.Tensor]]:
    """Tensors of the manifest's shapes under its names (random, or `fill(shape)` when given)."""
    g = torch.Generator().manual_seed(1)
    states = {}
    for name in NETWORKS:
        states[name] = {}
        for key, shape in manifest[name].items():
            if key.endswith("num_batches_tracked"):
                states[name][key] = torch.randint(0, 10**6, shape, generator=g, dtype=torch.long)
            elif fill is not None:
                states[name][key] = fill(shape)
            else:
                states[name][key] = torch.rand(shape, generator=g)
    return states


def public_training_checkpoint(states: dict) -> dict:
    """What the public trainer saves: the networks plus a discriminator, optimizer states and the epoch."""
    return {
        **states,
        "discriminator": {"discs.1.conv.weight": torch.rand(32, 3, 4, 4), "discs.1.conv.bias": torch.rand(32)},
        "optimizer_generator": {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.rand(4)}},
                                "param_groups": [{"lr": 2e-4, "betas": (0.5, 0.999), "eps": 1e-8, "params": [0]}]},
        "epoch": 189,
    }


# -- (1) keys and shapes ----------------------------------------------------------------------------------------


def test_manifest_comes_from_the_public_code(manifest):
    source = manifest["source"]
    assert source["repo"] == "zhanglonghao1992/One-Shot_Free-View_Neural_Talking_Head_Synthesis"
    assert {"modules/generator.py", "modules/util.py", "modules/dense_motion.py", "modules/keypoint_detector.py",
            "config/vox-256.yaml"} <= set(source["files"])
    assert all(len(commit) == 40 for commit in source["files"].values())


@pytest.mark.parametrize("name", NETWORKS)
def test_state_dict_keys_and_shapes_equal_the_public_manifest(vox256, manifest, name):
    ours = {k: list(v.shape) for k, v in getattr(vox256, name).state_dict().items()}
    expected = manifest[name]
    assert sorted(set(expected) - set(ours)) == []  # missing
    assert sorted(set(ours) - set(expected)) == []  # unexpected
    assert {k: v for k, v in ours.items() if v != expected[k]} == {}
    assert len(ours) == len(expected)


def test_parameter_counts(vox256):
    counts = {name: sum(v.numel() for v in getattr(vox256, name).state_dict().values()) for name in NETWORKS}
    assert counts == {"generator": 101069524, "kp_detector": 41946516, "he_estimator": 30315182}


# -- (2) a public-format checkpoint loads strictly ---------------------------------------------------------------


def test_public_format_checkpoint_loads_with_strict(manifest, tmp_path):
    states = manifest_states(manifest)
    path = tmp_path / "00000189-checkpoint.pth.tar"
    torch.save(public_training_checkpoint(states), path)

    model = FaceVid2Vid.from_checkpoint(str(path))

    assert not model.training
    for name in NETWORKS:
        loaded = getattr(model, name).state_dict()
        assert set(loaded) == set(states[name])
        for key, value in states[name].items():
            assert torch.equal(loaded[key], value), f"{name}.{key}"


def test_dataparallel_prefix_is_accepted(tmp_path):
    model = FaceVid2Vid(tiny_config(256))
    states = {name: {f"module.{k}": v for k, v in sd.items()} for name, sd in model.checkpoint_dict().items()}
    torch.save(states, tmp_path / "dp.pth.tar")
    loaded = FaceVid2Vid.from_checkpoint(str(tmp_path / "dp.pth.tar"), config=tiny_config(256))
    assert torch.equal(loaded.kp_detector.kp.weight, model.kp_detector.kp.weight)


# -- (3) save -> load ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["local", "memory"])
def test_save_load_round_trip(tmp_path, where):
    torch.manual_seed(3)
    config = tiny_config(256)
    model = FaceVid2Vid(config)
    with torch.no_grad():  # non-default batch-norm statistics, so that they are checked too
        for name, buffer in model.named_buffers():
            if name.endswith("running_mean"):
                buffer.normal_(0, 0.1)
    uri = str(tmp_path / "sub" / "fv2v.pth.tar") if where == "local" else f"memory://fv2v-{id(model)}/ck.pth.tar"
    model.save_checkpoint(uri)

    from space.io.uri import open_uri

    with open_uri(uri, "rb") as f:
        raw = torch.load(f, weights_only=True)
    assert set(raw) == set(NETWORKS)  # the public format, nothing else

    loaded = FaceVid2Vid.from_checkpoint(uri, config=config)
    for name in NETWORKS:
        a, b = getattr(model, name).state_dict(), getattr(loaded, name).state_dict()
        assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    if where == "local":
        image = torch.rand(1, 3, 256, 256)
        with torch.no_grad():
            source = model.encode(image)
            assert torch.equal(model.render(source, source.kp_source), loaded.render(source, source.kp_source))


# -- the keypoint transform, against the public code's outputs -------------------------------------------------


def test_param_layout():
    assert PARAM_DIM == 51 and PARAM_LAYOUT.size == 51
    assert (PARAM_LAYOUT.rotation, PARAM_LAYOUT.translation, PARAM_LAYOUT.expression) == (
        slice(0, 3), slice(3, 6), slice(6, 51))
    assert PARAM_LAYOUT["expression"] == PARAM_LAYOUT.expression


def test_transform_matches_public_reference(manifest):
    ref = {k: torch.tensor(v) for k, v in manifest["transform_reference"].items()}
    degrees = torch.stack([bins_to_degrees(ref[f"{a}_logits"]) for a in ("yaw", "pitch", "roll")], dim=1)
    torch.testing.assert_close(degrees, ref["degrees_yaw_pitch_roll"], atol=1e-4, rtol=0)
    rot = rotation_matrix(*ref["degrees_yaw_pitch_roll"].unbind(1))
    torch.testing.assert_close(rot, ref["rotation"], atol=1e-6, rtol=0)
    params = torch.cat([ref["degrees_yaw_pitch_roll"], ref["t"], ref["exp"]], dim=1)
    kp = FaceVid2Vid.keypoints(ref["kp_canonical"], params)
    torch.testing.assert_close(kp, ref["kp_transformed"], atol=1e-6, rtol=0)


def test_keypoints_identity_and_rotation():
    canonical = torch.rand(2, 15, 3) - 0.5
    assert torch.allclose(FaceVid2Vid.keypoints(canonical, torch.zeros(2, 51)), canonical, atol=1e-7)
    params = torch.zeros(2, 51)
    params[:, 3:6] = torch.tensor([0.1, -0.2, 0.3])
    assert torch.allclose(FaceVid2Vid.keypoints(canonical, params), canonical + params[:, None, 3:6], atol=1e-7)
    rot = rotation_matrix(torch.tensor([30.0, -60.0]), torch.tensor([10.0, 5.0]), torch.tensor([-20.0, 45.0]))
    assert torch.allclose(rot @ rot.transpose(1, 2), torch.eye(3).expand(2, 3, 3), atol=1e-6)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(2), atol=1e-6)
    with pytest.raises(ValueError, match=r"\(B, 51\) expected"):
        FaceVid2Vid.keypoints(canonical, torch.zeros(2, 50))


# -- (4) forward passes ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vox256_source(vox256) -> SourceState:
    torch.manual_seed(4)
    with torch.no_grad():
        return vox256.encode(torch.rand(1, 3, 256, 256))


@torch.no_grad()
def test_vox256_estimate_and_encode(vox256, vox256_source):
    params = vox256.estimate(torch.rand(2, 3, 256, 256))
    assert params.shape == (2, PARAM_DIM) and params.dtype == torch.float32 and torch.isfinite(params).all()
    assert ((params[:, :3] >= -99) & (params[:, :3] <= 96)).all()  # degrees, bin centres -99 ... 96
    source = vox256_source
    assert isinstance(source, SourceState)
    assert source.feature.shape == (1, 32, 16, 64, 64)
    assert source.kp_canonical.shape == source.kp_source.shape == (1, 15, 3)
    assert source.kp_canonical.abs().max() <= 1
    assert source.params.shape == (1, 51)
    torch.testing.assert_close(source.kp_source, FaceVid2Vid.keypoints(source.kp_canonical, source.params))


@pytest.mark.slow  # ~20 s on 2 CPU cores: the SPADE decoder at full width
@torch.no_grad()
def test_vox256_render(vox256, vox256_source):
    source = vox256_source
    out = vox256.render_outputs(source, source.kp_source)
    assert out["prediction"].shape == (1, 3, 256, 256)
    assert 0 <= out["prediction"].min() and out["prediction"].max() <= 1
    assert out["occlusion_map"].shape == (1, 1, 64, 64)
    assert out["mask"].shape == (1, 16, 16, 64, 64)
    torch.testing.assert_close(out["mask"].sum(1), torch.ones(1, 16, 64, 64))


@pytest.mark.parametrize("size, batch", [(256, 2), (512, 1)])
@torch.no_grad()
def test_forward_at_each_size(size, batch):
    torch.manual_seed(size)
    config = tiny_config(size)
    model = FaceVid2Vid(config)
    image = torch.rand(1, 3, size, size)
    source = model.encode(image)
    assert source.feature.shape == (1, 2, 16, size // 4, size // 4)
    params = source.params.expand(batch, -1).clone()
    assert params.shape == (batch, 6 + 3 * config.num_kp)
    params[-1, :3] += torch.tensor([10.0, -5.0, 3.0])  # turn the head
    kp_driving = model.keypoints(source.kp_canonical.expand(batch, -1, -1), params)
    out = model.render_outputs(source, kp_driving)  # `batch` frames against the one source
    frames = out["prediction"]
    assert frames.shape == (batch, 3, size, size) and frames.dtype == torch.float32
    assert 0 <= frames.min() and frames.max() <= 1
    occlusion = out["occlusion_map"]
    assert occlusion.shape == (batch, 1, size // 4, size // 4) and 0 <= occlusion.min() and occlusion.max() <= 1
    assert out["mask"].shape == (batch, config.num_kp + 1, 16, size // 4, size // 4)
    if batch > 1:  # a frame does not depend on the others in its batch (up to float rounding of batched convs)
        alone = model.render(source, kp_driving[:1])
        assert (alone - frames[:1]).abs().mean() < 1e-4
    with pytest.raises(ValueError, match="expected images of shape"):
        model.encode(torch.rand(1, 3, size // 2, size // 2))


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="size must be one of"):
        FaceVid2VidConfig(size=384)
    with pytest.raises(ValueError, match="estimate_jacobian"):
        FaceVid2VidConfig(estimate_jacobian=True)
    for config in (FaceVid2VidConfig(size=512), tiny_config(256)):
        assert FaceVid2VidConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_config_from_public_yaml_model_params():
    model_params = {
        "common_params": {"num_kp": 15, "image_channel": 3, "feature_channel": 32, "estimate_jacobian": False},
        "kp_detector_params": {"temperature": 0.1, "block_expansion": 32, "max_features": 1024,
                               "scale_factor": 0.25, "num_blocks": 5, "reshape_channel": 16384, "reshape_depth": 16},
        "he_estimator_params": {"block_expansion": 64, "max_features": 2048, "num_bins": 66},
        "generator_params": {"block_expansion": 64, "max_features": 512, "num_down_blocks": 2,
                             "reshape_channel": 32, "reshape_depth": 16, "num_resblocks": 6,
                             "estimate_occlusion_map": True,
                             "dense_motion_params": {"block_expansion": 32, "max_features": 1024, "num_blocks": 5,
                                                     "reshape_depth": 16, "compress": 4}},
        "discriminator_params": {"scales": [1]},
    }
    assert FaceVid2VidConfig.from_model_params(model_params) == FaceVid2VidConfig()


# -- (5) bad checkpoint files ------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere" / "facevid2vid.pth.tar"
    with pytest.raises(MissingWeightsError, match="no such file") as info:
        FaceVid2Vid.from_checkpoint(str(path))
    assert str(path) in str(info.value) and info.value.source == str(path)
    assert isinstance(info.value, MissingFileError) and info.value.kind == "missing_weights"
    with pytest.raises(MissingWeightsError, match="no such file"):
        FaceVid2Vid.from_checkpoint("memory://fv2v-missing/facevid2vid.pth.tar")
    with pytest.raises(MissingWeightsError, match="directory"):
        FaceVid2Vid.from_checkpoint(str(tmp_path))


def test_file_without_generator(tmp_path):
    path = tmp_path / "partial.pth.tar"
    torch.save({"kp_detector": {}, "he_estimator": {}, "epoch": 3}, path)
    with pytest.raises(MissingWeightsError, match="no 'generator' entry") as info:
        FaceVid2Vid.from_checkpoint(str(path))
    assert str(path) in str(info.value) and "epoch" in str(info.value)


def test_file_with_a_wrong_shape(manifest, tmp_path):
    # stride-0 tensors: the right shapes at no memory cost (torch.save keeps the one-element storage)
    states = manifest_states(manifest, fill=lambda shape: torch.zeros(1).expand(shape))
    states["kp_detector"]["kp.weight"] = torch.zeros(1).expand(16, 32, 3, 3, 3)
    path = tmp_path / "wrong.pth.tar"
    torch.save(public_training_checkpoint(states), path)
    with pytest.raises(MissingWeightsError) as info:
        FaceVid2Vid.from_checkpoint(str(path))
    message = str(info.value)
    assert str(path) in message and "'kp_detector'" in message
    assert "kp.weight is (16, 32, 3, 3, 3), expected (15, 32, 3, 3, 3)" in message


def test_file_with_missing_and_unexpected_keys(tmp_path):
    model = FaceVid2Vid(tiny_config(256))
    states = model.checkpoint_dict()
    del states["generator"]["fourth.bias"]
    states["he_estimator"]["fc_gaze.weight"] = torch.zeros(3)
    torch.save(states, tmp_path / "keys.pth.tar")
    with pytest.raises(MissingWeightsError, match=r"'generator'.*1 missing keys: fourth\.bias"):
        FaceVid2Vid.from_checkpoint(str(tmp_path / "keys.pth.tar"), config=tiny_config(256))
    del states["generator"]
    with pytest.raises(MissingWeightsError, match="in-memory: no 'generator' entry"):
        model.load_states(states, "in-memory")


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth.tar"
    path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(MissingWeightsError, match="torch.load failed") as info:
        FaceVid2Vid.from_checkpoint(str(path))
    assert str(path) in str(info.value)
