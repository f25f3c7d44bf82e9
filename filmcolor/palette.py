"""A reference's colours: the prediction's a*b* matched to a reference's, band by band of L*.

The paper's style transfer (:mod:`filmcolor.styles`) reads only the reference's lightness:
its global vector carries the scene's mood, not its colours, so a colour reference and its
own gray version colour a frame alike. This stage adds the reference's palette, after the
network: the colour transfer of Reinhard et al. (2001), done per band of lightness as Welsh
et al. (2002) match by luminance, so that the sky of a reference colours what is as bright as
a sky, and its shadows the shadows.

For each of :data:`BANDS` bands of L* (triangular, overlapping memberships ``w_k(L)`` that sum
to 1), the mean ``m`` and spread ``s`` of a* and of b* are measured on the reference (``r``)
and on the prediction (``p``), and each pixel's a*b* becomes

    ab' = sum_k w_k(L) * ((ab - m_p,k) * clip(s_r,k / s_p,k, 0, MAX_GAIN) + m_r,k)
    out = ab + strength * (ab' - ab)

A band that holds few pixels borrows the statistics of the whole image (shrunk toward them by
:data:`PRIOR_PIXELS`), so an empty band neither divides by zero nor jumps. A gray reference
(no visible chroma, :func:`filmcolor.color.colour_facts`) has no palette: the prediction is
returned as it is, today's behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from filmcolor.color import COLOUR_CHROMA, COLOUR_SHARE

BANDS = 8  # bands of L* over [0, 100]
PRIOR_PIXELS = 0.02  # share of the image a band's statistics are shrunk toward the global by
MAX_GAIN = 2.0  # the largest spread ratio: a nearly flat prediction is not blown up into noise
MIN_SPREAD = 1.0  # a*b* units: spreads below this count as this (no division by ~0)


@dataclass(frozen=True)
class Palette:
    """A picture's a*b* statistics per band of L*.

    ``mean`` and ``spread`` are (BANDS, 2) float32 (a*, b*); ``gray`` marks a picture with no
    visible chroma, whose palette changes nothing.
    """

    mean: np.ndarray
    spread: np.ndarray
    gray: bool = False


def memberships(lightness: np.ndarray) -> np.ndarray:
    """L* (...) -> (..., BANDS) triangular band weights, summing to 1 for every pixel."""
    centres = (np.arange(BANDS, dtype=np.float32) + 0.5) * (100.0 / BANDS)
    width = 100.0 / BANDS
    l = np.clip(lightness, centres[0], centres[-1])[..., None]
    return np.maximum(0.0, 1.0 - np.abs(l - centres) / width).astype(np.float32)


def palette_of_lab(lightness: np.ndarray, ab: np.ndarray) -> Palette:
    """The palette of L* (H, W) and a*b* (H, W, 2) float32 (any size; thumbnails do)."""
    w = memberships(lightness).reshape(-1, BANDS)  # (N, K)
    x = ab.reshape(-1, 2).astype(np.float64)  # (N, 2)
    chroma = np.hypot(x[:, 0], x[:, 1])
    gray = bool((chroma >= COLOUR_CHROMA).mean() < COLOUR_SHARE)
    n = len(x)
    g_mean, g_sq = x.mean(0), (x * x).mean(0)
    prior = PRIOR_PIXELS * n
    count = w.sum(0)[:, None]  # (K, 1)
    mean = (w.T @ x + prior * g_mean) / (count + prior)  # (K, 2)
    sq = (w.T @ (x * x) + prior * g_sq) / (count + prior)
    spread = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    return Palette(mean.astype(np.float32), spread.astype(np.float32), gray)


def palette_of_rgb(rgb: np.ndarray, side: int = 256) -> Palette:
    """The palette of an RGB picture, (H, W, 3) uint8 or uint16 gamma-encoded, read at most
    ``side`` px on its long side (statistics do not need more)."""
    top = 65535.0 if rgb.dtype == np.uint16 else 255.0
    h, w = rgb.shape[:2]
    s = min(1.0, side / max(h, w))
    if s < 1.0:
        rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), cv2.INTER_AREA)
    lab = cv2.cvtColor((rgb.astype(np.float32) / top).clip(0, 1), cv2.COLOR_RGB2Lab)
    return palette_of_lab(lab[..., 0], lab[..., 1:])


def match_palette(
    lightness: np.ndarray, ab: np.ndarray, reference: Palette, strength: float
) -> np.ndarray:
    """The prediction's a*b* moved toward a reference's palette (the formula above).

    Args:
        lightness: L* of the frame, (h, w) float32 in [0, 100], at the size of ``ab``.
        ab: the prediction, (h, w, 2) float32.
        reference: :func:`palette_of_rgb` of the reference.
        strength: 0 = the prediction, 1 = the reference's statistics in full.

    Returns:
        (h, w, 2) float32; ``ab`` itself when the reference is gray or ``strength`` is 0.
    """
    if reference.gray or strength <= 0:
        return ab
    own = palette_of_lab(lightness, ab)
    gain = np.maximum(reference.spread, MIN_SPREAD) / np.maximum(own.spread, MIN_SPREAD)
    gain = np.clip(gain, 0.0, MAX_GAIN)  # (K, 2)
    offset = reference.mean - own.mean * gain  # ab' = ab * gain + offset, per band
    w = memberships(lightness)  # (h, w, K)
    g = w @ gain  # (h, w, 2)
    o = w @ offset
    matched = ab * g + o
    return (ab + strength * (matched - ab)).astype(np.float32)
