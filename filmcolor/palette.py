"""A reference's colours: the prediction's a*b* matched to a reference's, band by band of L*.

The paper's style transfer (:mod:`filmcolor.styles`) reads only the reference's lightness:
its global vector carries the scene's mood, not its colours, so a colour reference and its
own gray version colour a frame alike. This stage adds the reference's palette, after the
network: the colour transfer of Reinhard et al. (2001), done per band of lightness as Welsh
et al. (2002) match by luminance, so that the sky of a reference colours what is as bright as
a sky, and its shadows the shadows.

For each of :data:`BANDS` bands of L* (triangular, overlapping memberships ``w_k(L)`` that sum
to 1), the mean ``m`` and spread ``s`` of a* and of b* are measured on the reference (``r``)
and on the prediction (``p``; on a regular grid of at most about :data:`OWN_SAMPLES` of its
pixels, every frame of a film: a network's colours are smooth), and each pixel's a*b* becomes

    ab' = sum_k w_k(L) * ((ab - m_p,k) * clip(s_r,k / s_p,k, 0, MAX_GAIN) + m_r,k)
    out = ab + strength * (ab' - ab)

A band that holds few pixels borrows the statistics of the whole image (shrunk toward them by
:data:`PRIOR_PIXELS`), so an empty band neither divides by zero nor jumps. A gray reference
(no visible chroma, :func:`filmcolor.color.colour_facts`) has no palette: the prediction is
returned as it is, today's behaviour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from filmcolor.color import COLOUR_CHROMA, COLOUR_SHARE

BANDS = 8  # bands of L* over [0, 100]
PRIOR_PIXELS = 0.02  # share of the image a band's statistics are shrunk toward the global by
MAX_GAIN = 2.0  # the largest spread ratio: a nearly flat prediction is not blown up into noise
OWN_SAMPLES = 16384  # pixels of a grid the prediction's own statistics are read from (enough)
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


def bands(lightness: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L* (...) -> the lower of the two bands each pixel belongs to, ``j`` (...) int, and its
    weight in the upper one, ``f`` (...) float32: ``w_j = 1 - f``, ``w_j+1 = f``, every other
    membership 0 (the triangles overlap by halves, so a pixel is in two bands at most)."""
    width = np.float32(100.0 / BANDS)
    u = (np.clip(lightness, width / 2, 100 - width / 2) - width / 2) / width  # [0, BANDS - 1]
    j = np.minimum(u.astype(np.intp), BANDS - 2)
    return j, (u - j).astype(np.float32)


def _band_sums(j: np.ndarray, f: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
    """sum_i w_k(i) * values_i (values_i = 1 when None) for every band k, (BANDS,) float64:
    two weighted bincounts, each pixel's share of its lower and of its upper band."""
    lower, upper = 1.0 - f, f
    if values is not None:
        lower, upper = lower * values, upper * values
    return np.bincount(j, lower, BANDS) + np.bincount(j + 1, upper, BANDS)


def palette_of_lab(lightness: np.ndarray, ab: np.ndarray) -> Palette:
    """The palette of L* (H, W) and a*b* (H, W, 2) float32 (any size; thumbnails do)."""
    j, f = bands(np.ravel(lightness))
    f = f.astype(np.float64)
    a, b = (np.ravel(ab[..., c]).astype(np.float64) for c in (0, 1))  # contiguous: fast
    gray = bool((a * a + b * b >= COLOUR_CHROMA**2).mean() < COLOUR_SHARE)  # hypot: slow
    prior = PRIOR_PIXELS * len(a)
    count = _band_sums(j, f) + prior  # (K,)
    mean = np.stack([(_band_sums(j, f, x) + prior * x.mean()) / count for x in (a, b)], 1)
    sq = np.stack([(_band_sums(j, f, x * x) + prior * (x * x).mean()) / count for x in (a, b)], 1)
    spread = np.sqrt(np.maximum(sq - mean * mean, 0.0))  # (K, 2)
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
    grid = max(1, math.ceil(math.sqrt(lightness.size / OWN_SAMPLES)))  # every grid-th pixel
    own = palette_of_lab(lightness[::grid, ::grid], ab[::grid, ::grid])
    gain = np.maximum(reference.spread, MIN_SPREAD) / np.maximum(own.spread, MIN_SPREAD)
    gain = np.clip(gain, 0.0, MAX_GAIN)  # (K, 2)
    offset = reference.mean - own.mean * gain  # ab' = ab * gain + offset, per band
    j, f = bands(lightness)  # sum_k w_k x_k = x_j + f (x_j+1 - x_j), per pixel
    f = f[..., None]
    step_g, step_o = np.diff(gain, axis=0), np.diff(offset, axis=0)
    g = np.take(gain, j, 0) + f * np.take(step_g, j, 0)  # (h, w, 2); take: faster than [j]
    o = np.take(offset, j, 0) + f * np.take(step_o, j, 0)
    matched = ab * g + o
    return (ab + strength * (matched - ab)).astype(np.float32)
