"""The ``filmcolor`` command: parses options and calls the library. Only this module uses Rich."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

import filmcolor
from filmcolor.errors import UserError


class _Commands(typer.core.TyperGroup):
    """Runs a command; the one place where errors a user can cause become one line on stderr.

    A :class:`UserError`, a refused permission or another OS error (disk full, ...) ends with
    ``error: <message>`` and exit code 1; Ctrl-C with exit code 130. Anything else is a bug
    and keeps its traceback.
    """

    def invoke(self, ctx):
        import av.error

        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise fail("interrupted", code=130) from None
        except UserError as e:
            raise fail(str(e)) from None
        except PermissionError as e:
            raise fail(f"permission denied: {e.filename}") from None
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                folder = Path(e.filename).parent if e.filename else "the output folder"
                raise fail(
                    f"disk full while writing in {folder}; the unfinished file was removed "
                    "and nothing was written under the final name"
                ) from None
            raise fail(f"{type(e).__name__}: {e}") from None
        except av.error.FFmpegError as e:
            raise fail(f"{type(e).__name__}: {e}") from None


app = typer.Typer(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Restore colour to black-and-white films and photographs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts say "[default: ...]" literally
)
console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one clear line on stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def plural(n: int, noun: str) -> str:
    """``1 shot``, ``2 shots``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _version_callback(value: bool) -> None:
    if not value:
        return
    import av
    import torch

    console.print(
        f"filmcolor {filmcolor.__version__}, torch {torch.__version__}, PyAV {av.__version__}, "
        f"FFmpeg {av.ffmpeg_version_info}",
        highlight=False,
    )
    raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "-V", "--version", callback=_version_callback, is_eager=True, help="Print versions."
    ),
) -> None:
    pass


# Options shared by `colorize` and `frames`.
def _model_file(path: Path | None) -> Path | None:
    """A run folder from `filmcolor train` stands for its model.safetensors."""
    if path is not None and path.is_dir() and (path / "model.safetensors").is_file():
        return path / "model.safetensors"
    return path


MODEL_OPTION = typer.Option(
    None,
    "--model",
    callback=_model_file,
    help="A .safetensors checkpoint, or a `filmcolor train` run folder (its model.safetensors).",
)
RENDER_SIZE_OPTION = typer.Option(
    None,
    "--render-size",
    min=0,
    help="Short side (px) the network runs at; 0 = full size [default: 256].",
)
DEVICE_OPTION = typer.Option("auto", "--device", help="auto, cpu or cuda.")
PRECISION_OPTION = typer.Option("auto", "--precision", help="auto, fp32, bf16 or fp16.")
TEMPERATURE_OPTION = typer.Option(
    None, "--temperature", help="Annealed-mean temperature (colour-bin models)."
)
# Options shared by `colorize` and `preview`.
STYLE_OPTION = typer.Option(
    None,
    "--style",
    help="Reference whose global features colour the whole film: an image, or a video "
    "frame as film.mp4@00:01:23.5.",
)
SHOTS_OPTION = typer.Option(
    None,
    "--shots",
    help="A (corrected) shot list from `filmcolor shots --csv` or `filmcolor preview`; "
    "its style column gives shots their own reference.",
)


def _max_pixels_option() -> typer.Option:
    from filmcolor.checks import BYTES_PER_PIXEL, default_max_pixels

    return typer.Option(
        None,
        "--max-pixels",
        min=1,
        help="Refuse frames larger than this many pixels [default: RAM / "
        f"{BYTES_PER_PIXEL} bytes, {default_max_pixels() // 1_000_000} million on this machine].",
    )


THRESHOLD_OPTION = typer.Option(
    None,
    "--threshold",
    help="Cut detector threshold [default: 27 for content, on PySceneDetect's 0-255 scale of "
    "frame difference; 3 for adaptive, a ratio to the neighbouring frames' difference].",
)
FORCE_OPTION = typer.Option(
    False, "--force", help="Colorize input that is already in colour (its chroma is replaced)."
)


@app.command()
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
    style: Path | None = STYLE_OPTION,
    shots_csv: Path | None = SHOTS_OPTION,
    model: Path | None = MODEL_OPTION,
    codec: str = typer.Option("libx264", "--codec", help="libx264, libx265, ffv1 or prores."),
    crf: int | None = typer.Option(None, "--crf", help="x264/x265 quality (default 18)."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Frames per network call."),
    render_size: int | None = RENDER_SIZE_OPTION,
    temporal: float | None = typer.Option(
        None,
        "--temporal",
        min=0.0,
        max=0.95,
        help="Steady colour within a shot: brightness flicker kept from the network, colour "
        "carried along the motion with this strength (README, Old film); 0 = off [default: 0.8].",
    ),
    device: str = DEVICE_OPTION,
    precision: str = PRECISION_OPTION,
    temperature: float | None = TEMPERATURE_OPTION,
    detector: str = typer.Option("content", "--detector", help="Cut detector: content, adaptive."),
    threshold: float | None = THRESHOLD_OPTION,
    min_shot: int = typer.Option(15, "--min-shot", min=1, help="Shortest shot, in frames."),
    max_damaged: int = typer.Option(
        10, "--max-damaged", min=0, help="Damaged packets skipped before giving up."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    force: bool = FORCE_OPTION,
    max_pixels: int | None = _max_pixels_option(),
    fresh: bool = typer.Option(
        False, "--fresh", help="Start over, even when an interrupted run left parts to resume."
    ),
    segment_frames: int = typer.Option(
        3000, "--segment-frames", min=1, help="Pass 2 writes parts of whole shots this long."
    ),
) -> None:
    """Colorize films: same frames, timing, size and sound; colour only in chroma.

    Run the same command again after a crash or Ctrl-C to resume. Under torchrun, the
    processes share each film's segments.
    """
    from filmcolor.pipeline import colorize_video, default_output

    _check_device(device, precision)
    video = videos[0]
    single = len(videos) == 1 and not video.is_dir()
    cfg = _config(
        video,
        output if output is not None and single else default_output(video, codec),
        model=model,
        style=style,
        shots=shots_csv,
        device=device,
        precision=precision,
        temperature=temperature,
        detector=detector,
        threshold=threshold,
        min_shot_frames=min_shot,
        max_damaged=max_damaged,
        render_size=render_size,
        codec=codec,
        crf=crf,
        batch_size=batch_size,
        overwrite=overwrite,
        force=force,
        max_pixels=max_pixels,
        fresh=fresh,
        segment_frames=segment_frames,
    )
    if temporal is not None:
        cfg.temporal = temporal
    speak = os.environ.get("RANK", "0") == "0"  # under torchrun, the first process speaks
    if not single:
        _colorize_many(videos, output, cfg, speak)
        return
    if not speak:
        colorize_video(cfg, on_warning=lambda message: None)
        return
    try:
        with _VideoProgress() as progress:
            result = colorize_video(cfg, on_progress=progress, on_warning=progress.warn)
    except KeyboardInterrupt:
        raise fail(_interrupted(cfg.output), code=130) from None
    packets = sum(result.packets.values()) - result.frames
    console.print(
        f"wrote {result.output} ({plural(result.frames, 'frame')}, "
        f"{plural(len(result.shots), 'shot')}, {plural(packets, 'audio/subtitle packet')}) "
        f"in {result.seconds:.1f} s",
        highlight=False,
        soft_wrap=True,
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


def _colorize_many(videos: list[Path], output: Path | None, cfg, speak: bool) -> None:
    """Several films, or folders of films: one after another, then a summary table."""
    from filmcolor.batch import colorize_many, plan_jobs

    jobs = plan_jobs(videos, output, cfg.codec)
    if not jobs:
        raise UserError(f"no films found in {', '.join(str(v) for v in videos)}")
    if not speak:
        colorize_many(jobs, cfg, on_warning=lambda message: None)
        return
    try:
        with _VideoProgress() as progress:
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
    table = Table("film", "result", "frames", "seconds", "output, or why it failed")
    for r in results:
        where = r.message if r.status == "failed" else str(r.job.output)
        seconds = f"{r.seconds:.1f}" if r.status == "done" else ""
        frames_done = str(r.frames) if r.status == "done" else ""
        table.add_row(r.job.label, r.status, frames_done, seconds, where)
    console.print(table)
    counts = {s: sum(r.status == s for r in results) for s in ("done", "exists", "failed")}
    console.print(
        f"{counts['done']} colorized, {counts['exists']} already there, {counts['failed']} failed",
        highlight=False,
    )
    if counts["failed"]:
        raise typer.Exit(1)


@app.command()
def frames(
    folder: Path = typer.Argument(..., help="A folder of images, searched recursively."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder to write the results to."),
    style: Path | None = typer.Option(None, "--style", help="Reference image for every image."),
    model: Path | None = MODEL_OPTION,
    render_size: int | None = RENDER_SIZE_OPTION,
    device: str = DEVICE_OPTION,
    precision: str = PRECISION_OPTION,
    temperature: float | None = TEMPERATURE_OPTION,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    force: bool = FORCE_OPTION,
    allow_damaged: bool = typer.Option(
        False,
        "--allow-damaged",
        help="Colorize truncated or corrupt JPEGs too (the missing part comes out flat gray).",
    ),
    max_pixels: int | None = _max_pixels_option(),
) -> None:
    """Colorize every image in a folder, to the same relative paths, sizes and formats."""
    from filmcolor.colorizer import Colorizer
    from filmcolor.stills import colorize_folder
    from filmcolor.styles import style_vector

    if folder.is_file():
        raise UserError(
            f"{folder} is a file; `frames` takes a folder of images "
            f"(`filmcolor colorize {folder}` colorizes a film)"
        )
    if not folder.is_dir():
        raise UserError(f"not a folder: {folder}")
    if output.resolve() == folder.resolve():
        raise UserError("the output folder is the input folder; the originals would be replaced")
    if output.exists() and not output.is_dir():
        raise UserError(f"the output {output} is a file, not a folder")
    _check_device(device, precision)
    colorizer = Colorizer.load(model, device, precision, temperature)
    if render_size is not None:
        colorizer.render_size = render_size
    g = style_vector(colorizer, style) if style else None
    output.mkdir(parents=True, exist_ok=True)
    with _VideoProgress() as progress:
        result = colorize_folder(
            folder,
            output,
            colorizer,
            style=g,
            overwrite=overwrite,
            allow_damaged=allow_damaged,
            force=force,
            max_pixels=max_pixels,
            on_progress=progress.image,
        )
    for path, reason in result.skipped:  # most reasons name the file already
        why = reason if str(path) in reason else f"{path}: {reason}"
        err_console.print(f"[yellow]skipped[/] {why}", highlight=False, soft_wrap=True)
    for path, reason in result.damaged:
        why = reason if str(path) in reason else f"{path}: {reason}"
        err_console.print(f"[yellow]damaged[/] {why}; colorized anyway", soft_wrap=True)
    console.print(
        f"{plural(len(result.written), 'image')} written to {output}, "
        f"{len(result.skipped)} skipped"
        + (f", {len(result.damaged)} damaged" * bool(result.damaged)),
        highlight=False,
        soft_wrap=True,
    )
    if not result.written and result.skipped:
        raise typer.Exit(1)


@app.command()
def shots(
    video: Path = typer.Argument(..., help="The film."),
    csv_path: Path | None = typer.Option(None, "--csv", help="Also write the list as CSV."),
    detector: str = typer.Option("content", "--detector", help="Cut detector: content, adaptive."),
    threshold: float | None = THRESHOLD_OPTION,
    min_shot: int = typer.Option(15, "--min-shot", min=1, help="Shortest shot, in frames."),
    max_damaged: int = typer.Option(10, "--max-damaged", min=0, help="Damaged packets skipped."),
) -> None:
    """List the shots of a video (correct the CSV and pass it to `colorize --shots`)."""
    from filmcolor.shots import analyse, write_csv

    with _VideoProgress() as progress:
        found = analyse(
            video,
            detector=detector,
            threshold=threshold,
            min_shot_frames=min_shot,
            max_damaged=max_damaged,
            on_progress=progress,
        )
    if csv_path is not None:
        write_csv(csv_path, found.shots)
    table = Table("shot", "start frame", "frames", "start (s)", "end (s)")
    for i, s in enumerate(found.shots, 1):
        end = "" if s.end_time is None else f"{s.end_time:.3f}"
        table.add_row(str(i), str(s.start), str(s.frames), f"{s.start_time:.3f}", end)
    console.print(table)
    console.print(
        f"{plural(len(found.shots), 'shot')}, {plural(found.frames, 'frame')}",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def preview(
    video: Path = typer.Argument(..., help="The film."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="The sheet, .png or .jpg [default: <stem>_sheet.png]."
    ),
    csv_path: Path | None = typer.Option(
        None, "--csv", help="Shot list to write [default: <stem>_shots.csv beside the sheet]."
    ),
    style: Path | None = STYLE_OPTION,
    shots_csv: Path | None = SHOTS_OPTION,
    per_page: int = typer.Option(60, "--per-page", min=1, help="Shots per page."),
    columns: int = typer.Option(4, "--columns", min=1, help="Shots per row."),
    model: Path | None = MODEL_OPTION,
    render_size: int | None = RENDER_SIZE_OPTION,
    device: str = DEVICE_OPTION,
    precision: str = PRECISION_OPTION,
    temperature: float | None = TEMPERATURE_OPTION,
    detector: str = typer.Option("content", "--detector", help="Cut detector: content, adaptive."),
    threshold: float | None = THRESHOLD_OPTION,
    min_shot: int = typer.Option(15, "--min-shot", min=1, help="Shortest shot, in frames."),
    max_damaged: int = typer.Option(10, "--max-damaged", min=0, help="Damaged packets skipped."),
) -> None:
    """One colour frame per shot, as `colorize` with the same options would make it, on a
    contact sheet; and the shot list, whose style column takes a reference per shot."""
    from filmcolor.pipeline import default_output
    from filmcolor.preview import default_sheet, preview_video

    _check_device(device, precision)
    cfg = _config(
        video,
        default_output(video),  # not written
        model=model,
        style=style,
        shots=shots_csv,
        device=device,
        precision=precision,
        temperature=temperature,
        detector=detector,
        threshold=threshold,
        min_shot_frames=min_shot,
        max_damaged=max_damaged,
        render_size=render_size,
    )
    sheet = output if output is not None else default_sheet(video)
    with _VideoProgress() as progress:
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
    pages = ", ".join(str(p.path) for p in result.pages)
    t = result.seconds
    console.print(
        f"wrote {pages} ({len(result.frames)} shots, {styled} with a style reference) "
        f"in {t['total']:.1f} s (model {t['model']:.1f} s, shots {t['shots']:.1f} s, "
        f"frames {t['frames']:.1f} s, colour {t['colour']:.1f} s)",
        highlight=False,
        soft_wrap=True,
    )
    shot_list = result.csv or cfg.shots
    console.print(
        f"shot list: {shot_list}; give a shot its own reference in the style column, then "
        f"run: filmcolor colorize {video} --shots {shot_list}"
        + (f" --style {style}" if style else ""),
        highlight=False,
        soft_wrap=True,
    )


def _config(video: Path, output: Path, render_size: int | None, **options):
    """The :class:`~filmcolor.pipeline.ColorizeConfig` of ``colorize`` and ``preview``: the
    options they share decide the colours, so both build it here."""
    from filmcolor.pipeline import ColorizeConfig

    cfg = ColorizeConfig(input=video, output=output, **options)
    if render_size is not None:
        cfg.render_size = render_size
    return cfg


def _check_device(device: str, precision: str) -> None:
    """Refuse a device or precision this machine lacks before any work (DeviceError)."""
    from filmcolor.device import resolve_device, resolve_precision

    resolve_precision(precision, resolve_device(device))


def _progress_bar(on: Console):
    """description, bar, done/total, a free "status" text, time left; off when ``on`` is not
    a terminal (a log file gets the plain lines instead)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeRemainingColumn(),
        console=on,
        disable=not on.is_terminal,
    )


class _VideoProgress:
    """A Rich progress bar fed by the library's progress callbacks."""

    def __init__(self):
        self.bar = _progress_bar(err_console)
        self.tasks: dict[str, int] = {}
        self.log = _PlainProgress(err_console)  # stderr is a log file: a line every few seconds

    def __enter__(self) -> _VideoProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()

    def _update(self, key: str, description: str, done: int, total: int | None) -> None:
        if key not in self.tasks:
            self.tasks[key] = self.bar.add_task(description, total=total, status="")
        task = self.tasks[key]
        speed = self.bar.tasks[task].speed
        rate = f"{speed:.1f} fps" if speed else ""
        self.bar.update(task, completed=done, total=total, description=description, status=rate)
        self.log.update(key, description, done, total)

    def __call__(self, p) -> None:
        """A :class:`filmcolor.progress.Progress` report."""
        if p.stage == "shots":
            self._update(
                "shots", "finding shots" + (f": {p.shots}" if p.shots else ""), p.done, p.total
            )
        elif p.stage == "resume":
            self.bar.console.print(
                f"resuming: {p.done} of {p.total} frames are saved (--fresh starts over)",
                highlight=False,
            )
        elif p.stage == "preview":
            self._update("preview", f"picking frames: {p.shot}/{p.shots}", p.done, p.total)
        else:
            self._update("colorize", f"colorizing shot {p.shot}/{p.shots}", p.done, p.total)

    def film(self, done: int, total: int, name: str) -> None:
        self._update("films", f"films: {name}" if name else "films", done, total)

    def image(self, done: int, total: int, path: Path) -> None:
        self._update("images", f"colorizing {path.name}", done, total)

    def warn(self, message: str) -> None:
        self.bar.console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


class _PlainProgress:
    """Progress for a console that is not a terminal (nohup, a log file), as ffmpeg prints it:
    one plain line every ``every`` seconds with the count, the rate and the time left."""

    def __init__(self, on: Console, every: float = 5.0):
        import time

        self.on, self.every, self.clock = on, every, time.monotonic
        self.started: dict[str, tuple[float, int]] = {}
        self.last = -every

    def update(self, key: str, description: str, done: int, total: int | None) -> None:
        if self.on.is_terminal:
            return
        now = self.clock()
        start, first = self.started.setdefault(key, (now, done))
        finished = total is not None and done >= total
        if now - self.last < self.every and not (finished and done > first):
            return
        self.last = now
        rate = (done - first) / (now - start) if now > start else 0.0
        parts = [f"{description}: {done}" + (f"/{total}" if total else "")]
        if rate:
            parts.append(f"{rate:.1f} " + ("images/s" if key == "images" else "fps"))
            if total and not finished:
                left = int((total - done) / rate)
                parts.append(f"ETA {left // 3600}:{left // 60 % 60:02d}:{left % 60:02d}")
        self.on.print(", ".join(parts), highlight=False, soft_wrap=True)
        if finished:
            self.started.pop(key, None)


def _default_workers() -> int:
    """DataLoader workers per training process: its share of the cores, less one for the
    training itself, at most 8."""
    processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(0, min(8, (os.cpu_count() or 1) // processes - 1))


@app.command()
def train(
    data: Path | None = typer.Option(None, help="Image folder; sub-folders are scene classes."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run folder [default: runs/<time>]."),
    resume: Path | None = typer.Option(None, help="Continue the run in this folder."),
    train_list: Path | None = typer.Option(None, help="Places list file ('/a/abbey/1.jpg 0')."),
    val_data: Path | None = typer.Option(None, help="Validation image folder."),
    val_list: Path | None = typer.Option(None, help="Validation list file."),
    val_fraction: float = typer.Option(0.02, help="Share held out when no validation is given."),
    model_preset: str = typer.Option(
        "paper", "--preset", help="paper, compact, attention or compact-attention."
    ),
    stage: str = typer.Option(
        "color", help="color, or classify: pre-train the low-level, global and class networks."
    ),
    width: float | None = typer.Option(None, help="Override the preset's channel multiplier."),
    color_head: str | None = typer.Option(
        None, help="Override the preset's colour head: regression or bins."
    ),
    init: Path | None = typer.Option(None, help="Start from these weights (.safetensors)."),
    batch_size: int = typer.Option(128, help="Images per step, over all processes."),
    steps: int | None = typer.Option(None, help="Optimisation steps [default: 1 epoch]."),
    epochs: float | None = typer.Option(None, help="Epochs, when --steps is not given."),
    optimizer: str = typer.Option("adadelta", help="adadelta (the paper's), adam or sgd."),
    lr: float | None = typer.Option(None, help="[default: 1.0 adadelta, 1e-3 adam, 0.05 sgd]"),
    alpha: float = typer.Option(
        1 / 300, show_default=False, help="Weight of the classification loss [default: 1/300]."
    ),
    rebalance: float = typer.Option(
        0.5,
        min=0.0,
        max=1.0,
        help="Bins head: weight of the uniform prior in the rare-colour rebalancing "
        "(0 = full 1/p, 1 = none; Zhang et al.'s 0.5).",
    ),
    classify: bool = typer.Option(True, help="Use folder classes when the data has them."),
    screen: str = typer.Option(
        "chroma",
        help="Gray images to drop: chroma (a*b* std under --min-color-std and mean chroma "
        "under --min-chroma: keeps evenly coloured grass or sand) or spread (the paper's: "
        "a*b* std alone).",
    ),
    min_color_std: float = typer.Option(6.0, help="a*b* std (Lab units) of a gray image."),
    min_chroma: float = typer.Option(10.0, help="Mean a*b* chroma of a gray image (chroma rule)."),
    hue_balance: float = typer.Option(
        0.0, help="0 samples images uniformly; 1 gives every mean hue the same share."
    ),
    folder_weight: list[str] = typer.Option(
        [],
        metavar="FOLDER=FACTOR",
        help="FOLDER=FACTOR: draw the images of a sub-folder of --data FACTOR times as often "
        "(repeatable), e.g. photos=2.5.",
    ),
    composite: float = typer.Option(
        0.0, help="Share of samples made of a sky above a ground texture (needs the two lists)."
    ),
    sky_list: Path | None = typer.Option(None, help="List of sky images for --composite."),
    ground_list: Path | None = typer.Option(None, help="List of ground textures for --composite."),
    resize: int = typer.Option(256, help="Rescale images to this square first (0: keep)."),
    crop: int = typer.Option(224, help="Random square crop the network trains on."),
    multiscale: bool = typer.Option(False, help="Random rescale between --crop and full size."),
    flip: bool = typer.Option(True, help="Random horizontal flips."),
    workers: int | None = typer.Option(
        None,
        help="DataLoader worker processes per GPU [default: this machine's cores per process, "
        f"less one for training, at most 8: {_default_workers()} here].",
    ),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    precision: str = typer.Option("auto", help="auto (bf16 where supported), fp32, bf16, fp16."),
    eval_every: int = typer.Option(500, help="Evaluate every N steps."),
    checkpoint_every: int = typer.Option(500, help="Checkpoint every N steps."),
    keep: int = typer.Option(3, help="Checkpoints to keep."),
    seed: int = typer.Option(0),
) -> None:
    """Train a colorization model (the paper's joint colour + scene-class objective).

    Under torchrun it trains on every process with DistributedDataParallel.
    """
    import time

    from filmcolor.train.loop import TrainConfig, main

    if resume is not None:
        cfg = TrainConfig.from_run(resume)
        if steps is not None:
            cfg.steps = steps
    else:
        if data is None:
            raise UserError("--data is required (or --resume RUN_DIR)")
        _check_train_choices(model_preset, stage, optimizer, color_head, screen)
        run = out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
        cfg = TrainConfig(
            data=str(data),
            out=str(run),
            train_list=_str(train_list),
            val_data=_str(val_data),
            val_list=_str(val_list),
            val_fraction=val_fraction,
            preset=model_preset,
            width=width,
            color_head=color_head,
            stage=stage,
            init=_str(init),
            batch_size=batch_size,
            steps=steps,
            epochs=epochs,
            optimizer=optimizer,
            lr=lr,
            alpha=alpha,
            rebalance=rebalance,
            classify=classify,
            screen_rule=screen,
            min_color_std=min_color_std,
            min_chroma=min_chroma,
            hue_balance=hue_balance,
            folder_weights=_folder_weights(folder_weight),
            composite=composite,
            sky_list=_str(sky_list),
            ground_list=_str(ground_list),
            resize=resize,
            crop=crop,
            multiscale=multiscale,
            flip=flip,
            workers=workers if workers is not None else _default_workers(),
            device=device,
            precision=precision,
            eval_every=eval_every,
            checkpoint_every=checkpoint_every,
            keep=keep,
            seed=seed,
        )
    try:
        with _TrainProgress() as progress:
            weights = main(cfg, progress, resume=resume is not None)
    except KeyboardInterrupt:
        err_console.print(f"interrupted; resume with: filmcolor train --resume {cfg.out}")
        raise typer.Exit(130) from None
    if os.environ.get("RANK", "0") == "0":  # under torchrun, the first process speaks
        console.print(f"weights: {weights}")


def _check_train_choices(
    preset: str, stage: str, optimizer: str, color_head: str | None, screen: str
) -> None:
    """Misspelt names end here, before any image is screened."""
    from filmcolor.models import PRESETS

    for option, value, choices in [
        ("--preset", preset, tuple(PRESETS)),
        ("--stage", stage, ("color", "classify")),
        ("--optimizer", optimizer, ("adadelta", "adam", "sgd")),
        ("--color-head", color_head or "regression", ("regression", "bins")),
        ("--screen", screen, ("chroma", "spread")),
    ]:
        if value not in choices:
            raise UserError(f"unknown {option} {value!r}; choose from {', '.join(choices)}")


def _folder_weights(specs: list[str]) -> dict[str, float]:
    weights = {}
    for spec in specs:
        folder, _, factor = spec.partition("=")
        try:
            weights[folder] = float(factor)
        except ValueError:
            raise UserError(f"--folder-weight {spec!r}: expected FOLDER=FACTOR") from None
    return weights


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


class _TrainProgress:
    """Renders the trainer's progress events with Rich."""

    def __enter__(self):
        self.bar = _progress_bar(console)
        self.bar.__enter__()
        self.tasks: dict[str, int] = {}
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def _task(self, name: str, total: int) -> int:
        if name not in self.tasks:
            self.tasks[name] = self.bar.add_task(name, total=total, status="")
        return self.tasks[name]

    def __call__(self, e: dict) -> None:
        kind = e["kind"]
        if kind == "notice":
            self.bar.console.print(e["message"], highlight=False)
        elif kind == "screen":
            self.bar.update(self._task(f"screening {e['set']}", e["total"]), completed=e["done"])
        elif kind == "step":
            status = f"loss {e['loss']:.4f}  {e['ips']:.1f} img/s"
            task = self._task("training", e["total"])
            self.bar.update(task, completed=e["step"], status=status)
            if not self.bar.console.is_terminal and e["step"] % 100 == 0:  # logs, torchrun
                self.bar.console.print(f"step {e['step']}/{e['total']}: {status}")
        elif kind == "eval" and "ab_mse" not in e:  # classification stage
            self.bar.console.print(f"step {e['step']}: class acc {e['class_accuracy']:.3f}")
        elif kind == "eval":
            parts = [
                f"step {e['step']}: val ab MSE {e['ab_mse']:.5f}",
                f"PSNR {e['psnr']:.2f} dB (gray {e['psnr_gray']:.2f})",
                f"colourfulness {e['colourfulness']:.1f} (truth {e['colourfulness_truth']:.1f})",
                f"AuC {e['auc']:.3f}",
            ]
            if "class_accuracy" in e:
                parts.append(f"class acc {e['class_accuracy']:.3f}")
            self.bar.console.print(", ".join(parts), highlight=False)


@app.command()
def info() -> None:
    """Show the device that would be used and the model presets."""
    import torch

    from filmcolor.device import bf16_supported, resolve_device
    from filmcolor.models import PRESETS, ColorizationNet
    from filmcolor.profile import flops_per_frame

    device = resolve_device("auto")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    console.print(
        f"device: {device.type} ({name}), bf16: {'yes' if bf16_supported(device) else 'no'}, "
        f"torch threads: {torch.get_num_threads()}",
        highlight=False,
    )
    from rich.table import Column

    names = ("preset", "width", "head", "attention", "classes", "parameters")
    table = Table(
        *(Column(n, no_wrap=True) for n in names), Column("GFLOPs / 640x480 frame", no_wrap=True)
    )
    # piped, in a file or a narrow terminal: one full line per preset, nothing cut
    plain = not console.is_terminal or console.width < 100
    for preset_name, cfg in PRESETS.items():
        with torch.device("meta"):
            model = ColorizationNet(cfg)
        params = sum(p.numel() for p in model.parameters())
        gflops = flops_per_frame(model, 480, 640) / 1e9
        row = (
            preset_name, f"{cfg.width:g}", cfg.color_head, "yes" if cfg.attention else "no",
            str(cfg.num_classes), f"{params:,}", f"{gflops:.1f}",
        )  # fmt: skip
        if plain:
            console.print(
                f"preset {row[0]}: width {row[1]}, {row[2]} head, attention {row[3]}, "
                f"{row[4]} classes, {row[5]} parameters, {row[6]} GFLOPs per 640x480 frame",
                highlight=False,
                soft_wrap=True,
            )
        else:
            table.add_row(*row)
    if not plain:
        console.print(table)
    _print_default_model()


def _print_default_model() -> None:
    from filmcolor.weights import ModelFileError, default_model_path, read_metadata

    path = default_model_path()
    try:
        meta = read_metadata(path)
    except ModelFileError as e:
        console.print(f"default model: none ({e})", highlight=False)
        return
    cfg, prov = meta["config"], meta["provenance"]
    console.print(
        f"default model: {path} ({path.stat().st_size / 1e6:.1f} MB): width {cfg['width']:g}, "
        f"{cfg['color_head']} head, {prov.get('step', '?')} steps on "
        f"{prov.get('train_images', '?')} images, commit {prov.get('commit', '?')}",
        highlight=False,
        soft_wrap=True,
    )
    if prov.get("note"):  # what step and commit alone cannot say, e.g. a run begun from another
        console.print(f"  {prov['note']}", highlight=False, soft_wrap=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
