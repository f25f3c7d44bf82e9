"""A keyframe's colour carried through its shot, forward and backward, along the optical flow.

From each keyframe ``k`` of a shot, its a*b* (at the render size) is moved frame by frame along
pass 2's DIS flow (:meth:`filmcolor.temporal.FollowMotion.moved`), forward to the next keyframe
or the end of the shot, and backward to the previous keyframe or the start. With the colour
travels a confidence ``c``: 1 on the keyframe, moved along with the colour and multiplied at
each step by that step's confidence ``M`` (the forward-backward check and the luma agreement,
as ``--temporal`` uses them), so it falls to 0 where something was hidden, entered the frame or
changed its light, and stays there. Between two keyframes ``k1 < t < k2`` the two are blended
by distance:

    w1 = (k2 - t) / (k2 - k1),  w2 = 1 - w1   (one keyframe: its side's w = 1)
    C = w1 c1 + w2 c2,   carried = (w1 c1 ab1 + w2 c2 ab2) / C
    ab_t = fill_t + C * (carried - fill_t)

``fill_t`` is what the network predicts for the frame with the keyframe as the shot's style:
its own prediction matched to the keyframes' palette (:mod:`filmcolor.palette`), so what
appears in the shot takes the keyframe's colours too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from filmcolor.temporal import FollowMotion

EPS = 1e-6
SPECK = 3  # px: failures of the check smaller than this (scattered, not an occlusion) are ignored


class ChainMotion(FollowMotion):
    """:class:`FollowMotion`'s flow and confidence, for a chain of many steps: the flow at the
    render size itself (enlarged from :data:`filmcolor.temporal.FLOW_SIDE`, its errors fail the
    forward-backward check on a third of a zooming frame, which a chain multiplies), and the
    failed pixels opened by :data:`SPECK` px, so that scattered failures do not eat the
    confidence step by step while an occlusion keeps it."""

    def flows(self, gray: np.ndarray, prev_gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.flow.calc(gray, prev_gray, None), self.flow.calc(prev_gray, gray, None)

    def moved(self, prev_gray, gray, prev_ab):
        moved, m = super().moved(prev_gray, gray, prev_ab)
        kernel = np.ones((SPECK, SPECK), np.uint8)
        failed = cv2.morphologyEx(1 - m, cv2.MORPH_OPEN, kernel)
        return moved, 1 - failed


@dataclass
class Carried:
    """A frame's share of the keyframes' colour: a*b* (h, w, 2) and confidence C (h, w)."""

    ab: np.ndarray
    confidence: np.ndarray

    def over(self, fill: np.ndarray) -> np.ndarray:
        """The frame's a*b*: ``fill`` (h, w, 2) where C is 0, the carried colour where it is 1."""
        return fill + self.confidence[..., None] * (self.ab - fill)


def chain(grays: Sequence[np.ndarray], ab: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``ab`` (h, w, 2) of ``grays[0]`` moved to each of ``grays`` in turn (in the order
    given: reversed for the backward way), with its confidence: [(ab, c), ...], one per gray.

    Args:
        grays: (h, w) uint8 lightness at the render size (what pass 2's flow reads).
        ab: the keyframe's a*b* at the same size.
    """
    follow = ChainMotion(1.0)  # DIS flow and the confidence M, a new one per chain
    c = np.ones(ab.shape[:2], np.float32)
    out = [(ab, c)]
    for prev, gray in zip(grays, grays[1:], strict=False):
        moved, m = follow.moved(prev, gray, np.dstack([ab, c]))  # colour and c move together
        ab, c = np.ascontiguousarray(moved[..., :2]), moved[..., 2] * m
        out.append((ab, c))
    return out


def carry_shot(grays: Sequence[np.ndarray], keys: dict[int, np.ndarray]) -> list[Carried]:
    """The keyframes' colour on every frame of one shot (the blend above, before the fill).

    Args:
        grays: the shot's frames, (h, w) uint8 at the render size, in order.
        keys: index in the shot -> the keyframe's a*b* (h, w, 2) float32 at the render size.

    Returns:
        One :class:`Carried` per frame of the shot.
    """
    n = len(grays)
    at = sorted(k for k in keys if 0 <= k < n)
    ahead: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}  # t -> (key, ab, c) from before
    behind: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}  # t -> (key, ab, c) from after
    for i, k in enumerate(at):
        stop = at[i + 1] if i + 1 < len(at) else n - 1
        for t, (ab, c) in enumerate(chain(grays[k : stop + 1], keys[k]), start=k):
            ahead[t] = (k, ab, c)
        first = at[i - 1] if i > 0 else 0
        back = chain(grays[first : k + 1][::-1], keys[k])
        for j, (ab, c) in enumerate(back):
            behind[k - j] = (k, ab, c)
    out = []
    for t in range(n):
        sides = [s for s in (ahead.get(t), behind.get(t)) if s is not None]
        if len(sides) == 2 and sides[0][0] != sides[1][0]:
            (k1, ab1, c1), (k2, ab2, c2) = sides
            w1 = (k2 - t) / (k2 - k1)
            c1, c2 = w1 * c1, (1 - w1) * c2
            total = c1 + c2
            ab = (c1[..., None] * ab1 + c2[..., None] * ab2) / (total[..., None] + EPS)
            out.append(Carried(ab.astype(np.float32), total.astype(np.float32)))
        else:  # on a keyframe, or before the first / after the last one
            _, ab, c = sides[0]
            out.append(Carried(ab, c))
    return out
