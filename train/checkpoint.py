"""Run folders: weights (safetensors, loadable by --model) and training state, written atomically.

RUN_DIR/
  train_config.json            the TrainConfig the run was started with
  model.safetensors            the latest weights: what `--model` loads
  ckpt-0000200.safetensors     weights at step 200 (the last K are kept)
  ckpt-0000200.state.pt        optimizer, scheduler, step, RNG states (weights_only=True)
  metrics.jsonl                one line per evaluation
  grid-0000200.png             gray | predicted | truth for 8 validation images
"""

from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path

import numpy as np
import torch

from filmcolor.files import atomic_output
from filmcolor.weights import RUN_WEIGHTS, save_model

_CKPT = re.compile(r"ckpt-(\d+)\.state\.pt$")


def atomic_torch_save(obj, path: Path) -> None:
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)


def rng_state() -> dict:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": [list(random.getstate()[1]), random.getstate()[0], random.getstate()[2]],
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    internal, version, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), *rest))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    run_dir: Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    class_names: list[str],
    provenance: dict,
    keep: int = 3,
) -> Path:
    """Write weights and training state for ``step``, update model.safetensors, prune old ones."""
    weights = run_dir / f"ckpt-{step:07d}.safetensors"
    save_model(weights, model, class_names, step=step, **provenance)
    state = {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state(),
    }
    atomic_torch_save(state, run_dir / f"ckpt-{step:07d}.state.pt")
    save_model(run_dir / RUN_WEIGHTS, model, class_names, step=step, **provenance)
    for old in checkpoints(run_dir)[:-keep]:
        (run_dir / f"ckpt-{old:07d}.state.pt").unlink(missing_ok=True)
        (run_dir / f"ckpt-{old:07d}.safetensors").unlink(missing_ok=True)
    return weights


def checkpoints(run_dir: Path) -> list[int]:
    """Steps of the complete checkpoints in a run folder, oldest first."""
    steps = []
    for p in run_dir.glob("ckpt-*.state.pt"):
        m = _CKPT.search(p.name)
        if m and (run_dir / f"ckpt-{m.group(1)}.safetensors").is_file():
            steps.append(int(m.group(1)))
    return sorted(steps)


def load_state(run_dir: Path, step: int) -> dict:
    return torch.load(run_dir / f"ckpt-{step:07d}.state.pt", weights_only=True, map_location="cpu")


def git_commit() -> str:
    """The commit of the filmcolor code that is running ("+dirty" with local changes), or
    "unknown" outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10)  # fmt: skip
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "-uno"],
                               capture_output=True, text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if head.returncode:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
