"""``filmcolor keyframes``: one gray frame per shot, to colour by hand for ``colorize``."""

from __future__ import annotations

from pathlib import Path

import typer

from filmcolor.cli import options as opt
from filmcolor.cli.options import config_from, default, one_of
from filmcolor.cli.render import VideoProgress, plural, say
from filmcolor.config import KEYFRAME_AT, KeyframesConfig

_K = KeyframesConfig


def keyframes(
    input: Path = typer.Argument(..., metavar="VIDEO", help="The film."),
    output: Path = typer.Option(
        ..., "-o", "--output", help="Folder for the frames (<shot>_<frame>.png)."
    ),
    shots: Path | None = typer.Option(
        default(_K, "shots"),
        "--shots",
        help="A (corrected) shot list; without one, the shots are found and listed beside "
        "the frames as shots.csv.",
    ),
    at: str = typer.Option(
        default(_K, "at"), "--at", help=f"Which frame of each shot: {one_of(KEYFRAME_AT)}."
    ),
    detector: str = opt.DETECTOR,
    threshold: float | None = opt.THRESHOLD,
    min_shot_frames: int = opt.MIN_SHOT,
    max_damaged: int = opt.MAX_DAMAGED,
) -> None:
    """Write one gray frame of every shot, full size, to colour (fully or with a few strokes)
    and pass back with `colorize --keyframes`."""
    cfg = config_from(KeyframesConfig, dict(locals()))
    from filmcolor.keyframes import export_keyframes

    with VideoProgress() as progress:
        done = export_keyframes(
            cfg.input,
            cfg.output,
            shots=cfg.shots,
            at=cfg.at,
            detector=cfg.detector,
            threshold=cfg.threshold,
            min_shot_frames=cfg.min_shot_frames,
            max_damaged=cfg.max_damaged,
            on_progress=progress,
        )
    listed = f", the shot list in {done.shot_list}" if done.shot_list else ""
    say(
        f"{plural(len(done.written), 'keyframe')} of {plural(len(done.shots), 'shot')} "
        f"written to {cfg.output}{listed}"
    )
