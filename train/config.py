"""Every option of a training run, saved as ``train_config.json`` in the run folder."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

from filmcolor.config import ConfigError, check_choice, check_device
from filmcolor.errors import UserError

PAPER_ALPHA = 1 / 300  # weight of the classification loss in the paper's joint objective
STAGES = ("color", "classify")
OPTIMIZERS = ("adadelta", "adam", "sgd")
DEFAULT_LR = {"adadelta": 1.0, "adam": 1e-3, "sgd": 0.05}  # when --lr is not given
COLOR_HEADS = ("regression", "bins")
SCREEN_RULES = ("chroma", "spread")
SCREEN_RULE = "chroma"  # keeps evenly coloured grass or sand; "spread" is the paper's rule
ENCODER_STAGES = 7  # stages of an EfficientNet-Lite, the most --tune-stages can train


def default_workers() -> int:
    """DataLoader workers per training process: its share of the cores, less one for the
    training itself, at most 8."""
    processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(0, min(8, (os.cpu_count() or 1) // processes - 1))


@dataclass
class TrainConfig:
    """Every option of a run; saved as train_config.json in the run folder."""

    data: str | None = None  # image folder; classes = sub-folders
    out: str | None = None  # run folder; None = runs/<date-time>
    train_list: str | None = None  # Places-style list, paths relative to data
    val_data: str | None = None
    val_list: str | None = None
    val_fraction: float = 0.02
    preset: str = "paper"
    width: float | None = None  # override the preset's channel multiplier
    color_head: str | None = None  # override the preset's colour head: "regression" or "bins"
    init: str | None = None  # start from these weights (safetensors), or "imagenet"
    tune_stages: int = 0  # encoder presets: last encoder stages trained (0 = encoder frozen)
    encoder_lr: float = 0.1  # their learning rate, as a factor of the run's
    batch_size: int = 128
    steps: int | None = None
    epochs: float | None = None
    optimizer: str = "adadelta"  # the paper's; or "adam", "sgd"
    lr: float | None = None  # default: 1.0 adadelta, 1e-3 adam, 0.05 sgd
    stage: str = "color"  # "color", or "classify": pre-train low-level, global and classifier
    alpha: float = PAPER_ALPHA  # weight of the classification loss
    rebalance: float = 0.5  # bins head: weight of the uniform prior in the rebalancing (1 = none)
    classify: bool = True  # use folder classes when the data has them
    screen_rule: str = SCREEN_RULE  # gray images: "chroma" or "spread" (the paper's; see data)
    min_color_std: float = 6.0  # a*b* spread (std) under which an image may be gray
    min_chroma: float = 10.0  # mean a*b* chroma under which it may be gray ("chroma" rule)
    hue_balance: float = 0.0  # 0 samples images uniformly, 1 evens out their mean hues
    folder_weights: dict[str, float] = field(default_factory=dict)  # sub-folder -> factor
    composite: float = 0.0  # share of samples made of a sky above a ground texture
    sky_list: str | None = None  # skies for the composites (list file, paths relative to data)
    ground_list: str | None = None  # ground textures for the composites
    resize: int = 256
    crop: int = 224
    multiscale: bool = False
    flip: bool = True
    workers: int = field(default_factory=default_workers)  # DataLoader processes per GPU
    device: str = "auto"
    precision: str = "auto"
    eval_every: int = 500
    checkpoint_every: int = 500
    keep: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        from filmcolor.models import PRESETS  # torch: a run is about to start anyway

        if self.out is None:
            self.out = str(Path("runs") / time.strftime("%Y%m%d-%H%M%S"))
        check_choice("preset", self.preset, tuple(PRESETS))
        check_choice("stage", self.stage, STAGES)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("color_head", self.color_head or "regression", COLOR_HEADS)
        check_choice("screen", self.screen_rule, SCREEN_RULES)
        check_device(self.device, self.precision)
        for name, low, high in [
            ("val_fraction", 0.0, 1.0),
            ("rebalance", 0.0, 1.0),
            ("hue_balance", 0.0, None),
            ("composite", 0.0, 1.0),
            ("alpha", 0.0, None),
            ("min_color_std", 0.0, None),
            ("min_chroma", 0.0, None),
            ("width", 1 / 16, None),  # the paper's narrowest layer (64) keeps 4 channels
            ("lr", 0.0, None),
            ("epochs", 0.0, None),
            ("batch_size", 1, None),
            ("steps", 1, None),
            ("resize", 0, None),
            ("crop", 1, None),
            ("workers", 0, None),
            ("eval_every", 1, None),
            ("checkpoint_every", 1, None),
            ("keep", 1, None),
            ("tune_stages", 0, ENCODER_STAGES),
            ("encoder_lr", 0.0, None),
        ]:
            value = getattr(self, name)
            if value is None:
                continue
            if not math.isfinite(value) or value < low or (high is not None and value > high):
                span = f"{low} or more" if high is None else f"{low} to {high}"
                raise ConfigError(f"--{name.replace('_', '-')} {value} is out of range: {span}")
        for folder, factor in self.folder_weights.items():
            if not (math.isfinite(factor) and factor >= 0):
                raise ConfigError(f"--folder-weight {folder}={factor}: the factor is 0 or more")

    @classmethod
    def from_json(cls, path: Path, **changes) -> TrainConfig:
        """The config saved at ``path``, with ``changes`` (fields) applied."""
        d = json.loads(Path(path).read_text())
        d.setdefault("screen_rule", "spread")  # the only rule before there were two
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d} | changes)

    @classmethod
    def from_run(cls, run_dir: Path) -> TrainConfig:
        """The options of the run in ``run_dir``, to resume it.

        Raises:
            TrainingError: ``run_dir`` is not a run folder.
        """
        path = Path(run_dir) / "train_config.json"
        if not path.is_file():
            raise TrainingError(f"{run_dir} is not a run folder (no train_config.json)")
        return cls.from_json(path, out=str(run_dir))


class TrainingError(UserError):
    """A run that cannot go on; the message is for the user."""
