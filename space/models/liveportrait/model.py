"""LivePortrait (Guo et al., 2024; KwaiVGI's MIT-licensed release) as one module: its four base networks, the
stitching MLP, the keypoint transform, and the released files.

    photo (B, 3, S, S), resized to 256 --encode--> SourceState: feature volume F (B, 32, 16, 64, 64),
                                         canonical keypoints kc (B, 21, 3), head params (B, 70), source keypoints
    head params (B, 70) + kc --keypoints--> driving keypoints (B, 21, 3) = s (R kc + exp) + (tx, ty, 0)
    SourceState + driving keypoints --render--> (stitching S) -> W (warp + occlusion) -> G (SPADE, 2x) ->
                                                 frames (B, 3, 512, 512) in [0, 1]

Head params, the 70-vector (LAYOUT): [yaw, pitch, roll] in degrees (face-vid2vid's order, so that L2L and
zero-shot driving treat both renderers alike), translation t (3), expression deltas exp (21 x 3), scale s (1).
The angles are the softmax expectation over 66 three-degree bins (sum p_i i * 3 - 97.5) and the rotation is the
public code's (utils/camera.py get_rotation_matrix: (Rz Ry Rx)^T with np.pi, applied to row vectors), the
transform its `transform_keypoint` (z translation unused), the stitching its `stitching` (the MLP's first 63
outputs move the keypoints, the last 2 shift x, y): the same numbers from the same weights
(benchmarks/check_liveportrait_equality.py shows it against a checkout of the public code).

Weights: the public release's folder (`pretrained_weights/liveportrait`, or the folder above it):
    base_models/appearance_feature_extractor.pth  F     base_models/motion_extractor.pth  M
    base_models/warping_module.pth                W     base_models/spade_generator.pth   G
    retargeting_models/stitching_retargeting_module.pth  {"retarget_shoulder": S, "retarget_mouth": lip,
                                                          "retarget_eye": eye} (DataParallel "module." keys)
each loaded strictly (every key, every shape), checked before anything is loaded, errors naming file and key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import MissingFileError, MissingWeightsError
from ..facevid2vid.model import SourceState, check_state, clean_state, read_checkpoint
from .appearance import AppearanceFeatureExtractor
from .config import LivePortraitConfig
from .motion_extractor import MotionExtractor, bins_to_degrees
from .spade_generator import SPADEDecoder
from .stitching import StitchingRetargeting
from .warping import WarpingNetwork

# network -> its file under the release folder
BASE_FILES = {
    "appearance_feature_extractor": "base_models/appearance_feature_extractor.pth",
    "motion_extractor": "base_models/motion_extractor.pth",
    "warping_module": "base_models/warping_module.pth",
    "spade_generator": "base_models/spade_generator.pth",
}
STITCHING_FILE = "retargeting_models/stitching_retargeting_module.pth"
STITCHING_KEYS = {"stitching": "retarget_shoulder", "lip": "retarget_mouth", "eye": "retarget_eye"}
RELEASE_FOLDER = "liveportrait"  # the release's own folder name inside pretrained_weights/
CONFIG_FILE = "liveportrait.json"  # optional, beside base_models/: LivePortraitConfig.to_dict() for other widths


@dataclass(frozen=True)
class LivePortraitLayout:
    """Where things are in the head-parameter vector of `num_kp` keypoints (70 for 21)."""

    num_kp: int = 21

    @property
    def size(self) -> int:
        return 7 + 3 * self.num_kp

    def __getitem__(self, name: str) -> slice:
        end = 6 + 3 * self.num_kp
        return {"rotation": slice(0, 3), "translation": slice(3, 6), "expression": slice(6, end),
                "scale": slice(end, end + 1)}[name]


LAYOUT = LivePortraitLayout()
PARAM_DIM = LAYOUT.size  # 70


def rotation_matrix(pitch: Tensor, yaw: Tensor, roll: Tensor) -> Tensor:
    """(B,) degrees each -> (B, 3, 3) = (Rz(roll) Ry(yaw) Rx(pitch))^T, the public get_rotation_matrix (it
    multiplies row vectors from the right: kp @ R)."""
    p, y, r = (angle / 180 * np.pi for angle in (pitch, yaw, roll))
    one, zero = torch.ones_like(p), torch.zeros_like(p)
    rx = torch.stack([one, zero, zero, zero, p.cos(), -p.sin(), zero, p.sin(), p.cos()], -1).view(-1, 3, 3)
    ry = torch.stack([y.cos(), zero, y.sin(), zero, one, zero, -y.sin(), zero, y.cos()], -1).view(-1, 3, 3)
    rz = torch.stack([r.cos(), -r.sin(), zero, r.sin(), r.cos(), zero, zero, zero, one], -1).view(-1, 3, 3)
    return (rz @ ry @ rx).transpose(1, 2)


class LivePortrait(nn.Module):
    """F, M, W, G and the stitching/retargeting MLPs under their public names. Built in eval mode."""

    name = "liveportrait"

    def __init__(self, config: LivePortraitConfig = LivePortraitConfig(), stitch: bool = True):
        super().__init__()
        self.config = config
        self.appearance_feature_extractor = AppearanceFeatureExtractor(config.appearance)
        self.motion_extractor = MotionExtractor(config.motion)
        self.warping_module = WarpingNetwork(config.warping)
        self.spade_generator = SPADEDecoder(config.spade)
        self.stitching_retargeting_module = StitchingRetargeting(config.stitching)
        self.stitch = stitch  # the public default (flag_stitching): keeps the shoulders where the photo has them
        self.layout = LivePortraitLayout(config.motion.num_kp)
        self.eval()

    @property
    def output_size(self) -> int:
        """The side of rendered frames: 256 x G's upscale (512 for the release)."""
        return self.config.input_size * max(1, self.config.spade.upscale or 1)

    def _input(self, images: Tensor) -> Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        side = self.config.input_size
        if images.shape[-2:] == (side, side):
            return images
        return F.interpolate(images, size=(side, side), mode="bilinear", align_corners=False, antialias=True)

    # -- M: head params and canonical keypoints -----------------------------------------------------------------

    def motion(self, images: Tensor) -> dict[str, Tensor]:
        """M's raw outputs for (B, 3, S, S) images in [0, 1] (resized to 256)."""
        return {k: v.float() for k, v in self.motion_extractor(self._input(images)).items()}

    def params_of(self, out: Mapping[str, Tensor]) -> Tensor:
        """M's outputs -> (B, 70): yaw, pitch, roll (degrees), t (3), exp (K x 3), scale."""
        angles = torch.stack([bins_to_degrees(out["yaw"]), bins_to_degrees(out["pitch"]),
                              bins_to_degrees(out["roll"])], 1)
        return torch.cat([angles, out["t"], out["exp"], out["scale"]], dim=1)

    def estimate(self, images: Tensor) -> Tensor:
        """(B, 3, S, S) in [0, 1] -> (B, 70) head params."""
        return self.params_of(self.motion(images))

    def canonical_keypoints(self, images: Tensor) -> Tensor:
        """(B, 3, S, S) in [0, 1] -> (B, K, 3) canonical keypoints."""
        return self.motion(images)["kp"].view(len(images), -1, 3)

    def keypoints(self, canonical: Tensor, params: Tensor) -> Tensor:
        """(B, K, 3) canonical keypoints, (B, 70) head params -> (B, K, 3) = s (kc @ R + exp) + (tx, ty, 0)."""
        layout = LivePortraitLayout(canonical.shape[1])
        if params.ndim != 2 or params.shape[-1] != layout.size:
            raise ValueError(f"head params of shape {tuple(params.shape)}: (B, {layout.size}) expected for "
                             f"{layout.num_kp} keypoints")
        if canonical.shape[0] == 1 and params.shape[0] > 1:  # one photo's keypoints, many frames' params
            canonical = canonical.expand(params.shape[0], -1, -1)
        yaw, pitch, roll = params[:, layout["rotation"]].unbind(1)
        kp = canonical @ rotation_matrix(pitch, yaw, roll) + params[:, layout["expression"]].view(-1, layout.num_kp, 3)
        kp = kp * params[:, layout["scale"], None]
        shift = torch.zeros_like(kp[:, :1])
        shift[..., :2] = params[:, None, layout["translation"]][..., :2]
        return kp + shift  # z translation is not used (public transform_keypoint)

    def stitched(self, kp_source: Tensor, kp_driving: Tensor) -> Tensor:
        """The stitching MLP's correction of driving keypoints (B, K, 3) against the photo's."""
        b, k = kp_driving.shape[:2]
        delta = self.stitching_retargeting_module.stitching(
            torch.cat([kp_source.expand(b, -1, -1).reshape(b, -1), kp_driving.reshape(b, -1)], 1))
        moved = kp_driving + delta[:, :3 * k].view(b, k, 3)
        shift = torch.zeros_like(moved[:, :1])
        shift[..., :2] = delta[:, None, 3 * k:3 * k + 2]
        return moved + shift

    # -- F, W, G: generation --------------------------------------------------------------------------------------

    def encode(self, image: Tensor) -> SourceState:
        """(B, 3, S, S) photo(s) in [0, 1] -> SourceState (everything `render` needs about the photo)."""
        x = self._input(image)
        out = self.motion(x)
        canonical, params = out["kp"].view(len(x), -1, 3), self.params_of(out)
        feature = self.appearance_feature_extractor(x).float()
        return SourceState(feature, canonical, params, self.keypoints(canonical, params))

    def render_outputs(self, source: SourceState, kp_driving: Tensor) -> dict[str, Tensor]:
        """`render` with W's maps: {"prediction", "occlusion_map", "deformation", "kp_driving"} (the latter
        after stitching)."""
        k = source.kp_source.shape[1]
        if kp_driving.ndim != 3 or kp_driving.shape[1:] != (k, 3):
            raise ValueError(f"driving keypoints of shape {tuple(kp_driving.shape)}: (B, {k}, 3) expected")
        b = kp_driving.shape[0]
        if source.feature.shape[0] not in (1, b):
            raise ValueError(f"source batch {source.feature.shape[0]} does not match {b} driving keypoint sets "
                             "(use one source, or one per driving set)")
        kp_source = source.kp_source.expand(b, -1, -1)
        if self.stitch:
            kp_driving = self.stitched(kp_source, kp_driving)
        warped = self.warping_module(source.feature.expand(b, -1, -1, -1, -1), kp_driving=kp_driving,
                                     kp_source=kp_source)
        return {"prediction": self.spade_generator(warped["out"]), "occlusion_map": warped["occlusion_map"],
                "deformation": warped["deformation"], "kp_driving": kp_driving}

    def render(self, source: SourceState, kp_driving: Tensor) -> Tensor:
        """SourceState + (B, K, 3) driving keypoints -> (B, 3, 512, 512) frames in [0, 1]."""
        return self.render_outputs(source, kp_driving)["prediction"]

    # -- the released files ---------------------------------------------------------------------------------------

    def expected_states(self) -> dict[str, Mapping[str, Tensor]]:
        states = {name: getattr(self, name).state_dict() for name in BASE_FILES}
        for part in STITCHING_KEYS:
            states[part] = getattr(self.stitching_retargeting_module, part).state_dict()
        return states

    def load_states(self, states: Mapping[str, Mapping[str, Tensor]], sources: Mapping[str, str]) -> "LivePortrait":
        """Load {network or stitching part: state dict} strictly, all checked before any is loaded; `sources`
        names each one's file in errors."""
        expected = self.expected_states()
        for name, want in expected.items():
            check_state(want, states[name], name, sources[name])
        for name in BASE_FILES:
            getattr(self, name).load_state_dict(states[name], strict=True)
        for part in STITCHING_KEYS:
            getattr(self.stitching_retargeting_module, part).load_state_dict(states[part], strict=True)
        return self

    def save_release(self, folder: str | os.PathLike) -> dict[str, str]:
        """Write the weights in the public release's layout under `folder` (what a user downloads); returns
        {network: path}. Used by tests and by anyone who fine-tunes and wants the public format back."""
        from ..facevid2vid.model import write_checkpoint

        paths = {}
        for name, rel in BASE_FILES.items():
            path = os.path.join(os.fspath(folder), rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            torch.save({k: v.detach().cpu() for k, v in getattr(self, name).state_dict().items()}, path)
            paths[name] = path
        stitching = {key: {f"module.{k}": v.detach().cpu()
                           for k, v in getattr(self.stitching_retargeting_module, part).state_dict().items()}
                     for part, key in STITCHING_KEYS.items()}
        paths["stitching_retargeting_module"] = os.path.join(os.fspath(folder), STITCHING_FILE)
        write_checkpoint(stitching, paths["stitching_retargeting_module"])
        return paths


def release_folder(folder: str) -> str:
    """The folder holding base_models/ and retargeting_models/: `folder` itself, or its liveportrait/ child
    (a user may point at pretrained_weights/)."""
    from ...io.uri import is_remote, to_local

    text = folder.rstrip("/")
    if is_remote(text):
        import fsspec

        fs, path = fsspec.core.url_to_fs(text)
        return text if fs.exists(f"{path}/{BASE_FILES['motion_extractor']}") or not fs.exists(
            f"{path}/{RELEASE_FOLDER}") else f"{text}/{RELEASE_FOLDER}"
    local = to_local(text)
    child = os.path.join(local, RELEASE_FOLDER)
    if not os.path.isdir(os.path.join(local, "base_models")) and os.path.isdir(os.path.join(child, "base_models")):
        return child
    return local


def release_files(folder: str) -> dict[str, str]:
    """{"appearance_feature_extractor": uri, ..., "stitching_retargeting_module": uri} in a release folder."""
    root = release_folder(os.fspath(folder))
    files = {name: f"{root}/{rel}" for name, rel in BASE_FILES.items()}
    files["stitching_retargeting_module"] = f"{root}/{STITCHING_FILE}"
    return files


def read_release(folder: str, map_location: Any = "cpu") -> tuple[dict[str, dict[str, Tensor]], dict[str, str]]:
    """The state dicts of a release folder, each file read and cleaned: ({name: state}, {name: its file})."""
    files = release_files(folder)
    states: dict[str, dict[str, Tensor]] = {}
    sources: dict[str, str] = {}
    for name, uri in files.items():
        if name != "stitching_retargeting_module":
            states[name] = clean_state(read_file(uri, map_location, name), name, uri)
            sources[name] = uri
            continue
        entries = read_file(uri, map_location, name)
        for part, key in STITCHING_KEYS.items():
            if key not in entries:
                held = ", ".join(sorted(map(str, entries))[:6]) or "nothing"
                raise MissingWeightsError(uri, f"no {key!r} entry (it holds: {held}); LivePortrait's stitching "
                                               f"file has {', '.join(STITCHING_KEYS.values())}")
            states[part], sources[part] = clean_state(entries[key], key, uri), uri
    return states, sources


def read_file(uri: str, map_location: Any, name: str) -> Mapping[str, Any]:
    try:
        return read_checkpoint(uri, map_location)
    except MissingWeightsError as exc:
        raise type(exc)(uri, f"{exc.reason} (LivePortrait's {name}: the release folder holds "
                             f"{', '.join(BASE_FILES.values())} and {STITCHING_FILE})") from exc


def load_liveportrait(folder: str | os.PathLike, config: LivePortraitConfig | None = None,
                      device: Any = "cpu", stitch: bool = True) -> LivePortrait:
    """The model of a LivePortrait release folder (local path or fsspec URI), strictly loaded, in eval mode. The
    network widths are the release's unless `config` is given or the folder holds liveportrait.json."""
    text = os.fspath(folder)
    states, sources = read_release(text)
    if config is None:
        config = release_config(text)
    model = LivePortrait(config, stitch=stitch).load_states(states, sources)
    return model.to(device).eval()


def release_config(folder: str) -> LivePortraitConfig:
    """The folder's liveportrait.json, else the release widths."""
    import json

    from ...io.uri import open_uri

    uri = f"{release_folder(folder)}/{CONFIG_FILE}"
    try:
        with open_uri(uri, "r") as f:
            return LivePortraitConfig.from_dict(json.load(f))
    except MissingFileError:
        return LivePortraitConfig()
