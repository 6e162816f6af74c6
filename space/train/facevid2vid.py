"""Fine-tuning face-vid2vid: the paper's losses that can run here, and one training step.

Follows the public trainer of zhanglonghao1992/One-Shot_Free-View_Neural_Talking_Head_Synthesis
(`modules/model.py` GeneratorFullModel / DiscriminatorFullModel, `train.py`, `config/vox-256.yaml`), which
trains the networks whose checkpoints FaceVid2Vid loads; a `FaceVid2VidTraining` starts from such a checkpoint
(with or without its `discriminator` entry) and `save`s the same format, so the result is a checkpoint for
`FaceVid2Vid.from_checkpoint` and `space animate --renderer facevid2vid`.

A batch is (source, driving): (B, 3, S, S) float frames in [0, 1] of the same video. The source gives the
canonical keypoints and the appearance volume, the driving frame the head pose and expression; the generator
redraws the driving frame from the source (reconstruction). One `step` = one generator update (generator,
kp_detector and he_estimator, an Adam each) then one discriminator update, lr 2e-4, betas (0.5, 0.999).
The two objectives are modules (GeneratorObjective, DiscriminatorObjective) that `distribute` can wrap in
DistributedDataParallel, so several processes fine-tune one model (pipelines/train/facevid2vid.py, Ray Train).

Generator objective (weights: FaceVid2VidLossWeights, the public vox-256 values):
  reconstruction  L1 over an anti-aliased image pyramid (1, 1/2, 1/4, 1/8). Not in the public objective: it
                  is what drives the reconstruction when no VGG weights are at hand (set its weight to 0 for the
                  exact public objective).
  perceptual      L1 between VGG19 relu1_1 ... relu5_1 features of fake and real, at every pyramid scale. VGG19
                  is torchvision's architecture with ImageNet weights the user supplies (nothing is downloaded);
                  without them the term is skipped and reported as None.
  generator_gan   least squares, (1 - D(fake))^2, on the multi-scale patch discriminator (hinge: -D(fake));
  feature_matching L1 between the discriminator's features of real and fake, per block;
  equivariance    keypoints of a randomly warped driving frame (affine + thin-plate noise, the public
                  Transform), mapped back through the warp, equal the driving keypoints (x, y only);
  keypoint        prior: every two driving keypoints at least sqrt(0.1) apart (squared distance 0.1), and
                  their mean depth near 0.33;
  expression      the L1 norm of the expression deltas (a prior that they stay small);
  headpose        NOT computed: it compares the estimated angles with a pretrained HopeNet's, which is not
                  available here; always reported as None.
Discriminator objective: (1 - D(real))^2 + D(fake)^2 (hinge: relu(1 - D(real)) + relu(1 + D(fake))).

Every loss is a small function of tensors, so they can be tested and reused on their own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import MissingFileError, MissingWeightsError
from ..models.facevid2vid import FaceVid2Vid, FaceVid2VidConfig, SourceState
from ..models.facevid2vid.blocks import coordinate_grid
from ..models.facevid2vid.config import DiscriminatorConfig
from ..models.facevid2vid.discriminator import (
    DISCRIMINATOR,
    OPTIMIZERS,
    DiscriminatorOutput,
    FaceVid2VidDiscriminator,
    image_pyramid,
    training_checkpoint_dict,
)
from ..models.facevid2vid.model import (
    NETWORKS,
    check_state,
    clean_state,
    network_states,
    read_checkpoint,
    write_checkpoint,
)

PYRAMID_SCALES = (1, 0.5, 0.25, 0.125)  # the public train_params.scales
TERMS = ("reconstruction", "perceptual", "generator_gan", "feature_matching", "equivariance", "keypoint", "headpose",
         "expression", "generator_total", "discriminator_gan")
GAN_MODES = ("ls", "hinge")


@dataclass(frozen=True)
class FaceVid2VidLossWeights:
    """The public vox-256 `loss_weights`, plus our pixel reconstruction term (see the module docstring)."""

    reconstruction: float = 10.0  # ours; 0 = the public objective
    perceptual: tuple[float, ...] = (10, 10, 10, 10, 10)  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
    equivariance: float = 10  # the public `equivariance_value` (`equivariance_jacobian` is 0 without jacobians)
    keypoint: float = 10
    headpose: float = 20  # unused here: needs a pretrained HopeNet
    expression: float = 5
    generator_gan: float = 1
    discriminator_gan: float = 1
    feature_matching: tuple[float, ...] = (10, 10, 10, 10)  # one per discriminator block


@dataclass(frozen=True)
class TransformParams:
    """The public `transform_params`: affine noise sigma on the 2x3 matrix, thin-plate-spline noise on a
    points x points control grid (sigma_tps None = affine only)."""

    sigma_affine: float = 0.05
    sigma_tps: float | None = 0.005
    points_tps: int = 5


# -- the random warp of the equivariance loss -------------------------------------------------------------------


class RandomTransform:
    """A random warp of the plane, one per batch item (the public Transform): p -> A p + b [+ TPS(p)], with
    A, b = identity + N(0, sigma_affine) and TPS(p) = sum_c w_c d^2 log d, d = |p - c|_1 over a control grid.
    Coordinates are (x, y) in [-1, 1], grid_sample's order."""

    def __init__(self, batch: int, params: TransformParams, generator: torch.Generator | None = None,
                 device: Any = "cpu"):
        noise = torch.randn(batch, 2, 3, generator=generator) * params.sigma_affine
        self.theta = (noise + torch.eye(2, 3)).to(device)  # (B, 2, 3)
        self.control_points = self.control_params = None
        if params.sigma_tps is not None and params.points_tps > 0:
            n = params.points_tps
            grid = coordinate_grid(1, n, n, like=self.theta)[0, ..., :2]  # (n, n, 2)
            self.control_points = grid.reshape(1, 1, n * n, 2)
            weights = torch.randn(batch, 1, n * n, generator=generator) * params.sigma_tps
            self.control_params = weights.to(device)  # (B, 1, n*n)

    def warp_coordinates(self, points: Tensor) -> Tensor:
        """(B or 1, N, 2) -> (B, N, 2)."""
        theta = self.theta.to(points.dtype)
        warped = (theta[:, None, :, :2] @ points[..., None]).squeeze(-1) + theta[:, None, :, 2]  # (B, N, 2)
        if self.control_points is not None:
            distances = (points[:, :, None, :] - self.control_points.to(points.dtype)).abs().sum(-1)  # (B, N, n*n)
            tps = distances**2 * torch.log(distances + 1e-6) * self.control_params.to(points.dtype)
            warped = warped + tps.sum(dim=2, keepdim=True)  # the same offset on x and y, as the public code
        return warped

    def transform_frame(self, frames: Tensor) -> Tensor:
        """(B, C, H, W) -> the frames resampled at the warped pixel grid (reflection at the borders)."""
        b, _, h, w = frames.shape
        grid = coordinate_grid(1, h, w, like=frames)[0, ..., :2].reshape(1, h * w, 2)  # (1, H*W, 2)
        warped = self.warp_coordinates(grid).view(b, h, w, 2)
        return F.grid_sample(frames, warped, padding_mode="reflection", align_corners=False)


# -- VGG19 for the perceptual loss ------------------------------------------------------------------------------

VGG_SLICES = ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))  # features[...] ending at relu1_1 ... relu5_1
VGG_FILE = "vgg19-dcbb9e9d.pth"  # the name torchvision gives its ImageNet weights


class VGG19Features(nn.Module):
    """torchvision's VGG19 `features` up to relu5_1, frozen: (B, 3, H, W) in [0, 1] -> five feature maps.

    Built from torchvision's own layer list (`make_layers(cfgs["E"])`, what `vgg19(weights=None).features`
    is) without the 100M-parameter classifier, which the loss never uses. Keys `features.0.weight` ... as in a
    torchvision vgg19 state dict."""

    def __init__(self):
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers

        self.features = make_layers(cfgs["E"])[: VGG_SLICES[-1][1]]
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "VGG19Features":
        return super().train(False)  # a fixed feature extractor (no dropout or norms anyway)

    def forward(self, images: Tensor) -> list[Tensor]:
        x = (images - self.mean) / self.std
        out = []
        for start, stop in VGG_SLICES:
            for i in range(start, stop):
                x = self.features[i](x)
            out.append(x)
        return out

    @classmethod
    def from_weights(cls, uri: str | os.PathLike) -> "VGG19Features":
        """Load the `features` part of a torchvision vgg19 state dict (a local path or fsspec URI; the
        classifier entries are ignored). MissingWeightsError naming the file when it is missing or does not fit."""
        text = os.fspath(uri)
        state = _read_state_dict(text)
        vgg = cls()
        expected = vgg.state_dict()
        missing = [k for k in expected if not isinstance(state.get(k), Tensor)]
        shapes = [f"{k} is {tuple(state[k].shape)}, expected {tuple(v.shape)}"
                  for k, v in expected.items() if k not in missing and state[k].shape != v.shape]
        if missing or shapes:
            more = "; ".join(filter(None, [
                f"{len(missing)} missing keys: {', '.join(missing[:3])}" if missing else "",
                f"{len(shapes)} wrong shapes: {'; '.join(shapes[:3])}" if shapes else ""]))
            raise MissingWeightsError(text, f"not torchvision's VGG19 weights ({more})")
        vgg.load_state_dict({k: state[k] for k in expected}, strict=True)
        return vgg


def _read_state_dict(uri: str) -> Mapping[str, Tensor]:
    from ..io.uri import open_uri

    try:
        with open_uri(uri, "rb") as f:
            state = torch.load(f, map_location="cpu", weights_only=True)
    except MissingFileError as exc:
        raise MissingWeightsError(uri, f"{exc.reason} (expected torchvision's VGG19 ImageNet weights, {VGG_FILE}, "
                                       "for the perceptual loss; give no VGG weights to train without it)") from exc
    except (IsADirectoryError, PermissionError) as exc:
        raise MissingWeightsError(uri, f"cannot be read as a VGG19 state dict ({type(exc).__name__})") from exc
    except Exception as exc:  # torch raises many kinds for a file that is not a checkpoint
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise MissingWeightsError(uri, f"not a torch state dict, torch.load failed: {first}") from exc
    if not isinstance(state, Mapping):
        raise MissingWeightsError(uri, f"holds a {type(state).__name__}, not a VGG19 state dict")
    return state


def load_vgg(vgg_weights: str | os.PathLike | VGG19Features | None) -> VGG19Features | None:
    """None, a ready VGG19Features, or the path of torchvision vgg19 weights -> the perceptual network."""
    if vgg_weights is None or isinstance(vgg_weights, VGG19Features):
        return vgg_weights
    return VGG19Features.from_weights(vgg_weights)


# -- losses ---------------------------------------------------------------------------------------------------


def reconstruction_loss(fake: Mapping[float, Tensor], real: Mapping[float, Tensor]) -> Tensor:
    """{scale: (B, 3, s, s)} each -> sum over scales of the mean absolute difference."""
    return sum((fake[s] - real[s]).abs().mean() for s in fake)


def perceptual_loss(vgg: VGG19Features, fake: Mapping[float, Tensor], real: Mapping[float, Tensor],
                    weights: Sequence[float]) -> Tensor:
    """{scale: (B, 3, s, s)} each -> sum over scales and VGG layers i of weights[i] * mean |vgg_i(fake) -
    vgg_i(real)| (the real features are a fixed target)."""
    total = fake[next(iter(fake))].new_zeros(())
    for s in fake:
        fake_features = vgg(fake[s])  # [(B, 64, s, s), (B, 128, s/2, s/2), ... (B, 512, s/16, s/16)]
        with torch.no_grad():
            real_features = vgg(real[s])
        for weight, a, b in zip(weights, fake_features, real_features):
            if weight:
                total = total + weight * (a - b).abs().mean()
    return total


def equivariance_loss(kp_driving: Tensor, kp_transformed: Tensor, transform: RandomTransform) -> Tensor:
    """(B, K, 3) keypoints of the driving frame and of its warped copy -> mean |kp_driving - warp(kp_warped)|
    over x and y (a keypoint found at p in the warped frame sits at warp(p) in the driving frame)."""
    return (kp_driving[..., :2] - transform.warp_coordinates(kp_transformed[..., :2])).abs().mean()


def keypoint_prior_loss(kp: Tensor, min_distance: float = 0.1, depth: float = 0.33) -> Tensor:
    """(B, K, 3) keypoints -> sum over pairs i < j ... of mean_B relu(min_distance - |kp_i - kp_j|^2), both
    orders (as the public double loop), plus mean_B |mean_K z - depth|. The public loop also visits i == j,
    a constant 0.1 K that moves nothing: left out, so the loss is 0 when the prior holds."""
    k = kp.shape[1]
    total = kp.new_zeros(())
    for i, j in combinations(range(k), 2):
        squared = (kp[:, i] - kp[:, j]).pow(2).sum(-1)  # (B,)
        total = total + 2 * F.relu(min_distance - squared).mean()
    return total + (kp[:, :, 2].mean(-1) - depth).abs().mean()


def expression_loss(expression: Tensor) -> Tensor:
    """(B, K * 3) expression deltas -> the mean over B of their L1 norm."""
    return expression.abs().sum(-1).mean()


def generator_gan_loss(fake: Mapping[float, DiscriminatorOutput], mode: str = "ls") -> Tensor:
    """The discriminator's outputs on generated frames -> sum over scales of mean (1 - D)^2 (ls) or -D (hinge)."""
    return sum(((1 - out.prediction) ** 2).mean() if mode == "ls" else -out.prediction.mean()
               for out in fake.values())


def discriminator_gan_loss(real: Mapping[float, DiscriminatorOutput], fake: Mapping[float, DiscriminatorOutput],
                           mode: str = "ls") -> Tensor:
    """Sum over scales of mean (1 - D(real))^2 + D(fake)^2 (ls) or relu(1 - D(real)) + relu(1 + D(fake))."""
    total = 0
    for s in real:
        r, f = real[s].prediction, fake[s].prediction  # (B, 1, h, w) each
        if mode == "ls":
            total = total + ((1 - r) ** 2 + f**2).mean()
        else:
            total = total + F.relu(1 - r).mean() + F.relu(1 + f).mean()
    return total


def feature_matching_loss(real: Mapping[float, DiscriminatorOutput], fake: Mapping[float, DiscriminatorOutput],
                          weights: Sequence[float]) -> Tensor:
    """Sum over scales and blocks i of weights[i] * mean |features_i(real) - features_i(fake)|."""
    total = 0
    for s in real:
        for weight, a, b in zip(weights, real[s].features, fake[s].features):
            if weight:
                total = total + weight * (a - b).abs().mean()
    return total


# -- the trainer ------------------------------------------------------------------------------------------------


def _adam(module: nn.Module, lr: float, betas: tuple[float, float]) -> torch.optim.Adam:
    return torch.optim.Adam(module.parameters(), lr=lr, betas=betas)


def align_optimizer_state(state: Mapping[str, Any], saved_order: Sequence[str], module: nn.Module, name: str,
                          uri: str) -> dict[str, Any]:
    """An Adam state dict saved for a module whose parameters came in `saved_order` (the order of that
    module's state-dict keys in the checkpoint) -> the same state numbered in `module`'s parameter order.

    Needed because optimizer states are keyed by position: the public generator registers its dense-motion
    network first, ours after the appearance encoder. MissingWeightsError when the state does not fit."""
    params = dict(module.named_parameters())
    names = list(params)
    order = [k for k in saved_order if k in params]
    groups = state.get("param_groups") if isinstance(state, Mapping) else None
    if not isinstance(groups, list) or len(groups) != 1 or not isinstance(state.get("state"), Mapping):
        raise MissingWeightsError(uri, f"its {name!r} entry is not a one-group optimizer state dict")
    if len(order) != len(names) or sorted(groups[0]["params"]) != list(range(len(names))):
        raise MissingWeightsError(uri, f"its {name!r} entry covers {len(groups[0]['params'])} parameters, "
                                       f"the network has {len(names)}")
    position = {k: i for i, k in enumerate(names)}
    moved = {}
    for saved_id, values in state["state"].items():
        key = order[int(saved_id)]
        for field, value in values.items():
            if isinstance(value, Tensor) and value.ndim and value.shape != params[key].shape:
                raise MissingWeightsError(uri, f"its {name!r} entry has {field} of shape {tuple(value.shape)} "
                                               f"for {key}, expected {tuple(params[key].shape)}")
        moved[position[key]] = values
    group = dict(groups[0], params=list(range(len(names))))
    return {"state": moved, "param_groups": [group]}


class GeneratorObjective(nn.Module):
    """The generator objective as a module over the three inference networks (its only submodule is the
    FaceVid2Vid): forward(source, driving) -> (total, {term: weighted loss or None}, generated frames). A
    module, so that DistributedDataParallel's forward hook sees every parameter the loss reaches."""

    def __init__(self, training: "FaceVid2VidTraining"):
        super().__init__()
        self.model = training.model
        self._losses = training.generator_losses  # a bound method, not a submodule

    def forward(self, source: Tensor, driving: Tensor) -> tuple[Tensor, dict[str, Tensor | None], Tensor]:
        losses, fake = self._losses(source, driving)
        total = sum(v for v in losses.values() if v is not None)
        if not isinstance(total, Tensor):
            raise ValueError("every generator loss weight is 0 (or its input is missing): nothing to train")
        return total, losses, fake


class DiscriminatorObjective(nn.Module):
    """The discriminator objective as a module over the discriminator: forward(real, fake) -> the weighted
    loss (both batches in one forward, so one DistributedDataParallel reduction covers them)."""

    def __init__(self, training: "FaceVid2VidTraining"):
        super().__init__()
        self.discriminator = training.discriminator
        self.weight, self.gan_mode = training.weights.discriminator_gan, training.gan_mode

    def forward(self, real: Tensor, fake: Tensor) -> Tensor:
        d = self.discriminator
        return self.weight * discriminator_gan_loss(d(real), d(fake), self.gan_mode)


class FaceVid2VidTraining:
    """Generator + discriminator fine-tuning of a FaceVid2Vid (see the module docstring for the objective).

    `restored` says what `load_state` / `from_checkpoint` found: {"discriminator": bool, "optimizer_...": bool}
    (False: the checkpoint had no such entry and it starts fresh).
    """

    def __init__(self, model: FaceVid2Vid, discriminator: FaceVid2VidDiscriminator | None = None,
                 vgg_weights: str | os.PathLike | VGG19Features | None = None,
                 weights: FaceVid2VidLossWeights = FaceVid2VidLossWeights(),
                 transform: TransformParams | None = TransformParams(), gan_mode: str = "ls",
                 scales: tuple[float, ...] = PYRAMID_SCALES, lr: float = 2e-4,
                 betas: tuple[float, float] = (0.5, 0.999), seed: int = 0):
        if gan_mode not in GAN_MODES:
            raise ValueError(f"gan_mode {gan_mode!r}: one of {GAN_MODES} expected")
        device = next(model.parameters()).device
        self.model = model.train()
        self.discriminator = (discriminator or FaceVid2VidDiscriminator()).to(device).train()
        self.vgg = load_vgg(vgg_weights)
        if self.vgg is not None:
            self.vgg.to(device)
        self.weights, self.transform, self.gan_mode, self.scales = weights, transform, gan_mode, tuple(scales)
        self.optimizers = {f"optimizer_{name}": _adam(getattr(model, name), lr, betas) for name in NETWORKS}
        self.optimizers["optimizer_discriminator"] = _adam(self.discriminator, lr, betas)
        self.rng = torch.Generator().manual_seed(seed)  # the equivariance warps
        self.step_count, self.epoch = 0, 0
        # what `step` calls; `distribute` wraps them for data-parallel training
        self.generator_objective: nn.Module = GeneratorObjective(self)
        self.discriminator_objective: nn.Module = DiscriminatorObjective(self)
        self.restored: dict[str, bool] = {}

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # -- one step -------------------------------------------------------------------------------------------

    def step(self, source: Tensor, driving: Tensor) -> dict[str, float | None]:
        """One generator update, then one discriminator update, on (B, 3, S, S) frames in [0, 1]. Returns every
        weighted term of TERMS as a float; None for a term not computed (headpose always, perceptual without
        VGG weights, equivariance without a transform, a term whose weight is 0, the GAN terms and the
        discriminator update when generator_gan is 0)."""
        source, driving = self._check_batch(source, driving)
        self.model.train()
        self.discriminator.train()
        total, losses, fake = self.generator_objective(source, driving)
        for name in NETWORKS:
            self.optimizers[f"optimizer_{name}"].zero_grad(set_to_none=True)
        total.backward()
        for name in NETWORKS:
            self.optimizers[f"optimizer_{name}"].step()
        losses["generator_total"] = total.detach()
        losses["discriminator_gan"] = self.discriminator_step(driving, fake.detach())
        self.step_count += 1
        return {k: None if losses.get(k) is None else float(losses[k].detach()) for k in TERMS}

    def distribute(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        """Data-parallel training: `wrap` (e.g. DistributedDataParallel, or Ray Train's prepare_model) is applied
        to the generator objective (a module over the three inference networks) and to the discriminator
        objective, and `step` calls the wrapped modules, so their gradients are averaged across processes.
        The networks stay where they are (`model`, `discriminator`), so states and checkpoints are unchanged."""
        self.generator_objective = wrap(self.generator_objective)
        self.discriminator_objective = wrap(self.discriminator_objective)

    def generator_losses(self, source: Tensor, driving: Tensor) -> tuple[dict[str, Tensor | None], Tensor]:
        """-> ({term: weighted loss or None}, the generated frames (B, 3, S, S)); gradients flow to the three
        inference networks only."""
        m, w = self.model, self.weights
        canonical = m.canonical_keypoints(source)  # (B, K, 3)
        params_source, params_driving = m.estimate(source), m.estimate(driving)  # (B, 6 + 3K) each
        kp_source = m.keypoints(canonical, params_source)
        kp_driving = m.keypoints(canonical, params_driving)  # (B, K, 3)
        state = SourceState(m.generator.extract(source), canonical, params_source, kp_source)
        fake = m.render(state, kp_driving)  # (B, 3, S, S)

        disc_scales = self.discriminator.scales if w.generator_gan else ()
        scales = tuple(dict.fromkeys(self.scales + tuple(disc_scales)))
        fake_pyramid = image_pyramid(fake, scales)
        with torch.no_grad():
            real_pyramid = image_pyramid(driving, scales)
        loss_pyramid = {s: fake_pyramid[s] for s in self.scales}
        losses: dict[str, Tensor | None] = dict.fromkeys(TERMS[:-2])
        if w.reconstruction:
            losses["reconstruction"] = w.reconstruction * reconstruction_loss(loss_pyramid, real_pyramid)
        if self.vgg is not None and any(w.perceptual):
            losses["perceptual"] = perceptual_loss(self.vgg, loss_pyramid, real_pyramid, w.perceptual)
        if w.generator_gan:
            losses["generator_gan"], losses["feature_matching"] = self._gan_terms(fake_pyramid, real_pyramid)
        if self.transform is not None and w.equivariance:
            transform = RandomTransform(driving.shape[0], self.transform, self.rng, self.device)
            kp_warped = m.keypoints(canonical, m.estimate(transform.transform_frame(driving)))
            losses["equivariance"] = w.equivariance * equivariance_loss(kp_driving, kp_warped, transform)
        if w.keypoint:
            losses["keypoint"] = w.keypoint * keypoint_prior_loss(kp_driving)
        if w.expression:
            losses["expression"] = w.expression * expression_loss(params_driving[:, m.layout.expression])
        return losses, fake

    def _gan_terms(self, fake_pyramid: dict[float, Tensor], real_pyramid: dict[float, Tensor]) -> tuple[Tensor, Tensor]:
        """-> (generator GAN, feature matching), weighted; the discriminator is frozen for them."""
        disc = self.discriminator
        disc.requires_grad_(False)
        try:
            fake_out = disc(fake_pyramid)
            with torch.no_grad():
                real_out = disc(real_pyramid)
        finally:
            disc.requires_grad_(True)
        gan = self.weights.generator_gan * generator_gan_loss(fake_out, self.gan_mode)
        matching = feature_matching_loss(real_out, fake_out, self.weights.feature_matching)
        return gan, matching

    def discriminator_step(self, real: Tensor, fake: Tensor) -> Tensor | None:
        """One discriminator update on (B, 3, S, S) real and (detached) generated frames -> its weighted loss;
        None (no update) when generator_gan is 0, as in the public trainer."""
        if not self.weights.generator_gan:
            return None
        loss = self.discriminator_objective(real, fake)
        optimizer = self.optimizers["optimizer_discriminator"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    def _check_batch(self, source: Tensor, driving: Tensor) -> tuple[Tensor, Tensor]:
        s, c = self.model.config.size, self.model.config.image_channel
        for name, images in (("source", source), ("driving", driving)):
            if images.ndim != 4 or images.shape[1:] != (c, s, s) or not images.is_floating_point():
                raise ValueError(f"{name} frames: expected float (B, {c}, {s}, {s}) in [0, 1] for a size-{s} model, "
                                 f"got {tuple(images.shape)} {images.dtype}")
        if source.shape[0] != driving.shape[0]:
            raise ValueError(f"{source.shape[0]} source frames for {driving.shape[0]} driving frames: "
                             "one each expected")
        return source.to(self.device, torch.float32), driving.to(self.device, torch.float32)

    # -- checkpoints ----------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The public training checkpoint (four networks, four optimizers, epoch) plus `step` and the warp
        generator's `rng_state` (extra keys the public trainer ignores)."""
        optimizers = {name: opt.state_dict() for name, opt in self.optimizers.items()}
        return training_checkpoint_dict(self.model, self.discriminator, optimizers, self.epoch,
                                        step=self.step_count, rng_state=self.rng.get_state())

    def save(self, uri: str | os.PathLike) -> None:
        """Write `state()` to a local path (atomically) or an fsspec URI: a public-format checkpoint that
        FaceVid2Vid.from_checkpoint loads (and this class resumes from)."""
        write_checkpoint(self.state(), uri)

    def load_state(self, checkpoint: Mapping[str, Any], uri: str = "<training state>",
                   optimizers: bool = True) -> dict[str, bool]:
        """Load a checkpoint dict: the three networks strictly (required), the discriminator and (when
        `optimizers`) the optimizer states when present, `epoch`, `step` and `rng_state` when present. Returns
        and keeps in `restored` which optional parts were found. MissingWeightsError naming `uri` when a part
        present does not fit."""
        states = network_states(checkpoint, uri)
        modules = {**{name: getattr(self.model, name) for name in NETWORKS}, DISCRIMINATOR: self.discriminator}
        if DISCRIMINATOR in checkpoint:
            states[DISCRIMINATOR] = clean_state(checkpoint[DISCRIMINATOR], DISCRIMINATOR, uri)
        for name, state in states.items():  # everything is checked before anything is loaded
            check_state(modules[name].state_dict(), state, name, uri)
        aligned = {}
        for key in OPTIMIZERS if optimizers else ():
            network = key.removeprefix("optimizer_")
            if key in checkpoint and network in states:
                aligned[key] = align_optimizer_state(checkpoint[key], list(states[network]), modules[network], key, uri)
        for name, state in states.items():
            modules[name].load_state_dict(state, strict=True)
        restored = {DISCRIMINATOR: DISCRIMINATOR in states, **{key: key in aligned for key in OPTIMIZERS}}
        for key, state in aligned.items():
            self.optimizers[key].load_state_dict(state)
        self.epoch = int(checkpoint.get("epoch", self.epoch))
        self.step_count = int(checkpoint.get("step", self.step_count))
        if isinstance(checkpoint.get("rng_state"), Tensor):
            self.rng.set_state(checkpoint["rng_state"])
        self.restored = restored
        return restored

    @classmethod
    def from_checkpoint(cls, uri: str | os.PathLike, config: FaceVid2VidConfig | None = None,
                        vgg_weights: str | os.PathLike | VGG19Features | None = None,
                        discriminator_config: DiscriminatorConfig = DiscriminatorConfig(), optimizers: bool = True,
                        map_location: Any = "cpu", **kwargs: Any) -> "FaceVid2VidTraining":
        """Fine-tune from a public-format checkpoint (local path or fsspec URI), with or without its
        `discriminator` / optimizer entries (see `restored`). `kwargs` go to the constructor (weights,
        transform, gan_mode, scales, lr, betas, seed). The VGG weights are checked before the file is read."""
        vgg = load_vgg(vgg_weights)
        text = os.fspath(uri)
        checkpoint = read_checkpoint(text, map_location)
        model = FaceVid2Vid(config or FaceVid2VidConfig())
        if isinstance(map_location, (str, torch.device)):
            model.to(map_location)
        training = cls(model, FaceVid2VidDiscriminator(discriminator_config), vgg, **kwargs)
        training.load_state(checkpoint, text, optimizers=optimizers)
        return training
