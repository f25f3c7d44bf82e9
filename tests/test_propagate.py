"""A keyframe's colour carried along the flow: it reaches the shot's ends on a panning shot."""

import cv2
import numpy as np

from filmcolor import propagate
from filmcolor.propagate import (
    LEAK,
    SPREAD_SIGMA,
    Carried,
    ChainMotion,
    PreparedShot,
    ShotCarry,
    backward,
    carry_shot,
)


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


class _NoFlowAgrees(ChainMotion):
    """A chain whose forward and backward flows never agree (the check fails everywhere)."""

    def flows(self, gray, prev_gray):
        h, w = gray.shape
        return np.zeros((h, w, 2), np.float32), np.full((h, w, 2), 3.0, np.float32)


def test_a_failed_flow_check_counts_only_where_the_colour_moved_is_not_flat():
    gray = np.full((32, 32), 128, np.uint8)  # the luma agrees everywhere
    rng = np.random.default_rng(0)
    ab = np.zeros((32, 32, 2), np.float32)
    ab[:, :16] = 25.0  # flat colour on the left
    ab[:, 16:] = rng.uniform(-40, 40, (32, 16, 2))  # busy colour on the right
    _, m = _NoFlowAgrees(1.0).moved(gray, gray, ab)
    assert m[:, :10].min() == 1.0  # a wrong flow moves the same colour: kept
    assert m[:, 20:].max() == 0.0  # here it would move another colour: dropped


def test_where_confidence_falls_the_fill_meets_the_carried_colour_without_a_seam():
    h, w = 16, 80
    c = np.zeros((h, w), np.float32)
    c[:, :40] = 1
    carried = Carried(np.full((h, w, 2), 20.0, np.float32), c)
    fill = np.zeros((h, w, 2), np.float32)
    fill[..., 0] = np.linspace(-3, 3, w)  # the fill's own detail
    ab = carried.over(fill)
    assert np.array_equal(ab[:, :40], carried.ab[:, :40])  # exactly the carried colour at C = 1
    assert abs(ab[8, 40, 1] - 20) < 2  # no step at the edge of the carried colour
    assert abs(ab[8, 41, 0] - ab[8, 39, 0]) < 2
    far = np.s_[:, 40 + int(8 * SPREAD_SIGMA) :]
    assert np.allclose(ab[far], fill[far], atol=0.5)  # far away, the fill as it is


def test_where_no_keyframe_reaches_the_output_follows_the_frame_before():
    h, w, n = 24, 32, 8
    gray = np.tile(np.linspace(40, 200, w, dtype=np.float32), (h, 1)).astype(np.uint8)
    zero = np.zeros((h, w), np.float16)
    blind = {t: Carried(np.zeros((h, w, 2), np.float16), zero) for t in range(n)}
    shot = PreparedShot(ShotCarry({}, blind), None)
    fills = [np.full((h, w, 2), 10.0 if t % 2 else -10.0, np.float32) for t in range(n)]
    out = [shot.next(gray, f) for f in fills]
    steps = [np.abs(b - a).mean() for a, b in zip(out, out[1:], strict=False)]
    assert max(steps[2:]) < 0.5 * 20  # the fill flickers by 20; the output by far less
    # Where the keyframe's colour is sure, it is given out exactly, whatever came before.
    sure = Carried(np.full((h, w, 2), 30, np.float16), np.ones((h, w), np.float16))
    shot = PreparedShot(ShotCarry({}, {0: sure, 1: sure}), None)
    assert all(np.array_equal(shot.next(gray, f), np.full((h, w, 2), 30.0)) for f in fills[:2])


def test_a_failed_check_where_the_luma_agrees_fades_the_carried_colour_instead_of_dropping_it():
    rng = np.random.default_rng(1)
    ab = rng.uniform(-40, 40, (32, 32, 2)).astype(np.float32)  # busy: no flat forgiveness
    gray = np.full((32, 32), 128, np.uint8)
    motion = _NoFlowAgrees(1.0)
    c = np.ones((32, 32), np.float32)
    for _ in range(2):
        _, c = motion.chain_step(motion.step(gray, gray), ab, c)
    inner = c[4:-4, 4:-4]
    assert inner.min() > 0.2 and np.allclose(inner, LEAK**2)  # the luma agrees: kept, faded
    darker = np.full((32, 32), 60, np.uint8)  # 27 L* darker: something else is there
    _, c = motion.chain_step(motion.step(gray, darker), ab, np.ones((32, 32), np.float32))
    assert c.max() == 0.0


def test_the_backward_links_flows_serve_the_forward_step_unchanged():
    grays, truth = _panning_shot()
    n = len(grays)
    keys = {n - 1: truth[n - 1]}  # one keyframe at the end: every step has a backward link
    flows: dict = {}
    behind = backward(grays, keys, flows)
    assert sorted(flows) == list(range(1, n))
    fill = np.zeros_like(truth[0])
    kept = PreparedShot(ShotCarry(keys, behind), None, n, 0.8, flows)
    fresh = PreparedShot(ShotCarry(keys, behind), None, n, 0.8)
    for t in range(n):
        a, b = kept.next(grays[t], fill), fresh.next(grays[t], fill)
        d = np.abs(a - b)  # float16 flows and DIS's own run-to-run noise: nothing to see
        assert d.mean() < 0.01 and d.max() < 0.5, (t, d.mean(), d.max())
    assert not kept.flows  # each used once, then let go


def test_a_long_shots_backward_colour_goes_to_a_file_and_reads_back_the_same(monkeypatch):
    """A take whose keyframe comes late holds its backward colour in a temporary file instead
    of memory; pass 2 reads the same values either way."""
    grays, truth = _panning_shot()
    n = len(grays)
    keys = {n // 3: truth[n // 3], n - 1: truth[n - 1]}
    held = backward(grays, keys)
    monkeypatch.setattr(propagate, "SPILL_FRAMES", n // 2)
    spilled = backward(grays, keys)
    assert not held.spilled and spilled.spilled
    assert len(held) == len(spilled) == n - 2  # every frame but the two keyframes
    for t in range(n + 1):
        a, b = held.get(t), spilled.get(t)
        assert (a is None) == (b is None) == (t in keys or t >= n - 1), t
        if a is not None:
            assert a.ab.dtype == np.float32
            assert np.array_equal(a.ab, b.ab) and np.array_equal(a.confidence, b.confidence)
    spilled.close()
