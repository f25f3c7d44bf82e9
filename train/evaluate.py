"""Evaluation on the validation set: the measures logged at every ``--eval-every`` steps, and
the picture of a few validation images (gray | predicted | truth) saved beside them."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from filmcolor.device import autocast
from filmcolor.metrics import ab_auc, colourfulness, hue_cells, psnr_rgb
from filmcolor.models import ColorizationNet
from filmcolor.models.color import ab_to_unit, lab_to_rgb, unit_to_ab

GRID_IMAGES = 8


@torch.no_grad()
def evaluate(
    model: ColorizationNet,
    loader: torch.utils.data.DataLoader,
    device: torch.device,
    dtype: torch.dtype,
    grid_path: Path | None = None,
    classify_only: bool = False,
) -> dict[str, float]:
    """ab MSE (in the [0, 1] space of the regression head, so both heads compare), PSNR and
    colourfulness on RGB with the gray baseline, AuC, hue agreement (pooled over the colourful
    cells of the whole set) and class accuracy."""
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    n = 0
    grid = []
    for l, ab, labels in loader:
        l, ab, labels = l.to(device), ab.to(device), labels.to(device)
        b = l.shape[0]
        with autocast(device, dtype):
            pred_ab, logits = model(l, classify_only=classify_only)
        batch = {}
        if logits is not None and model.encoder is None:  # an encoder's classes are ImageNet's
            batch["class_accuracy"] = float((logits.argmax(1) == labels).float().sum())
        if not classify_only:
            true_ab = unit_to_ab(ab, model.cfg.ab_range)
            lightness = l.float() * 100
            pred = lab_to_rgb(torch.cat((lightness, pred_ab), 1))
            truth = lab_to_rgb(torch.cat((lightness, true_ab), 1))
            gray = lab_to_rgb(torch.cat((lightness, torch.zeros_like(true_ab)), 1))
            unit_err = ab_to_unit(pred_ab, model.cfg.ab_range) - ab
            agreeing, eligible = hue_cells(pred_ab.float(), true_ab)
            batch |= {
                "hue_agreeing": float(agreeing.sum()),
                "hue_eligible": float(eligible.sum()),
                "ab_mse": float(unit_err.square().mean((1, 2, 3)).sum()),
                "psnr": float(psnr_rgb(pred, truth).sum()),
                "psnr_gray": float(psnr_rgb(gray, truth).sum()),
                "colourfulness": float(colourfulness(pred).sum()),
                "colourfulness_truth": float(colourfulness(truth).sum()),
                "auc": float(ab_auc(pred_ab, true_ab).sum()),
                "auc_gray": float(ab_auc(torch.zeros_like(true_ab), true_ab).sum()),
            }
            if grid_path is not None and len(grid) < GRID_IMAGES:
                grid.extend(zip(gray, pred, truth, strict=True))
        for k, v in batch.items():
            sums[k] = sums.get(k, 0.0) + v
        n += b
    model.train(was_training)
    if grid_path is not None and grid:
        save_grid(grid[:GRID_IMAGES], grid_path)
    out = {k: v / max(n, 1) for k, v in sums.items()} | {"images": n}
    if "hue_eligible" in sums:  # pooled over all colourful cells of the set
        agreeing, eligible = out.pop("hue_agreeing"), out.pop("hue_eligible")
        out["hue_agreement"] = agreeing / eligible if eligible else float("nan")
    return out


def save_grid(rows: list[tuple[torch.Tensor, ...]], path: Path) -> None:
    """A PNG with one row per image: gray | predicted | truth."""
    strips = [torch.cat(row, dim=2) for row in rows]  # each (3, H, 3W)
    img = torch.cat(strips, dim=1).clamp(0, 1).mul(255).round().byte().permute(1, 2, 0)
    Image.fromarray(img.cpu().numpy()).save(path)
