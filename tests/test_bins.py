"""The 313 ab bins: centres, soft encoding, rebalancing, the loss and the annealed mean."""

import math

import pytest
import torch
import torch.nn.functional as F

from filmcolor.models import bins
from filmcolor.models.bins import (
    NUM_BINS,
    annealed_mean,
    bin_centres,
    bin_histogram,
    nearest_bin,
    pixel_weights,
    rebalanced_cross_entropy,
    rebalanced_cross_entropy_nearest,
    rebalancing_weights,
    smoothed_distribution,
    soft_encode,
    soft_encode_nearest,
)
from filmcolor.models.color import rgb_to_lab

CENTRES = bin_centres()


def test_313_centres_on_a_grid_of_10():
    assert CENTRES.shape == (NUM_BINS, 2) == (313, 2)
    assert len({tuple(c) for c in CENTRES.tolist()}) == 313
    assert (CENTRES % 10 == 0).all()
    a, b = CENTRES.unbind(1)
    assert (a.min(), a.max(), b.min(), b.max()) == (-90, 100, -110, 100)
    # the published order: a ascending, then b ascending in steps of 10 with no gaps
    assert CENTRES[0].tolist() == [-90, 50] and CENTRES[-1].tolist() == [100, 0]
    same_a = a[1:] == a[:-1]
    assert ((b[1:] - b[:-1])[same_a] == 10).all()
    assert ((a[1:] - a[:-1])[~same_a] == 10).all()


def test_every_srgb_colour_falls_in_a_bin():
    levels = torch.linspace(0, 1, 17)
    rgb = torch.cartesian_prod(levels, levels, levels).T.reshape(1, 3, 17, 17 * 17)
    ab = rgb_to_lab(rgb)[:, 1:]  # (1, 2, 17, 289)
    nearest = CENTRES[nearest_bin(ab)].permute(0, 3, 1, 2)  # (1, 2, 17, 289)
    assert (ab - nearest).abs().max() <= 5 + 1e-3  # inside the nearest bin's 10x10 cell


def test_soft_encoding_sums_to_one_and_weights_the_nearest_bin_most():
    ab = torch.randn(2, 2, 9, 11) * 40
    z = soft_encode(ab, CENTRES, k=10, sigma=5)
    assert z.shape == (2, 313, 9, 11)
    torch.testing.assert_close(z.sum(1), torch.ones(2, 9, 11))
    assert ((z > 0).sum(1) <= 10).all() and ((z > 0).sum(1) >= 2).all()
    assert torch.equal(z.argmax(1), nearest_bin(ab, CENTRES))


def test_the_sparse_loss_equals_the_dense_one_with_its_gradient():
    """The trainer's form (k nearest bins, logsumexp) against the textbook dense form."""
    torch.manual_seed(0)
    ab = torch.randn(2, 2, 9, 7) * 40
    pix = torch.rand(2, 9, 7)
    dense_logits = torch.randn(2, 313, 9, 7, requires_grad=True)
    sparse_logits = dense_logits.detach().clone().requires_grad_()
    dense = rebalanced_cross_entropy(dense_logits, soft_encode(ab), pix)
    sparse = rebalanced_cross_entropy_nearest(sparse_logits, *soft_encode_nearest(ab), pix)
    torch.testing.assert_close(sparse, dense)
    dense.backward()
    sparse.backward()
    torch.testing.assert_close(sparse_logits.grad, dense_logits.grad)


def test_soft_encoding_is_gaussian_in_distance():
    ab = torch.tensor([3.0, -4.0]).view(1, 2, 1, 1)  # 5 from (0, 0), sqrt(65) from (10, 0)
    z = soft_encode(ab, CENTRES, k=10, sigma=5)[0, :, 0, 0]
    i0 = CENTRES.tolist().index([0, 0])
    i1 = CENTRES.tolist().index([10, 0])
    torch.testing.assert_close(z[i1] / z[i0], torch.tensor(math.exp(-(65 - 25) / 50)))


def test_soft_encoding_does_not_depend_on_the_block_size(monkeypatch):
    """The nearest-centre table and nearest_bin work in blocks of _CHUNK pixels; the table is
    cached, so it is rebuilt here with small blocks (several blocks for both)."""
    ab = torch.randn(2, 2, 30, 40) * 50  # 2400 pixels
    whole, nearest = soft_encode(ab), nearest_bin(ab)
    monkeypatch.setattr(bins, "_CHUNK", 1000)
    bins._nearest_table.cache_clear()
    try:
        torch.testing.assert_close(soft_encode(ab), whole)
        assert bins._nearest_table.cache_info().misses == 1  # rebuilt with 1000-pixel blocks
        assert torch.equal(nearest_bin(ab), nearest)
    finally:
        bins._nearest_table.cache_clear()  # the next user builds it with the real block size
    assert torch.equal(nearest, whole.argmax(1))


def test_histogram_counts_every_pixel_in_its_bin():
    ab = torch.zeros(2, 2, 3, 4)
    ab[1, 0] = 41  # a* = 41 -> the bin (40, 0)
    counts = bin_histogram(ab)
    assert counts.shape == (313,) and counts.sum() == 24
    assert counts[CENTRES.tolist().index([0, 0])] == 12
    assert counts[CENTRES.tolist().index([40, 0])] == 12


def test_smoothing_spreads_a_bin_to_its_neighbours_by_a_gaussian():
    counts = torch.zeros(313)
    centre = CENTRES.tolist().index([0, 0])
    counts[centre] = 100
    p = smoothed_distribution(counts, sigma=5)
    torch.testing.assert_close(p.sum(), torch.tensor(1.0, dtype=torch.float64))
    neighbour = CENTRES.tolist().index([10, 0])
    torch.testing.assert_close(p[neighbour] / p[centre], torch.tensor(math.exp(-2.0)).double())
    torch.testing.assert_close(smoothed_distribution(counts, sigma=0)[centre].item(), 1.0)


@pytest.mark.parametrize("sigma", [0.0, 5.0])
@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
def test_rebalancing_weights_have_expectation_one_and_favour_rare_bins(sigma, lam):
    torch.manual_seed(0)
    counts = torch.zeros(313)
    counts[:200] = torch.rand(200) ** 4 * 1e6  # a skewed histogram, 113 bins never seen
    w = rebalancing_weights(counts, sigma=sigma, lam=lam)
    p = smoothed_distribution(counts, sigma=sigma)
    assert w.shape == (313,) and torch.isfinite(w).all()
    torch.testing.assert_close((p * w.double()).sum().item(), 1.0)
    w_by_p = w[p.argsort()]  # from the rarest to the most common bin
    if lam == 1:
        torch.testing.assert_close(w, torch.ones(313))  # no rebalancing at all
    else:
        assert (w_by_p[1:] <= w_by_p[:-1] * (1 + 1e-5)).all()
        assert w_by_p[0] > 1.5 * w_by_p[-1]


def test_pixel_weights_are_the_weight_of_the_nearest_bin():
    w = torch.arange(313.0)
    ab = torch.tensor([[-88.0, 52.0], [99.0, -1.0]]).T.reshape(1, 2, 1, 2)
    assert pixel_weights(ab, w).tolist() == [[[0.0, 312.0]]]


def test_rebalanced_cross_entropy_is_the_weighted_soft_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(2, 313, 3, 4)
    targets = soft_encode(torch.randn(2, 2, 3, 4) * 30)
    weights = torch.rand(2, 3, 4) * 3
    expected = (F.cross_entropy(logits, targets, reduction="none") * weights).mean()
    torch.testing.assert_close(rebalanced_cross_entropy(logits, targets, weights), expected)
    # a pixel with weight 0 does not count, whatever its prediction
    weights[0, 0, 0] = 0
    worse = logits.clone()
    worse[0, :, 0, 0] = -100 * targets[0, :, 0, 0]
    torch.testing.assert_close(
        rebalanced_cross_entropy(worse, targets, weights),
        rebalanced_cross_entropy(logits, targets, weights),
    )
    with pytest.raises(ValueError):
        rebalanced_cross_entropy(logits[:, :, :2], targets, weights)


def test_annealed_mean_is_the_mean_at_t1_and_tends_to_the_mode():
    torch.manual_seed(0)
    logits = torch.randn(2, 313, 3, 5) * 3
    mean = torch.einsum("bqhw,qc->bchw", logits.softmax(1), CENTRES)
    torch.testing.assert_close(annealed_mean(logits, CENTRES, temperature=1.0), mean)
    mode = CENTRES[logits.argmax(1)].permute(0, 3, 1, 2)  # (B, 2, H, W)
    torch.testing.assert_close(annealed_mean(logits, CENTRES, temperature=1e-4), mode)
    # in between: a more saturated colour than the mean, on average
    annealed = annealed_mean(logits, CENTRES, temperature=0.38)
    assert annealed.norm(dim=1).mean() > mean.norm(dim=1).mean()
    with pytest.raises(ValueError):
        annealed_mean(logits, CENTRES, temperature=0)


@pytest.mark.parametrize("shape", [(1, 313, 5, 7), (2, 313, 64, 70)])  # one block, several
def test_annealed_mean_is_the_same_for_channels_last_logits(shape):
    """Inference feeds bins-last (channels_last) logits, decoded block by block on CPU."""
    logits = torch.randn(shape) * 4
    last = logits.contiguous(memory_format=torch.channels_last)
    for t in (0.38, 1.0):
        torch.testing.assert_close(
            annealed_mean(last, temperature=t), annealed_mean(logits, temperature=t),
            atol=1e-3, rtol=1e-4,
        )  # fmt: skip
