"""Colorize still images: one file, or every image under a folder (``filmcolor frames``).

Images keep their size, format and bit depth (16-bit PNG/TIFF stay 16-bit) and come out upright
(see :mod:`filmcolor.images`). With hints (``--hints``), a same-named picture painted with
strokes of colour, or coloured in full, colours an image from them (:mod:`filmcolor.hints`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from filmcolor.checks import AlreadyColourError, TooLargeError, check_black_and_white
from filmcolor.colorizer import Colorizer, thumb224
from filmcolor.config import DEFAULT_STYLE_STRENGTH
from filmcolor.errors import UserError
from filmcolor.hints import find_hints, spread_hints
from filmcolor.images import (
    IMAGE_SUFFIXES,
    DamagedImageError,
    ImageReadError,
    find_images,
    luma_of,
    read_image,
    write_image,
)
from filmcolor.metadata import read_still_metadata
from filmcolor.models.color import gray_to_lightness, lab_to_rgb, normalize_l
from filmcolor.palette import Palette, match_palette


class HintsError(UserError):
    """A hints picture that does not fit the image it colours."""


def colorize_image(
    colorizer: Colorizer,
    img: np.ndarray,
    g: torch.Tensor | None = None,
    hints: np.ndarray | None = None,
    palette: Palette | None = None,
    style_strength: float = DEFAULT_STYLE_STRENGTH,
) -> np.ndarray:
    """Colorize one image; same size and dtype, BGR (BGRA when the input had alpha).

    Args:
        colorizer: the loaded model.
        img: from :func:`filmcolor.images.read_image`.
        g: a global vector (1, D) to use (``--style``); None = the image's own.
        hints: the image painted with strokes of colour, or coloured in full, (H, W, 3) RGB
            of the image's size (see :func:`with_hints`); None = the network alone.
        palette: the style reference's palette (:func:`filmcolor.styles.style_palette`), which
            the network's a*b* are matched to at ``style_strength`` (before the hints).
        style_strength: 0 = the reference's mood only (its global vector ``g``).
    """
    bits = 16 if img.dtype == np.uint16 else 8
    y = luma_of(img)
    lut = gray_to_lightness(bits)
    lightness = lut[torch.from_numpy(y.astype(np.int64))][None, None]  # (1, 1, H, W) L*
    if g is None:
        g = colorizer.global_vector(thumb224(y, lut)[None])
    ab = colorizer.ab(normalize_l(lightness), g)  # (1, 2, H, W)
    if palette is not None:
        matched = match_palette(
            lightness[0, 0].float().numpy(), ab[0].permute(1, 2, 0).numpy(), palette, style_strength
        )
        ab = torch.from_numpy(np.ascontiguousarray(matched)).permute(2, 0, 1)[None]
    if hints is not None:
        ab = with_hints(colorizer, lightness, ab, hints)
    rgb = lab_to_rgb(torch.cat((lightness, ab), 1))[0]  # (3, H, W) in [0, 1]
    top = 2**bits - 1
    out = (rgb.permute(1, 2, 0).flip(-1) * top).round().numpy().astype(img.dtype)  # BGR
    if img.ndim == 3 and img.shape[2] == 4:
        out = np.concatenate((out, img[..., 3:]), axis=2)
    return out


def with_hints(
    colorizer: Colorizer, lightness: torch.Tensor, ab: torch.Tensor, painted: np.ndarray
) -> torch.Tensor:
    """The network's a*b* (1, 2, H, W) replaced by what the hints give: spread at the render
    size with the prediction as prior, then enlarged; a picture coloured in full is taken at
    its own size, as it is. ``lightness`` is the image's L* (1, 1, H, W)."""
    hints = find_hints(painted)
    if hints.full:
        return torch.from_numpy(hints.ab).permute(2, 0, 1)[None]
    if hints.empty:
        return ab
    h, w = lightness.shape[-2:]
    small_l = colorizer.shrink(lightness)[0, 0].numpy()  # (h', w') L*
    size = small_l.shape
    prior = cv2.resize(ab[0].permute(1, 2, 0).numpy(), size[::-1], interpolation=cv2.INTER_AREA)
    out = spread_hints(small_l, hints.resized(size), prior)
    if size != (h, w):
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
    return torch.from_numpy(out).permute(2, 0, 1)[None]


def hints_for(image: Path, src: Path, hints: Path) -> Path | None:
    """The hints picture of ``image`` (under ``src``): the same relative path under
    ``hints``, or the same name with another image suffix (a PNG painted over a JPEG)."""
    same = hints / image.relative_to(src)
    if same.is_file():
        return same
    for suffix in sorted(IMAGE_SUFFIXES):
        other = same.with_suffix(suffix)
        if other.is_file():
            return other
    return None


def read_hints(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A hints picture as (H, W, 3) RGB, of the image's (H, W).

    Raises:
        HintsError: another size.
        ImageReadError: an unreadable file.
    """
    img = read_image(path)
    if img.shape[:2] != shape:
        raise HintsError(
            f"{path} is {img.shape[1]}x{img.shape[0]}, the image it colours "
            f"{shape[1]}x{shape[0]}; hints are painted on the image itself, at its size"
        )
    if img.ndim == 2:
        return np.dstack([img] * 3)
    return np.ascontiguousarray(img[..., 2::-1])  # BGR(A) -> RGB


@dataclass
class FolderResult:
    """What :func:`colorize_folder` did."""

    written: list[Path] = field(default_factory=list)
    existing: list[Path] = field(default_factory=list)  # outputs already there (not replaced)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (input, reason)
    damaged: list[tuple[Path, str]] = field(default_factory=list)  # written anyway (allowed)


def colorize_folder(
    src: Path,
    dst: Path,
    colorizer: Colorizer,
    *,
    style: torch.Tensor | None = None,
    palette: Palette | None = None,
    style_strength: float = DEFAULT_STYLE_STRENGTH,
    hints: Path | None = None,
    overwrite: bool = False,
    allow_damaged: bool = False,
    force: bool = False,
    max_pixels: int | None = None,
    on_progress: Callable[[int, int, Path], None] | None = None,
) -> FolderResult:
    """Colorize every image under ``src`` to the same relative path under ``dst``.

    Unreadable images are skipped and named in the result; existing outputs are kept (and
    named in ``existing``) unless ``overwrite``.

    Args:
        src: the input folder, or one image (written to ``dst`` under its own name).
        dst: the output folder (created).
        colorizer: the loaded model.
        style: one global vector for every image; None = each image's own.
        palette, style_strength: the style reference's palette and how far to follow it.
        hints: a folder of painted pictures (see :func:`hints_for`); an image without one is
            colorized by the network alone.
        overwrite: replace existing outputs.
        allow_damaged: colorize a truncated or corrupt JPEG anyway (it is named in
            ``damaged``); by default it is skipped.
        force: colorize images that are already in colour (by default they are skipped).
        max_pixels: skip images larger than this (None = what this machine's memory takes).
        on_progress: called with (done, total, current file).
    """
    root = src.parent if src.is_file() else src
    images = [src] if src.is_file() else find_images(src, exclude=dst if dst.exists() else None)
    result = FolderResult()
    for i, path in enumerate(images):
        if on_progress:
            on_progress(i, len(images), path)
        if hints is not None and path.resolve().is_relative_to(hints.resolve()):
            continue  # the hints themselves, kept inside the input folder
        target = dst / path.relative_to(root)
        if target.exists() and not overwrite:
            result.existing.append(target)
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
        painted = None
        if hints is not None and (hint_path := hints_for(path, root, hints)) is not None:
            try:
                painted = read_hints(hint_path, img.shape[:2])
            except (ImageReadError, HintsError) as e:
                result.skipped.append((path, str(e)))
                continue
        target.parent.mkdir(parents=True, exist_ok=True)
        out = colorize_image(colorizer, img, style, painted, palette, style_strength)
        write_image(target, out, read_still_metadata(path))
        result.written.append(target)
    if on_progress:
        on_progress(len(images), len(images), src)
    return result
