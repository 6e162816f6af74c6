"""The portrait: one photo prepared for animation.

    photo -> main face (a landmark backend's detector, space.face.tracking.main_face)
          -> square head-and-shoulders crop (2.2x the face box, a little below its centre), edge-padded where it
             leaves the photo, resized to size x size
          -> 68 landmarks re-detected on the crop -> head pose + normalized identity shape (pose fit)
          -> iris centres measured from the pixels, a ring of points around the head that moves with it

Every renderer (space.render) draws from a Portrait; its pixels are the coordinate frame of a Motion.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import cv2
import numpy as np

from .errors import FaceTooSmallError, NoFaceError
from .face.backend import LandmarkBackend
from .face.eyes import eye_centres, measure_iris
from .face.geometry import normalize
from .face.mean_face import RIGID_INDEX
from .face.pose_fit import fit_pose
from .face.tracking import main_face

CROP_SCALE = 2.2  # crop side over the face box's longer side: head, hair and shoulders
MIN_CROP_SCALE = 1.6  # ... down to this when the photo is too small for CROP_SCALE (before any padding)
CROP_DROP = 0.15  # the crop centre sits this share of the box height below the box centre (chin and neck)
MIN_FACE = 48  # pixels: a smaller face is too blurred once upscaled into the crop
DETECT_SIDE = 1024  # detection runs on the photo downscaled to this longer side (dlib's HOG slows with area)


@dataclass
class Portrait:
    """The photo at rest: pixels, its detected landmarks, and the fit that puts them in the normalized space."""

    image: np.ndarray  # (S, S, 3) uint8
    landmarks: np.ndarray  # (68, 2) pixels, as the backend finds them on the crop
    pose: np.ndarray  # (6,) yaw, pitch, roll, tx, ty, scale (space.face.geometry)
    normalized: np.ndarray  # (68, 3) identity shape, pose-free
    ring: np.ndarray = field(default=None)  # (R, 3) normalized points on the head's outline, moving with it
    iris: np.ndarray = field(default=None)  # (2, 2) iris centres in pixels, image-left eye first
    source: str = "photo"
    window: tuple | None = None  # (centre x, centre y, side) of the crop in the photo's pixels, when known

    def __post_init__(self):
        if self.ring is None:
            self.ring = head_ring(self.normalized)
        if self.iris is None:
            self.iris = photo_iris(self.image, self.landmarks)

    @property
    def size(self) -> int:
        return int(self.image.shape[0])

    ARRAYS = ("image", "landmarks", "pose", "normalized", "ring", "iris")

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The portrait as named arrays (to send between workers: `pipelines.blobs.pack_arrays`)."""
        return {name: np.asarray(getattr(self, name)) for name in self.ARRAYS}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], source: str = "photo") -> "Portrait":
        return cls(**{name: arrays[name] for name in cls.ARRAYS}, source=source)


def head_ring(normalized: np.ndarray) -> np.ndarray:
    """Points on the head's outline (skull, hair, ears, jaw) that move rigidly with it (space.render.deform)."""
    from .render.deform import head_outline

    return head_outline(normalized)


def photo_iris(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(2, 2) iris centres measured from the pixels, the eye centre where the eye is closed or unreadable."""
    measured = measure_iris(image, landmarks)
    centres = eye_centres(np.asarray(landmarks, dtype=np.float64)[:, :2])
    return np.where(np.isfinite(measured), measured, centres)


@functools.lru_cache(maxsize=1)
def _default_backend() -> LandmarkBackend:
    from .face.dlib_backend import DlibBackend

    return DlibBackend()


def crop_box(box: np.ndarray) -> tuple[float, float, float]:
    """A face box (x1, y1, x2, y2) -> the square crop around it: (centre x, centre y, side)."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    side = CROP_SCALE * max(x2 - x1, y2 - y1)
    return (x1 + x2) / 2, (y1 + y2) / 2 + CROP_DROP * (y2 - y1), side


def fit_crop(box: np.ndarray, width: int, height: int) -> tuple[float, float, float]:
    """The portrait's square crop for a face box, kept inside the photo where it can be: `crop_box`, tightened
    down to MIN_CROP_SCALE x the face when the photo is smaller than it, then slid (the face off-centre, as in
    most portraits) until it lies in the photo. Only a photo too small even for that is padded."""
    cx, cy, side = crop_box(box)
    face = max(float(box[2] - box[0]), float(box[3] - box[1]))
    side = min(side, max(min(width, height), MIN_CROP_SCALE * face))
    half = side / 2
    # Slide each axis into the photo where the side fits, keeping the face box inside the crop.
    if side <= width:
        cx = float(np.clip(cx, half, width - half))
    if side <= height:
        cy = float(np.clip(cy, half, height - half))
    cx = float(np.clip(cx, box[2] - half, box[0] + half))
    cy = float(np.clip(cy, box[3] - half, box[1] + half))
    return cx, cy, side


def crop_square(image: np.ndarray, cx: float, cy: float, side: float, size: int, soft_border: bool = False) -> np.ndarray:
    """The square of `side` pixels centred at (cx, cy), resized to size x size (area averaging down, cubic up).
    Where it leaves the image it is edge-replicated, or with `soft_border` replicated and then blurred (bare
    replication draws stripes a viewer sees at once; blurred, it reads as out-of-focus surroundings)."""
    height, width = image.shape[:2]
    n = max(1, int(round(side)))
    x0, y0 = int(round(cx - n / 2)), int(round(cy - n / 2))
    x1, y1 = x0 + n, y0 + n
    # The square contains the face box, which lies in the photo, so the two always overlap.
    inner = np.ascontiguousarray(image[max(y0, 0) : min(y1, height), max(x0, 0) : min(x1, width)])
    pads = (max(-y0, 0), max(y1 - height, 0), max(-x0, 0), max(x1 - width, 0))
    if any(pads) and soft_border:
        # The photo's edge carried outwards and blurred strongly: smooth out-of-focus surroundings in its colours.
        crop = cv2.copyMakeBorder(inner, *pads, cv2.BORDER_REPLICATE)
        blurred = cv2.GaussianBlur(crop, (0, 0), max(1.0, 0.06 * n))
        outside = np.ones(crop.shape[:2], np.float32)
        outside[pads[0] : n - pads[1], pads[2] : n - pads[3]] = 0.0
        outside = cv2.GaussianBlur(outside, (0, 0), max(1.0, 0.015 * n))[..., None]
        crop = np.clip(crop * (1 - outside) + blurred * outside + 0.5, 0, 255).astype(np.uint8)
    elif any(pads):
        crop = cv2.copyMakeBorder(inner, *pads, cv2.BORDER_REPLICATE)
    else:
        crop = inner
    if n == size:
        return np.ascontiguousarray(crop)
    interpolation = cv2.INTER_AREA if n > size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interpolation)


def portrait_from_image(
    image: np.ndarray, source: str = "photo", size: int = 256, backend: LandmarkBackend | None = None
) -> Portrait:
    """Prepare a photo ((H, W, 3) uint8 RGB) for animation: crop the main face, find its landmarks and pose.

    Raises NoFaceError (naming `source`) when there is no face, FaceTooSmallError (a NoFaceError) when the main
    face is under MIN_FACE pixels."""
    backend = backend or _default_backend()
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    height, width = image.shape[:2]
    factor = min(1.0, DETECT_SIDE / max(height, width))
    small = image if factor == 1.0 else cv2.resize(
        image, (max(1, round(width * factor)), max(1, round(height * factor))), interpolation=cv2.INTER_AREA
    )
    boxes = backend.detect(small)
    if len(boxes) == 0:
        raise NoFaceError(source, f"no face found ({width}x{height})")
    boxes = boxes.astype(np.float64)
    boxes[:, :4] /= factor
    box = boxes[main_face(boxes, width, height)]
    face = max(box[2] - box[0], box[3] - box[1])
    if face < MIN_FACE:
        raise FaceTooSmallError(source, f"the face is {face:.0f} px, under the {MIN_FACE} px needed ({width}x{height})")

    cx, cy, side = fit_crop(box, width, height)
    crop = crop_square(image, cx, cy, side, size, soft_border=True)
    # Landmarks on the crop itself (the detector's box there fits the crop's pixels); the photo's box mapped into
    # the crop if the detector misses the face at this size.
    found = backend.detect(crop)
    if len(found):
        crop_face = found[main_face(found, size, size), :4]
    else:
        scale = size / max(1, int(round(side)))
        x0, y0 = round(cx - round(side) / 2), round(cy - round(side) / 2)
        crop_face = (box[:4] - [x0, y0, x0, y0]) * scale
    raw = np.asarray(backend.landmarks([crop], np.asarray(crop_face, np.float32)[None]), dtype=np.float64)[0]
    landmarks = raw[:, :2]
    poses, lifted, _ = fit_pose(landmarks[None])
    if backend.gives_depth and raw.shape[-1] == 3:
        depth = raw[:, 2] - raw[RIGID_INDEX, 2].mean()
        lifted = np.concatenate([landmarks, depth[:, None]], axis=-1)[None]
    normalized = normalize(lifted, poses)[0]
    return Portrait(crop, landmarks, poses[0], normalized, source=str(source), window=(cx, cy, side))


def load_portrait(uri: str, size: int = 256, backend: LandmarkBackend | None = None) -> Portrait:
    """A portrait from an image file or URI (space.io.image.load_image), named by the URI in errors."""
    from .io.image import load_image

    return portrait_from_image(load_image(uri), source=str(uri), size=size, backend=backend)


def astronaut_portrait(size: int = 256) -> Portrait:
    """scikit-image's astronaut photo as a portrait: a real face that ships inside a package."""
    import skimage.data

    return portrait_from_image(skimage.data.astronaut(), source="skimage.data.astronaut", size=size)
