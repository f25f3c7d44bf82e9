"""The paper's training objective: colour MSE + alpha x scene-class cross-entropy."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from filmcolor.models.bins import rebalanced_cross_entropy_nearest, soft_encode_nearest
from filmcolor.models.color import unit_to_ab

from .config import PAPER_ALPHA


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
    return _with_class_term(color, logits, labels, alpha)


def _with_class_term(
    color: torch.Tensor, logits: torch.Tensor | None, labels: torch.Tensor, alpha: float
) -> Losses:
    """The colour loss plus alpha x cross-entropy on classes (none without a classifier)."""
    if logits is None or alpha == 0:
        return Losses(color, color, None)
    cls = F.cross_entropy(logits.float(), labels)
    return Losses(color + alpha * cls, color, cls)


def bins_loss(
    logits_ab: torch.Tensor,
    ab_unit: torch.Tensor,
    logits: torch.Tensor | None,
    labels: torch.Tensor,
    alpha: float,
    bin_weights: torch.Tensor,
    ab_range: float,
) -> Losses:
    """Class-rebalanced cross-entropy over the 313 ab bins, plus alpha x CE on scene classes.

    Targets are soft-encoded (Gaussian over the 10 nearest bins, sigma 5) at the head's
    resolution; each pixel is weighted by the rebalancing weight of its nearest bin.

    Args:
        logits_ab: the bins head's logits, (B, 313, H/2, W/2).
        ab_unit: ground-truth a*b* in [0, 1] space (the dataset's), (B, 2, H, W).
        logits: class logits (B, N), or None.
        labels: class indices (B,).
        alpha: weight of the class term.
        bin_weights: (313,) rebalancing weights from the training set's ab histogram.
        ab_range: the range that maps ``ab_unit`` back to a*b*.
    """
    ab = unit_to_ab(half_resolution(ab_unit), ab_range)
    idx, weights = soft_encode_nearest(ab)  # (B, 10, H/2, W/2)
    nearest = idx.gather(1, weights.argmax(1, keepdim=True))[:, 0]  # the largest weight
    pixel_w = bin_weights.to(ab.device)[nearest]
    color = rebalanced_cross_entropy_nearest(logits_ab, idx, weights, pixel_w)
    return _with_class_term(color, logits, labels, alpha)


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> Losses:
    """Classification pre-training: cross-entropy alone."""
    cls = F.cross_entropy(logits.float(), labels)
    return Losses(cls, cls.detach() * 0, cls)
