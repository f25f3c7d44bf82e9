"""The options several commands share, and the bridge from a command's parameters to its
config: defaults, choices and limits are read from :mod:`filmcolor.config`, never repeated."""

from __future__ import annotations

import math
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import typer

from filmcolor.config import (
    DEFAULT_THRESHOLDS,
    DEVICES,
    LIMITS,
    MIN_RENDER_SIZE,
    PRECISIONS,
    ColorizeConfig,
)


def default(config: type, name: str) -> Any:
    """The default of field ``name`` of the dataclass ``config``."""
    field = next(f for f in fields(config) if f.name == name)
    if field.default_factory is not MISSING:
        return field.default_factory()
    return field.default


def limits(name: str) -> dict:
    """``min=``/``max=`` for Typer, from :data:`filmcolor.config.LIMITS`; a float option gets a
    parser instead, because Click's float range lets ``nan`` through its comparisons and then
    calls it too large."""
    low, high = LIMITS[name]
    if not (isinstance(low, float) or isinstance(high, float)):
        return {"min": low, "max": high}
    span = f"{low} to {high}" if high is not None else f"{low} or more"

    def finite_in_range(text: str) -> float:
        number = float(text)  # a ValueError is Click's "not a valid float"
        if not (math.isfinite(number) and low <= number and (high is None or number <= high)):
            raise ValueError(f"{text} is not a number from {span}")
        return number

    return {"parser": finite_in_range, "metavar": f"<{span}>"}


def one_of(choices: tuple[str, ...]) -> str:
    """``a, b or c``."""
    return f"{', '.join(choices[:-1])} or {choices[-1]}"


def config_from(config: type, options: dict, **more) -> Any:
    """``config(**options)`` with the options that are its fields (a command's parameters
    are named after them), and ``more``. A bad value raises ConfigError here."""
    names = {f.name for f in fields(config)}
    return config(**{k: v for k, v in options.items() if k in names} | more)


def check_hardware(device: str, precision: str) -> None:
    """Refuse a device or precision this machine lacks before any work (DeviceError)."""
    from filmcolor.device import resolve_device, resolve_precision

    resolve_precision(precision, resolve_device(device))


def _model_file(path: Path | None) -> Path | None:
    """A run folder from `filmcolor train` stands for its weights; None, the shipped model."""
    from filmcolor.weights import model_path  # torch: only once the command runs

    return None if path is None else model_path(path)


def _max_pixels_help() -> str:
    from filmcolor.checks import BYTES_PER_PIXEL, default_max_pixels

    return (
        f"Refuse frames larger than this many pixels [default: RAM / {BYTES_PER_PIXEL} bytes, "
        f"{default_max_pixels() // 1_000_000} million on this machine]."
    )


_C = ColorizeConfig

# Options shared by `colorize`, `frames` and `preview`.
MODEL = typer.Option(
    default(_C, "model"),
    "--model",
    callback=_model_file,
    help="A .safetensors checkpoint, or a `filmcolor train` run folder (its model.safetensors).",
)
RENDER_SIZE = typer.Option(
    default(_C, "render_size"),
    "--render-size",
    **limits("render_size"),
    help=f"Short side (px) the network runs at, {MIN_RENDER_SIZE} or more; 0 = full size.",
)
DEVICE = typer.Option(default(_C, "device"), "--device", help=f"{one_of(DEVICES)}.")
PRECISION = typer.Option(default(_C, "precision"), "--precision", help=f"{one_of(PRECISIONS)}.")
TEMPERATURE = typer.Option(
    default(_C, "temperature"),
    "--temperature",
    help="Annealed-mean temperature (colour-bin models), above 0; lower is more vivid "
    "[default: the one saved with the model].",
)
MAX_PIXELS = typer.Option(
    default(_C, "max_pixels"), "--max-pixels", **limits("max_pixels"), help=_max_pixels_help()
)
FORCE = typer.Option(
    default(_C, "force"),
    "--force",
    help="Colorize input that is already in colour (its chroma is replaced).",
)

# Options shared by `colorize` and `preview`.
STYLE = typer.Option(
    default(_C, "style"),
    "--style",
    help="Reference whose global features colour the whole film: an image, or a video "
    "frame as film.mp4@00:01:23.5.",
)
SHOTS = typer.Option(
    default(_C, "shots"),
    "--shots",
    help="A (corrected) shot list from `filmcolor shots --csv` or `filmcolor preview`; "
    "its style column gives shots their own reference.",
)

KEYFRAMES = typer.Option(
    default(_C, "keyframes"),
    "--keyframes",
    help="A folder of frames coloured by hand (from `filmcolor keyframes`, named "
    "<shot>_<frame>.png; in full or with strokes): each colours its shot, carried along the "
    "motion.",
)
STYLE_STRENGTH = typer.Option(
    default(_C, "style_strength"),
    "--style-strength",
    **limits("style_strength"),
    help="How far the colours follow a reference's palette (--style, style cells, keyframes); "
    "0 = its mood only.",
)

# Options shared by `colorize`, `preview` and `shots`: the cut detector.
DETECTOR = typer.Option(
    default(_C, "detector"), "--detector", help=f"Cut detector: {', '.join(DEFAULT_THRESHOLDS)}."
)
THRESHOLD = typer.Option(
    default(_C, "threshold"),
    "--threshold",
    help="Cut detector threshold [default: {content:g} for content, on PySceneDetect's 0-255 "
    "scale of frame difference; {adaptive:g} for adaptive, a ratio to the neighbouring frames' "
    "difference].".format(**DEFAULT_THRESHOLDS),
)
MIN_SHOT = typer.Option(
    default(_C, "min_shot_frames"),
    "--min-shot",
    **limits("min_shot_frames"),
    help="Shortest shot, in frames.",
)
MAX_DAMAGED = typer.Option(
    default(_C, "max_damaged"),
    "--max-damaged",
    **limits("max_damaged"),
    help="Damaged packets skipped before giving up.",
)
