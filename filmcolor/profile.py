"""Counting the network's work."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from filmcolor.models import ColorizationNet, resize_for_global


def flops_per_frame(model: ColorizationNet, height: int, width: int) -> int:
    """FLOPs (2 per multiply-add) of colorizing one frame, global path included.

    Counted on the meta device when the model lives there, so it costs no compute.
    """
    device = next(model.parameters()).device
    l = torch.zeros(1, 1, height, width, device=device)
    was_training = model.training
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        g, _ = model.global_features(resize_for_global(l))
        model.colorize(l, g)
    model.train(was_training)
    return counter.get_total_flops()
