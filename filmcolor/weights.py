"""Checkpoints: weights in safetensors, the ModelConfig and provenance as JSON metadata.

The same file is written by the trainer and read by every command that takes ``--model``.
Pickle files are refused: loading one can run arbitrary code.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from filmcolor.errors import UserError
from filmcolor.files import atomic_output
from filmcolor.models import ColorizationNet, ModelConfig

DEFAULT_MODEL = "default.safetensors"
RUN_WEIGHTS = "model.safetensors"  # the final weights in a `filmcolor train` run folder


class ModelFileError(UserError):
    """A checkpoint that cannot be used."""


def default_model_path() -> Path:
    """The model shipped inside the package."""
    return Path(str(resources.files("filmcolor") / "weights" / DEFAULT_MODEL))


def model_path(path: str | os.PathLike | None) -> Path:
    """The checkpoint ``--model`` names: None = the shipped default, a ``filmcolor train`` run
    folder = its final weights (:data:`RUN_WEIGHTS`, whether it exists yet or not), else the
    path itself."""
    if path is None:
        return default_model_path()
    path = Path(path)
    return path / RUN_WEIGHTS if path.is_dir() else path


def save_model(
    path: str | os.PathLike,
    model: ColorizationNet,
    class_names: list[str] | None = None,
    dtype: torch.dtype | None = None,
    **provenance,
) -> Path:
    """Write weights and config atomically: a temporary file in the target folder, then rename.

    Args:
        path: the ``.safetensors`` file to write.
        model: the network; its ``cfg`` is stored so :func:`load_model` can rebuild it.
        class_names: names of the classifier's classes, in logit order.
        dtype: store floating-point tensors in this type (e.g. float16 to halve the file);
            loading always returns float32 weights.
        **provenance: JSON-serialisable facts (training command, steps, data, commit, ...).
    """
    path = Path(path)
    metadata = {
        "format": "filmcolor",
        "config": json.dumps(model.cfg.to_dict()),
        "class_names": json.dumps(class_names or []),
        "provenance": json.dumps(provenance),
    }
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        state[k] = v.contiguous()
    with atomic_output(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)
    return path


def read_metadata(path: str | os.PathLike) -> dict:
    """The JSON metadata of a checkpoint, decoded: config, class_names, provenance."""
    path = _check_file(Path(path))

    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except (SafetensorError, OSError) as e:
        raise ModelFileError(f"{path} is not a readable safetensors checkpoint ({e})") from None
    if "config" not in raw:
        raise ModelFileError(f"{path} has no filmcolor model config in its metadata")
    return {k: json.loads(v) if k != "format" else v for k, v in raw.items()}


def load_model(
    path: str | os.PathLike | None = None,
    device: torch.device | str = "cpu",
    temperature: float | None = None,
) -> tuple[ColorizationNet, dict]:
    """Rebuild the network from a checkpoint, in eval mode on ``device``.

    Args:
        path: a ``.safetensors`` file from ``filmcolor train``; None = the shipped default.
        device: where to put the model.
        temperature: annealed-mean temperature for a "bins" model (None = the checkpoint's).

    Returns:
        ``(model, metadata)`` with metadata as in :func:`read_metadata`.
    """
    path = _check_file(default_model_path() if path is None else Path(path))
    meta = read_metadata(path)
    model = ColorizationNet(ModelConfig.from_dict(meta["config"]))
    try:
        state = load_file(str(path))
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except (SafetensorError, RuntimeError) as e:
        raise ModelFileError(f"{path} does not match its own model config: {e}") from None
    if temperature is not None:
        model.temperature = temperature  # raises ValueError unless positive
    return model.eval().to(device), meta


def _check_file(path: Path) -> Path:
    if path.is_dir():  # a run folder from `filmcolor train`: its final weights
        if not model_path(path).is_file():
            raise ModelFileError(
                f"{path} is a folder without {RUN_WEIGHTS} (a finished `filmcolor train` "
                "run folder has one); give --model a .safetensors file"
            )
        path = model_path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    with open(path, "rb") as f:
        head = f.read(9)
    # safetensors: an 8-byte header length, then the JSON header; its length may well start
    # with the bytes a pickle (0x80) or a zip (PK) starts with, its JSON cannot.
    if head[8:9] != b"{" and (head[:2] == b"PK" or head[:1] == b"\x80"):
        raise ModelFileError(
            f"{path} is a pickle/torch.save file; it is refused because loading it can run code. "
            "Use a .safetensors checkpoint written by `filmcolor train`."
        )
    return path
