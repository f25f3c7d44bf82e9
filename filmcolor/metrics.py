"""Colour quality measures of a colorized image against its truth, batched in torch.

Images are sRGB in [0, 1], shape (B, 3, H, W); every function returns one value per image.
"""

from __future__ import annotations

import torch


def psnr_rgb(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """PSNR in dB on RGB quantised to 0..255, per image (capped at 100 dB for identical images)."""
    p, t = (pred * 255).round(), (truth * 255).round()
    mse = ((p - t) ** 2).flatten(1).mean(1)
    return (10 * torch.log10(255**2 / mse.clamp_min(1e-10))).clamp_max(100)


def colourfulness(rgb: torch.Tensor) -> torch.Tensor:
    """Hasler & Suesstrunk (2003) colourfulness on 0..255 RGB, per image."""
    r, g, b = (rgb * 255).flatten(2).unbind(1)  # each (B, H*W)
    rg = r - g
    yb = (r + g) / 2 - b
    std = (rg.var(1, unbiased=False) + yb.var(1, unbiased=False)).sqrt()
    mean = (rg.mean(1) ** 2 + yb.mean(1) ** 2).sqrt()
    return std + 0.3 * mean


def ab_auc(pred_ab: torch.Tensor, true_ab: torch.Tensor, max_threshold: int = 150) -> torch.Tensor:
    """Zhang et al.'s AuC: share of pixels with ab error <= t, averaged over t = 0..150, per image.

    Args:
        pred_ab: a*b*, (B, 2, H, W).
        true_ab: a*b*, (B, 2, H, W).
        max_threshold: the largest threshold t.
    """
    err = (pred_ab.float() - true_ab.float()).norm(dim=1).flatten(1)  # (B, H*W)
    # A pixel with error e lies within every integer threshold t >= e: 151 - ceil(e) of them.
    n = max_threshold + 1
    within = (n - err.ceil()).clamp(0, n)
    return within.mean(1) / n
