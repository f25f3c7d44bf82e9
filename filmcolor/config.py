"""Every run option of ``filmcolor``: its default, its choices, and the check of its value.

Torch-free, so a script, the CLI's ``--help`` and a torchrun worker read the same facts
without loading a network. The CLI takes its defaults and choices from here; the library
refuses a bad value with a :class:`~filmcolor.errors.UserError` wherever the config is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_RENDER_SIZE = 256  # short side the network runs at; see README "Render size"
DEFAULT_TEMPORAL = 0.8  # the blend strength s; chosen with benchmarks/flicker.py (README)
DEFAULT_SEGMENT_FRAMES = 3000  # pass 2 writes parts of whole shots this long


@dataclass
class ColorizeConfig:
    """Everything ``filmcolor colorize`` needs; the CLI fills it from its options."""

    input: Path
    output: Path
    model: Path | None = None  # None = the shipped default model
    style: Path | None = None  # one reference image for the whole film
    shots: Path | None = None  # a corrected shot list (CSV from `filmcolor shots`)
    codec: str = "libx264"
    crf: int | None = None
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
    keyframes: int = 5  # frames whose global vectors are averaged per shot
    max_damaged: int = 10
    temporal: float = DEFAULT_TEMPORAL  # steady colour within a shot (filmcolor.temporal); 0 = off
    force: bool = False  # colorize a film that is already in colour (its chroma is replaced)
    max_pixels: int | None = None  # largest frame; None = what this machine's memory takes
    fresh: bool = False  # start over even when the parts of an interrupted run fit
    segment_frames: int = DEFAULT_SEGMENT_FRAMES  # pass 2 writes parts of whole shots this long
