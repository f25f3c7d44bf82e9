"""Image files: find, read (upright, 8 or 16 bits) and write atomically.

Pixels are read and written with OpenCV (it keeps 16 bits); the EXIF orientation tag is read with
Pillow and applied, so what is read is upright without a tag.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from filmcolor.checks import check_pixels
from filmcolor.errors import UserError
from filmcolor.files import atomic_output
from filmcolor.metadata import StillMetadata, write_still

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
_EXIF_ORIENTATION = 0x0112


class ImageReadError(UserError):
    """An image that cannot be read."""


class DamagedImageError(ImageReadError):
    """An image whose decoder reports damage: truncated or corrupt data."""


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an (H, W, ...) array, as Pillow's exif_transpose."""
    ops = {
        2: lambda x: x[:, ::-1],
        3: lambda x: x[::-1, ::-1],
        4: lambda x: x[::-1],
        5: lambda x: x.swapaxes(0, 1),
        6: lambda x: np.rot90(x, -1),
        7: lambda x: np.rot90(x.swapaxes(0, 1), 2),
        8: lambda x: np.rot90(x, 1),
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(a)) if op else a


def read_image(
    path: str | os.PathLike, allow_damaged: bool = False, max_pixels: int | None = None
) -> np.ndarray:
    """Pixels of an image, upright: (H, W) gray or (H, W, 3|4) BGR(A), uint8 or uint16.

    Args:
        path: the file.
        allow_damaged: read a damaged JPEG anyway (what is missing comes out flat gray).
        max_pixels: the largest image to decode (None = what this machine's memory takes).

    Raises:
        ImageReadError: missing or unreadable file.
        DamagedImageError: a truncated or corrupt JPEG, unless ``allow_damaged``.
        TooLargeError: the header claims more than ``max_pixels``.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"image not found: {path}")
    if (size := header_size(path)) is not None:
        check_pixels(*size, max_pixels, str(path))
    if not allow_damaged:
        check_intact(path)
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.dtype not in (np.uint8, np.uint16) or img.size == 0:
        raise ImageReadError(f"{path} is not an image that can be read")
    try:
        with Image.open(path) as im:
            orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
    except (UnidentifiedImageError, OSError):
        orientation = 1
    return _orient(img, int(orientation or 1))


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) as the file's header claims, read by Pillow without decoding pixels
    (None when Pillow cannot read the header)."""
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # the size is checked against --max-pixels instead
    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def check_intact(path: Path) -> None:
    """Decode a JPEG to the end with Pillow, which fails where libjpeg only warns on stderr
    (and OpenCV fills what is missing with gray).

    Raises:
        DamagedImageError: truncated or corrupt data.
    """
    if path.suffix.lower() not in (".jpg", ".jpeg"):
        return
    try:
        with Image.open(path) as im:
            im.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DamagedImageError(f"{path} is damaged ({e})") from None


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """An image file as (H, W, 3) uint8 sRGB, EXIF orientation applied: the colour truth that
    training and the quality benchmark measure against. Unlike :func:`read_image` it decodes
    with Pillow, which fails on a truncated file instead of filling it in.

    Raises:
        OSError: the file is missing, corrupt or truncated.
    """
    with Image.open(path) as im:
        im.load()  # decodes everything now, so a truncated file fails here
        im = ImageOps.exif_transpose(im)
        if im.mode == "I;16" or im.mode == "I":
            arr = np.asarray(im, dtype=np.float32)
            arr = (arr / (65535.0 if arr.max() > 255 else 255.0) * 255).round().astype(np.uint8)
            return np.repeat(arr[..., None], 3, axis=2)
        return np.asarray(im.convert("RGB"))


def luma_of(img: np.ndarray) -> np.ndarray:
    """Gray level of an image from :func:`read_image`: itself, or BT.601 luma of BGR."""
    if img.ndim == 2:
        return img
    return cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2GRAY)


def read_luma(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """An image's gray level (H, W) and its bit depth (8 or 16)."""
    img = read_image(path)
    return luma_of(img), 16 if img.dtype == np.uint16 else 8


def write_image(path: Path, img: np.ndarray, meta: StillMetadata | None = None) -> None:
    """Write atomically (temporary file beside it, then rename), in the suffix's format, with
    the EXIF, ICC profile and dpi of ``meta`` (see :func:`filmcolor.metadata.write_still`)."""
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix.lower() in (".jpg", ".jpeg") else []
    with atomic_output(path, suffix=path.suffix) as tmp:  # cv2 picks the format by suffix
        if meta and img.ndim == 3 and write_still(tmp, img, meta):
            return
        if not cv2.imwrite(str(tmp), img, params):
            raise OSError(f"cannot write {path}")


def find_images(folder: Path, exclude: Path | None = None) -> list[Path]:
    """Every image file under ``folder``, recursively, sorted; nothing under ``exclude``."""
    found = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if exclude is not None and p.resolve().is_relative_to(exclude.resolve()):
            continue
        found.append(p)
    return found
