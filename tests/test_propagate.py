"""A keyframe's colour carried along the flow: it reaches the shot's ends on a panning shot."""

import cv2
import numpy as np

from filmcolor.propagate import carry_shot


def _panning_shot(n=16, h=48, w=64, step=2, seed=0):
    """A colour scene panned ``step`` px a frame: (grays uint8, a*b*) per frame."""
    rng = np.random.default_rng(seed)
    big_w = w + step * n
    lab = np.zeros((h, big_w, 3), np.float32)
    lab[..., 0] = cv2.GaussianBlur(rng.random((h, big_w)).astype(np.float32), (0, 0), 3) * 600 - 250
    lab[..., 0] = np.clip(lab[..., 0], 10, 90)
    blocks = rng.uniform(-40, 40, (h // 8 + 1, big_w // 8 + 1, 2)).astype(np.float32)
    lab[..., 1:] = cv2.resize(blocks, (big_w, h), interpolation=cv2.INTER_NEAREST)[:h, :big_w]
    grays, abs_ = [], []
    for t in range(n):
        window = lab[:, t * step : t * step + w]
        grays.append(np.round(window[..., 0] * 2.55).astype(np.uint8))
        abs_.append(np.ascontiguousarray(window[..., 1:]))
    return grays, abs_


def test_the_keyframes_colour_reaches_both_ends_of_a_panning_shot():
    grays, truth = _panning_shot()
    fill = np.zeros_like(truth[0])  # a gray prediction: only the carried colour is colour
    n = len(grays)
    carried = carry_shot(grays, {n // 2: truth[n // 2]})
    for t in (0, n - 1):
        ab = carried[t].over(fill)
        inner = np.s_[:, 18:48]  # what the keyframe also shows (the pan: 2 px a frame)
        error = np.abs(ab - truth[t])[inner].mean()
        assert error < 0.25 * np.abs(truth[t])[inner].mean(), (t, error)
        assert carried[t].confidence[inner].mean() > 0.8
    assert np.array_equal(carried[n // 2].over(fill), truth[n // 2])  # the keyframe itself


def test_two_keyframes_blend_by_distance_and_new_content_takes_the_fill():
    grays, truth = _panning_shot()
    n = len(grays)
    red, blue = np.full_like(truth[0], 30), np.full_like(truth[0], -30)
    carried = carry_shot(grays, {0: red, n - 1: blue})
    fill = np.zeros_like(truth[0])
    middle = carried[n // 2].over(fill)[:, 16:46].mean()  # (where both keyframes reach)
    quarter = carried[n // 4].over(fill)[:, 24:54].mean()
    assert abs(middle) < 6 and quarter > 8  # halfway between the two, nearer the nearer
    assert np.array_equal(carried[n - 1].over(fill), blue)
    # Forward from frame 0, the right edge is new each frame: there the fill takes over.
    only_first = carry_shot(grays, {0: red})
    assert only_first[n - 1].confidence[:, -3:].mean() < 0.2
    assert only_first[n - 1].confidence[:, :20].mean() > 0.8
