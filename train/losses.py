"""The paper's training objective: colour MSE + alpha x scene-class cross-entropy."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

PAPER_ALPHA = 1 / 300


@dataclass
class Losses:
    total: torch.Tensor
    color: torch.Tensor
    classification: torch.Tensor | None


def half_resolution(target: torch.Tensor) -> torch.Tensor:
    """A full-resolution target (B, C, H, W) averaged down to the head's (B, C, H/2, W/2)."""
    return F.avg_pool2d(target, 2)


def colorization_loss(
    head: torch.Tensor,
    ab_unit: torch.Tensor,
    logits: torch.Tensor | None,
    labels: torch.Tensor,
    alpha: float = PAPER_ALPHA,
) -> Losses:
    """MSE on normalised chrominance at the head's resolution, plus alpha x CE on classes.

    The class term reaches only the low-level, global and classification networks: the
    architecture routes it there (the classifier branches off before the fusion layer).

    Args:
        head: the regression head's sigmoid output, (B, 2, H/2, W/2).
        ab_unit: ground-truth a*b* in the head's [0, 1] space, (B, 2, H, W).
        logits: class logits (B, N), or None for a model without classifier.
        labels: class indices (B,).
        alpha: weight of the class term.
    """
    color = F.mse_loss(head.float(), half_resolution(ab_unit))
    if logits is None or alpha == 0:
        return Losses(color, color, None)
    cls = F.cross_entropy(logits.float(), labels)
    return Losses(color + alpha * cls, color, cls)
