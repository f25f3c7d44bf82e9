"""Export a trained checkpoint as a model to ship: half precision, with its provenance.

    python -m filmcolor.train.export RUN_DIR/model.safetensors filmcolor/weights/default.safetensors

The metadata keeps the run's own provenance (command, data, steps, wall time) and adds the
commit of the code that trained it, so `filmcolor info` and MODEL_CARD.md can name them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from filmcolor.weights import load_model, save_model

from .checkpoint import git_commit


def export(
    source: Path, target: Path, half: bool = True, temperature: float | None = None, **extra
) -> Path:
    """Re-save ``source`` at ``target`` (float16 unless ``half`` is False), adding ``extra``
    facts and the training run's config to the provenance; ``temperature`` sets a bins
    model's default annealed-mean temperature."""
    model, meta = load_model(source, temperature=temperature)
    provenance = dict(meta["provenance"])
    run_config = source.parent / "train_config.json"
    if run_config.is_file():
        provenance["train_config"] = json.loads(run_config.read_text())
    provenance.setdefault("commit", git_commit())
    provenance.update(extra)
    target.parent.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if half else None
    return save_model(target, model, meta["class_names"], dtype=dtype, **provenance)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--fp32", action="store_true", help="keep float32 weights")
    parser.add_argument("--note", default="", help="a line stored in the provenance")
    parser.add_argument("--temperature", type=float, help="default annealed-mean temperature")
    args = parser.parse_args()
    extra = {"note": args.note} if args.note else {}
    path = export(args.source, args.target, not args.fp32, args.temperature, **extra)
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
