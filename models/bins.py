"""Colour as a distribution over 313 ab bins (Zhang, Isola, Efros, ECCV 2016); imports only torch.

The "bins" colour head predicts logits over the in-gamut cells of a 10x10 grid on the ab plane.
Training needs the ground truth as a soft distribution over those bins (:func:`soft_encode`),
per-pixel weights that boost rare colours (:func:`bin_histogram` over the training set, then
:func:`rebalancing_weights` and :func:`pixel_weights`), and :func:`rebalanced_cross_entropy`.
Inference decodes logits with :func:`annealed_mean`.

Every function takes ``centres`` as returned by :func:`bin_centres`; None builds them on the
input's device. Colour tensors are (B, 2, H, W) a*b*, bin tensors (B, 313, H, W).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

GRID = 10  # spacing of the bin centres on the ab plane
NUM_BINS = 313
ANNEALED_T = 0.38  # softmax temperature of the annealed mean (Zhang et al.)
_CHUNK = 16384  # pixels per block when measuring distances to all centres: ~40 MB of float32

# For each a (steps of 10), the lowest and highest b of its in-gamut bins (Zhang et al.'s 313 bins,
# in the order of their published list: a ascending, then b ascending).
_B_RANGE = {
    -90: (50, 90),
    -80: (20, 90),
    -70: (0, 90),
    -60: (-20, 90),
    -50: (-30, 100),
    -40: (-40, 100),
    -30: (-50, 100),
    -20: (-50, 100),
    -10: (-60, 100),
    0: (-70, 100),
    10: (-80, 90),
    20: (-80, 90),
    30: (-90, 90),
    40: (-100, 90),
    50: (-100, 80),
    60: (-110, 80),
    70: (-110, 80),
    80: (-110, 70),
    90: (-110, 70),
    100: (-90, 0),
}


def bin_centres(
    device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The 313 in-gamut bin centres as (a*, b*) rows, shape (313, 2)."""
    rows = [(a, b) for a, (lo, hi) in _B_RANGE.items() for b in range(lo, hi + GRID, GRID)]
    return torch.tensor(rows, dtype=dtype, device=device)


def _centres_for(centres: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    if centres is None:
        return bin_centres(like.device)
    return centres.to(like.device, torch.float32)


def _pixels(ab: torch.Tensor) -> torch.Tensor:
    """(B, 2, H, W) -> (B, H*W, 2) float32, one row per pixel."""
    if ab.ndim != 4 or ab.shape[1] != 2:
        raise ValueError(f"expected a*b* of shape (B, 2, H, W), got {tuple(ab.shape)}")
    return ab.float().flatten(2).transpose(1, 2)


def _square_distances(pts: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """(n, 2) points, (Q, 2) centres -> (n, Q) squared distances, computed exactly."""
    return (pts[:, None, :] - centres[None, :, :]).square().sum(-1)


_TABLE_LIMIT = 128  # the lookup table of nearest centres covers a*, b* in [-128, 128]


@functools.lru_cache(maxsize=4)
def _nearest_table(k: int, device: torch.device) -> torch.Tensor:
    """For every integer (a*, b*) in [-128, 128]^2, the indices of its k nearest centres.

    Built once (a second or so); then finding a pixel's neighbours is one lookup instead of a
    sort over all 313 centres.

    Returns:
        (257, 257, k) int64.
    """
    centres = bin_centres(device)
    axis = torch.arange(-_TABLE_LIMIT, _TABLE_LIMIT + 1, dtype=torch.float32, device=device)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).view(-1, 2)  # (257^2, 2)
    idx = [
        _square_distances(p, centres).topk(k, dim=1, largest=False).indices
        for p in grid.split(_CHUNK)
    ]
    return torch.cat(idx).view(axis.numel(), axis.numel(), k)


def soft_encode(
    ab: torch.Tensor,
    centres: torch.Tensor | None = None,
    k: int = 10,
    sigma: float = 5.0,
) -> torch.Tensor:
    """Ground-truth a*b* as a soft distribution over bins: Gaussian weights on the k nearest.

    The dense form of :func:`soft_encode_nearest` (which the training loss uses).

    Args:
        ab: a*b*, (B, 2, H, W); usually the target downsampled to the head's resolution.
        centres: bin centres, (Q, 2); must be :func:`bin_centres` (the table is built on them).
        k: number of nearest centres that receive weight (10 in the authors' code).
        sigma: standard deviation of the Gaussian, in a*b* units.

    Returns:
        (B, Q, H, W) float32; each pixel's weights sum to 1 and are largest on its nearest bin.
    """
    centres = _centres_for(centres, ab)
    idx, weights = soft_encode_nearest(ab, centres, k, sigma)
    out = weights.new_zeros(ab.shape[0], centres.shape[0], *ab.shape[-2:])
    return out.scatter_(1, idx, weights)


def soft_encode_nearest(
    ab: torch.Tensor,
    centres: torch.Tensor | None = None,
    k: int = 10,
    sigma: float = 5.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k bins that :func:`soft_encode` gives weight to, and their weights.

    The k nearest centres of a pixel are looked up at its a*b* rounded to integers (exact up
    to ties within half a unit); their weights use the exact distances.

    Returns:
        bin indices (B, k, H, W) int64, nearest first, and their Gaussian weights
        (B, k, H, W) float32, summing to 1 over k.
    """
    centres = _centres_for(centres, ab)
    pts = _pixels(ab)  # (B, HW, 2)
    grid = pts.round().clamp(-_TABLE_LIMIT, _TABLE_LIMIT).long() + _TABLE_LIMIT  # (B, HW, 2)
    idx = _nearest_table(k, pts.device)[grid[..., 0], grid[..., 1]]  # (B, HW, k)
    d2 = (pts[:, :, None, :] - centres[idx]).square().sum(-1)  # (B, HW, k)
    weights = torch.softmax(-d2 / (2 * sigma**2), dim=-1)  # normalised Gaussian
    shape = (ab.shape[0], k, *ab.shape[-2:])
    return idx.transpose(1, 2).reshape(shape), weights.transpose(1, 2).reshape(shape)


def nearest_bin(ab: torch.Tensor, centres: torch.Tensor | None = None) -> torch.Tensor:
    """Index of each pixel's nearest bin centre.

    Args:
        ab: a*b*, (B, 2, H, W).
        centres: bin centres, (Q, 2).

    Returns:
        (B, H, W) int64 indices into ``centres``.
    """
    centres = _centres_for(centres, ab)
    pts = _pixels(ab).flatten(0, 1)  # (B*HW, 2)
    idx = [_square_distances(p, centres).argmin(1) for p in pts.split(_CHUNK)]
    return torch.cat(idx).view(ab.shape[0], *ab.shape[-2:])


def bin_histogram(ab: torch.Tensor, centres: torch.Tensor | None = None) -> torch.Tensor:
    """Pixel counts per nearest bin; add these up over the training set.

    Args:
        ab: a*b*, (B, 2, H, W).
        centres: bin centres, (Q, 2).

    Returns:
        (Q,) int64 counts, on ``ab``'s device.
    """
    centres = _centres_for(centres, ab)
    return torch.bincount(nearest_bin(ab, centres).flatten(), minlength=centres.shape[0])


def smoothed_distribution(
    histogram_counts: torch.Tensor, sigma: float = 5.0, centres: torch.Tensor | None = None
) -> torch.Tensor:
    """Empirical bin distribution smoothed by a Gaussian over the ab plane.

    Equivalent to filtering the histogram on the full 10x10 grid with a Gaussian of ``sigma``
    a*b* units, dropping what spills out of gamut, and renormalising to sum 1.

    Args:
        histogram_counts: (Q,) pixel counts per bin, e.g. the sum of :func:`bin_histogram`.
        sigma: standard deviation of the smoothing, in a*b* units; 0 = no smoothing.
        centres: bin centres, (Q, 2).

    Returns:
        (Q,) float64 probabilities p.
    """
    counts = histogram_counts.double()
    if counts.ndim != 1 or counts.sum() <= 0 or (counts < 0).any():
        raise ValueError("histogram_counts must be a 1-d tensor of counts with a positive sum")
    p = counts / counts.sum()
    if sigma > 0:
        c = _centres_for(centres, counts).double()  # (Q, 2)
        kernel = torch.exp(-torch.cdist(c, c).square() / (2 * sigma**2))  # (Q, Q)
        p = kernel @ p
        p = p / p.sum()
    return p


def rebalancing_weights(
    histogram_counts: torch.Tensor,
    sigma: float = 5.0,
    lam: float = 0.5,
    centres: torch.Tensor | None = None,
) -> torch.Tensor:
    """Class-rebalancing weight of every bin: rare colours count more in the loss.

    ``w ∝ 1 / ((1 - lam) p + lam / Q)`` with p the smoothed training distribution
    (:func:`smoothed_distribution`) and Q the number of bins with p > 0, normalised so that
    ``sum_q p_q w_q = 1`` (the expected weight of a training pixel is 1).

    Args:
        histogram_counts: (Q,) pixel counts per bin over the training set.
        sigma: smoothing of the distribution, in a*b* units.
        lam: weight of the uniform distribution in the mix (0 = full rebalancing by 1/p,
            1 = none).
        centres: bin centres, (Q, 2).

    Returns:
        (Q,) float32 weights.
    """
    p = smoothed_distribution(histogram_counts, sigma, centres)
    seen = p > 0
    w = 1 / ((1 - lam) * p + lam / int(seen.sum()))
    if lam == 0:  # 1/p: bins never seen get the weight of the rarest seen bin, not infinity
        w = torch.where(seen, w, w[seen].max())
    w = w / (p * w).sum()
    return w.float()


def pixel_weights(
    ab: torch.Tensor, weights: torch.Tensor, centres: torch.Tensor | None = None
) -> torch.Tensor:
    """Each pixel's rebalancing weight: the weight of its nearest bin.

    Args:
        ab: a*b*, (B, 2, H, W), at the resolution of the loss.
        weights: (Q,) from :func:`rebalancing_weights`.
        centres: bin centres, (Q, 2).

    Returns:
        (B, H, W) float32.
    """
    return weights.to(ab.device, torch.float32)[nearest_bin(ab, centres)]


def rebalanced_cross_entropy(
    logits: torch.Tensor, soft_targets: torch.Tensor, pixel_weights: torch.Tensor
) -> torch.Tensor:
    """Class-rebalanced cross-entropy against soft targets, averaged over pixels.

    ``mean over b, h, w of  v(b, h, w) * -sum_q z(b, q, h, w) log softmax(logits)(b, q, h, w)``.

    Args:
        logits: (B, Q, H, W) from the "bins" head.
        soft_targets: (B, Q, H, W) from :func:`soft_encode`.
        pixel_weights: (B, H, W) from :func:`pixel_weights`.

    Returns:
        A scalar, float32.
    """
    if logits.shape != soft_targets.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} and targets {tuple(soft_targets.shape)} differ"
        )
    log_p = F.log_softmax(logits.float(), dim=1)  # (B, Q, H, W)
    ce = -(soft_targets * log_p).sum(1)  # (B, H, W)
    return (ce * pixel_weights).mean()


def rebalanced_cross_entropy_nearest(
    logits: torch.Tensor, idx: torch.Tensor, weights: torch.Tensor, pixel_weights: torch.Tensor
) -> torch.Tensor:
    """:func:`rebalanced_cross_entropy` with the targets of :func:`soft_encode_nearest`.

    The same value, as ``logsumexp(logits) - sum_k z_k logits[idx_k]`` (the weights sum to 1),
    without a dense (B, Q, H, W) target: a third less time per training step on CPU.

    Args:
        logits: (B, Q, H, W) from the "bins" head.
        idx, weights: (B, k, H, W) from :func:`soft_encode_nearest`.
        pixel_weights: (B, H, W).
    """
    logits = logits.float()
    ce = torch.logsumexp(logits, 1) - (weights * logits.gather(1, idx)).sum(1)  # (B, H, W)
    return (ce * pixel_weights).mean()


def annealed_mean(
    logits: torch.Tensor,
    centres: torch.Tensor | None = None,
    temperature: float = ANNEALED_T,
) -> torch.Tensor:
    """Decode bin logits to a*b*: the expectation of the centres under softmax(logits / T).

    T = 1 gives the mean of the predicted distribution, T -> 0 its mode; 0.38 keeps the
    vividness of the mode with the spatial smoothness of the mean.

    Args:
        logits: (B, Q, H, W).
        centres: bin centres, (Q, 2).
        temperature: T > 0.

    Returns:
        a*b*, (B, 2, H, W) float32.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    centres = _centres_for(centres, logits)
    if logits.is_contiguous(memory_format=torch.channels_last) and logits.shape[1] > 1:
        # Bins last in memory (the network's output at inference): the softmax runs along
        # contiguous memory and the expectation is one matrix product.
        eager = not torch.compiler.is_compiling()  # a compiler fuses this better itself
        if logits.device.type == "cpu" and not logits.requires_grad and eager:
            return _annealed_mean_blocks(logits, centres, temperature)
        probs = torch.softmax(logits.movedim(1, -1).float() / temperature, dim=-1)  # (B,H,W,Q)
        return (probs @ centres).movedim(-1, 1)
    probs = torch.softmax(logits.float() / temperature, dim=1)  # (B, Q, H, W)
    return torch.einsum("bqhw,qc->bchw", probs, centres)


_BLOCK = 2048  # pixels per block on CPU: 2048 x 313 float32 (2.5 MB) stays in cache


def _annealed_mean_blocks(
    logits: torch.Tensor, centres: torch.Tensor, temperature: float
) -> torch.Tensor:
    """:func:`annealed_mean` of channels-last logits on CPU, a block of pixels at a time.

    Each block is converted, scaled, soft-maxed and averaged while it sits in cache, instead of
    five passes over a tensor of B*H*W*313 floats in memory.
    """
    b, q, h, w = logits.shape
    flat = logits.permute(0, 2, 3, 1).reshape(-1, q)  # a view: the bins are contiguous
    n = flat.shape[0]
    out = torch.empty(n, centres.shape[1])
    block = torch.empty(min(_BLOCK, n), q)
    for start in range(0, n, _BLOCK):
        z = block[: min(_BLOCK, n - start)]
        z.copy_(flat[start : start + len(z)]).div_(temperature)
        torch.mm(torch.softmax(z, dim=-1), centres, out=out[start : start + len(z)])
    return out.view(b, h, w, -1).permute(0, 3, 1, 2)  # (B, 2, H, W)
