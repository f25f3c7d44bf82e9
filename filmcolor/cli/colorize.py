"""``filmcolor colorize``: films in, films out with colour in their chroma."""

from __future__ import annotations

from pathlib import Path

import typer

from filmcolor.cli import options as opt
from filmcolor.cli.options import check_hardware, config_from, default, limits, one_of
from filmcolor.cli.render import VideoProgress, exit_code, fail, plural, say, table
from filmcolor.config import CODECS, DEFAULT_CRF, ColorizeConfig
from filmcolor.distributed import World
from filmcolor.errors import UserError

_C = ColorizeConfig


def colorize(
    videos: list[Path] = typer.Argument(
        ..., help="Films (any file PyAV can decode), or folders searched recursively for films."
    ),
    output: Path | None = typer.Option(
        None,
        "-o",
        "--output",
        help="Output file; with several films or a folder, the output folder [default: "
        "<stem>_color beside the input, in the input's container when it holds every stream, "
        "else .mp4].",
    ),
    style: Path | None = opt.STYLE,
    shots: Path | None = opt.SHOTS,
    keyframes: Path | None = opt.KEYFRAMES,
    style_strength: float = opt.STYLE_STRENGTH,
    model: Path | None = opt.MODEL,
    codec: str = typer.Option(default(_C, "codec"), "--codec", help=f"{one_of(CODECS)}."),
    crf: int | None = typer.Option(
        default(_C, "crf"), "--crf", help=f"x264/x265 quality [default: {DEFAULT_CRF}]."
    ),
    batch_size: int = typer.Option(
        default(_C, "batch_size"),
        "--batch-size",
        **limits("batch_size"),
        help="Frames per network call.",
    ),
    render_size: int = opt.RENDER_SIZE,
    temporal: float = typer.Option(
        default(_C, "temporal"),
        "--temporal",
        **limits("temporal"),
        help="Steady colour within a shot: brightness flicker kept from the network, colour "
        "carried along the motion with this strength (README, Old film); 0 = off.",
    ),
    device: str = opt.DEVICE,
    precision: str = opt.PRECISION,
    temperature: float | None = opt.TEMPERATURE,
    detector: str = opt.DETECTOR,
    threshold: float | None = opt.THRESHOLD,
    min_shot_frames: int = opt.MIN_SHOT,
    max_damaged: int = opt.MAX_DAMAGED,
    overwrite: bool = typer.Option(
        default(_C, "overwrite"), "--overwrite", help="Replace an existing output."
    ),
    force: bool = opt.FORCE,
    max_pixels: int | None = opt.MAX_PIXELS,
    fresh: bool = typer.Option(
        default(_C, "fresh"),
        "--fresh",
        help="Start over, even when an interrupted run left parts to resume.",
    ),
    segment_frames: int = typer.Option(
        default(_C, "segment_frames"),
        "--segment-frames",
        **limits("segment_frames"),
        help="Pass 2 writes parts of whole shots this long.",
    ),
) -> None:
    """Colorize films: same frames, timing, size and sound; colour only in chroma.

    Run the same command again after a crash or Ctrl-C to resume. Under torchrun, the
    processes share each film's segments.
    """
    options = dict(locals())  # the parameters, named after the config's fields
    from filmcolor.pipeline import colorize_video, default_output

    video = videos[0]
    single = len(videos) == 1 and not video.is_dir()
    out = output if output is not None and single else default_output(video, codec)
    cfg = config_from(ColorizeConfig, options, input=video, output=out)
    check_hardware(device, precision)
    speak = World.from_env().main  # under torchrun, the first process speaks
    if not single:
        if keyframes is not None:
            raise UserError("--keyframes are frames of one film; colorize that film alone")
        _colorize_many(videos, output, cfg, speak)
        return
    if not speak:
        colorize_video(cfg, on_warning=lambda message: None)
        return
    try:
        with VideoProgress() as progress:
            result = colorize_video(cfg, on_progress=progress, on_warning=progress.warn)
    except KeyboardInterrupt:
        raise fail(_interrupted(cfg.output), code=130) from None
    packets = sum(result.packets.values()) - result.frames
    say(
        f"wrote {result.output} ({plural(result.frames, 'frame')}, "
        f"{plural(len(result.shots), 'shot')}, {plural(packets, 'audio/subtitle packet')}) "
        f"in {result.seconds:.1f} s"
    )


def _interrupted(output: Path) -> str:
    from filmcolor.segments import parts_folder, saved

    kept = saved(output)
    if not kept:
        return f"interrupted; nothing was written to {output}"
    return (
        f"interrupted; {kept[0]} of {kept[1]} segment(s) are saved in {parts_folder(output)}: "
        "run the same command again to resume (--fresh starts over)"
    )


def _colorize_many(
    videos: list[Path], output: Path | None, cfg: ColorizeConfig, speak: bool
) -> None:
    """Several films, or folders of films: one after another, then a summary table."""
    from filmcolor.batch import colorize_many, plan_jobs

    jobs = plan_jobs(videos, output, cfg.codec)
    if not jobs:
        raise UserError(f"no films found in {', '.join(str(v) for v in videos)}")
    if not speak:
        colorize_many(jobs, cfg, on_warning=lambda message: None)
        return
    try:
        with VideoProgress() as progress:
            current = []

            def film(i: int, n: int, job) -> None:
                current[:] = [job.input.name]
                progress.film(i, n, job.input.name)

            def warn(message: str) -> None:
                progress.warn(f"{current[0]}: {message}" if current else message)

            results = colorize_many(jobs, cfg, film, progress, warn)
            progress.film(len(jobs), len(jobs), "")
    except KeyboardInterrupt:
        raise fail(
            "interrupted; run the same command again to go on: finished films are kept, "
            "the interrupted one resumes from its saved segments",
            code=130,
        ) from None
    rows = []
    for r in results:
        where = r.message if r.status == "failed" else str(r.job.output)
        seconds = f"{r.seconds:.1f}" if r.status == "done" else ""
        frames_done = str(r.frames) if r.status == "done" else ""
        rows.append((r.job.label, r.status, frames_done, seconds, where))
    table(("film", "result", "frames", "seconds", "output, or why it failed"), rows)
    counts = {s: sum(r.status == s for r in results) for s in ("done", "exists", "failed")}
    say(f"{counts['done']} colorized, {counts['exists']} already there, {counts['failed']} failed")
    code = exit_code(counts["done"] + counts["exists"], counts["failed"])
    if code:
        raise typer.Exit(code)
