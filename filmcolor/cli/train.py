"""``filmcolor train``: train a colorization model; the options are :class:`TrainConfig`'s."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from filmcolor.cli.options import config_from, one_of
from filmcolor.cli.options import default as _default
from filmcolor.cli.render import TrainProgress, say, tell
from filmcolor.config import DEVICES, PRECISIONS
from filmcolor.distributed import World
from filmcolor.errors import UserError
from filmcolor.train.config import (
    COLOR_HEADS,
    DEFAULT_LR,
    OPTIMIZERS,
    STAGES,
    TrainConfig,
    default_workers,
)


def default(name: str):
    return _default(TrainConfig, name)


def train(
    data: Path | None = typer.Option(None, help="Image folder; sub-folders are scene classes."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Run folder [default: runs/<date-time>]."
    ),
    resume: Path | None = typer.Option(None, help="Continue the run in this folder."),
    train_list: Path | None = typer.Option(None, help="Places list file ('/a/abbey/1.jpg 0')."),
    val_data: Path | None = typer.Option(None, help="Validation image folder."),
    val_list: Path | None = typer.Option(None, help="Validation list file."),
    val_fraction: float = typer.Option(
        default("val_fraction"), help="Share held out when no validation is given."
    ),
    preset: str = typer.Option(
        default("preset"), "--preset", help="Model preset (`filmcolor info` lists them)."
    ),
    stage: str = typer.Option(
        default("stage"),
        help=f"{' or '.join(STAGES)}: classify pre-trains the low-level, global and class "
        "networks.",
    ),
    width: float | None = typer.Option(None, help="Override the preset's channel multiplier."),
    color_head: str | None = typer.Option(
        None, help=f"Override the preset's colour head: {one_of(COLOR_HEADS)}."
    ),
    init: Path | None = typer.Option(
        None, help="Start from these weights (.safetensors), or 'imagenet' (--preset imagenet)."
    ),
    tune_stages: int = typer.Option(
        default("tune_stages"),
        help="Encoder presets: train the encoder's last N stages (0: the encoder stays frozen).",
    ),
    encoder_lr: float = typer.Option(
        default("encoder_lr"), help="Learning rate of those stages, as a factor of the run's."
    ),
    batch_size: int = typer.Option(
        default("batch_size"), help="Images per step, over all processes."
    ),
    steps: int | None = typer.Option(None, help="Optimisation steps [default: 1 epoch]."),
    epochs: float | None = typer.Option(None, help="Epochs, when --steps is not given."),
    optimizer: str = typer.Option(
        default("optimizer"), help=f"{one_of(OPTIMIZERS)} (adadelta is the paper's)."
    ),
    lr: float | None = typer.Option(
        None,
        help="[default: " + ", ".join(f"{v:g} {k}" for k, v in DEFAULT_LR.items()) + "]",
    ),
    alpha: float = typer.Option(
        default("alpha"),
        show_default=False,
        help=f"Weight of the classification loss [default: 1/{1 / default('alpha'):g}].",
    ),
    rebalance: float = typer.Option(
        default("rebalance"),
        min=0.0,
        max=1.0,
        help="Bins head: weight of the uniform prior in the rare-colour rebalancing "
        "(0 = full 1/p, 1 = none; Zhang et al.'s 0.5).",
    ),
    classify: bool = typer.Option(
        default("classify"), help="Use folder classes when the data has them."
    ),
    screen_rule: str = typer.Option(
        default("screen_rule"),
        "--screen",
        help="Gray images to drop: chroma (a*b* std under --min-color-std and mean chroma "
        "under --min-chroma: keeps evenly coloured grass or sand) or spread (the paper's: a*b* "
        "std alone).",
    ),
    min_color_std: float = typer.Option(
        default("min_color_std"), help="a*b* std (Lab units) of a gray image."
    ),
    min_chroma: float = typer.Option(
        default("min_chroma"), help="Mean a*b* chroma of a gray image (chroma rule)."
    ),
    hue_balance: float = typer.Option(
        default("hue_balance"),
        help="0 samples images uniformly; 1 gives every mean hue the same share.",
    ),
    folder_weights: list[str] = typer.Option(
        [],
        "--folder-weight",
        metavar="FOLDER=FACTOR",
        help="FOLDER=FACTOR: draw the images of a sub-folder of --data FACTOR times as often "
        "(repeatable), e.g. photos=2.5.",
    ),
    composite: float = typer.Option(
        default("composite"),
        help="Share of samples made of a sky above a ground texture (needs the two lists).",
    ),
    sky_list: Path | None = typer.Option(None, help="List of sky images for --composite."),
    ground_list: Path | None = typer.Option(None, help="List of ground textures for --composite."),
    resize: int = typer.Option(
        default("resize"), help="Rescale images to this square first (0: keep)."
    ),
    crop: int = typer.Option(default("crop"), help="Random square crop the network trains on."),
    multiscale: bool = typer.Option(
        default("multiscale"), help="Random rescale between --crop and full size."
    ),
    flip: bool = typer.Option(default("flip"), help="Random horizontal flips."),
    workers: int = typer.Option(
        default_workers(),
        help="DataLoader worker processes per GPU; by default this machine's cores per process, "
        "less one for training, at most 8.",
    ),
    device: str = typer.Option(default("device"), help=f"{one_of(DEVICES)}."),
    precision: str = typer.Option(
        default("precision"), help=f"{one_of(PRECISIONS)} (auto: bf16 where supported)."
    ),
    eval_every: int = typer.Option(default("eval_every"), help="Evaluate every N steps."),
    checkpoint_every: int = typer.Option(
        default("checkpoint_every"), help="Checkpoint every N steps."
    ),
    keep: int = typer.Option(default("keep"), help="Checkpoints to keep."),
    seed: int = typer.Option(default("seed")),
) -> None:
    """Train a colorization model (the paper's joint colour + scene-class objective).

    Under torchrun it trains on every process with DistributedDataParallel.
    """
    options = {k: str(v) if isinstance(v, Path) else v for k, v in locals().items()}
    from filmcolor.train.loop import main

    if resume is not None:
        cfg = TrainConfig.from_run(resume)
        if steps is not None:
            cfg = dataclasses.replace(cfg, steps=steps)
    else:
        if data is None:
            raise UserError("--data is required (or --resume RUN_DIR)")
        cfg = config_from(TrainConfig, options, folder_weights=_folder_weights(folder_weights))
    try:
        with TrainProgress() as progress:
            weights = main(cfg, progress, resume=resume is not None)
    except KeyboardInterrupt:
        tell(f"interrupted; resume with: filmcolor train --resume {cfg.out}")
        raise typer.Exit(130) from None
    if World.from_env().main:  # under torchrun, the first process speaks
        say(f"weights: {weights}")


def _folder_weights(specs: list[str]) -> dict[str, float]:
    weights = {}
    for spec in specs:
        folder, _, factor = spec.partition("=")
        try:
            weights[folder] = float(factor)
        except ValueError:
            raise UserError(f"--folder-weight {spec!r}: expected FOLDER=FACTOR") from None
    return weights
