"""SadTalker's releases of the face-vid2vid renderer (OpenTalker/SadTalker, `src/facerender`), read strictly.

    SadTalker_V0.0.2_256.safetensors   one flat safetensors file of all SadTalker's networks. The renderer's
    SadTalker_V0.0.2_512.safetensors   are under "generator." (OcclusionAwareSPADEGenerator, our `generator`),
                                       "kp_extractor." (our `kp_detector`) and, in some exports, "he_estimator.":
                                       SadTalker drives its renderer with a 3DMM mapping net and never loads
                                       the estimator, so a file may lack it. The other prefixes (audio2pose.,
                                       audio2exp., face_3drecon., ...) are SadTalker's own stages: ignored.
    facevid2vid_00189-model.pth.tar    SadTalker's older torch checkpoint, in the public dict layout (generator,
                                       kp_detector, he_estimator, discriminator, optimizer states): read by
                                       model.read_checkpoint like any public checkpoint.

The networks are the vox-256 ones at both sizes (SadTalker's facerender.yaml). SadTalker feeds its keypoint
detector the full-size source image, so the 512 release's detector was trained on 512 images
(`keypoint_size`); the head-pose estimator is the 256 one of the older checkpoint.
"""

from __future__ import annotations

import os
from collections import OrderedDict

from torch import Tensor

from ...errors import MissingFileError, MissingWeightsError

# our network name -> its key prefix in SadTalker's safetensors files
SAFETENSORS_PREFIXES = {"generator": "generator.", "kp_detector": "kp_extractor.", "he_estimator": "he_estimator."}
OLD_CHECKPOINT = "facevid2vid_00189-model.pth.tar"  # holds a head-pose estimator when the safetensors do not


def safetensors_name(size: int) -> str:
    """SadTalker's file name for its size-`size` release."""
    return f"SadTalker_V0.0.2_{size}.safetensors"


def is_safetensors(uri: str | os.PathLike) -> bool:
    return os.fspath(uri).endswith(".safetensors")


def read_safetensors(uri: str) -> dict[str, Tensor]:
    """All tensors of a local or remote safetensors file; MissingWeightsError naming the file when it is
    missing or not a safetensors file."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    from ...io.uri import open_uri

    try:
        with open_uri(uri, "rb") as f:
            data = f.read()
    except MissingFileError as exc:
        raise MissingWeightsError(uri, f"{exc.reason} (expected SadTalker's renderer weights, a safetensors "
                                       f"file with {', '.join(SAFETENSORS_PREFIXES.values())} keys)") from exc
    except (IsADirectoryError, PermissionError) as exc:
        raise MissingWeightsError(uri, f"cannot be read as a safetensors file ({type(exc).__name__})") from exc
    try:
        return load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise MissingWeightsError(uri, f"not a safetensors file: {str(exc).strip()[:160] or type(exc).__name__}") from exc


def safetensors_states(uri: str) -> dict[str, OrderedDict[str, Tensor]]:
    """{"generator", "kp_detector"[, "he_estimator"]} state dicts of a SadTalker safetensors file; the
    estimator is left out when the file has none (the caller finds it elsewhere or says what is missing)."""
    tensors = read_safetensors(uri)
    states = {name: OrderedDict((k[len(prefix):], v) for k, v in tensors.items() if k.startswith(prefix))
              for name, prefix in SAFETENSORS_PREFIXES.items()}
    missing = [SAFETENSORS_PREFIXES[name] for name in ("generator", "kp_detector") if not states[name]]
    if missing:
        held = sorted({k.split(".", 1)[0] + "." for k in tensors})
        raise MissingWeightsError(uri, f"no {' / '.join(missing)} keys (it holds {', '.join(held[:8]) or 'nothing'}): "
                                       "not SadTalker's renderer weights")
    return {name: state for name, state in states.items() if state}


def sibling(uri: str, name: str) -> str:
    """The file `name` in the folder of `uri` (local path or URI)."""
    text = os.fspath(uri)
    return text.rsplit("/", 1)[0] + "/" + name if "/" in text else name
