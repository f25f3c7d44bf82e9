"""Colour from a user's hints: strokes or dots of colour painted on a gray picture, spread over it.

The optimisation of Levin, Lischinski and Weiss, "Colorization using Optimization" (SIGGRAPH
2004): neighbouring pixels of similar lightness should have similar a*b*. Each pixel ``r``
should equal a weighted mean of its 3x3 neighbours ``s``, with

    w_rs ~ exp(-(L_r - L_s)^2 / (2 * var_r)),   sum_s w_rs = 1

(``var_r`` the variance of L* in the window around ``r``), and the hint pixels keep their
colour. Where no hint reaches (the far side of an edge), the network's prediction ``p`` holds,
through a weak pull toward it, ``lam = PRIOR_PULL / N`` per pixel of a picture of N pixels (so
the balance between hints and prediction does not change with the render size: a region
bounded by edges takes its hint's colour, a region behind an edge with no hint keeps the
prediction, and the pull is about a hint's own weight only over the whole picture). One
sparse linear system per picture, solved for a* and b* together (SciPy's SuperLU), at the
render size:

    (1 + lam) u_r - sum_s w_rs u_s = lam p_r     where r is not a hint
    u_r = h_r                                    where r is a hint

A pixel is a hint when its chroma differs from gray (at least :data:`HINT_CHROMA`); a picture
that is mostly hints (:data:`FULL_SHARE`) is a fully coloured one and is taken as it is; one
without any hint is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

HINT_CHROMA = 2.0  # a*b* chroma above which a pixel is painted, not gray (JPEG noise stays below)
FULL_SHARE = 0.5  # share of painted pixels from which a picture is a colour frame, taken as is
PRIOR_PULL = 0.25  # the prediction's pull over the picture (lam * N); benchmarks/keyframes.py
MIN_VARIANCE = 1e-2  # (L*)^2: a floor on var_r, so a flat window does not divide by ~0
VARIANCE_SCALE = 0.6  # exp(-d^2 / (0.6 var_r)): the constant of the authors' own code
MIN_COVER = 0.25  # share of a render-size pixel a hint must cover to count there


@dataclass
class Hints:
    """What a user painted on a picture: its a*b* and where it counts.

    Attributes:
        ab: (H, W, 2) float32 a*b* of the painted picture.
        mask: (H, W) float32, 1 where a pixel is a hint, 0 elsewhere (fractions once shrunk).
        full: the picture is a colour frame (taken as it is, no optimisation).
    """

    ab: np.ndarray
    mask: np.ndarray
    full: bool

    @property
    def empty(self) -> bool:
        return not self.full and not self.mask.any()

    def resized(self, size: tuple[int, int]) -> Hints:
        """The hints at ``size`` (h, w): painted a*b* averaged over the painted pixels only,
        and a pixel counts as a hint where at least :data:`MIN_COVER` of it was painted."""
        h, w = size
        if self.ab.shape[:2] == (h, w):
            return self
        cover = cv2.resize(self.mask, (w, h), interpolation=cv2.INTER_AREA)
        painted = cv2.resize(self.ab * self.mask[..., None], (w, h), interpolation=cv2.INTER_AREA)
        ab = painted / np.maximum(cover, 1e-6)[..., None]
        if self.full:
            ab = cv2.resize(self.ab, (w, h), interpolation=cv2.INTER_AREA)
        return Hints(ab.astype(np.float32), (cover >= MIN_COVER).astype(np.float32), self.full)


def lab_of(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8/uint16 gamma-encoded RGB -> (H, W, 3) float32 L*a*b*."""
    top = 65535.0 if rgb.dtype == np.uint16 else 255.0
    return cv2.cvtColor((rgb.astype(np.float32) / top).clip(0, 1), cv2.COLOR_RGB2Lab)


def find_hints(rgb: np.ndarray) -> Hints:
    """The hints in a painted picture, (H, W, 3) uint8 or uint16 RGB."""
    lab = lab_of(rgb)
    ab = np.ascontiguousarray(lab[..., 1:])
    mask = (np.hypot(ab[..., 0], ab[..., 1]) >= HINT_CHROMA).astype(np.float32)
    return Hints(ab, mask, full=bool(mask.mean() >= FULL_SHARE))


def affinities(lightness: np.ndarray) -> sp.csr_matrix:
    """W: the (N, N) row-normalised weights w_rs of each pixel's 3x3 neighbours (formula above).

    Args:
        lightness: L* (h, w) float32.
    """
    h, w = lightness.shape
    l = lightness.astype(np.float32)
    mean = cv2.boxFilter(l, -1, (3, 3), borderType=cv2.BORDER_REFLECT)
    var = cv2.boxFilter(l * l, -1, (3, 3), borderType=cv2.BORDER_REFLECT) - mean * mean
    var = np.maximum(var, MIN_VARIANCE)
    index = np.arange(h * w).reshape(h, w)
    rows, cols, weights = [], [], []
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == dx == 0:
                continue
            ys = slice(max(0, -dy), h - max(0, dy))  # pixels r whose neighbour r + d exists
            xs = slice(max(0, -dx), w - max(0, dx))
            yn = slice(max(0, dy), h - max(0, -dy))
            xn = slice(max(0, dx), w - max(0, -dx))
            d = l[ys, xs] - l[yn, xn]
            rows.append(index[ys, xs].ravel())
            cols.append(index[yn, xn].ravel())
            weights.append(np.exp(-(d * d) / (VARIANCE_SCALE * var[ys, xs])).ravel())
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(weights)
    total = np.bincount(r, weights=v, minlength=h * w)
    v = v / np.maximum(total[r], 1e-12)
    return sp.csr_matrix((v, (r, c)), shape=(h * w, h * w))


def spread_hints(
    lightness: np.ndarray,
    hints: Hints,
    prior: np.ndarray,
    prior_pull: float = PRIOR_PULL,
) -> np.ndarray:
    """a*b* for a whole picture from its hints, with the prediction where no hint reaches.

    Args:
        lightness: L* (h, w) float32 of the picture (the gray the user painted on).
        hints: :func:`find_hints`, at (h, w) (see :meth:`Hints.resized`).
        prior: the network's a*b*, (h, w, 2) float32.
        prior_pull: lam * N of the formula above.

    Returns:
        (h, w, 2) float32: the painted picture's own a*b* when it is a colour frame, the
        prediction when it holds no hint, else the solution of the system above.
    """
    if hints.full:
        return hints.ab
    if not hints.mask.any():
        return prior
    h, w = lightness.shape
    n = h * w
    lam = prior_pull / n
    fixed = hints.mask.ravel() > 0
    free = (~fixed).astype(np.float64)
    # Rows of free pixels: (1 + lam) I - W; rows of hints: I.
    a = sp.diags(np.where(fixed, 1.0, 1.0 + lam)) - sp.diags(free) @ affinities(lightness)
    rhs = np.where(fixed[:, None], hints.ab.reshape(n, 2), lam * prior.reshape(n, 2)).astype(
        np.float64
    )
    u = splu(a.tocsc()).solve(rhs)
    return u.reshape(h, w, 2).astype(np.float32)
