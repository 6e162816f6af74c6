from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from space.errors import CorruptMediaError, EmptyMediaError, ImageTooLargeError, MissingFileError
from space.io.image import is_image, load_image


def _save(tmp_path, name: str, img: Image.Image, **kwargs) -> str:
    path = tmp_path / name
    img.save(path, **kwargs)
    return str(path)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares width x height, with no pixel data: costs bytes, not 300 MB, to make."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_rgb_png(tmp_path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    image = load_image(_save(tmp_path, "a.png", Image.fromarray(pixels)))
    assert image.dtype == np.uint8 and image.shape == (20, 30, 3)
    np.testing.assert_array_equal(image, pixels)


def test_alpha_is_composited_on_white(tmp_path) -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200  # red
    rgba[:2, :, 3] = 255  # top half opaque, bottom half transparent
    image = load_image(_save(tmp_path, "a.png", Image.fromarray(rgba, "RGBA")))
    assert image[0, 0].tolist() == [200, 0, 0]
    assert image[3, 3].tolist() == [255, 255, 255]


def test_grey_and_palette(tmp_path) -> None:
    grey = load_image(_save(tmp_path, "g.png", Image.new("L", (5, 4), 77)))
    assert grey.shape == (4, 5, 3) and (grey == 77).all()
    palette = Image.new("RGB", (6, 6), (10, 120, 240)).convert("P", palette=Image.Palette.ADAPTIVE)
    assert load_image(_save(tmp_path, "p.png", palette))[0, 0].tolist() == [10, 120, 240]
    assert load_image(_save(tmp_path, "b.png", Image.new("1", (3, 3), 1)))[0, 0].tolist() == [255, 255, 255]


def test_palette_transparency_and_grey_alpha(tmp_path) -> None:
    pal = Image.new("P", (4, 4), 0)
    pal.putpalette([0, 0, 0, 255, 0, 0])
    pal.putpixel((0, 0), 1)
    image = load_image(_save(tmp_path, "t.png", pal, transparency=0))
    assert image[0, 0].tolist() == [255, 0, 0] and image[3, 3].tolist() == [255, 255, 255]
    la = load_image(_save(tmp_path, "la.png", Image.new("LA", (2, 2), (40, 0))))
    assert la[0, 0].tolist() == [255, 255, 255]


def test_16_bit_grey(tmp_path) -> None:
    image = load_image(_save(tmp_path, "g16.png", Image.fromarray(np.full((3, 3), 65535, np.uint16))))
    assert image.dtype == np.uint8 and (image == 255).all()


def test_exif_orientation(tmp_path) -> None:
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    image = load_image(_save(tmp_path, "o.jpg", Image.fromarray(pixels), exif=exif, quality=95))
    assert image.shape == (40, 20, 3)
    assert image[5, 10].mean() > 200 and image[35, 10].mean() < 50  # white half now on top


def test_too_large_is_refused_before_decoding(tmp_path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header_only(10000, 10000))
    with pytest.raises(ImageTooLargeError, match=r"huge\.png.*10000x10000"):
        load_image(path)
    with pytest.raises(ImageTooLargeError, match="huge.png"):
        load_image(path, max_pixels=1000)  # any limit applies, from the header alone
    assert is_image(path)


def test_truncated_image(tmp_path) -> None:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(CorruptMediaError, match="cut.png"):
        load_image(path)


def test_not_an_image(tmp_path) -> None:
    path = tmp_path / "face.jpg"
    path.write_text("not a jpeg")
    with pytest.raises(CorruptMediaError, match="face.jpg"):
        load_image(path)
    assert not is_image(path)


def test_empty_and_missing(tmp_path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(EmptyMediaError, match="empty.png"):
        load_image(tmp_path / "empty.png")
    with pytest.raises(MissingFileError, match="absent.png"):
        load_image(tmp_path / "absent.png")
    assert not is_image(tmp_path / "absent.png") and not is_image(tmp_path / "empty.png")


def test_is_image_routes_media(tmp_path, media, clip) -> None:
    assert is_image(_save(tmp_path, "a.jpg", Image.new("RGB", (8, 8))))
    assert is_image(_save(tmp_path, "a.webp", Image.new("RGB", (8, 8))))
    assert not is_image(clip)
    assert not is_image(media.wav("a.wav", media.tone(0.1, 16000), 16000))
