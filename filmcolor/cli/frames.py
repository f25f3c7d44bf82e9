"""``filmcolor frames``: a folder of photographs or scans in, the same files in colour out."""

from __future__ import annotations

from pathlib import Path

import typer

from filmcolor.cli import options as opt
from filmcolor.cli.options import check_hardware, config_from, default
from filmcolor.cli.render import VideoProgress, exit_code, plural, say, warn
from filmcolor.config import FramesConfig
from filmcolor.errors import UserError

_F = FramesConfig


def frames(
    input: Path = typer.Argument(
        ..., metavar="folder", help="A folder of images, searched recursively, or one image."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Folder to write the results to."),
    style: Path | None = typer.Option(
        default(_F, "style"), "--style", help="Reference image for every image."
    ),
    style_strength: float = opt.STYLE_STRENGTH,
    hints: Path | None = typer.Option(
        default(_F, "hints"),
        "--hints",
        help="A folder of the same images painted with strokes of colour (or coloured in "
        "full): each colours its image from its hints.",
    ),
    model: Path | None = opt.MODEL,
    render_size: int = opt.RENDER_SIZE,
    device: str = opt.DEVICE,
    precision: str = opt.PRECISION,
    temperature: float | None = opt.TEMPERATURE,
    overwrite: bool = typer.Option(
        default(_F, "overwrite"), "--overwrite", help="Replace existing outputs."
    ),
    force: bool = opt.FORCE,
    allow_damaged: bool = typer.Option(
        default(_F, "allow_damaged"),
        "--allow-damaged",
        help="Colorize truncated or corrupt JPEGs too (the missing part comes out flat gray).",
    ),
    max_pixels: int | None = opt.MAX_PIXELS,
) -> None:
    """Colorize every image in a folder (or one image), to the same relative paths, sizes and
    formats under the output folder."""
    cfg = config_from(FramesConfig, dict(locals()))
    from filmcolor.colorizer import Colorizer
    from filmcolor.images import IMAGE_SUFFIXES
    from filmcolor.stills import colorize_folder
    from filmcolor.styles import style_palette, style_vector

    folder = cfg.input
    if folder.is_file() and folder.suffix.lower() not in IMAGE_SUFFIXES:
        raise UserError(
            f"{folder} is not an image ({', '.join(sorted(IMAGE_SUFFIXES))}); "
            f"`filmcolor colorize {folder}` colorizes a film"
        )
    if not folder.exists():
        raise UserError(f"not found: {folder}")
    if output.resolve() == (folder.parent if folder.is_file() else folder).resolve():
        raise UserError("the output folder is the input folder; the originals would be replaced")
    if hints is not None and not hints.is_dir():
        raise UserError(f"--hints: not a folder: {hints}")
    if output.exists() and not output.is_dir():
        raise UserError(f"the output {output} is a file, not a folder")
    check_hardware(device, precision)
    colorizer = Colorizer.from_config(cfg)
    g = style_vector(colorizer, style) if style else None
    palette = style_palette(style) if style and cfg.style_strength > 0 else None
    output.mkdir(parents=True, exist_ok=True)
    with VideoProgress() as progress:
        result = colorize_folder(
            folder,
            output,
            colorizer,
            style=g,
            palette=palette,
            style_strength=cfg.style_strength,
            hints=hints,
            overwrite=overwrite,
            allow_damaged=allow_damaged,
            force=force,
            max_pixels=max_pixels,
            on_progress=progress.image,
        )
    for path, reason in result.skipped:  # most reasons name the file already
        warn("skipped", reason if str(path) in reason else f"{path}: {reason}")
    for path, reason in result.damaged:
        why = reason if str(path) in reason else f"{path}: {reason}"
        warn("damaged", f"{why}; colorized anyway")
    say(
        f"{plural(len(result.written), 'image')} written to {output}, "
        + (
            f"{len(result.existing)} already there (--overwrite replaces them), "
            * bool(result.existing)
        )
        + f"{len(result.skipped)} skipped"
        + (f", {len(result.damaged)} damaged" * bool(result.damaged))
    )
    code = exit_code(len(result.written) + len(result.existing), len(result.skipped))
    if code:
        raise typer.Exit(code)
