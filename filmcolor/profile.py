"""Counting the network's work."""

from __future__ import annotations

import time

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


def matmul_peak(dtype: torch.dtype = torch.float32, n: int = 2048, seconds: float = 2.0) -> float:
    """Measured FLOP/s of an n x n matmul on this CPU (the practical peak the network is
    compared against)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(2):
        a @ b
    runs, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        a @ b
        runs += 1
    return 2 * n**3 * runs / elapsed


def train_flops_per_image(model: ColorizationNet, size: int = 224) -> int:
    """FLOPs of one training step per image at ``size``: forward and backward."""
    l = torch.zeros(2, 1, size, size, device=next(model.parameters()).device)
    model.train()
    with FlopCounterMode(display=False) as counter:
        head, logits = model(l, return_head=True)
        loss = head.float().mean() + (logits.float().mean() if logits is not None else 0)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() // 2
