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


def _cell_means(ab: torch.Tensor, grid: int) -> torch.Tensor:
    """Mean of each cell of a ``grid`` x ``grid`` split of (B, C, H, W); (B, C, grid, grid).

    Cell ``i`` of a side of ``n`` pixels holds the pixels ``k`` with ``k * grid // n == i``: the
    cells tile the image exactly, their sizes differing by at most one pixel.
    """
    h, w = ab.shape[-2:]
    if h < grid or w < grid:
        raise ValueError(f"an image of {w}x{h} px cannot be split into {grid}x{grid} cells")

    def averaging(n: int) -> torch.Tensor:  # (grid, n): row i averages the pixels of cell i
        member = torch.nn.functional.one_hot(torch.arange(n) * grid // n, grid).T.float()
        return member / member.sum(1, keepdim=True)

    rows, cols = averaging(h).to(ab.device), averaging(w).to(ab.device)
    return torch.einsum("ih,bchw,jw->bcij", rows, ab.float(), cols)


def hue_cells(
    pred_ab: torch.Tensor,
    true_ab: torch.Tensor,
    grid: int = 8,
    min_true_chroma: float = 10.0,
    min_pred_chroma: float = 3.0,
    max_angle: float = 45.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cells of a ``grid`` x ``grid`` split whose predicted hue agrees with the truth's, per image.

    A cell is eligible when the chroma of its true mean a*b* exceeds ``min_true_chroma``; it
    agrees when, in addition, its predicted mean a*b* has chroma above ``min_pred_chroma`` and a
    hue angle within ``max_angle`` degrees of the truth's. A gray prediction agrees nowhere.

    Args:
        pred_ab: predicted a*b*, (B, 2, H, W).
        true_ab: true a*b*, (B, 2, H, W); H and W at least ``grid``.
        grid: cells per side.
        min_true_chroma: a cell counts only if its true mean chroma is above this.
        min_pred_chroma: a predicted cell mean at or below this chroma counts as gray.
        max_angle: the largest hue difference, in degrees, that still agrees.

    Returns:
        ``(agreeing, eligible)``: two int64 tensors of shape (B,).
    """
    p, t = _cell_means(pred_ab, grid), _cell_means(true_ab, grid)  # (B, 2, grid, grid)
    pc, tc = p.norm(dim=1), t.norm(dim=1)  # (B, grid, grid) chroma
    dot = (p * t).sum(1)
    cross = p[:, 0] * t[:, 1] - p[:, 1] * t[:, 0]
    angle = torch.rad2deg(torch.atan2(cross.abs(), dot))  # in [0, 180]
    eligible = tc > min_true_chroma
    agreeing = eligible & (pc > min_pred_chroma) & (angle <= max_angle)
    return agreeing.flatten(1).sum(1), eligible.flatten(1).sum(1)


def hue_agreement(
    pred_ab: torch.Tensor,
    true_ab: torch.Tensor,
    grid: int = 8,
    min_true_chroma: float = 10.0,
    min_pred_chroma: float = 3.0,
    max_angle: float = 45.0,
) -> torch.Tensor:
    """Share of the colourful cells whose predicted hue agrees with the truth's, per image.

    The share :func:`hue_cells` ``agreeing / eligible``, with the same arguments; NaN for an
    image without an eligible cell (a gray or nearly gray truth), so that callers can leave it
    out of their means.
    """
    agreeing, eligible = hue_cells(
        pred_ab, true_ab, grid, min_true_chroma, min_pred_chroma, max_angle
    )
    return agreeing.double() / eligible.double()  # 0 / 0 = NaN
