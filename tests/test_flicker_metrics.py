"""The measures of ``benchmarks/flicker.py`` on small synthetic films with known motion."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from aging import Aging, age_clip, shift, weave_offsets  # noqa: E402
from flicker import (  # noqa: E402
    Motion,
    ab_jump,
    pair_warp_error,
    shot_pairs,
    visible_mask,
    warp_error,
)

H, W = 96, 128


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth random gray texture (h, w) uint8, with enough detail for optical flow."""
    noise = np.random.default_rng(seed).random((h, w)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2.0)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return (smooth * 255).round().astype(np.uint8)


def panning(n: int, step: int) -> np.ndarray:
    """(n, H, W) frames of a texture moving ``step`` px to the right per frame."""
    big = texture(H, W + n * step)
    return np.stack([big[:, n * step - i * step : n * step - i * step + W] for i in range(n)])


def ab_from(gray: np.ndarray, offsets: list[float]) -> np.ndarray:
    """A colour pattern tied to the picture (so it moves with it), plus a per-frame offset."""
    pattern = gray.astype(np.float32) / 255 * 40 - 20  # (N, H, W)
    ab = np.stack([pattern, -pattern], axis=-1)  # (N, H, W, 2)
    return ab + np.asarray(offsets, np.float32)[:, None, None, None]


def test_static_scene_with_constant_colour_is_perfectly_steady():
    gray = np.repeat(texture(H, W)[None], 4, axis=0)
    ab = np.zeros((4, H, W, 2), np.float32) + np.float32([12, -30])
    motion = Motion.of(gray, [])
    assert motion.visible_share() > 0.99
    assert warp_error(ab, motion) == pytest.approx(0, abs=1e-6)
    assert ab_jump(ab, motion.pairs) == pytest.approx(0, abs=1e-6)


def test_colour_that_follows_the_motion_has_almost_no_warp_error():
    gray = panning(4, step=3)
    motion = Motion.of(gray, [])
    following = ab_from(gray, [0, 0, 0, 0])
    left_behind = ab_from(np.repeat(gray[:1], 4, axis=0), [0, 0, 0, 0])  # scene moves, colour not
    alternating = ab_from(gray, [0, 8, 0, 8])
    assert motion.visible_share() > 0.8  # the column entering the frame is not seen before
    assert warp_error(following, motion) < 1.0
    assert warp_error(left_behind, motion) > 20 * max(warp_error(following, motion), 0.1)
    assert warp_error(alternating, motion) == pytest.approx(2 * 8**2, rel=0.1)


def test_occluded_and_outgoing_pixels_do_not_count():
    forward = np.zeros((H, W, 2), np.float32)
    backward = np.zeros((H, W, 2), np.float32)
    forward[20:40, 30:60, 0] = 6  # says "moved right", the way back says "stayed": occluded
    forward[:, -3:, 0] = 5  # flows out of the frame
    mask = visible_mask(forward, backward)
    assert not mask[20:40, 30:60].any()
    assert not mask[:, -3:].any()
    assert mask[60:, :100].all()

    ab = np.zeros((H, W, 2), np.float32)
    ab_next = ab.copy()
    ab_next[20:40, 36:60] = 50  # wildly different colour, seen only through untrusted flow
    ab_next[:, -1] = 50  # ... and where the outgoing pixels would look
    assert pair_warp_error(ab, ab_next, forward, mask) == pytest.approx(0, abs=1e-6)
    assert pair_warp_error(ab, ab_next, forward, np.ones((H, W), bool)) > 100
    assert pair_warp_error(ab, ab_next, forward, np.zeros((H, W), bool)) is None


def test_jump_is_the_step_of_the_mean_colour_within_shots():
    assert shot_pairs(6, [3]) == [0, 1, 3, 4]
    ab = np.zeros((6, 8, 8, 2), np.float32)
    ab[:, :, :, 0] = np.float32([0, 3, 6, 50, 53, 56])[:, None, None]  # a big change at the cut
    ab[:, :4, :, 1] = 8  # half the picture: mean b* = 4, steady
    assert ab_jump(ab, shot_pairs(6, [3])) == pytest.approx(3)
    assert ab_jump(ab, shot_pairs(6, [])) == pytest.approx((4 * 3 + 44) / 5)


def test_aging_is_seeded_and_changes_the_picture():
    gray = panning(6, step=2)
    one, again, other = (age_clip(gray, [3], seed) for seed in (1, 1, 2))
    assert one.shape == gray.shape and one.dtype == np.uint8
    np.testing.assert_array_equal(one, again)
    assert np.abs(one.astype(int) - other).mean() > 1
    assert np.abs(one.astype(int) - gray).mean() > 3


def test_weave_alone_is_the_shift_the_benchmark_gives_the_truth():
    gray = panning(4, step=2)
    only_weave = Aging(flicker=0, drift=0, scratches=0, dust_per_frame=0, grain=0)
    aged = age_clip(gray, [2], seed=5, aging=only_weave)
    offsets = weave_offsets(4, seed=5, sigma=only_weave.weave_px)
    assert np.abs(offsets).max() > 0.5
    expected = np.stack(
        [shift(f.astype(np.float32), d) for f, d in zip(gray, offsets, strict=True)]
    )
    np.testing.assert_allclose(aged, np.rint(expected), atol=1)
