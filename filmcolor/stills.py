"""Colorize still images: one file, or every image under a folder (``filmcolor frames``).

Images keep their size, format and bit depth (16-bit PNG/TIFF stay 16-bit); EXIF orientation is
applied, so the output is upright without a tag. Pixels are read and written with OpenCV (it
keeps 16 bits), the orientation tag is read with Pillow.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from filmcolor.files import atomic_output
from filmcolor.models.color import gray_to_lightness, lab_to_rgb

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
_EXIF_ORIENTATION = 0x0112


class ImageReadError(ValueError):
    """An image that cannot be read; the message is meant for the user."""


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


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Pixels of an image, upright: (H, W) gray or (H, W, 3|4) BGR(A), uint8 or uint16.

    Raises:
        ImageReadError: missing or unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"image not found: {path}")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.dtype not in (np.uint8, np.uint16) or img.size == 0:
        raise ImageReadError(f"{path} is not an image that can be read")
    try:
        with Image.open(path) as im:
            orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
    except (UnidentifiedImageError, OSError):
        orientation = 1
    return _orient(img, int(orientation or 1))


def luma_of(img: np.ndarray) -> np.ndarray:
    """Gray level of an image from :func:`read_image`: itself, or BT.601 luma of BGR."""
    if img.ndim == 2:
        return img
    return cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2GRAY)


def read_luma(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """An image's gray level (H, W) and its bit depth (8 or 16)."""
    img = read_image(path)
    return luma_of(img), 16 if img.dtype == np.uint16 else 8


def colorize_image(colorizer, img: np.ndarray, g: torch.Tensor | None = None) -> np.ndarray:
    """Colorize one image; same size and dtype, BGR (BGRA when the input had alpha).

    Args:
        colorizer: a :class:`filmcolor.pipeline.Colorizer`.
        img: from :func:`read_image`.
        g: a global vector (1, D) to use (``--style``); None = the image's own.
    """
    from filmcolor.pipeline import thumb224

    bits = 16 if img.dtype == np.uint16 else 8
    y = luma_of(img)
    lut = gray_to_lightness(bits)
    lightness = lut[torch.from_numpy(y.astype(np.int64))][None, None]  # (1, 1, H, W) L*
    if g is None:
        g = colorizer.global_vector(thumb224(y, lut)[None])
    ab = colorizer.ab(lightness / 100, g)  # (1, 2, H, W)
    rgb = lab_to_rgb(torch.cat((lightness, ab), 1))[0]  # (3, H, W) in [0, 1]
    top = 2**bits - 1
    out = (rgb.permute(1, 2, 0).flip(-1) * top).round().numpy().astype(img.dtype)  # BGR
    if img.ndim == 3 and img.shape[2] == 4:
        out = np.concatenate((out, img[..., 3:]), axis=2)
    return out


def write_image(path: Path, img: np.ndarray) -> None:
    """Write atomically (temporary file beside it, then rename), in the suffix's format."""
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix.lower() in (".jpg", ".jpeg") else []
    with atomic_output(path, suffix=path.suffix) as tmp:  # cv2 picks the format by suffix
        if not cv2.imwrite(str(tmp), img, params):
            raise OSError(f"cannot write {path}")


@dataclass
class FolderResult:
    """What :func:`colorize_folder` did."""

    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (input, reason)


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


def colorize_folder(
    src: Path,
    dst: Path,
    colorizer,
    *,
    style: torch.Tensor | None = None,
    overwrite: bool = False,
    on_progress: Callable[[int, int, Path], None] | None = None,
) -> FolderResult:
    """Colorize every image under ``src`` to the same relative path under ``dst``.

    Unreadable images are skipped and named in the result; so are existing outputs unless
    ``overwrite``.

    Args:
        src: the input folder.
        dst: the output folder (created).
        colorizer: a :class:`filmcolor.pipeline.Colorizer`.
        style: one global vector for every image; None = each image's own.
        overwrite: replace existing outputs.
        on_progress: called with (done, total, current file).
    """
    images = find_images(src, exclude=dst if dst.exists() else None)
    result = FolderResult()
    for i, path in enumerate(images):
        if on_progress:
            on_progress(i, len(images), path)
        target = dst / path.relative_to(src)
        if target.exists() and not overwrite:
            result.skipped.append((path, f"{target} exists (pass --overwrite)"))
            continue
        try:
            img = read_image(path)
        except ImageReadError as e:
            result.skipped.append((path, str(e)))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        write_image(target, colorize_image(colorizer, img, style))
        result.written.append(target)
    if on_progress:
        on_progress(len(images), len(images), src)
    return result
