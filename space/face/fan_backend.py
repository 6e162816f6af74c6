"""The `fan` landmark backend: face-alignment's 3D FAN + depth network, batched, on CPU or GPU.

It reproduces what `face_alignment.FaceAlignment(LandmarksType.THREE_D)` computes for given face boxes
(the same crop, the same heatmap decoding, the same depth input and the same z scale), but it runs the crops
of many frames through the networks in batches, never downloads anything, and says exactly which weight
files are missing and where it looked.

Weights. face-alignment keeps its weights in torch hub's checkpoint folder ($TORCH_HOME/hub/checkpoints,
by default ~/.cache/torch/hub/checkpoints) under names that carry a hash. Two generations exist, and
either is accepted, file by file, in this order of preference:

* face-alignment 1.5 (the version SPACE pins) downloads state dicts, loaded into the package's own
  architectures (`face_alignment.models.FAN(4)`, `ResNetDepth`):
  ``3DFAN4-7835d9f11d.pth.tar`` and ``depth-2a464da4ea.pth.tar``;
* face-alignment 1.3 / 1.4 downloaded TorchScript archives, loaded with `torch.jit.load`:
  ``3DFAN4-4a694010b9.zip`` / ``depth-6c4283c0e0.zip`` (and the older per-torch-version
  ``3DFAN4_1.6-ec5cf40a1d.zip`` / ``depth_1.6-2aa3f18772.zip``, ``..._1.5-...zip``).

The face detector (`detect`) is face-alignment's S3FD and needs ``s3fd-619a316812.pth``; it is looked up
and loaded only on the first `detect` call, so `landmarks` with given boxes needs the two files above only.

Numbers. Landmark x, y come out as face-alignment returns them: decoded from the 64x64 heatmaps and mapped
back to image pixels by its own `get_preds_fromhm`, which truncates them to whole pixels. z is the depth
network's output times 200 * scale / 256, i.e. in the same pixel units as x and y (relative, not absolute).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..errors import MissingWeightsError
from .backend import LandmarkBackend

#: where face-alignment downloads from; only used in error messages (nothing is ever downloaded)
DOWNLOAD_BASE = "https://www.adrianbulat.com/downloads/python-fan/"

#: accepted file names per network, most preferred first (face-alignment 1.5 state dicts, then TorchScript)
FAN_FILES: tuple[str, ...] = (
    "3DFAN4-7835d9f11d.pth.tar",
    "3DFAN4-4a694010b9.zip",
    "3DFAN4_1.6-ec5cf40a1d.zip",
    "3DFAN4_1.5-176570af4d.zip",
)
DEPTH_FILES: tuple[str, ...] = (
    "depth-2a464da4ea.pth.tar",
    "depth-6c4283c0e0.zip",
    "depth_1.6-2aa3f18772.zip",
    "depth_1.5-bc10f98e39.zip",
)
SFD_FILES: tuple[str, ...] = ("s3fd-619a316812.pth",)

# face-alignment's constants (face_alignment.utils): 68 points, 256x256 crops, 64x64 heatmaps, a box of
# size (w + h) / 195 * 200 around a center moved up by 12% of the box height.
NUM_LANDMARKS = 68
CROP = 256
HEATMAP = 64
REFERENCE_SCALE = 195.0
SCALE_FACTOR = 200.0
CENTER_Y_OFFSET = 0.12
# S3FD post-processing as in face_alignment.detection.sfd: NMS at IoU 0.3, keep scores above 0.5
SFD_NMS_IOU = 0.3
SFD_MIN_SCORE = 0.5


def _gaussian_kernel() -> np.ndarray:
    """The 13x13 kernel face_alignment.utils.draw_gaussian stamps (sigma 2: size 6 * 2 + 1)."""
    size, sigma = 13, 0.25
    center = 0.5 * size + 0.5
    i = np.arange(1, size + 1, dtype=np.float64)
    d = ((i - center) / (sigma * size)) ** 2 / 2.0
    return np.exp(-(d[:, None] + d[None, :])).astype(np.float32)


_KERNEL = _gaussian_kernel()


def depth_heatmap_index(points: np.ndarray, size: int = CROP) -> tuple[np.ndarray, np.ndarray]:
    """Which kernel row / column each heatmap row / column takes, for the depth network's input.

    `points` (N, 2) are landmark positions in the 256x256 crop (face-alignment's `pts * 4`). Returns
    (rows, cols), each (N, size) int64 indexing a 14x14 array: the 13x13 kernel padded with a zero row and
    column (index 13 = nothing there). `pad[rows[n][:, None], cols[n][None, :]]` is then exactly the map
    `draw_gaussian(zeros, points[n], 2)` draws, off-by-one clipping at the borders included, and a zero map
    for the points face-alignment skips (x <= 0 or y <= 0, or the kernel entirely outside).
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    ul = np.floor(p - 6.0).astype(np.int64)
    br = np.floor(p + 6.0).astype(np.int64)
    drawn = (p[:, 0] > 0) & (p[:, 1] > 0)
    drawn &= ~((ul[:, 0] > size) | (ul[:, 1] > size) | (br[:, 0] < 1) | (br[:, 1] < 1))
    c = np.arange(size, dtype=np.int64)[None, :]
    out = []
    for axis in (1, 0):  # rows follow y, columns follow x
        lo, hi = ul[:, axis : axis + 1], br[:, axis : axis + 1]
        g0 = np.maximum(1, -lo)  # first kernel index used (1-based)
        i0 = np.maximum(1, lo)  # first image index written (1-based)
        i1 = np.minimum(hi, size)  # last image index written (1-based)
        k = c + g0 - i0
        valid = (c >= i0 - 1) & (c <= i1 - 1) & (k >= 0) & (k < 13) & drawn[:, None]
        out.append(np.where(valid, k, 13))
    return out[0], out[1]


def _hub_checkpoints() -> str:
    """face-alignment's cache: torch hub's dir (honours $TORCH_HOME and torch.hub.set_dir) / checkpoints."""
    return os.path.join(torch.hub.get_dir(), "checkpoints")


def _default_cache_dir() -> str:
    base = os.environ.get("SPACE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "space")
    return os.path.join(base, "weights")


@dataclass
class _Place:
    """A folder of weight files: local, or behind fsspec (copied to a local cache on first use)."""

    uri: str
    fs: object | None  # fsspec filesystem; None for a local folder
    path: str  # local folder, or the path inside fs
    cache_dir: str | None = None  # local copies of remote files
    _names: set[str] | None = None

    @classmethod
    def open(cls, weights: str | os.PathLike | None, cache_dir: str | None) -> "_Place":
        if weights is None:
            return cls(uri=_hub_checkpoints(), fs=None, path=_hub_checkpoints())
        uri = os.fspath(weights)
        if "://" not in uri:
            return cls(uri=uri, fs=None, path=os.path.expanduser(uri))
        import fsspec

        fs, path = fsspec.core.url_to_fs(uri)
        protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
        if "file" in protocols or "local" in protocols:
            return cls(uri=uri, fs=None, path=path)
        digest = hashlib.sha256(uri.rstrip("/").encode()).hexdigest()[:16]
        local = os.path.join(cache_dir or _default_cache_dir(), "fan", digest)
        return cls(uri=uri, fs=fs, path=path.rstrip("/"), cache_dir=local)

    def where(self) -> str:
        if self.fs is None:
            return self.path if os.path.isdir(self.path) else f"{self.path} (no such folder)"
        return self.uri

    def find(self, names: Sequence[str]) -> str | None:
        """The first of `names` present here, as a local path (remote files are copied once), else None."""
        if self.fs is None:
            for name in names:
                if os.path.isfile(os.path.join(self.path, name)):
                    return os.path.join(self.path, name)
            return None
        if self._names is None:
            try:
                self._names = {os.path.basename(str(p).rstrip("/")) for p in self.fs.ls(self.path, detail=False)}
            except (FileNotFoundError, NotADirectoryError):
                self._names = set()
        for name in names:
            if name in self._names:
                return self._fetch(name)
        return None

    def _fetch(self, name: str) -> str:
        remote = f"{self.path}/{name}"
        local = os.path.join(self.cache_dir, name)
        size = self.fs.size(remote)
        if os.path.isfile(local) and (size is None or os.path.getsize(local) == size):
            return local
        os.makedirs(self.cache_dir, exist_ok=True)
        # copy to a temporary name and rename, so that concurrent workers never read a half-written file
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=self.cache_dir)
        os.close(fd)
        try:
            self.fs.get_file(remote, tmp)
            os.replace(tmp, local)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return local


def _missing(place: _Place, wanted: dict[str, Sequence[str]]) -> MissingWeightsError:
    parts = []
    for role, names in wanted.items():
        alternatives = f" (or {', '.join(names[1:])})" if len(names) > 1 else ""
        parts.append(f"{names[0]}{alternatives} for the {role}")
    reason = (
        f"face-alignment weights not found: {'; '.join(parts)}; looked in {place.where()}; "
        f"nothing is downloaded: put the files there (from {DOWNLOAD_BASE}{{name}}) "
        f"or pass weights=<folder or URI holding them>"
    )
    return MissingWeightsError(place.uri, reason)


def _state_dict(path: str, allow_pickle: bool) -> dict:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if not allow_pickle:
            raise
        # face-alignment itself loads the depth checkpoint with weights_only=False (it pickles more than
        # tensors); this is that same trusted file, found under its own hashed name
        obj = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _load_network(path: str, role: str, device: torch.device) -> torch.nn.Module:
    if path.endswith(".zip"):  # face-alignment <= 1.4: a TorchScript archive
        net = torch.jit.load(path, map_location=device)
    else:  # face-alignment 1.5: a state dict for the package's own architecture
        from face_alignment.models import FAN, ResNetDepth

        net = FAN(4) if role == "fan" else ResNetDepth()
        net.load_state_dict(_state_dict(path, allow_pickle=role == "depth"))
        net.to(device)
    return net.eval()


def _last(out) -> torch.Tensor:
    """FAN returns the heatmaps of every stacked hourglass (a list) or, traced, the last one only."""
    return out[-1] if isinstance(out, (list, tuple)) else out


_DTYPES = {
    "float32": None, "fp32": None, "float": None,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
}


def _autocast_dtype(dtype) -> torch.dtype | None:
    if dtype is None or dtype == torch.float32:
        return None
    if isinstance(dtype, str):
        if dtype.lower() not in _DTYPES:
            raise ValueError(f"dtype {dtype!r}: choose float32, bfloat16 or float16")
        return _DTYPES[dtype.lower()]
    if dtype in (torch.bfloat16, torch.float16):
        return dtype
    raise ValueError(f"dtype {dtype!r}: choose float32, bfloat16 or float16")


def _as_rgb(image: np.ndarray, i: int) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"image {i}: expected uint8 RGB, got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image {i}: expected (H, W, 3) RGB, got shape {image.shape}")
    return image


class FanBackend(LandmarkBackend):
    """face-alignment's 3D FAN-4 + depth network: (T, 68, 3) landmarks for given boxes, S3FD for `detect`.

    weights: a folder or fsspec URI (file://, s3://, memory://, ...) holding the face-alignment files under
        their own names; None = face-alignment's own cache, torch hub's checkpoints folder
        ($TORCH_HOME/hub/checkpoints). A remote folder is copied file by file, once, to
        `cache_dir` (default $SPACE_CACHE/weights or ~/.cache/space/weights). Nothing is ever downloaded
        from the internet: missing files raise MissingWeightsError naming them and the place looked in.
    device: "auto" (cuda when available, else cpu), "cpu", "cuda", "cuda:1", ...
    batch_size: crops per forward pass.
    dtype: None / "float32", or "bfloat16" / "float16" for autocast on CUDA (ignored, with a warning, on CPU).
    flip_input: also run the mirrored crop and add its heatmaps (face-alignment's `flip_input`, which is
        on by default in face-alignment 1.5; off here: it doubles the cost of the FAN pass).
    """

    name = "fan"
    gives_depth = True

    def __init__(
        self,
        weights: str | None = None,
        device: str = "auto",
        batch_size: int = 16,
        dtype=None,
        *,
        flip_input: bool = False,
        cache_dir: str | None = None,
    ):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.flip_input = bool(flip_input)
        if device is None or str(device) == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.autocast_dtype = _autocast_dtype(dtype)
        if self.autocast_dtype is not None and self.device.type != "cuda":
            warnings.warn(f"FanBackend: dtype {dtype} is for CUDA autocast only; running float32 on {self.device}")
            self.autocast_dtype = None

        self._place = _Place.open(weights, cache_dir)
        self.weights = self._place.uri
        fan_path = self._place.find(FAN_FILES)
        depth_path = self._place.find(DEPTH_FILES)
        wanted = {}
        if fan_path is None:
            wanted["3D FAN network"] = FAN_FILES
        if depth_path is None:
            wanted["depth network"] = DEPTH_FILES
        if wanted:
            raise _missing(self._place, wanted)
        self.fan_path, self.depth_path = fan_path, depth_path
        self.fan = _load_network(fan_path, "fan", self.device)
        self.depth = _load_network(depth_path, "depth", self.device)
        self._sfd = None
        self.sfd_path: str | None = None
        self._kernel = torch.from_numpy(np.pad(_KERNEL, ((0, 1), (0, 1)))).to(self.device)

    def __repr__(self) -> str:
        return (
            f"FanBackend(fan={os.path.basename(self.fan_path)}, depth={os.path.basename(self.depth_path)}, "
            f"from={self.weights}, device={self.device}, batch_size={self.batch_size}, "
            f"autocast={self.autocast_dtype}, flip_input={self.flip_input})"
        )

    # -- landmarks --------------------------------------------------------------------------------------

    def landmarks(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        """(T,) RGB uint8 images, (T, 4) boxes x1, y1, x2, y2 (extra columns ignored) -> (T, 68, 3) float32."""
        boxes = np.asarray(boxes, dtype=np.float64)
        if boxes.ndim == 1 and boxes.size >= 4 and len(images) == 1:
            boxes = boxes[None]
        if boxes.ndim != 2 or boxes.shape[1] < 4:
            raise ValueError(f"boxes: expected (T, 4), got shape {boxes.shape}")
        if len(images) != len(boxes):
            raise ValueError(f"{len(images)} images but {len(boxes)} boxes")
        boxes = boxes[:, :4]
        bad = ~np.isfinite(boxes).all(axis=1) | (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"box {i} is empty or not finite: {boxes[i].tolist()}")
        out = np.empty((len(boxes), NUM_LANDMARKS, 3), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(boxes), self.batch_size):
                stop = min(start + self.batch_size, len(boxes))
                out[start:stop] = self._batch(images[start:stop], boxes[start:stop], start)
        return out

    def _autocast(self):
        if self.autocast_dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast("cuda", dtype=self.autocast_dtype)

    def _batch(self, images, boxes: np.ndarray, offset: int) -> np.ndarray:
        from face_alignment.utils import crop, flip, get_preds_fromhm

        n = len(boxes)
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        centers = np.stack([boxes[:, 2] - w / 2.0, boxes[:, 3] - h / 2.0 - h * CENTER_Y_OFFSET], axis=1)
        scales = (w + h) / REFERENCE_SCALE
        crops = np.stack([crop(_as_rgb(im, offset + i), centers[i], scales[i]) for i, im in enumerate(images)])

        inp = torch.from_numpy(crops).to(self.device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
        with self._autocast():
            heat = _last(self.fan(inp)).float()
            if self.flip_input:
                heat = heat + flip(_last(self.fan(flip(inp))).float(), is_label=True)
        heat = heat.cpu().numpy()

        xy = np.empty((n, NUM_LANDMARKS, 2), dtype=np.float32)
        crop_pts = np.empty((n, NUM_LANDMARKS, 2), dtype=np.float32)
        for i in range(n):
            pts, pts_img, _ = get_preds_fromhm(heat[i : i + 1], centers[i], scales[i])
            crop_pts[i], xy[i] = pts[0] * 4, pts_img[0]

        rows, cols = depth_heatmap_index(crop_pts.reshape(-1, 2))
        rows = torch.from_numpy(rows).to(self.device)
        cols = torch.from_numpy(cols).to(self.device)
        maps = self._kernel[rows[:, :, None], cols[:, None, :]].view(n, NUM_LANDMARKS, CROP, CROP)
        with self._autocast():
            depth = self.depth(torch.cat((inp, maps), 1))
        depth = depth.float().view(n, NUM_LANDMARKS).cpu()
        z = np.stack([(depth[i] * (1.0 / (CROP / (SCALE_FACTOR * scales[i])))).numpy() for i in range(n)])
        return np.concatenate([xy, z[:, :, None]], axis=2)

    # -- detection --------------------------------------------------------------------------------------

    def _detector(self) -> torch.nn.Module:
        if self._sfd is None:
            path = self._place.find(SFD_FILES)
            if path is None:
                raise _missing(self._place, {"S3FD face detector": SFD_FILES})
            from face_alignment.detection.sfd.net_s3fd import s3fd

            net = s3fd()
            net.load_state_dict(_state_dict(path, allow_pickle=False))
            self._sfd = net.to(self.device).eval()
            self.sfd_path = path
        return self._sfd

    def detect(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (K, 5) float32 x1, y1, x2, y2, score: S3FD, NMS 0.3, score > 0.5."""
        from face_alignment.detection.sfd.bbox import nms
        from face_alignment.detection.sfd.detect import batch_detect

        image = _as_rgb(image, 0)
        net = self._detector()
        batch = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
        with torch.inference_mode():
            found = batch_detect(net, batch, device=str(self.device))[0]
        found = np.asarray(found, dtype=np.float64).reshape(-1, 5)
        if len(found):
            found = found[nms(found, SFD_NMS_IOU)]
            found = found[found[:, 4] > SFD_MIN_SCORE]
        return found.astype(np.float32).reshape(-1, 5)
