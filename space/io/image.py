"""Load still images (portraits) as (H, W, 3) uint8 RGB with Pillow, guarding memory before decoding."""

from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from space.errors import CorruptMediaError, EmptyMediaError, ImageTooLargeError, MissingFileError
from space.io.uri import file_size, open_uri

MAX_PIXELS = 40_000_000
# Pillow formats that are really video streams (MPEG-1 elementary streams): route those to the video reader.
_NOT_STILL = {"MPEG"}


def is_image(uri: str | os.PathLike[str]) -> bool:
    """True when Pillow recognises the file header as a still image (reads only the header). False otherwise,
    including for missing files, so a caller routes anything else to the video code (which reports the error)."""
    try:
        with open_uri(uri) as f, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(f) as img:
                return img.format not in _NOT_STILL
    except (MissingFileError, UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        return False


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB from any mode: alpha is composited on white, 16/32-bit grey is scaled to 8 bits, palette expanded."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        grey = np.asarray(img, dtype=np.float64)
        scale = 257.0 if grey.max(initial=0) > 255 else 1.0  # 16-bit data arrives in 0..65535
        img = Image.fromarray(np.clip(grey / scale, 0, 255).astype(np.uint8), "L")
    has_alpha = img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def _check_pixels(img: Image.Image, uri: str | os.PathLike[str], max_pixels: int) -> None:
    width, height = img.size  # from the header: Image.open has not decoded anything yet
    if width * height > max_pixels:
        raise ImageTooLargeError(uri, f"image is {width}x{height} = {width * height:,} pixels > limit {max_pixels:,}")
    if width == 0 or height == 0:
        raise EmptyMediaError(uri, f"image has no pixels ({width}x{height})")


def load_image(uri: str | os.PathLike[str], max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image file to (H, W, 3) uint8 RGB, upright per its EXIF orientation.

    Raises MissingFileError, EmptyMediaError, CorruptMediaError (not an image, truncated), and ImageTooLargeError
    before decoding when width x height exceeds `max_pixels`.
    """
    if file_size(uri) == 0:
        raise EmptyMediaError(uri, "file is empty (0 bytes)")
    with open_uri(uri) as f, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we apply our own limit below
        try:
            with Image.open(f) as img:
                _check_pixels(img, uri, max_pixels)
                img.load()
                return np.asarray(_to_rgb(ImageOps.exif_transpose(img)), dtype=np.uint8).copy()
        except Image.DecompressionBombError as exc:
            raise ImageTooLargeError(uri, f"image too large to decode safely ({exc})") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise CorruptMediaError(uri, f"not a readable image ({' '.join(str(exc).split())[:200]})") from exc
