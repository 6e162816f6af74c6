"""face-vid2vid (Wang, Mallya, Liu, CVPR 2021) as one module: the three networks, the keypoint transform, and
the public checkpoint format.

    photo (1, 3, S, S) --encode--> SourceState: appearance volume (1, 32, 16, S/4, S/4), canonical keypoints
                                   kc (1, 15, 3), head params (1, 51), source keypoints (1, 15, 3)
    head params (B, 51) + kc --keypoints--> driving keypoints (B, 15, 3) = R(yaw, pitch, roll) kc + t + exp
    SourceState + driving keypoints --render--> frames (B, 3, S, S) in [0, 1]

Head params, the 51-vector (PARAM_LAYOUT): [yaw, pitch, roll] in degrees, translation t (3), expression deltas
exp (15 x 3, row-major per keypoint). The angles are the softmax expectation over 66 three-degree bins
(sum p_i i * 3 - 99) and R = Rx(pitch) Ry(yaw) Rz(roll) with degrees turned into radians as d / 180 * 3.14:
both exactly as the public re-implementation computes them in training and in its demo (`modules/model.py`,
`demo.py`: headpose_pred_to_degree, get_rotation_matrix, keypoint_transformation), so that keypoints made here
are the ones its generator was trained on.

Checkpoints: one `torch.save`d dict with the state dicts under "generator", "kp_detector", "he_estimator" (a
public training checkpoint also holds "discriminator", optimizer states and "epoch": ignored here, read and
written by discriminator.py and space.train.facevid2vid). Loading is strict (every key, every shape) and
reports what is wrong by file and key. SadTalker's safetensors releases load the same way (sadtalker.py).
"""

from __future__ import annotations

import io
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import MissingFileError, MissingWeightsError
from .config import FaceVid2VidConfig
from .generator import OcclusionAwareSpadeGenerator
from .head_pose import HeadPoseEstimator, bins_to_degrees
from .keypoint_detector import KeypointDetector
from .sadtalker import OLD_CHECKPOINT, is_safetensors, safetensors_states, sibling

NETWORKS = ("generator", "kp_detector", "he_estimator")


class MissingCheckpointFileError(MissingWeightsError, MissingFileError):
    """No checkpoint file where it was looked for (caught as either a weights or a missing-file error)."""

    kind = "missing_weights"


PUBLIC_PI = 3.14  # the public code turns degrees into radians as d / 180 * 3.14: its networks were trained so


@dataclass(frozen=True)
class ParamLayout:
    """Where things are in the head-parameter vector of `num_kp` keypoints (51 for 15)."""

    num_kp: int = 15

    @property
    def rotation(self) -> slice:  # yaw, pitch, roll in degrees
        return slice(0, 3)

    @property
    def translation(self) -> slice:
        return slice(3, 6)

    @property
    def expression(self) -> slice:  # num_kp x 3, flattened
        return slice(6, 6 + 3 * self.num_kp)

    @property
    def size(self) -> int:
        return 6 + 3 * self.num_kp

    def __getitem__(self, name: str) -> slice:
        return getattr(self, name)


PARAM_LAYOUT = ParamLayout(15)
YAW, PITCH, ROLL = 0, 1, 2
ROTATION, TRANSLATION, EXPRESSION = PARAM_LAYOUT.rotation, PARAM_LAYOUT.translation, PARAM_LAYOUT.expression
PARAM_DIM = PARAM_LAYOUT.size  # 51


def rotation_matrix(yaw: Tensor, pitch: Tensor, roll: Tensor) -> Tensor:
    """(B,) degrees each -> (B, 3, 3) R = Rx(pitch) @ Ry(yaw) @ Rz(roll), the public convention."""
    p, y, r = (angle / 180 * PUBLIC_PI for angle in (pitch, yaw, roll))
    one, zero = torch.ones_like(p), torch.zeros_like(p)
    rx = torch.stack([one, zero, zero, zero, p.cos(), -p.sin(), zero, p.sin(), p.cos()], -1).view(-1, 3, 3)
    ry = torch.stack([y.cos(), zero, y.sin(), zero, one, zero, -y.sin(), zero, y.cos()], -1).view(-1, 3, 3)
    rz = torch.stack([r.cos(), -r.sin(), zero, r.sin(), r.cos(), zero, zero, zero, one], -1).view(-1, 3, 3)
    return torch.einsum("bij,bjk,bkm->bim", rx, ry, rz)


@dataclass
class SourceState:
    """What `encode` computes once per photo (batch 1, or one per photo)."""

    feature: Tensor  # (B, 32, 16, S/4, S/4) appearance feature volume
    kp_canonical: Tensor  # (B, K, 3) canonical keypoints
    params: Tensor  # (B, 51) the photo's own head params
    kp_source: Tensor  # (B, K, 3) = keypoints(kp_canonical, params)

    def to(self, *args, **kwargs) -> "SourceState":
        return SourceState(*(t.to(*args, **kwargs) for t in (self.feature, self.kp_canonical, self.params,
                                                             self.kp_source)))


class FaceVid2Vid(nn.Module):
    """The generator, keypoint detector and head-pose/expression estimator, under their checkpoint names.

    Built in eval mode (batch norms use their running statistics, spectral norms their stored vectors): it is
    an inference model first; call .train() to fine-tune.
    """

    def __init__(self, config: FaceVid2VidConfig = FaceVid2VidConfig()):
        super().__init__()
        self.config = config
        self.generator = OcclusionAwareSpadeGenerator(config)
        self.kp_detector = KeypointDetector(config)
        self.he_estimator = HeadPoseEstimator(config)
        self.layout = ParamLayout(config.num_kp)  # PARAM_LAYOUT for this config's number of keypoints
        self.eval()

    # -- estimators -----------------------------------------------------------------------------------------

    @staticmethod
    def _resized(images: Tensor, side: int) -> Tensor:
        if images.shape[-2:] == (side, side):
            return images
        return F.interpolate(images, size=(side, side), mode="bilinear", align_corners=False, antialias=True)

    def estimate(self, images: Tensor) -> Tensor:
        """(B, 3, S, S) in [0, 1] -> (B, 51) head params: yaw, pitch, roll (degrees), t (3), exp (K x 3)."""
        out = self.he_estimator(self._resized(images, self.config.estimator_size))
        angles = torch.stack([bins_to_degrees(out.yaw), bins_to_degrees(out.pitch), bins_to_degrees(out.roll)], 1)
        return torch.cat([angles, out.t.float(), out.exp.float()], dim=1)

    def canonical_keypoints(self, images: Tensor) -> Tensor:
        """(B, 3, S, S) in [0, 1] -> (B, K, 3) canonical keypoints in [-1, 1]."""
        return self.kp_detector(self._resized(images, self.config.keypoint_input_size)).float()

    @staticmethod
    def keypoints(canonical: Tensor, params: Tensor) -> Tensor:
        """(B, K, 3) canonical keypoints, (B, 51) head params -> (B, K, 3) = R kc + t + exp (public transform)."""
        num_kp = canonical.shape[1]
        layout = ParamLayout(num_kp)
        if params.ndim != 2 or params.shape[-1] != layout.size:
            raise ValueError(f"head params of shape {tuple(params.shape)}: (B, {layout.size}) expected for "
                             f"{num_kp} keypoints")
        if canonical.shape[0] == 1 and params.shape[0] > 1:  # one photo's keypoints, many frames' params
            canonical = canonical.expand(params.shape[0], -1, -1)
        angles = params[:, layout.rotation]
        rot = rotation_matrix(angles[:, YAW], angles[:, PITCH], angles[:, ROLL])  # (B, 3, 3)
        rotated = torch.einsum("bmp,bkp->bkm", rot, canonical)  # R @ each keypoint
        return rotated + params[:, None, layout.translation] + params[:, layout.expression].reshape(-1, num_kp, 3)

    # -- generation -----------------------------------------------------------------------------------------

    def encode(self, image: Tensor) -> SourceState:
        """(B, 3, S, S) photo(s) in [0, 1] -> SourceState (everything `render` needs about the photo)."""
        self._check_images(image)
        canonical = self.canonical_keypoints(image)
        params = self.estimate(image)
        return SourceState(self.generator.extract(image), canonical, params, self.keypoints(canonical, params))

    def render_outputs(self, source: SourceState, kp_driving: Tensor) -> dict[str, Tensor]:
        """`render` with the intermediate maps: {"prediction", "occlusion_map", "mask", "deformation"}."""
        k = source.kp_source.shape[1]
        if kp_driving.ndim != 3 or kp_driving.shape[1:] != (k, 3):
            raise ValueError(f"driving keypoints of shape {tuple(kp_driving.shape)}: (B, {k}, 3) expected")
        b = kp_driving.shape[0]
        if source.feature.shape[0] not in (1, b):
            raise ValueError(f"source batch {source.feature.shape[0]} does not match {b} driving keypoint sets "
                             "(use one source, or one per driving set)")
        return self.generator.render(source.feature, kp_driving, source.kp_source)

    def render(self, source: SourceState, kp_driving: Tensor) -> Tensor:
        """SourceState + (B, K, 3) driving keypoints -> (B, 3, S, S) frames in [0, 1]; a batch-1 source is
        shared by all B frames."""
        return self.render_outputs(source, kp_driving)["prediction"]

    def forward(self, source_image: Tensor, driving_image: Tensor) -> dict[str, Tensor]:
        """Reconstruction, as in training: the driving frame's head params applied to the source's canonical
        keypoints. (B, 3, S, S) each -> render_outputs' dict plus "kp_source", "kp_driving"."""
        source = self.encode(source_image)
        kp_driving = self.keypoints(source.kp_canonical, self.estimate(driving_image))
        out = self.render_outputs(source, kp_driving)
        out.update(kp_source=source.kp_source, kp_driving=kp_driving)
        return out

    def _check_images(self, images: Tensor) -> None:
        s = self.config.size
        if images.ndim != 4 or images.shape[1] != self.config.image_channel or images.shape[2:] != (s, s):
            raise ValueError(f"expected images of shape (B, {self.config.image_channel}, {s}, {s}) for a size-{s} "
                             f"model, got {tuple(images.shape)}")

    # -- checkpoints ----------------------------------------------------------------------------------------

    def checkpoint_dict(self) -> dict[str, dict[str, Tensor]]:
        """The public format's three entries: state dicts of CPU tensors (with torch's version metadata)."""
        out = {}
        for name in NETWORKS:
            state = getattr(self, name).state_dict()
            out[name] = OrderedDict((k, v.detach().cpu()) for k, v in state.items())
            out[name]._metadata = getattr(state, "_metadata", {})  # type: ignore[attr-defined]
        return out

    def save_checkpoint(self, uri: str | os.PathLike) -> None:
        """Write the public checkpoint format to a local path (atomically) or an fsspec URI."""
        write_checkpoint(self.checkpoint_dict(), uri)

    def load_checkpoint(self, uri: str | os.PathLike, map_location: Any = "cpu") -> "FaceVid2Vid":
        """Load a public-format checkpoint into this model, strictly. Raises MissingWeightsError naming the
        file and what is wrong (no file, not a checkpoint, a network missing, keys missing/unexpected, shapes)."""
        text = os.fspath(uri)
        return self.load_states(read_states(text, map_location), text)

    def load_states(self, states: Mapping[str, Mapping[str, Tensor]], uri: str = "<state dicts>") -> "FaceVid2Vid":
        """Load {"generator": ..., "kp_detector": ..., "he_estimator": ...} strictly, all checked before any
        is loaded; `uri` names the source in errors."""
        states = network_states(states, uri)
        for name in NETWORKS:
            check_state(getattr(self, name).state_dict(), states[name], name, uri)
        for name in NETWORKS:
            getattr(self, name).load_state_dict(states[name], strict=True)
        return self

    @classmethod
    def from_checkpoint(cls, uri: str | os.PathLike, config: FaceVid2VidConfig | None = None,
                        map_location: Any = "cpu") -> "FaceVid2Vid":
        """A model (eval mode, on `map_location` when that names a device) with the weights of a public-format
        checkpoint at a local path or fsspec URI. The file is read and checked before the networks are built."""
        text = os.fspath(uri)
        states = read_states(text, map_location)
        model = cls(config or FaceVid2VidConfig()).load_states(states, text)
        if isinstance(map_location, (str, torch.device)):
            model.to(map_location)
        return model.eval()


def load_facevid2vid(checkpoint: str | os.PathLike, config_uri: str | os.PathLike | None = None,
                     size: int | None = None, device: Any = "cpu") -> FaceVid2Vid:
    """The model of a checkpoint (path or fsspec URI) in the public format or one of SadTalker's (sadtalker.py),
    with the network widths of an optional JSON config (`FaceVid2VidConfig.to_dict()`, for a checkpoint that is
    not vox-256) and the image size `size` (256 or 512; None keeps the config's)."""
    import dataclasses
    import json

    from ...io.uri import open_uri

    config = FaceVid2VidConfig()
    if config_uri is not None:
        with open_uri(config_uri, "r") as f:  # MissingFileError naming the file
            config = FaceVid2VidConfig.from_dict(json.load(f))
    if size is not None:
        config = dataclasses.replace(config, size=size)
    if is_safetensors(checkpoint) and config.keypoint_size is None:  # SadTalker's detector sees the full image
        config = dataclasses.replace(config, keypoint_size=config.size)
    return FaceVid2Vid.from_checkpoint(checkpoint, config, map_location=device).eval()


# -- checkpoint reading and checking ----------------------------------------------------------------------------


def write_checkpoint(checkpoint: Mapping[str, Any], uri: str | os.PathLike) -> None:
    """torch.save `checkpoint` to a local path (atomically: readers see the old file or the whole new one) or
    an fsspec URI."""
    from ...io.uri import is_remote, open_uri, to_local  # fsspec only when files are involved

    buffer = io.BytesIO()
    torch.save(dict(checkpoint), buffer)
    text = os.fspath(uri)
    if is_remote(text):
        with open_uri(text, "wb") as f:
            f.write(buffer.getvalue())
        return
    path = to_local(text)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.part")
    try:
        with open(tmp, "wb") as f:
            f.write(buffer.getvalue())
        os.replace(tmp, path)  # readers see the old file or the whole new one
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_checkpoint(uri: str, map_location: Any = "cpu") -> Mapping[str, Any]:
    """torch.load(weights_only=True) of a local path or fsspec URI -> the top-level dict."""
    from ...io.uri import is_remote, open_uri, to_local  # fsspec only when files are involved

    try:
        if is_remote(uri):
            with open_uri(uri, "rb") as f:
                source: Any = io.BytesIO(f.read())
        else:  # a local file is read by torch itself (no second copy of a 700 MB file in memory)
            source = to_local(uri)
            if not os.path.isfile(source):
                raise MissingFileError(uri, "is a directory, not a file" if os.path.isdir(source) else "no such file")
    except MissingFileError as exc:
        raise MissingCheckpointFileError(uri, f"{exc.reason} (expected a face-vid2vid checkpoint holding "
                                       f"{' / '.join(NETWORKS)} state dicts)") from exc
    except (IsADirectoryError, PermissionError) as exc:
        raise MissingWeightsError(uri, f"cannot be read as a checkpoint file ({type(exc).__name__})") from exc
    try:
        checkpoint = torch.load(source, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many kinds for a file that is not a checkpoint
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise MissingWeightsError(uri, f"not a torch checkpoint, torch.load failed: {first}") from exc
    if not isinstance(checkpoint, Mapping):
        raise MissingWeightsError(uri, f"holds a {type(checkpoint).__name__}, not a dict with "
                                       f"{' / '.join(NETWORKS)} state dicts")
    return checkpoint


def read_states(uri: str, map_location: Any = "cpu") -> dict[str, dict[str, Tensor]]:
    """The three state dicts of a checkpoint file: the public torch dict (SadTalker's facevid2vid_00189 is one)
    or SadTalker's safetensors, whose missing head-pose estimator is taken from the older checkpoint beside it."""
    if not is_safetensors(uri):
        return network_states(read_checkpoint(uri, map_location), uri)
    states = safetensors_states(uri)
    if "he_estimator" not in states:
        older = sibling(uri, OLD_CHECKPOINT)
        try:
            states["he_estimator"] = network_states(read_checkpoint(older, map_location), older)["he_estimator"]
        except MissingCheckpointFileError as exc:
            raise MissingWeightsError(uri, f"holds no he_estimator. keys (SadTalker drives its renderer with a 3DMM "
                                           f"mapping net instead); the photo's head pose and expression and L2L's "
                                           f"targets need one: put SadTalker's {OLD_CHECKPOINT}, which has it, "
                                           f"next to it ({older}: {exc.reason})") from exc
    return {name: clean_state(states[name], name, uri) for name in NETWORKS}


def network_states(checkpoint: Mapping[str, Any], uri: str) -> dict[str, dict[str, Tensor]]:
    """The three state dicts of a public checkpoint; a uniform DataParallel "module." prefix is removed."""
    missing = [name for name in NETWORKS if name not in checkpoint]
    if missing:
        held = ", ".join(sorted(map(str, checkpoint))[:10]) or "nothing"
        raise MissingWeightsError(uri, f"no {' / '.join(map(repr, missing))} entry in the checkpoint (it holds: "
                                       f"{held}); a face-vid2vid checkpoint needs {', '.join(NETWORKS)}")
    return {name: clean_state(checkpoint[name], name, uri) for name in NETWORKS}


def clean_state(state: Any, name: str, uri: str) -> dict[str, Tensor]:
    """One checkpoint entry as a state dict (key order and torch's version metadata kept), a uniform
    DataParallel "module." prefix removed; MissingWeightsError when it is not a state dict of tensors."""
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise MissingWeightsError(uri, f"the {name!r} entry is a {type(state).__name__}, not a state dict of tensors")
    prefix = "module." if state and all(str(k).startswith("module.") for k in state) else ""
    clean = OrderedDict((k[len(prefix):], v) for k, v in state.items())
    metadata = getattr(state, "_metadata", None)  # torch's per-module versions (batch norm, spectral norm)
    if metadata is not None:
        clean._metadata = OrderedDict(  # type: ignore[attr-defined]
            (k[len(prefix):] if k.startswith(prefix) else ("" if k == prefix.rstrip(".") else k), v)
            for k, v in metadata.items())
    return clean


def check_state(expected: Mapping[str, Tensor], state: Mapping[str, Tensor], name: str, uri: str) -> None:
    """Raise MissingWeightsError listing missing keys, unexpected keys and shape mismatches (a few of each)."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} is {tuple(state[k].shape)}, expected {tuple(v.shape)}"
              for k, v in expected.items() if k in state and state[k].shape != v.shape]
    problems = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", shapes)):
        if items:
            more = f" and {len(items) - 3} more" if len(items) > 3 else ""
            problems.append(f"{len(items)} {label}: {'; '.join(items[:3])}{more}")
    if problems:
        raise MissingWeightsError(uri, f"its {name!r} weights do not fit the face-vid2vid networks "
                                       f"({' | '.join(problems)})")
