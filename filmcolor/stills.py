"""Colorize still images: one file, or every image under a folder (``filmcolor frames``).

Images keep their size, format and bit depth (16-bit PNG/TIFF stay 16-bit) and come out upright
(see :mod:`filmcolor.images`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from filmcolor.checks import AlreadyColourError, TooLargeError, check_black_and_white
from filmcolor.colorizer import Colorizer, thumb224
from filmcolor.images import (
    DamagedImageError,
    ImageReadError,
    find_images,
    luma_of,
    read_image,
    write_image,
)
from filmcolor.metadata import read_still_metadata
from filmcolor.models.color import gray_to_lightness, lab_to_rgb, normalize_l


def colorize_image(
    colorizer: Colorizer, img: np.ndarray, g: torch.Tensor | None = None
) -> np.ndarray:
    """Colorize one image; same size and dtype, BGR (BGRA when the input had alpha).

    Args:
        colorizer: the loaded model.
        img: from :func:`filmcolor.images.read_image`.
        g: a global vector (1, D) to use (``--style``); None = the image's own.
    """
    bits = 16 if img.dtype == np.uint16 else 8
    y = luma_of(img)
    lut = gray_to_lightness(bits)
    lightness = lut[torch.from_numpy(y.astype(np.int64))][None, None]  # (1, 1, H, W) L*
    if g is None:
        g = colorizer.global_vector(thumb224(y, lut)[None])
    ab = colorizer.ab(normalize_l(lightness), g)  # (1, 2, H, W)
    rgb = lab_to_rgb(torch.cat((lightness, ab), 1))[0]  # (3, H, W) in [0, 1]
    top = 2**bits - 1
    out = (rgb.permute(1, 2, 0).flip(-1) * top).round().numpy().astype(img.dtype)  # BGR
    if img.ndim == 3 and img.shape[2] == 4:
        out = np.concatenate((out, img[..., 3:]), axis=2)
    return out


@dataclass
class FolderResult:
    """What :func:`colorize_folder` did."""

    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (input, reason)
    damaged: list[tuple[Path, str]] = field(default_factory=list)  # written anyway (allowed)


def colorize_folder(
    src: Path,
    dst: Path,
    colorizer: Colorizer,
    *,
    style: torch.Tensor | None = None,
    overwrite: bool = False,
    allow_damaged: bool = False,
    force: bool = False,
    max_pixels: int | None = None,
    on_progress: Callable[[int, int, Path], None] | None = None,
) -> FolderResult:
    """Colorize every image under ``src`` to the same relative path under ``dst``.

    Unreadable images are skipped and named in the result; so are existing outputs unless
    ``overwrite``.

    Args:
        src: the input folder.
        dst: the output folder (created).
        colorizer: the loaded model.
        style: one global vector for every image; None = each image's own.
        overwrite: replace existing outputs.
        allow_damaged: colorize a truncated or corrupt JPEG anyway (it is named in
            ``damaged``); by default it is skipped.
        force: colorize images that are already in colour (by default they are skipped).
        max_pixels: skip images larger than this (None = what this machine's memory takes).
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
            img = read_image(path, max_pixels=max_pixels)
        except DamagedImageError as e:
            if not allow_damaged:
                result.skipped.append((path, f"{e}; --allow-damaged colorizes it anyway"))
                continue
            result.damaged.append((path, str(e)))
            img = read_image(path, allow_damaged=True, max_pixels=max_pixels)
        except (ImageReadError, TooLargeError) as e:
            result.skipped.append((path, str(e)))
            continue
        if not force and img.ndim == 3:
            try:
                check_black_and_white(img[..., 2::-1][::4, ::4], str(path))  # BGR -> RGB
            except AlreadyColourError as e:
                result.skipped.append((path, str(e)))
                continue
        target.parent.mkdir(parents=True, exist_ok=True)
        write_image(target, colorize_image(colorizer, img, style), read_still_metadata(path))
        result.written.append(target)
    if on_progress:
        on_progress(len(images), len(images), src)
    return result
