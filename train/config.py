"""Every option of a training run, saved as ``train_config.json`` in the run folder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from filmcolor.errors import UserError

from .losses import PAPER_ALPHA


@dataclass
class TrainConfig:
    """Every option of a run; saved as train_config.json in the run folder."""

    data: str | None = None  # image folder; classes = sub-folders
    out: str = "runs/train"  # run folder
    train_list: str | None = None  # Places-style list, paths relative to data
    val_data: str | None = None
    val_list: str | None = None
    val_fraction: float = 0.02
    preset: str = "paper"
    width: float | None = None  # override the preset's channel multiplier
    color_head: str | None = None  # override the preset's colour head: "regression" or "bins"
    init: str | None = None  # start from these weights (safetensors)
    batch_size: int = 128
    steps: int | None = None
    epochs: float | None = None
    optimizer: str = "adadelta"  # the paper's; or "adam", "sgd"
    lr: float | None = None  # default: 1.0 adadelta, 1e-3 adam, 0.05 sgd
    stage: str = "color"  # "color", or "classify": pre-train low-level, global and classifier
    alpha: float = PAPER_ALPHA  # weight of the classification loss
    rebalance: float = 0.5  # bins head: weight of the uniform prior in the rebalancing (1 = none)
    classify: bool = True  # use folder classes when the data has them
    screen_rule: str = "spread"  # gray images: "spread" (the paper's) or "chroma" (see data)
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
    workers: int = 4
    device: str = "auto"
    precision: str = "auto"
    eval_every: int = 500
    checkpoint_every: int = 500
    keep: int = 3
    seed: int = 0

    @classmethod
    def from_json(cls, path: Path) -> TrainConfig:
        d = json.loads(Path(path).read_text())
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})

    @classmethod
    def from_run(cls, run_dir: Path) -> TrainConfig:
        """The options of the run in ``run_dir``, to resume it.

        Raises:
            TrainingError: ``run_dir`` is not a run folder.
        """
        path = Path(run_dir) / "train_config.json"
        if not path.is_file():
            raise TrainingError(f"{run_dir} is not a run folder (no train_config.json)")
        cfg = cls.from_json(path)
        cfg.out = str(run_dir)
        return cfg


class TrainingError(UserError):
    """A run that cannot go on; the message is for the user."""
