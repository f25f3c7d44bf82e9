"""filmcolor: restore colour to black-and-white films and photographs.

The library's face, for notebooks and scripts; the ``filmcolor`` command calls the same code::

    import filmcolor

    rgb = filmcolor.colorize_image("scan.png")  # (H, W, 3) RGB, the dtype of the scan
    filmcolor.colorize_video("film.mp4", "film_color.mkv", codec="ffv1")

    colorizer = filmcolor.Colorizer.load(None)  # the shipped model, loaded once
    for path in paths:
        rgb = filmcolor.colorize_image(path, colorizer=colorizer)

``import filmcolor`` is light: torch and PyAV load on the first call that needs them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filmcolor.config import (
    DEFAULT_RENDER_SIZE,
    DEFAULT_STYLE_STRENGTH,
    ColorizeConfig,
    ConfigError,
    FramesConfig,
)
from filmcolor.errors import UserError

if TYPE_CHECKING:
    import numpy as np

    from filmcolor.colorizer import Colorizer
    from filmcolor.pipeline import ColorizeResult
    from filmcolor.progress import Progress

__version__ = "0.1.0"
__all__ = [
    "ColorizeConfig",
    "Colorizer",
    "ConfigError",
    "FramesConfig",
    "UserError",
    "__version__",
    "colorize_image",
    "colorize_video",
]


def __getattr__(name: str) -> Any:
    """``filmcolor.Colorizer`` is imported (with torch) when first used."""
    if name == "Colorizer":
        from filmcolor.colorizer import Colorizer

        return Colorizer
    raise AttributeError(f"module 'filmcolor' has no attribute {name!r}")


def colorize_image(
    image: np.ndarray | str | os.PathLike,
    *,
    style: str | os.PathLike | None = None,
    style_strength: float = DEFAULT_STYLE_STRENGTH,
    hints: np.ndarray | str | os.PathLike | None = None,
    model: str | os.PathLike | None = None,
    colorizer: Colorizer | None = None,
    render_size: int = DEFAULT_RENDER_SIZE,
    device: str = "auto",
    precision: str = "auto",
    temperature: float | None = None,
) -> np.ndarray:
    """Colorize one black-and-white image: the pixels ``filmcolor frames`` writes for it.

    Args:
        image: a gray array (H, W) of uint8 or uint16, or an image file (read upright, as
            ``filmcolor frames`` reads it). An RGB array (H, W, 3) is taken by its luma.
        style: a reference image (or ``video@time``) whose global features colour the image;
            None = the image's own.
        style_strength: how far the colours follow the reference's palette (0 = its global
            features only).
        hints: the image painted with strokes of colour, or coloured in full, as an RGB
            array (H, W, 3) or a file of the image's size (``filmcolor frames --hints``).
        model: a ``.safetensors`` checkpoint; None = the shipped model.
        colorizer: a model loaded once with :meth:`Colorizer.load`, for repeated calls;
            ``model``, ``render_size``, ``device``, ``precision`` and ``temperature`` are
            then the colorizer's own.
        render_size: short side (px) the network runs at; 0 = the image's own size.
        device: auto, cpu, cuda or mps.
        precision: auto, fp32, bf16 or fp16.
        temperature: annealed-mean temperature of colour-bin models, above 0; None = the
            model's own.

    Returns:
        (H, W, 3) RGB of the image's dtype (uint8 or uint16); (H, W, 4) RGBA when a file
        had an alpha channel, which is kept.

    Raises:
        UserError: an unreadable file, a bad reference or a bad option value
            (:class:`ConfigError`).
    """
    import numpy as np

    from filmcolor.images import read_image
    from filmcolor.stills import colorize_image as colorize_bgr
    from filmcolor.stills import read_hints
    from filmcolor.styles import style_palette, style_vector

    cfg = FramesConfig(  # checks the options as `filmcolor frames` does
        Path(), Path(), model=model and Path(model), render_size=render_size, device=device,
        precision=precision, temperature=temperature, style_strength=style_strength,
    )  # fmt: skip
    if isinstance(image, str | os.PathLike):
        img = read_image(image)
    else:
        img = np.asarray(image)
        if img.dtype not in (np.uint8, np.uint16) or img.ndim not in (2, 3):
            raise UserError(
                f"an image is a (H, W) or (H, W, 3) array of uint8 or uint16, not {img.ndim}-D "
                f"{img.dtype}"
            )
        if img.ndim == 3:
            img = np.ascontiguousarray(img[..., 2::-1])  # RGB -> BGR, as read_image gives
    if colorizer is None:
        from filmcolor.colorizer import Colorizer

        colorizer = Colorizer.from_config(cfg)
    g = style_vector(colorizer, style) if style is not None else None
    palette = style_palette(style) if style is not None and style_strength > 0 else None
    if isinstance(hints, str | os.PathLike):
        hints = read_hints(Path(hints), img.shape[:2])
    bgr = colorize_bgr(colorizer, img, g, hints, palette, style_strength)
    return np.ascontiguousarray(bgr[..., [2, 1, 0, *range(3, bgr.shape[2])]])


def colorize_video(
    input: str | os.PathLike,
    output: str | os.PathLike | None = None,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    colorizer: Colorizer | None = None,
    **options: Any,
) -> ColorizeResult:
    """Colorize a film as ``filmcolor colorize`` does: same frames, timing, size and sound.

    Args:
        input: the film.
        output: the file to write; None = ``<stem>_color`` beside the input.
        on_progress: called with each :class:`filmcolor.progress.Progress` report.
        on_warning: called with each warning (a damaged packet skipped, ...).
        colorizer: a model loaded once with :meth:`Colorizer.load`; None = load
            ``options["model"]`` (the shipped model by default).
        **options: the fields of :class:`ColorizeConfig` (``style``, ``codec``, ``crf``,
            ``temporal``, ``overwrite``, ...), with the CLI's defaults.

    Returns:
        What was written: the output, frames, shots, packets, seconds.

    Raises:
        UserError: anything a user can get wrong, before the network runs; an interrupted
            run is resumed by the same call.
    """
    from filmcolor.pipeline import colorize_video as run
    from filmcolor.pipeline import default_output

    src = Path(input)
    codec = options.get("codec", ColorizeConfig.codec)
    out = Path(output) if output is not None else default_output(src, codec)
    cfg = ColorizeConfig(input=src, output=out, **options)
    return run(cfg, on_progress=on_progress, on_warning=on_warning, colorizer=colorizer)
