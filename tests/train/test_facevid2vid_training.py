"""face-vid2vid fine-tuning: the losses (finite, of the right sign, zero where they should be), the random warp
of the equivariance loss, the discriminator's public state-dict names and the training-checkpoint format, a
short fine-tune on one (source, driving) pair that must lower the reconstruction error, resuming (optimizer
states matched to parameters by name), and the VGG19 weights of the perceptual loss.

The networks are the tiny test widths at 256 (the smallest size the model takes), with the estimators at 128
and a feature-volume depth of 4 so that a training step takes well under a second on a CPU.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

from space.errors import MissingWeightsError
from space.models.facevid2vid import FaceVid2Vid
from space.models.facevid2vid.config import DiscriminatorConfig, HeadPoseConfig, KeypointDetectorConfig
from space.models.facevid2vid.discriminator import (
    OPTIMIZERS,
    DiscriminatorOutput,
    FaceVid2VidDiscriminator,
    save_training_checkpoint,
)
from space.models.facevid2vid.model import NETWORKS
from space.train.facevid2vid import (
    TERMS,
    FaceVid2VidLossWeights,
    FaceVid2VidTraining,
    RandomTransform,
    TransformParams,
    VGG19Features,
    discriminator_gan_loss,
    equivariance_loss,
    expression_loss,
    feature_matching_loss,
    generator_gan_loss,
    keypoint_prior_loss,
    perceptual_loss,
    reconstruction_loss,
)
from tests.support.tiny_facevid2vid import tiny_config

STEPS = 25


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a 2-core machine shared with other work, two OpenMP threads wait on each other far
    longer than they save (a training step here: 0.8 s with one, 2 to 20 s with two under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def train_config():
    """tiny_config(256) with the keypoint detector and head-pose estimator at 128 and a volume depth of 4."""
    base = tiny_config(256)
    return dataclasses.replace(
        base,
        estimator_size=128,
        kp_detector=KeypointDetectorConfig(block_expansion=4, max_features=32, num_blocks=4,
                                           reshape_channel=32 * 4, reshape_depth=4),
        he_estimator=HeadPoseConfig(block_expansion=4, max_features=32),
        generator=dataclasses.replace(base.generator, max_features=2 * 4, reshape_depth=4,
                                      dense_motion=dataclasses.replace(base.generator.dense_motion, reshape_depth=4)),
    )


TINY_DISC = DiscriminatorConfig(block_expansion=4, max_features=32)


def smooth_pair(seed: int = 0, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """A random smooth (B, 3, 256, 256) image and the same image moved by a few pixels (a 'driving' frame)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(batch, 3, 8, 8, generator=g)
    source = F.interpolate(low, size=256, mode="bicubic", align_corners=False).clamp(0, 1)
    return source, torch.roll(source, shifts=(6, -4), dims=(2, 3))


def new_training(seed: int = 0, **kwargs) -> FaceVid2VidTraining:
    torch.manual_seed(seed)
    return FaceVid2VidTraining(FaceVid2Vid(train_config()), FaceVid2VidDiscriminator(TINY_DISC), **kwargs)


@pytest.fixture(scope="module")
def trained():
    """A training fine-tuned for STEPS steps on one pair (lr 1e-3 so that 25 steps show), and its losses."""
    training = new_training(lr=1e-3)
    source, driving = smooth_pair()
    history = [training.step(source, driving) for _ in range(STEPS)]
    return training, history


# -- the losses ------------------------------------------------------------------------------------------------


def test_every_loss_is_finite_and_of_the_right_sign():
    training = new_training()
    source, driving = smooth_pair(batch=2)
    losses = training.step(source, driving)
    assert set(losses) == set(TERMS)
    assert losses["headpose"] is None and losses["perceptual"] is None  # no HopeNet, no VGG weights given
    computed = {k: v for k, v in losses.items() if v is not None}
    assert set(computed) == set(TERMS) - {"headpose", "perceptual"}
    assert all(isinstance(v, float) and v == v and abs(v) != float("inf") for v in computed.values()), computed
    assert all(v >= 0 for v in computed.values()), computed  # least squares GAN: every term is non-negative
    assert computed["reconstruction"] > 0 and computed["discriminator_gan"] > 0
    parts = sum(v for k, v in computed.items() if k not in ("generator_total", "discriminator_gan"))
    assert computed["generator_total"] == pytest.approx(parts, rel=1e-5)
    assert training.step_count == 1


def test_losses_vanish_where_they_should():
    images = torch.rand(2, 3, 32, 32)
    pyramid = {1: images, 0.5: images[..., ::2, ::2]}
    assert reconstruction_loss(pyramid, pyramid) == 0
    assert reconstruction_loss(pyramid, {s: x + 0.1 for s, x in pyramid.items()}) == pytest.approx(0.2)

    spread = torch.tensor([[-0.5, -0.5, 0.33], [0.5, -0.5, 0.33], [0.0, 0.5, 0.33]]).expand(2, 3, 3)
    assert keypoint_prior_loss(spread) == 0  # far apart, mean depth 0.33
    assert keypoint_prior_loss(torch.zeros(2, 3, 3)) == pytest.approx(2 * 3 * 0.1 + 0.33)  # 3 pairs x 2 orders
    assert expression_loss(torch.zeros(2, 9)) == 0
    assert expression_loss(torch.full((2, 9), -0.1)) == pytest.approx(0.9)

    kp = torch.rand(2, 3, 3) * 2 - 1
    still = RandomTransform(2, TransformParams(sigma_affine=0.0, sigma_tps=None))
    assert equivariance_loss(kp, kp, still) == 0
    moved = RandomTransform(2, TransformParams(), torch.Generator().manual_seed(0))
    assert equivariance_loss(kp, kp, moved) > 0

    def outputs(value: float) -> dict:
        return {1: DiscriminatorOutput([torch.full((2, 4, 5, 5), value)], torch.full((2, 1, 3, 3), value))}

    assert generator_gan_loss(outputs(1.0)) == 0 and generator_gan_loss(outputs(0.0)) == 1
    assert discriminator_gan_loss(outputs(1.0), outputs(0.0)) == 0  # a perfect discriminator
    assert discriminator_gan_loss(outputs(0.0), outputs(1.0)) == 2
    assert discriminator_gan_loss(outputs(1.0), outputs(-1.0), mode="hinge") == 0
    assert feature_matching_loss(outputs(0.5), outputs(0.5), [10]) == 0
    assert feature_matching_loss(outputs(0.5), outputs(0.0), [10]) == pytest.approx(5.0)


def test_random_warp_moves_content_the_way_the_equivariance_loss_assumes():
    """A blob at p in the frame is found at q in the warped frame with warp(q) = p."""
    size = 64
    axis = torch.linspace(-1, 1, size)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    p = torch.tensor([0.3, -0.2])
    frame = torch.exp(-((x - p[0]) ** 2 + (y - p[1]) ** 2) / (2 * 0.05**2)).expand(1, 3, size, size)
    transform = RandomTransform(1, TransformParams(sigma_affine=0.1), torch.Generator().manual_seed(3))
    assert not torch.allclose(transform.theta, torch.eye(2, 3)[None])
    warped = transform.transform_frame(frame)[0, 0]  # (H, W)
    weights = warped / warped.sum()
    q = torch.stack([(weights * x).sum(), (weights * y).sum()])  # the blob's centre in the warped frame
    assert (transform.warp_coordinates(q.view(1, 1, 2))[0, 0] - p).abs().max() < 2 / size
    assert (q - p).abs().max() > 4 / size  # the warp did move it


# -- the discriminator and the training checkpoint ---------------------------------------------------------------


def test_discriminator_has_the_public_keys_and_shapes():
    disc = FaceVid2VidDiscriminator()  # vox-256: scales [1], block_expansion 32, max_features 512, 4 blocks, sn
    shapes = {k: tuple(v.shape) for k, v in disc.state_dict().items()}
    expected = {}
    for i, (c_in, c_out) in enumerate([(3, 64), (64, 128), (128, 256), (256, 512)]):
        prefix = f"discs.1.down_blocks.{i}."
        expected.update({prefix + "conv.bias": (c_out,), prefix + "conv.weight_orig": (c_out, c_in, 4, 4),
                         prefix + "conv.weight_u": (c_out,), prefix + "conv.weight_v": (c_in * 16,)})
        if i:  # instance norm (affine) from the second block on
            expected.update({prefix + "norm.weight": (c_out,), prefix + "norm.bias": (c_out,)})
    expected.update({"discs.1.conv.bias": (1,), "discs.1.conv.weight_orig": (1, 512, 1, 1),
                     "discs.1.conv.weight_u": (1,), "discs.1.conv.weight_v": (512,)})
    assert shapes == expected
    two_scales = FaceVid2VidDiscriminator(DiscriminatorConfig(scales=(1.0, 0.5), block_expansion=4))
    assert list(two_scales.discs) == ["1", "0-5"]  # 1.0 is the public `discs.1`

    out = FaceVid2VidDiscriminator(TINY_DISC)(torch.rand(2, 3, 64, 64))
    assert [f.shape for f in out[1].features] == [(2, 8, 30, 30), (2, 16, 13, 13), (2, 32, 5, 5), (2, 32, 2, 2)]
    assert out[1].prediction.shape == (2, 1, 2, 2)
    with pytest.raises(ValueError, match="smaller than the 53 pixels"):
        FaceVid2VidDiscriminator(TINY_DISC)(torch.rand(1, 3, 48, 48))


def test_training_checkpoint_round_trip(tmp_path):
    torch.manual_seed(5)
    model, disc = FaceVid2Vid(train_config()), FaceVid2VidDiscriminator(TINY_DISC)
    disc(torch.rand(1, 3, 64, 64))  # a training forward: the spectral norms' u and v move off their start
    optimizer = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999))
    path = tmp_path / "00000003-checkpoint.pth.tar"
    save_training_checkpoint(model, disc, path, optimizers={"optimizer_discriminator": optimizer.state_dict()},
                             epoch=3)

    raw = torch.load(path, weights_only=True)
    assert set(raw) == {*NETWORKS, "discriminator", "optimizer_discriminator", "epoch"} and raw["epoch"] == 3
    assert list(raw["discriminator"]) == list(disc.state_dict())
    strict = FaceVid2VidDiscriminator(TINY_DISC)
    strict.load_state_dict(raw["discriminator"], strict=True)
    fresh = FaceVid2VidDiscriminator(TINY_DISC)
    assert fresh.load_state(path) is True
    for a, b in ((disc, strict), (disc, fresh)):
        assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    loaded = FaceVid2Vid.from_checkpoint(path, train_config())  # the inference model ignores the rest
    assert torch.equal(loaded.kp_detector.kp.weight, model.kp_detector.kp.weight)

    inference_only = tmp_path / "inference.pth.tar"
    model.save_checkpoint(inference_only)
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    assert fresh.load_state(inference_only) is False  # no discriminator entry: kept as it is, and said so
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in before.items())

    with pytest.raises(MissingWeightsError, match="'discriminator' weights do not fit") as info:
        FaceVid2VidDiscriminator(DiscriminatorConfig(block_expansion=8, max_features=32)).load_state(path)
    assert str(path) in str(info.value)
    with pytest.raises(ValueError, match="unknown optimizer entries"):
        save_training_checkpoint(model, disc, path, optimizers={"optimizer_gen": {}})


# -- fine-tuning -----------------------------------------------------------------------------------------------


def test_fine_tuning_lowers_the_reconstruction_error(trained):
    training, history = trained
    reconstruction = [losses["reconstruction"] for losses in history]
    first, last = reconstruction[0], sum(reconstruction[-5:]) / 5
    assert last < 0.8 * first, reconstruction
    assert all(v == v for losses in history for v in losses.values() if v is not None)
    assert training.step_count == STEPS


def test_saved_fine_tune_loads_for_inference_and_resumes(trained, tmp_path):
    training, _ = trained
    path = tmp_path / "finetuned.pth.tar"
    training.save(path)
    raw = torch.load(path, weights_only=True)
    assert {*NETWORKS, "discriminator", *OPTIMIZERS, "epoch"} <= set(raw) and raw["step"] == STEPS

    model = FaceVid2Vid.from_checkpoint(path, train_config())
    source, driving = smooth_pair(seed=1)
    training.model.eval()
    with torch.no_grad():
        state = model.encode(source)
        kp = model.keypoints(state.kp_canonical, model.estimate(driving))
        assert torch.equal(model.render(state, kp), training.model.render(training.model.encode(source), kp))

    resumed = FaceVid2VidTraining.from_checkpoint(path, train_config(), discriminator_config=TINY_DISC)
    assert resumed.restored == {"discriminator": True, **{key: True for key in OPTIMIZERS}}
    assert resumed.step_count == STEPS
    for key, optimizer in training.optimizers.items():
        a, b = optimizer.state_dict()["state"], resumed.optimizers[key].state_dict()["state"]
        assert set(a) == set(b) and all(torch.equal(a[i]["exp_avg"], b[i]["exp_avg"]) for i in a)
    losses = resumed.step(source, driving)
    assert resumed.step_count == STEPS + 1 and losses["reconstruction"] > 0


def test_optimizer_states_in_the_public_parameter_order_are_matched_by_name(trained):
    """The public generator registers its dense-motion network first, ours after the appearance encoder:
    an optimizer state saved in that order must land on the same parameters here."""
    training, _ = trained
    state = training.state()
    ours = list(state["generator"])
    public_order = [k for k in ours if k.startswith("dense_motion_network.")] + \
                   [k for k in ours if not k.startswith("dense_motion_network.")]
    names = [name for name, _ in training.model.generator.named_parameters()]
    public_params = [k for k in public_order if k in names]
    assert public_params != names
    saved = state["optimizer_generator"]
    public = dict(state)
    public["generator"] = OrderedDict((k, state["generator"][k]) for k in public_order)
    public["optimizer_generator"] = {
        "state": {j: saved["state"][names.index(k)] for j, k in enumerate(public_params)},
        "param_groups": saved["param_groups"],
    }
    fresh = new_training(seed=9)
    fresh.load_state(public, "public-order")
    params = dict(fresh.model.generator.named_parameters())
    optimizer_state = fresh.optimizers["optimizer_generator"].state
    reference = dict(training.model.generator.named_parameters())
    reference_state = training.optimizers["optimizer_generator"].state
    for name in names:
        assert torch.equal(optimizer_state[params[name]]["exp_avg"], reference_state[reference[name]]["exp_avg"])

    bad = dict(public, optimizer_generator={"state": {}, "param_groups": [{**saved["param_groups"][0], "params": [0]}]})
    with pytest.raises(MissingWeightsError, match="'optimizer_generator' entry covers 1 parameters"):
        new_training().load_state(bad, "bad-optimizer")


def test_fine_tuning_starts_from_an_inference_checkpoint(tmp_path):
    torch.manual_seed(2)
    path = tmp_path / "inference.pth.tar"
    FaceVid2Vid(train_config()).save_checkpoint(path)
    training = FaceVid2VidTraining.from_checkpoint(path, train_config(), discriminator_config=TINY_DISC,
                                                   weights=FaceVid2VidLossWeights(generator_gan=0))
    assert training.restored == {"discriminator": False, **{key: False for key in OPTIMIZERS}}
    losses = training.step(*smooth_pair())
    assert losses["generator_gan"] is losses["feature_matching"] is losses["discriminator_gan"] is None  # GAN off
    assert losses["reconstruction"] > 0


# -- VGG19 weights for the perceptual loss ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def vgg_path(tmp_path_factory):
    """torchvision's vgg19(weights=None) state dict (every key and shape); the classifier tensors are stride-0
    views so that the file stays small (the perceptual loss never reads them)."""
    import torchvision

    torch.manual_seed(11)
    state = torchvision.models.vgg19(weights=None).state_dict()
    state = {k: (v if k.startswith("features.") else torch.zeros(1).expand(v.shape)) for k, v in state.items()}
    path = tmp_path_factory.mktemp("vgg") / "vgg19-random.pth"
    torch.save(state, path)
    return path, state


def test_vgg_weights_from_a_local_path_are_used(vgg_path):
    path, state = vgg_path
    vgg = VGG19Features.from_weights(path)
    assert torch.equal(vgg.features[28].weight, state["features.28.weight"])
    assert not any(p.requires_grad for p in vgg.parameters())
    images = torch.rand(1, 3, 32, 32)
    assert perceptual_loss(vgg, {1: images}, {1: images}, [10] * 5) == 0
    assert perceptual_loss(vgg, {1: images}, {1: images.flip(-1)}, [10] * 5) > 0

    training = new_training(vgg_weights=str(path))
    losses, _ = training.generator_losses(*smooth_pair())
    assert losses["perceptual"] is not None and torch.isfinite(losses["perceptual"]) and losses["perceptual"] > 0


def test_missing_or_wrong_vgg_weights_raise(tmp_path):
    missing = tmp_path / "nowhere" / "vgg19-dcbb9e9d.pth"
    with pytest.raises(MissingWeightsError, match="no such file") as info:
        VGG19Features.from_weights(missing)
    assert info.value.source == str(missing) and "perceptual" in str(info.value)
    with pytest.raises(MissingWeightsError, match="no such file") as info:  # checked before the checkpoint is read
        FaceVid2VidTraining.from_checkpoint(tmp_path / "no-checkpoint.pth.tar", train_config(), vgg_weights=missing)
    assert str(missing) in str(info.value)

    not_vgg = tmp_path / "model.pth.tar"
    FaceVid2Vid(train_config()).save_checkpoint(not_vgg)
    with pytest.raises(MissingWeightsError, match="missing keys: features.0.weight") as info:
        VGG19Features.from_weights(not_vgg)
    assert str(not_vgg) in str(info.value)
