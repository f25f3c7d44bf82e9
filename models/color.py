"""Colour math in torch: sRGB <-> CIE Lab (D65), gray level -> L*, and the model's normalisation.

Everything here is batched over leading dimensions, works on any device and dtype-promotes to
float32, so the same functions serve training (on GPU batches) and inference (on frames).
Channel dimension is -3, as in (B, C, H, W) or (C, H, W).
"""

from __future__ import annotations

import torch

# D65 reference white, and the sRGB primaries (IEC 61966-2-1), as scikit-image uses them.
_WHITE_D65 = (0.95047, 1.0, 1.08883)
_RGB_TO_XYZ = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_EPS = 216 / 24389  # (6/29)^3
_KAPPA = 24389 / 27


def srgb_to_linear(c: torch.Tensor) -> torch.Tensor:
    """Decode sRGB gamma; values in [0, 1]."""
    return torch.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)


def linear_to_srgb(c: torch.Tensor) -> torch.Tensor:
    """Encode sRGB gamma; values in [0, 1] (negative input clamps to 0)."""
    c = c.clamp_min(0)
    return torch.where(c > 0.0031308, 1.055 * c.pow(1 / 2.4) - 0.055, 12.92 * c)


def _f(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t > _EPS, t.clamp_min(_EPS).pow(1 / 3), (_KAPPA * t + 16) / 116)


def _f_inv(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t > 6 / 29, t**3, (116 * t - 16) / _KAPPA)


def _matrix(rows, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(rows, dtype=like.dtype, device=like.device)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1], shape (..., 3, H, W) -> CIE Lab (L* in [0, 100])."""
    rgb = rgb.float()
    lin = srgb_to_linear(rgb)
    xyz = torch.einsum("ij,...jhw->...ihw", _matrix(_RGB_TO_XYZ, lin), lin)
    white = _matrix(_WHITE_D65, xyz).view(3, 1, 1)
    fx, fy, fz = _f(xyz / white).unbind(-3)
    return torch.stack((116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)), dim=-3)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE Lab, shape (..., 3, H, W) -> sRGB in [0, 1] (out-of-gamut colours are clipped)."""
    lab = lab.float()
    L, a, b = lab.unbind(-3)
    fy = (L + 16) / 116
    f = torch.stack((fy + a / 500, fy, fy - b / 200), dim=-3)
    white = _matrix(_WHITE_D65, f).view(3, 1, 1)
    xyz = _f_inv(f) * white
    lin = torch.einsum("ij,...jhw->...ihw", torch.linalg.inv(_matrix(_RGB_TO_XYZ, xyz)), xyz)
    return linear_to_srgb(lin).clamp(0, 1)


def gray_to_lightness(bits: int = 8, device: torch.device | str | None = None) -> torch.Tensor:
    """Lookup table from a gray level (R = G = B) of the given bit depth to L*.

    Args:
        bits: bit depth of the gray values (8, 10, 16, ...).
        device: where to build the table.

    Returns:
        A float32 tensor of 2**bits entries; ``table[v]`` is the L* of sRGB gray ``v``.
    """
    levels = torch.arange(2**bits, dtype=torch.float64, device=device) / (2**bits - 1)
    y = srgb_to_linear(levels)
    return (116 * _f(y) - 16).float()


def lightness_to_gray(lightness: torch.Tensor) -> torch.Tensor:
    """L* -> sRGB gray value in [0, 1]; the inverse of :func:`gray_to_lightness`."""
    return linear_to_srgb(_f_inv((lightness.float() + 16) / 116)).clamp(0, 1)


def rgb_to_gray8(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB (3, H, W) in [0, 1] -> the 8-bit gray image (H, W) of its L*: a colour photograph
    as the black-and-white input the colorizer sees (benchmarks, example pictures)."""
    return (lightness_to_gray(rgb_to_lab(rgb)[0]) * 255).round().byte()


# The network's own value ranges.


def normalize_l(lightness: torch.Tensor) -> torch.Tensor:
    """L* in [0, 100] -> network input in [0, 1]."""
    return lightness / 100


def ab_to_unit(ab: torch.Tensor, ab_range: float) -> torch.Tensor:
    """a*b* -> the sigmoid space of the regression head, [0, 1] for |a*|, |b*| <= ab_range."""
    return (ab / ab_range + 1) / 2


def unit_to_ab(s: torch.Tensor, ab_range: float) -> torch.Tensor:
    """Sigmoid output in [0, 1] -> a*b* = ab_range * (2s - 1)."""
    return ab_range * (2 * s - 1)
