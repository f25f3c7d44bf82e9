"""The ``filmcolor`` command: parses options and calls the library. Only this module uses Rich."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

import filmcolor

app = typer.Typer(
    help="Restore colour to black-and-white films and photographs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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


def _not_yet(command: str, issue: int) -> typer.Exit:
    return fail(f"`filmcolor {command}` is not available yet (tracked in issue #{issue})", code=2)


@app.command()
def colorize() -> None:
    """Colorize a video file."""
    raise _not_yet("colorize", 4)


@app.command()
def frames() -> None:
    """Colorize every image in a folder."""
    raise _not_yet("frames", 4)


@app.command()
def shots() -> None:
    """List the shots of a video."""
    raise _not_yet("shots", 4)


@app.command()
def train() -> None:
    """Train a colorization model."""
    raise _not_yet("train", 3)


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
    table = Table("preset", "width", "classes", "parameters", "GFLOPs / 640x480 frame")
    for preset_name, cfg in PRESETS.items():
        with torch.device("meta"):
            model = ColorizationNet(cfg)
        params = sum(p.numel() for p in model.parameters())
        gflops = flops_per_frame(model, 480, 640) / 1e9
        table.add_row(
            preset_name, f"{cfg.width:g}", str(cfg.num_classes), f"{params:,}", f"{gflops:.1f}"
        )
    console.print(table)


def main() -> None:
    app()
