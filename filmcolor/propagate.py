"""A keyframe's colour carried through its shot, forward and backward, along the optical flow.

From each keyframe ``k`` of a shot, its a*b* (at the render size) is moved frame by frame along
pass 2's DIS flow (:meth:`filmcolor.temporal.FollowMotion.moved`, at the render size), forward
to the next keyframe or the end of the shot, and backward to the previous keyframe or the start.
With the colour travels a confidence ``c``: 1 on the keyframe, moved along with the colour and
multiplied at each step by that step's confidence ``M``, so it falls to 0 where something was
hidden, entered the frame or changed its light, and stays there. ``M`` is ``--temporal``'s (the
forward-backward check and the luma agreement), except that a failed forward-backward check
does not count where the colour moved is flat (its a*b* spread over :data:`FLAT_WINDOW` px below
:data:`FLAT_SPREAD`): there a wrong flow moves the same colour, and in a plain sky or wall the
flow fails in patches that would otherwise turn into holes of fill, a new set every frame.
Between two keyframes ``k1 < t < k2`` the two are blended by distance:

    w1 = (k2 - t) / (k2 - k1),  w2 = 1 - w1   (one keyframe: its side's w = 1)
    C = w1 c1 + w2 c2,   carried = (w1 c1 ab1 + w2 c2 ab2) / C

In pass 2 each frame's a*b* is then (:meth:`Carried.over`, :class:`KeyframeStage`):

    fill  = pred matched to the keyframes' palette (:mod:`filmcolor.palette`)
    fill' = fill + G(C (carried - fill)) / G(C)     (G: Gaussian of :data:`SPREAD_SIGMA` px)
    out   = fill' + C (carried - fill')
    out   = out + FOLLOW (1 - C) M' (moved(out_prev) - out)

``pred`` is the network's prediction, so what appears in the shot takes the keyframe's colours
too; ``fill'`` adds the carried colour's offset from the fill nearby, so that where confidence
falls the fill meets the carried colour without a seam; and where the keyframes' colour does
not reach (``1 - C``), the output follows its own previous frame along the flow (confidence
``M'`` of that step), as ``--temporal`` does, instead of the network's guess of each frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch

from filmcolor.color import lightness_of
from filmcolor.colorizer import thumb224
from filmcolor.hints import spread_hints
from filmcolor.keyframes import Keyframe
from filmcolor.models.color import normalize_l
from filmcolor.palette import Palette, match_palette, palette_of_lab
from filmcolor.shots import Shot
from filmcolor.temporal import FollowMotion, gray8, remap
from filmcolor.video.decode import decode_span, luma_plane

EPS = 1e-6
FLAT_WINDOW = 7  # px: the neighbourhood whose a*b* spread tells whether a colour is flat
FLAT_SPREAD = (3.0, 8.0)  # a*b* spread: below, a failed flow check is ignored; above, it counts
SPREAD_SIGMA = 4.0  # px at the render size: how far the carried colour's offset reaches the fill
SPREAD_MIN = 0.05  # G(C) below this: too little carried colour nearby, its offset fades out
FOLLOW = 0.8  # where the keyframes' colour does not reach: the pull of the previous frame
# (the four measured with benchmarks/keyframes.py; see benchmarks/README.md)


class ChainMotion(FollowMotion):
    """:class:`FollowMotion`'s flow and confidence, for a chain of many steps: the flow at the
    render size itself (enlarged from :data:`filmcolor.temporal.FLOW_SIDE`, its errors fail the
    forward-backward check on a third of a zooming frame, which a chain multiplies), and a
    failed check ignored where the colour moved is flat (the module's docstring)."""

    def flows(self, gray: np.ndarray, prev_gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.flow.calc(gray, prev_gray, None), self.flow.calc(prev_gray, gray, None)

    def consistent(self, check: np.ndarray, prev_ab: np.ndarray, where: np.ndarray) -> np.ndarray:
        """The forward-backward check, forgiven where the colour moved is flat."""
        lo, hi = FLAT_SPREAD
        flat = np.clip((hi - remap(ab_spread(prev_ab[..., :2]), where)) / (hi - lo), 0, 1)
        return np.maximum(check.astype(np.float32), flat)


def ab_spread(ab: np.ndarray) -> np.ndarray:
    """The spread of a*b* (h, w, 2) over :data:`FLAT_WINDOW` px around each pixel: the root
    of the summed variances of a* and b*, (h, w)."""
    size = (FLAT_WINDOW, FLAT_WINDOW)
    ab = np.ascontiguousarray(ab, np.float32)
    mean, sq = cv2.blur(ab, size), cv2.blur(ab * ab, size)
    a, b = cv2.split(sq - mean * mean)
    return np.sqrt(np.maximum(a + b, 0))


@dataclass
class Carried:
    """A frame's share of the keyframes' colour: a*b* (h, w, 2) and confidence C (h, w)."""

    ab: np.ndarray
    confidence: np.ndarray

    def over(self, fill: np.ndarray) -> np.ndarray:
        """The frame's a*b*: the carried colour where C is 1; where it is 0, ``fill`` (h, w, 2)
        plus the carried colour's offset from it nearby (``fill'`` of the module's docstring),
        which fades to the fill itself where no carried colour is near."""
        c = self.confidence.astype(np.float32)
        offset = cv2.GaussianBlur((self.ab - fill) * c[..., None], (0, 0), SPREAD_SIGMA)
        near = cv2.GaussianBlur(c, (0, 0), SPREAD_SIGMA)  # G(C)
        fade = np.minimum(near / SPREAD_MIN, 1) / np.maximum(near, EPS)
        fill = fill + offset * fade[..., None]
        c = c[..., None]
        return c * self.ab + (1 - c) * fill  # exactly the carried colour where C is 1


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


# Pass 2's stage.


@dataclass
class PreparedShot:
    """A keyframed shot, ready for pass 2: what each frame carries, and the fill's palette."""

    carried: list[Carried]  # one per frame of the shot (float16 inside, to hold long shots)
    palette: Palette
    position: int = 0  # frames of the shot already given out
    follow: ChainMotion = field(default_factory=lambda: ChainMotion(FOLLOW))  # one per shot
    previous: tuple[int, np.ndarray, np.ndarray] | None = None  # position, gray, a*b* given out

    def next(self, gray: np.ndarray, fill: np.ndarray) -> np.ndarray:
        """The a*b* of the frame at :attr:`position` (then moves on): the carried colour over
        ``fill`` (:meth:`Carried.over`), and where C < 1 pulled toward the previous frame's
        output moved along the flow (the module's docstring).

        Args:
            gray: (h, w) uint8 lightness of the frame at the render size (the flow reads it).
            fill: (h, w, 2) the network's a*b* matched to the keyframes' palette.
        """
        c = self.carried[self.position]
        carried = Carried(c.ab.astype(np.float32), c.confidence.astype(np.float32))
        ab = carried.over(fill)
        if self.previous is not None and self.previous[0] == self.position - 1:
            _, prev_gray, prev_ab = self.previous
            moved, m = self.follow.moved(prev_gray, gray, prev_ab)
            pull = self.follow.strength * (1 - carried.confidence) * m
            ab = ab + pull[..., None] * (moved - ab)
        self.previous = (self.position, gray, ab)
        self.position += 1
        return ab


@dataclass
class KeyframeStage:
    """The keyframes of a run of shots in pass 2 (``colorize --keyframes``).

    :meth:`prepare` runs in the network's thread when a keyframed shot begins: it decodes the
    shot once more (its lightness at the render size), turns each keyframe into a*b* at the
    render size (a colour frame as it is; strokes spread by :func:`filmcolor.hints.spread_hints`
    over the network's prediction for that frame) and carries them through the shot
    (:func:`carry_shot`). :meth:`apply` runs in the encode thread, after ``--temporal``: each
    frame's prediction matched to the keyframes' palette (the fill), under the carried colour,
    and where that is not sure, following the frame before (:meth:`PreparedShot.next`). Every
    shot is computed from its own frames only, so segments, resume and torchrun give the
    same pixels.

    Args:
        path: the film.
        time_base: its video stream's time base (a shot's timestamp -> where to seek).
        shots: the run's shots, numbered from ``offset`` (as :class:`filmcolor.pass2.Pass2`'s).
        keys: index into ``shots`` -> the shot's keyframes (frames numbered in the film).
        offset: the run's first frame in the film.
        strength: the palette's strength on the fill (``--style-strength``).
        max_damaged: damaged packets tolerated when the shot is decoded again.
    """

    path: Path
    time_base: Fraction
    shots: list[Shot]
    keys: dict[int, list[Keyframe]]
    offset: int
    strength: float
    max_damaged: int = 10
    ready: dict[int, PreparedShot] = field(default_factory=dict)

    def prepare(self, job, shot: int) -> None:
        """Network thread: make the shot's keyframe colour ready (once per shot)."""
        if shot not in self.keys or shot in self.ready:
            return
        s = self.shots[shot]
        start = self.offset + s.start
        pts = 0 if s.start_time is None else round(s.start_time / self.time_base)
        wanted = {key.frame - start for key in self.keys[shot]}
        small, ys = [], {}  # (h, w) L*/100 at the render size, as pass 2 gives the network
        frames = decode_span(self.path, start, pts, s.frames, max_damaged=self.max_damaged)
        for i, frame in enumerate(frames):
            y = luma_plane(frame)
            if i in wanted:
                ys[i] = y
            lightness = torch.from_numpy(lightness_of(y, job.lut_np))
            small.append(job.colorizer.shrink(normalize_l(lightness)[None, None])[0, 0])
        grays = [gray8(x) for x in small]
        h, w = grays[0].shape
        at: dict[int, np.ndarray] = {}
        labs = []
        for key in self.keys[shot]:
            i = key.frame - start
            l_small = small[i].numpy() * 100  # L*
            hints = key.hints.resized((h, w))
            if hints.full:
                ab = hints.ab
            else:
                g = job.vectors.get(shot)
                if g is None:  # a shot too short for pass 1 to sample: this frame's own
                    g = job.colorizer.global_vector(thumb224(ys[i], job.lut)[None])
                prior = job.colorizer.ab(small[i][None, None], g)[0].permute(1, 2, 0).numpy()
                ab = spread_hints(l_small, hints, prior)
            at[i] = ab
            labs.append((l_small, ab))
        palette = palette_of_lab(
            np.concatenate([l for l, _ in labs]), np.concatenate([ab for _, ab in labs])
        )
        carried = [
            Carried(c.ab.astype(np.float16), c.confidence.astype(np.float16))
            for c in carry_shot(grays, at)
        ]
        self.ready[shot] = PreparedShot(carried, palette)

    def apply(self, job, shot: int, frames) -> None:
        """Encode thread: the frames' a*b* (``f.ab`` at the render size) under the carried
        colour; frees the shot once its last frame is done."""
        prepared = self.ready.get(shot)
        if prepared is None:
            return
        for f in frames:
            h, w = f.ab.shape[:2]
            lightness = lightness_of(f.y, job.lut_np)
            l_small = cv2.resize(lightness, (w, h), interpolation=cv2.INTER_AREA)
            fill = match_palette(l_small, f.ab, prepared.palette, self.strength)
            gray = cv2.convertScaleAbs(l_small, alpha=2.55)  # as gray8 of L* / 100
            f.ab = prepared.next(gray, fill)
        if prepared.position == len(prepared.carried):
            del self.ready[shot]
