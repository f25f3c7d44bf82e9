"""Every run option of ``filmcolor``: its default, its choices, and the check of its value.

Torch-free, so a script, the CLI's ``--help`` and a torchrun worker read the same facts
without loading a network. The CLI takes its defaults and choices from here, and its
parameters are named after the fields below; the dataclasses check their values when they
are built, so a bad value is refused the same way from the CLI, a script or torchrun: with a
:class:`ConfigError`, which the CLI prints as one line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from filmcolor.errors import UserError

DEFAULT_RENDER_SIZE = 256  # short side the network runs at; benchmarks/README.md, Speed
MIN_RENDER_SIZE = 32  # below, the network's 1/8-size features and the motion flow fail
DEFAULT_TEMPORAL = 0.8  # the blend strength s; chosen with benchmarks/flicker.py (its README)
DEFAULT_SEGMENT_FRAMES = 3000  # pass 2 writes parts of whole shots this long
DEFAULT_STYLE_STRENGTH = 0.75  # a reference's palette; benchmarks/keyframes.py (its README)
DEFAULT_CRF = 18  # x264/x265 quality when --crf is not given
DEFAULT_THRESHOLDS = {  # cut detector -> its threshold when --threshold is not given
    "content": 27.0,  # PySceneDetect's 0-255 scale of frame difference
    "adaptive": 3.0,  # a ratio to the neighbouring frames' difference
}
DETECTORS = tuple(DEFAULT_THRESHOLDS)
CODECS = ("libx264", "libx265", "ffv1", "prores")
CRF_RANGE = {"libx264": (0, 51), "libx265": (0, 51)}  # the encoders that take --crf
DEVICES = ("auto", "cpu", "cuda", "mps")  # and cuda:N for one GPU
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
PER_PAGE = 60  # shots per page of a `filmcolor preview` sheet
COLUMNS = 4  # tiles per row of a sheet

# option -> (lowest, highest) value it takes; None = no bound. The CLI gives them to Typer.
LIMITS: dict[str, tuple[float | None, float | None]] = {
    "batch_size": (1, None),
    "render_size": (0, None),
    "temporal": (0.0, 0.95),
    "min_shot_frames": (1, None),
    "max_damaged": (0, None),
    "max_pixels": (1, None),
    "segment_frames": (1, None),
    "samples": (1, None),
    "style_strength": (0.0, 1.0),
    "threads": (0, None),
    "per_page": (1, None),
    "columns": (1, None),
}


class ConfigError(UserError):
    """An option with a value filmcolor cannot use; the message names the option."""


def flag(name: str) -> str:
    """The command-line spelling of a config field: ``min_shot_frames`` -> ``--min-shot``."""
    return "--" + {"min_shot_frames": "min-shot"}.get(name, name.replace("_", "-"))


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """Raises ConfigError, naming the choices, when ``value`` is not one of them."""
    if value not in choices:
        raise ConfigError(f"unknown {flag(name)} {value!r}; choose from {', '.join(choices)}")


def check_limits(config: object, names: tuple[str, ...] | None = None) -> None:
    """Raises ConfigError when a field of ``config`` named in :data:`LIMITS` is out of range."""
    for name, (low, high) in LIMITS.items():
        value = getattr(config, name, None)
        if value is None or (names is not None and name not in names):
            continue
        if not math.isfinite(value) or (low is not None and value < low):
            raise ConfigError(f"{flag(name)} {value} is out of range: it takes {_span(low, high)}")
        if high is not None and value > high:
            raise ConfigError(f"{flag(name)} {value} is out of range: it takes {_span(low, high)}")


def _span(low: float | None, high: float | None) -> str:
    if high is None:
        return f"{low} or more"
    return f"{low} to {high}"


def check_temperature(temperature: float | None) -> None:
    """The annealed-mean temperature is a positive number (None = the model's own)."""
    if temperature is not None and not (math.isfinite(temperature) and temperature > 0):
        raise ConfigError(
            f"--temperature must be a positive number, got {temperature} "
            "(lower is more vivid, 1 is the plain mean)"
        )


def check_render_size(size: int) -> None:
    """0 (the frame's own size) or a short side of at least :data:`MIN_RENDER_SIZE`."""
    if 0 < size < MIN_RENDER_SIZE:
        raise ConfigError(
            f"--render-size {size} is too small: the network needs a short side of "
            f"{MIN_RENDER_SIZE} pixels or more (0 = each frame's own size)"
        )


def check_device(device: str, precision: str) -> None:
    """A device and precision filmcolor knows; whether this machine has them is checked when
    the model loads (:mod:`filmcolor.device`)."""
    if device.split(":")[0] not in DEVICES:
        raise ConfigError(
            f"unknown --device {device!r}; choose from {', '.join(DEVICES)} (or cuda:N for one GPU)"
        )
    check_choice("precision", precision, PRECISIONS)


def check_encoder(codec: str, crf: int | None) -> None:
    """A codec filmcolor writes, and ``--crf`` only for the codecs that use it, in range."""
    check_choice("codec", codec, CODECS)
    if crf is None:
        return
    if codec not in CRF_RANGE:
        raise ConfigError(
            f"--crf does not apply to --codec {codec} (ffv1 is lossless, prores has fixed "
            f"quality); it is for {' and '.join(CRF_RANGE)}"
        )
    low, high = CRF_RANGE[codec]
    if not low <= crf <= high:
        raise ConfigError(f"--crf {crf} is outside {codec}'s range {low}-{high} (lower is better)")


def check_threshold(threshold: float | None) -> None:
    """A cut detector threshold is a positive number (None = the detector's own)."""
    if threshold is not None and not (math.isfinite(threshold) and threshold > 0):
        raise ConfigError(f"--threshold must be a positive number, got {threshold}")


@dataclass
class ShotsConfig:
    """What ``filmcolor shots`` needs: the film and the cut detector's settings."""

    input: Path
    detector: str = "content"
    threshold: float | None = None  # None = DEFAULT_THRESHOLDS[detector]
    min_shot_frames: int = 15
    max_damaged: int = 10  # damaged packets skipped before giving up

    def __post_init__(self) -> None:
        check_choice("detector", self.detector, DETECTORS)
        check_threshold(self.threshold)
        check_limits(self)


@dataclass
class FramesConfig:
    """What ``filmcolor frames`` needs: a folder of images in, a folder out."""

    input: Path  # a folder of images, searched recursively
    output: Path  # the folder the results go to, under the same relative paths
    style: Path | None = None  # one reference image for every image
    hints: Path | None = None  # a folder of same-named pictures painted with colour (issue 22)
    style_strength: float = DEFAULT_STYLE_STRENGTH  # how far colours follow --style's palette
    model: Path | None = None  # None = the shipped default model
    render_size: int = DEFAULT_RENDER_SIZE  # 0 = the image's own size
    device: str = "auto"
    precision: str = "auto"
    temperature: float | None = None  # annealed-mean temperature (colour-bin models)
    overwrite: bool = False
    force: bool = False  # colorize images that are already in colour
    allow_damaged: bool = False  # colorize truncated or corrupt JPEGs too
    max_pixels: int | None = None  # largest image; None = what this machine's memory takes

    def __post_init__(self) -> None:
        check_device(self.device, self.precision)
        check_temperature(self.temperature)
        check_render_size(self.render_size)
        check_limits(self)


@dataclass
class ColorizeConfig:
    """Everything ``filmcolor colorize`` needs; the CLI fills it from its options."""

    input: Path
    output: Path
    model: Path | None = None  # None = the shipped default model
    style: Path | None = None  # one reference image for the whole film
    shots: Path | None = None  # a corrected shot list (CSV from `filmcolor shots`)
    codec: str = "libx264"
    crf: int | None = None  # None = DEFAULT_CRF for x264/x265
    preset: str | None = "faster"  # x264/x265 speed preset; None = the encoder's (medium)
    batch_size: int = 8
    threads: int = 0  # torch threads of the network in pass 2; 0 = torch's default
    render_size: int = DEFAULT_RENDER_SIZE  # 0 = the frame's own size
    device: str = "auto"
    precision: str = "auto"
    temperature: float | None = None
    overwrite: bool = False
    detector: str = "content"
    threshold: float | None = None
    min_shot_frames: int = 15
    samples: int = 5  # frames whose global vectors are averaged per shot (library only)
    max_damaged: int = 10
    temporal: float = DEFAULT_TEMPORAL  # steady colour within a shot (filmcolor.temporal); 0 = off
    force: bool = False  # colorize a film that is already in colour (its chroma is replaced)
    max_pixels: int | None = None  # largest frame; None = what this machine's memory takes
    fresh: bool = False  # start over even when the parts of an interrupted run fit
    segment_frames: int = DEFAULT_SEGMENT_FRAMES  # pass 2 writes parts of whole shots this long
    keyframes: Path | None = None  # a folder of coloured frames (`filmcolor keyframes`)
    style_strength: float = DEFAULT_STYLE_STRENGTH  # palette of --style, style cells, keyframes

    def __post_init__(self) -> None:
        check_encoder(self.codec, self.crf)
        check_device(self.device, self.precision)
        check_temperature(self.temperature)
        check_render_size(self.render_size)
        check_choice("detector", self.detector, DETECTORS)
        check_threshold(self.threshold)
        check_limits(self)


KEYFRAME_AT = ("middle", "first")  # the frame of each shot `filmcolor keyframes` writes


@dataclass
class KeyframesConfig:
    """What ``filmcolor keyframes`` needs: the film, the folder, and which frame of a shot."""

    input: Path
    output: Path  # the folder the gray frames (and the shot list) go to
    shots: Path | None = None  # a shot list to use; None = find the shots and write them
    at: str = KEYFRAME_AT[0]  # the middle frame, as `preview` shows it
    detector: str = "content"
    threshold: float | None = None
    min_shot_frames: int = 15
    max_damaged: int = 10

    def __post_init__(self) -> None:
        check_choice("at", self.at, KEYFRAME_AT)
        check_choice("detector", self.detector, DETECTORS)
        check_threshold(self.threshold)
        check_limits(self)
