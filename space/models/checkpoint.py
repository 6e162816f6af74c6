"""One checkpoint format for SPACE's own learned stages (s2l, pose, l2l).

A checkpoint is a `torch.save`d dict, read back with `torch.load(weights_only=True)` (no pickled code runs):

    {"format": "space-checkpoint", "format_version": 1, "stage": "s2l" | "pose" | "l2l",
     "config": asdict(<the stage's config dataclass>), "state_dict": {...}, "space_version": "0.1.0",
     "training": {"data": ..., "steps": ..., "seed": ..., "metrics": {...}, "date": ..., "command": ...}}

`load_checkpoint` rebuilds the right model class from the config, so a checkpoint is self-describing. Files live
at local paths or any fsspec URI (s3://, memory://). Problems are typed errors that name the file and the reason:
`MissingCheckpointError` (nothing there; both a MissingWeightsError and a MissingFileError) and `CheckpointError`
(there, but not a space checkpoint, another stage, a newer format, weights that do not fit the config).

The face-vid2vid networks keep their own public checkpoint format (space.models.facevid2vid).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..errors import MissingFileError, MissingWeightsError
from ..io.uri import file_size, is_remote, open_uri, to_local
from .l2l import L2LConfig, Landmarks2Latents
from .pose import PoseConfig, PoseGenerator
from .s2l import S2LConfig, Speech2Landmarks

FORMAT = "space-checkpoint"
FORMAT_VERSION = 1
STAGES = {
    "s2l": (S2LConfig, Speech2Landmarks),
    "pose": (PoseConfig, PoseGenerator),
    "l2l": (L2LConfig, Landmarks2Latents),
}
CHECKPOINTS_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
SHIPPED = ("s2l", "pose")  # l2l is tied to a face-vid2vid checkpoint's keypoint space: trained by the user


class CheckpointError(MissingWeightsError):
    """A file is there but is not usable as the checkpoint asked for."""

    kind = "bad_checkpoint"


class MissingCheckpointError(MissingWeightsError, MissingFileError):
    """No checkpoint where it was looked for."""

    kind = "missing_weights"


def _check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(STAGES)}")
    return stage


def _plain(value: Any) -> Any:
    """Training metadata as plain JSON types (what weights_only loading accepts)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def save_checkpoint(uri: str | os.PathLike, model: torch.nn.Module, stage: str | None = None,
                    training: dict | None = None) -> str:
    """Write `model` (one of STAGES' classes) to `uri`; local files are written atomically. Returns the uri."""
    stage = _check_stage(stage or getattr(model, "stage", ""))
    config_cls, model_cls = STAGES[stage]
    if not isinstance(model, model_cls):
        raise TypeError(f"stage {stage!r} expects a {model_cls.__name__}, got {type(model).__name__}")
    import space

    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "stage": stage,
        "config": dataclasses.asdict(model.config),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "space_version": getattr(space, "__version__", None),
        "training": _plain(training or {}),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    text = os.fspath(uri)
    if is_remote(text):
        with open_uri(text, "wb") as f:
            f.write(buffer.getvalue())
        return text
    path = Path(to_local(text))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getvalue())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a checkpoint is an ordinary readable file
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return text


def _config_from(stage: str, values: Any, uri: str):
    config_cls = STAGES[stage][0]
    if not isinstance(values, dict):
        raise CheckpointError(uri, f"its config is a {type(values).__name__}, not a dict of {config_cls.__name__} fields")
    known = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise CheckpointError(uri, f"its {stage} config has fields this version of space does not know: "
                                   f"{', '.join(unknown)} (written by a newer space?)")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    try:
        return config_cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(uri, f"its {stage} config is invalid: {exc}") from exc


def load_checkpoint(uri: str | os.PathLike, stage: str | None = None, map_location: Any = "cpu"):
    """-> (model in eval mode, meta: every key but state_dict, plus "uri"). `stage` checks what the file holds."""
    text = os.fspath(uri)
    if stage is not None:
        _check_stage(stage)
    try:
        with open_uri(text, "rb") as f:
            data = f.read()
    except MissingFileError as exc:
        raise MissingCheckpointError(text, f"no such file (looking for a {stage or 'space'} checkpoint)") from exc
    except (IsADirectoryError, PermissionError) as exc:
        raise CheckpointError(text, f"cannot be read as a checkpoint file ({type(exc).__name__})") from exc
    try:
        payload = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many kinds for a file that is not its own
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(text, f"not a space checkpoint: torch cannot load it ({first})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        keys = sorted(map(str, payload))[:8] if isinstance(payload, dict) else []
        hint = ""
        if {"generator", "kp_detector", "he_estimator"} & set(keys):
            hint = "; it looks like a face-vid2vid checkpoint (load it with space.models.facevid2vid)"
        what = f"a dict with keys {', '.join(keys)}" if isinstance(payload, dict) else f"a {type(payload).__name__}"
        raise CheckpointError(text, f"not a space checkpoint (no format={FORMAT!r}): it holds {what}{hint}")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(text, f"checkpoint format version {version!r} is newer than this space reads "
                                    f"(up to {FORMAT_VERSION}); upgrade space-animate")
    held = payload.get("stage")
    if held not in STAGES:
        raise CheckpointError(text, f"holds an unknown stage {held!r}; known: {', '.join(STAGES)}")
    if stage is not None and held != stage:
        raise CheckpointError(text, f"holds the {held!r} stage, not {stage!r}")
    config = _config_from(held, payload.get("config"), text)
    model = STAGES[held][1](config)
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except (RuntimeError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise CheckpointError(text, f"its {held} weights do not fit its config ({first})") from exc
    model.to(map_location if isinstance(map_location, (str, torch.device)) else "cpu").eval()
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    meta["uri"] = text
    return model, meta


def default_checkpoint_path(stage: str) -> Path:
    """The checkpoint shipped in the package for `stage` (space/checkpoints/<stage>.pt; may be absent)."""
    return CHECKPOINTS_DIR / f"{_check_stage(stage)}.pt"


def resolve_checkpoint(stage: str, checkpoints_dir_or_uri: str | os.PathLike | None = None) -> str:
    """Where to load `stage` from: <dir or URI>/<stage>.pt when given (a path ending in .pt is taken as the file
    itself), else the shipped default. MissingCheckpointError names the place looked in when nothing is there."""
    _check_stage(stage)
    name = f"{stage}.pt"
    if checkpoints_dir_or_uri is not None:
        base = os.fspath(checkpoints_dir_or_uri)
        if base.endswith(".pt"):
            uri = base
        elif is_remote(base):
            uri = base.rstrip("/") + "/" + name
        else:
            uri = str(Path(to_local(base)) / name)
        try:
            file_size(uri)
        except MissingFileError as exc:
            raise MissingCheckpointError(uri, f"no {name} in {base}: {exc.reason}") from exc
        return uri
    path = default_checkpoint_path(stage)
    if not path.is_file():
        if stage in SHIPPED:
            reason = (f"the package's default {name} is missing from {CHECKPOINTS_DIR}; "
                      f"make it with `python -m space.train.defaults` or give a checkpoints folder")
        else:
            reason = (f"no default {name} ships with space: L2L is tied to one face-vid2vid checkpoint's keypoint "
                      f"space, so train it against yours (space.train.loop.train_l2l) and give its folder")
        raise MissingCheckpointError(str(path), reason)
    return str(path)
