"""The ``filmcolor`` command: parses options and calls the library. Only this module uses Rich."""

from __future__ import annotations

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
        except (OSError, av.error.FFmpegError) as e:
            raise fail(f"{type(e).__name__}: {e}") from None


app = typer.Typer(
    cls=_Commands,
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
        False, "--version", callback=_version_callback, is_eager=True, help="Print versions."
    ),
) -> None:
    pass


# Options shared by `colorize` and `frames`.
MODEL_OPTION = typer.Option(None, "--model", help="A .safetensors checkpoint.")
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


@app.command()
def colorize(
    video: Path = typer.Argument(..., help="The film: any file PyAV can decode."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Output file [default: <stem>_color.mp4 beside the input]."
    ),
    style: Path | None = typer.Option(
        None, "--style", help="Reference image whose global features colour the whole film."
    ),
    shots_csv: Path | None = typer.Option(
        None, "--shots", help="A (corrected) shot list from `filmcolor shots --csv`."
    ),
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
    threshold: float | None = typer.Option(None, "--threshold", help="Cut detector threshold."),
    min_shot: int = typer.Option(15, "--min-shot", min=1, help="Shortest shot, in frames."),
    max_damaged: int = typer.Option(
        10, "--max-damaged", min=0, help="Damaged packets skipped before giving up."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
) -> None:
    """Colorize a video file: same frames, timing, size and sound; colour only in chroma."""
    from filmcolor.pipeline import ColorizeConfig, colorize_video, default_output

    _check_device(device, precision)
    cfg = ColorizeConfig(
        input=video,
        output=output if output is not None else default_output(video),
        model=model,
        style=style,
        shots=shots_csv,
        codec=codec,
        crf=crf,
        batch_size=batch_size,
        device=device,
        precision=precision,
        temperature=temperature,
        overwrite=overwrite,
        detector=detector,
        threshold=threshold,
        min_shot_frames=min_shot,
        max_damaged=max_damaged,
    )
    if render_size is not None:
        cfg.render_size = render_size
    if temporal is not None:
        cfg.temporal = temporal
    try:
        with _VideoProgress() as progress:
            result = colorize_video(cfg, on_progress=progress, on_warning=progress.warn)
    except KeyboardInterrupt:
        raise fail(f"interrupted; nothing was written to {cfg.output}", code=130) from None
    console.print(
        f"wrote {result.output} ({result.frames} frames, {len(result.shots)} shots, "
        f"{sum(result.packets.values()) - result.frames} audio/subtitle packets) "
        f"in {result.seconds:.1f} s",
        highlight=False,
    )


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
) -> None:
    """Colorize every image in a folder, to the same relative paths, sizes and formats."""
    from filmcolor.colorizer import Colorizer, style_vector
    from filmcolor.stills import colorize_folder

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
            on_progress=progress.image,
        )
    for path, reason in result.skipped:
        err_console.print(f"[yellow]skipped[/] {path}: {reason}", highlight=False, soft_wrap=True)
    console.print(
        f"{len(result.written)} image(s) written to {output}, {len(result.skipped)} skipped",
        highlight=False,
    )
    if not result.written and result.skipped:
        raise typer.Exit(1)


@app.command()
def shots(
    video: Path = typer.Argument(..., help="The film."),
    csv_path: Path | None = typer.Option(None, "--csv", help="Also write the list as CSV."),
    detector: str = typer.Option("content", "--detector", help="Cut detector: content, adaptive."),
    threshold: float | None = typer.Option(None, "--threshold", help="Cut detector threshold."),
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
    console.print(f"{len(found.shots)} shot(s), {found.frames} frames", highlight=False)


def _check_device(device: str, precision: str) -> None:
    """Refuse a device or precision this machine lacks before any work (DeviceError)."""
    from filmcolor.device import resolve_device, resolve_precision

    resolve_precision(precision, resolve_device(device))


def _progress_bar(on: Console):
    """description, bar, done/total, a free "status" text, time left."""
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
    )


class _VideoProgress:
    """A Rich progress bar fed by the library's progress callbacks."""

    def __init__(self):
        self.bar = _progress_bar(err_console)
        self.tasks: dict[str, int] = {}

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

    def __call__(self, p) -> None:
        """A :class:`filmcolor.progress.Progress` report."""
        if p.stage == "shots":
            self._update(
                "shots", "finding shots" + (f": {p.shots}" if p.shots else ""), p.done, p.total
            )
        else:
            self._update("colorize", f"colorizing shot {p.shot}/{p.shots}", p.done, p.total)

    def image(self, done: int, total: int, path: Path) -> None:
        self._update("images", f"colorizing {path.name}", done, total)

    def warn(self, message: str) -> None:
        self.bar.console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


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
    alpha: float = typer.Option(1 / 300, help="Weight of the classification loss."),
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
    workers: int = typer.Option(4, help="DataLoader worker processes (per GPU)."),
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
        _check_train_choices(model_preset, stage, optimizer, color_head)
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
            workers=workers,
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
    table = Table(
        "preset", "width", "head", "attention", "classes", "parameters", "GFLOPs / 640x480 frame"
    )
    for preset_name, cfg in PRESETS.items():
        with torch.device("meta"):
            model = ColorizationNet(cfg)
        params = sum(p.numel() for p in model.parameters())
        gflops = flops_per_frame(model, 480, 640) / 1e9
        table.add_row(
            preset_name, f"{cfg.width:g}", cfg.color_head, "yes" if cfg.attention else "no",
            str(cfg.num_classes), f"{params:,}", f"{gflops:.1f}",
        )  # fmt: skip
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
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
