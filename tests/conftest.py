"""Shared fixtures: a tiny random model file and a loaded colorizer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from filmcolor.colorizer import Colorizer
from filmcolor.models import ColorizationNet, preset
from filmcolor.weights import save_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A randomly initialised compact network at 1/8 width, saved as a checkpoint."""
    torch.manual_seed(0)
    model = ColorizationNet(preset("compact", width=0.125, num_classes=0))
    with torch.no_grad():  # random BN statistics and a wide head, so colours are visible
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    return save_model(path, model)


@pytest.fixture(scope="session")
def colorizer(tiny_model) -> Colorizer:
    return Colorizer.load(tiny_model, device="cpu", precision="fp32", render_size=32)
