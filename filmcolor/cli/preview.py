"""``filmcolor preview``: one colour frame per shot on a contact sheet, and the shot list."""

from __future__ import annotations

from pathlib import Path

import typer

from filmcolor.cli import options as opt
from filmcolor.cli.options import check_hardware, config_from, limits
from filmcolor.cli.render import VideoProgress, say
from filmcolor.config import COLUMNS, PER_PAGE, ColorizeConfig


def preview(
    input: Path = typer.Argument(..., metavar="video", help="The film."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="The sheet, .png or .jpg [default: <stem>_sheet.png]."
    ),
    csv_path: Path | None = typer.Option(
        None, "--csv", help="Shot list to write [default: <stem>_shots.csv beside the sheet]."
    ),
    style: Path | None = opt.STYLE,
    shots: Path | None = opt.SHOTS,
    keyframes: Path | None = opt.KEYFRAMES,
    style_strength: float = opt.STYLE_STRENGTH,
    per_page: int = typer.Option(
        PER_PAGE, "--per-page", **limits("per_page"), help="Shots per page."
    ),
    columns: int = typer.Option(COLUMNS, "--columns", **limits("columns"), help="Shots per row."),
    model: Path | None = opt.MODEL,
    render_size: int = opt.RENDER_SIZE,
    device: str = opt.DEVICE,
    precision: str = opt.PRECISION,
    temperature: float | None = opt.TEMPERATURE,
    detector: str = opt.DETECTOR,
    threshold: float | None = opt.THRESHOLD,
    min_shot_frames: int = opt.MIN_SHOT,
    max_damaged: int = opt.MAX_DAMAGED,
) -> None:
    """One colour frame per shot, as `colorize` with the same options would make it, on a
    contact sheet; and the shot list, whose style column takes a reference per shot."""
    options = dict(locals())
    from filmcolor.pipeline import default_output
    from filmcolor.preview import default_sheet, preview_video

    # the options that decide the colours are colorize's; its output is not written
    cfg = config_from(ColorizeConfig, options, output=default_output(input))
    check_hardware(device, precision)
    sheet = output if output is not None else default_sheet(input)
    with VideoProgress() as progress:
        result = preview_video(
            cfg,
            sheet,
            csv=csv_path,
            per_page=per_page,
            columns=columns,
            on_progress=progress,
            on_warning=progress.warn,
        )
    styled = len(result.styles)
    keyed = f", {len(result.keyframed)} with keyframes" if result.keyframed else ""
    pages = ", ".join(str(p.path) for p in result.pages)
    t = result.seconds
    say(
        f"wrote {pages} ({len(result.frames)} shots, {styled} with a style reference{keyed}) "
        f"in {t['total']:.1f} s (model {t['model']:.1f} s, shots {t['shots']:.1f} s, "
        f"frames {t['frames']:.1f} s, colour {t['colour']:.1f} s)"
    )
    shot_list = result.csv or cfg.shots
    say(
        f"shot list: {shot_list}; give a shot its own reference in the style column, then "
        f"run: filmcolor colorize {input} --shots {shot_list}"
        + (f" --style {style}" if style else "")
    )
