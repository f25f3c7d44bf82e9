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
Elsewhere a failed check where the moved luma still agrees multiplies ``c`` by :data:`LEAK` a
frame instead of by 0: DIS fails the check on much of a fast-moving object whose colour it moved
right, and a drop to 0 swapped that colour for the fill in one frame (the largest jumps of the
benchmark's warp error, right after the keyframe); what the luma disagrees with still drops.
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

import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
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
from filmcolor.temporal import FollowMotion, Step, remap, two
from filmcolor.video.decode import decode_span, luma_plane

EPS = 1e-6
FLAT_WINDOW = 7  # px: the neighbourhood whose a*b* spread tells whether a colour is flat
FLAT_SPREAD = (3.0, 8.0)  # a*b* spread: below, a failed flow check is ignored; above, it counts
SPREAD_SIGMA = 4.0  # px at the render size: how far the carried colour's offset reaches the fill
SPREAD_MIN = 0.05  # G(C) below this: too little carried colour nearby, its offset fades out
LEAK = 0.5  # a chain's step whose check fails where the luma agrees keeps this much of C
FOLLOW = 0.8  # where the keyframes' colour does not reach: the pull of the previous frame
# (the five measured with benchmarks/keyframes.py; see benchmarks/README.md)
KEEP_FLOWS = 240  # frames of a shot whose backward flows pass 2 reuses (8 bytes a pixel each)
# Frames of backward colour (6 bytes a pixel each) a shot keeps in memory; a shot whose last
# keyframe comes later keeps them in a temporary file (a 3-minute take at 455x256: 3 GB).
SPILL_FRAMES = 240


class ChainMotion(FollowMotion):
    """:class:`FollowMotion`'s flow and confidence, for a chain of many steps: the flow at the
    render size itself (enlarged from :data:`filmcolor.temporal.FLOW_SIDE`, its errors fail the
    forward-backward check on a third of a zooming frame, which a chain multiplies), and a
    failed check ignored where the colour moved is flat (the module's docstring)."""

    def flows(self, gray: np.ndarray, prev_gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.flow.calc(gray, prev_gray, None), self.flow.calc(prev_gray, gray, None)

    def consistent(self, check: np.ndarray, prev_ab: np.ndarray, where: np.ndarray) -> np.ndarray:
        """The forward-backward check, forgiven where the colour moved is flat."""
        return forgiven(check, remap(ab_spread(prev_ab[..., :2]), where))

    def chain_step(
        self, step: Step, ab: np.ndarray, c: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """One link of a chain: a*b* (h, w, 2) and its confidence ``c`` (h, w) moved by
        ``step``, ``c`` times the step's M (:meth:`carry`'s, at least :data:`LEAK` where the
        luma agrees; the colour's spread moved in the same 4-channel remap: OpenCV's fast
        path, twice as fast as two channels)."""
        moved = remap(cv2.merge([ab, c, ab_spread(ab)]), step.where)
        m = np.maximum(forgiven(step.check, moved[..., 3]), LEAK) * step.trust
        return np.ascontiguousarray(moved[..., :2]), moved[..., 2] * m


def forgiven(check: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """The forward-backward ``check`` (h, w) bool as a confidence, forgiven where the colour
    moved is flat: its a*b* spread (h, w), moved with it, below :data:`FLAT_SPREAD`."""
    lo, hi = FLAT_SPREAD
    return np.maximum(check.astype(np.float32), np.clip((hi - spread) / (hi - lo), 0, 1))


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
        c2 = two(c)
        blurred = smooth(cv2.merge([(self.ab - fill) * c2, c]), SPREAD_SIGMA)
        offset, near = blurred[..., :2], blurred[..., 2]  # G(C (carried - fill)), G(C)
        fade = np.minimum(near / SPREAD_MIN, 1) / np.maximum(near, EPS)
        fill = fill + offset * two(fade)
        return c2 * self.ab + (1 - c2) * fill  # exactly the carried colour where C is 1


def smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of ``sigma`` px, computed at half the size (a quarter of the pixels and
    half the kernel: eight times cheaper; what it blurs is smooth at that scale anyway)."""
    h, w = x.shape[:2]
    if min(h, w) < 16:
        return cv2.GaussianBlur(x, (0, 0), sigma)
    half = cv2.resize(x, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(
        cv2.GaussianBlur(half, (0, 0), sigma / 2), (w, h), interpolation=cv2.INTER_LINEAR
    )


def chain(
    grays: Sequence[np.ndarray], ab: np.ndarray, keep: Callable[[int, tuple], None] | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``ab`` (h, w, 2) of ``grays[0]`` moved to each of ``grays`` in turn (in the order
    given: reversed for the backward way), with its confidence: (ab, c) for each gray, as
    they are computed.

    Args:
        grays: (h, w) uint8 lightness at the render size (what pass 2's flow reads).
        ab: the keyframe's a*b* at the same size.
        keep: called with each link's index and flows (:meth:`ChainMotion.flows`), if given.
    """
    motion = ChainMotion(1.0)  # DIS flow and the confidence M, a new one per chain
    c = np.ones(ab.shape[:2], np.float32)
    yield ab, c
    for i, (prev, gray) in enumerate(zip(grays, grays[1:], strict=False)):
        pair = motion.flows(gray, prev)
        if keep is not None:
            keep(i, pair)
        ab, c = motion.chain_step(motion.step(prev, gray, pair), ab, c)
        yield ab, c


class CarriedFrames:
    """The backward colour of a shot's frames ``0..n-1``, float16, each frame written once and
    read back as a float32 :class:`Carried` (``None`` for a frame not written). Held in memory
    up to :data:`SPILL_FRAMES` frames; beyond, in an unnamed temporary file (``TMPDIR``), one
    record of a*b* and C a frame, which pass 2 reads back in order, a frame at a time."""

    def __init__(self, n: int, shape: tuple[int, int]):
        self.shape = shape
        self.written = np.zeros(n, bool)
        self.file = None
        if n <= SPILL_FRAMES:
            self.ab = np.empty((n, *shape, 2), np.float16)
            self.confidence = np.empty((n, *shape), np.float16)
        else:
            # kept open as long as the store (closed by close(), or when collected)
            self.file = tempfile.TemporaryFile(prefix="filmcolor-keyframes-")  # noqa: SIM115
            self.record = 3 * shape[0] * shape[1] * 2  # bytes: a*, b*, C in float16

    @property
    def spilled(self) -> bool:
        return self.file is not None

    def __len__(self) -> int:
        return int(self.written.sum())

    def __setitem__(self, t: int, carried: Carried) -> None:
        if self.file is None:
            self.ab[t] = carried.ab
            self.confidence[t] = carried.confidence
        else:
            self.file.seek(t * self.record)
            self.file.write(carried.ab.astype(np.float16).tobytes())
            self.file.write(carried.confidence.astype(np.float16).tobytes())
        self.written[t] = True

    def get(self, t: int) -> Carried | None:
        if not 0 <= t < len(self.written) or not self.written[t]:
            return None
        if self.file is None:
            ab, c = self.ab[t], self.confidence[t]
        else:
            record = np.empty(self.record // 2, np.float16)
            self.file.seek(t * self.record)
            self.file.readinto(record)
            h, w = self.shape
            ab, c = record[: 2 * h * w].reshape(h, w, 2), record[2 * h * w :].reshape(h, w)
        return Carried(ab.astype(np.float32), c.astype(np.float32))

    def close(self) -> None:
        """Let the file go (it has no name: the system removes it)."""
        if self.file is not None:
            self.file.close()


def backward(
    grays: Sequence[np.ndarray], keys: dict[int, np.ndarray], flows: dict | None = None
) -> CarriedFrames:
    """The keyframes' colour carried backward: each keyframe's a*b* moved to the frames
    before it, down to the keyframe before (or the shot's start), for every frame t that has
    a keyframe after it (keyframes themselves left out), stored as float16 (a long shot's
    frames before its keyframe are all held until pass 2 reaches them: :class:`CarriedFrames`).

    Args:
        grays: the shot's frames, (h, w) uint8 lightness at the render size, in order.
        keys: index in the shot -> the keyframe's a*b* (h, w, 2) float32 at the render size.
        flows: a dict to keep, for the first :data:`KEEP_FLOWS` frames ``t``, the flows of the
            step from ``t - 1`` to ``t`` (the same two DIS flows as the backward link, the
            other way round; float16), which pass 2's forward step then need not compute.
    """
    at = sorted(k for k in keys if 0 <= k < len(grays))
    out = CarriedFrames(at[-1] if at else 0, grays[0].shape if len(grays) else (0, 0))
    for first, k in zip([-1, *at], at, strict=False):

        def keep(j: int, pair: tuple, k: int = k) -> None:  # link j: frame k - j to k - j - 1
            if flows is not None and k - j < KEEP_FLOWS:
                back, fwd = pair
                flows[k - j] = (fwd.astype(np.float16), back.astype(np.float16))

        for j, (ab, c) in enumerate(chain(grays[first + 1 : k + 1][::-1], keys[k], keep)):
            if j:
                out[k - j] = Carried(ab, c)
    return out


@dataclass
class ShotCarry:
    """A keyframed shot's carried colour, frame by frame in order (:meth:`next`): forward from
    the last keyframe met, along the steps pass 2 computes anyway for the follow step (so the
    forward way costs no flow of its own and holds nothing but the frame before), blended
    with what :func:`backward` carried from the next keyframe (computed ahead of the frames).

    Args:
        keys: index in the shot -> the keyframe's a*b* (h, w, 2) float32.
        behind: :func:`backward` of the shot.
    """

    keys: dict[int, np.ndarray]
    behind: CarriedFrames
    motion: ChainMotion = field(default_factory=lambda: ChainMotion(1.0))
    ahead: tuple[int, np.ndarray, np.ndarray] | None = None  # key, a*b*, C at the last frame

    def next(self, t: int, step: Step | None) -> Carried:
        """The carried colour of frame ``t``; ``step`` is the motion from frame ``t - 1``
        (None on the shot's first frame)."""
        if t in self.keys:
            ab = self.keys[t]
            self.ahead = (t, ab, np.ones(ab.shape[:2], np.float32))
            return Carried(ab, self.ahead[2])
        if self.ahead is not None:
            k, ab, c = self.ahead
            self.ahead = (k, *self.motion.chain_step(step, ab, c))
        later = self.behind.get(t)
        if self.ahead is None or later is None:
            return later if self.ahead is None else Carried(*self.ahead[1:])
        k1, ab1, c1 = self.ahead  # between two keyframes: blend by distance
        k2 = min(k for k in self.keys if k > t)
        w1 = (k2 - t) / (k2 - k1)
        c1, c2 = w1 * c1, (1 - w1) * later.confidence
        total = c1 + c2
        ab = (two(c1) * ab1 + two(c2) * later.ab) / (two(total) + EPS)
        return Carried(ab.astype(np.float32), total.astype(np.float32))


def carry_shot(grays: Sequence[np.ndarray], keys: dict[int, np.ndarray]) -> list[Carried]:
    """The keyframes' colour on every frame of one shot (the blend above, before the fill),
    as pass 2 computes it frame by frame (:class:`ShotCarry`).

    Args:
        grays: the shot's frames, (h, w) uint8 at the render size, in order.
        keys: index in the shot -> the keyframe's a*b* (h, w, 2) float32 at the render size.

    Returns:
        One :class:`Carried` per frame of the shot.
    """
    carry = ShotCarry(keys, backward(grays, keys))
    out = [carry.next(0, None)]
    for t in range(1, len(grays)):
        out.append(carry.next(t, carry.motion.step(grays[t - 1], grays[t])))
    return out


# Pass 2's stage.


@dataclass
class PreparedShot:
    """A keyframed shot in pass 2: its carried colour (:class:`ShotCarry`), the fill's palette,
    and the frame given out before (for the follow step).

    ``temporal`` is ``--temporal``'s strength, applied here to the fill (pass 2's own
    :class:`filmcolor.temporal.FollowMotion` leaves keyframed shots to this stage): the same
    blend with the fill of the frame before, moved by the step this stage computes anyway."""

    carry: ShotCarry
    palette: Palette | None
    frames: int = 0  # the shot's length
    temporal: float = 0.0
    flows: dict = field(default_factory=dict)  # t -> the step's flows from t - 1, if known
    position: int = 0  # frames of the shot already given out
    previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # gray, fill, a*b* out

    def next(self, gray: np.ndarray, fill: np.ndarray) -> np.ndarray:
        """The a*b* of the frame at :attr:`position` (then moves on): the carried colour over
        ``fill`` (:meth:`Carried.over`), and where C < 1 pulled toward the previous frame's
        output moved along the flow (the module's docstring). One flow step from the frame
        before serves the forward carry, ``--temporal`` on the fill and that pull.

        Args:
            gray: (h, w) uint8 lightness of the frame at the render size (the flow reads it).
            fill: (h, w, 2) the network's a*b* matched to the keyframes' palette.
        """
        step = None
        if self.previous is not None:
            known = self.flows.pop(self.position, None)
            if known is not None:
                known = tuple(f.astype(np.float32) for f in known)
            step = self.carry.motion.step(self.previous[0], gray, known)
        carried = self.carry.next(self.position, step)
        if step is None:
            ab = carried.over(fill)
        else:
            _, prev_fill, prev_out = self.previous
            moved = remap(cv2.merge([prev_fill, prev_out]), step.where)  # one 4-channel remap
            if self.temporal:  # --temporal's blend, with its confidence (the check as it is)
                m = step.check * step.trust
                fill = fill + two(self.temporal * m) * (moved[..., :2] - fill)
            ab = carried.over(fill)
            m = self.carry.motion.consistent(step.check, prev_out, step.where) * step.trust
            pull = FOLLOW * (1 - carried.confidence) * m
            ab = ab + two(pull) * (moved[..., 2:] - ab)
        self.previous = (gray, fill, ab)
        self.position += 1
        return ab


@dataclass
class KeyframeStage:
    """The keyframes of a run of shots in pass 2 (``colorize --keyframes``).

    :meth:`prepare`, called by the network's thread when a keyframed shot begins, starts
    :meth:`make` for it and the next keyframed shot in threads of their own: it decodes the
    shot once more up to its last keyframe (lightness at the render size), turns each keyframe
    into a*b* at the render size (a colour frame as it is; strokes spread by
    :func:`filmcolor.hints.spread_hints` over the network's prediction for that frame) and
    carries them backward (:func:`backward`). :meth:`apply` runs in the encode thread: each
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
        temporal: --temporal's strength, on the fill (:class:`PreparedShot`); 0 in preview.
    """

    path: Path
    time_base: Fraction
    shots: list[Shot]
    keys: dict[int, list[Keyframe]]
    offset: int
    strength: float
    max_damaged: int = 10
    temporal: float = 0.0  # --temporal (on the fill: PreparedShot)
    ready: dict[int, Future] = field(default_factory=dict)  # shot -> PreparedShot

    def prepare(self, job, shot: int) -> None:
        """Network thread, when a shot's frames begin: start making its keyframe colour and the
        next keyframed shot's (:meth:`make`), each in a thread of its own, so that decoding a
        shot again and carrying its colour backward overlap the network instead of stopping
        it; :meth:`apply` waits for them."""
        following = min((k for k in self.keys if k > shot), default=None)
        for k in (shot, following):
            if k in self.keys and k not in self.ready:  # the grays are for show(): dropped
                self.ready[k] = _in_thread(lambda k=k: self.make(job, k)[0])

    def make(self, job, shot: int, through: int = 0) -> tuple[PreparedShot, list[np.ndarray]]:
        """The shot's keyframe colour, ready for pass 2: its frames up to its last keyframe
        (or ``through``) decoded again, the keyframes' a*b* and what they carry backward
        (:func:`backward`; the forward way is carried in :meth:`apply`); and the (h, w) uint8
        grays of the frames decoded."""
        s = self.shots[shot]
        start = self.offset + s.start
        pts = 0 if s.start_time is None else round(s.start_time / self.time_base)
        wanted = {key.frame - start for key in self.keys[shot]}
        count = max(*wanted, through) + 1  # backward needs none after the last keyframe
        grays, ys = [], {}
        for i, frame in enumerate(
            decode_span(self.path, start, pts, count, max_damaged=self.max_damaged)
        ):
            y = luma_plane(frame)
            if i in wanted:
                ys[i] = y
            grays.append(render_gray(job, y)[1])
        at: dict[int, np.ndarray] = {}
        labs = []
        for key in self.keys[shot]:
            i = key.frame - start
            lightness = torch.from_numpy(lightness_of(ys[i], job.lut_np))
            small = job.colorizer.shrink(normalize_l(lightness)[None, None])
            l_small = small[0, 0].numpy() * 100  # L* at the render size, as the network sees it
            hints = key.hints.resized(l_small.shape)
            if hints.full:
                ab = hints.ab
            else:
                g = job.vectors.get(shot)
                if g is None:  # a shot too short for pass 1 to sample: this frame's own
                    g = job.colorizer.global_vector(thumb224(ys[i], job.lut)[None])
                prior = job.colorizer.ab(small, g)[0].permute(1, 2, 0).numpy()
                ab = spread_hints(l_small, hints, prior)
            at[i] = ab
            labs.append((l_small, ab))
        palette = palette_of_lab(
            np.concatenate([l for l, _ in labs]), np.concatenate([ab for _, ab in labs])
        )
        flows: dict = {}
        carry = ShotCarry(at, backward(grays[: max(wanted) + 1], at, flows))
        return PreparedShot(carry, palette, s.frames, self.temporal, flows), grays

    def apply(self, job, shot: int, frames) -> None:
        """Encode thread: the frames' a*b* (``f.ab`` at the render size) under the carried
        colour; frees the shot once its last frame is done."""
        if shot not in self.ready:
            return
        prepared = self.ready[shot].result()
        for f in frames:
            l_small, gray = render_gray(job, f.y, f.ab.shape[:2])
            fill = match_palette(l_small, f.ab, prepared.palette, self.strength)
            f.ab = prepared.next(gray, fill)
        if prepared.position == prepared.frames:
            prepared.carry.behind.close()
            del self.ready[shot]

    def show(self, job, shot: int, t: int, frame) -> None:
        """``preview``: frame ``t`` of the shot (``frame.ab`` the network's) under the colour
        carried to it, as pass 2 renders it less the follow step (which needs the frames
        before in full)."""
        prepared, grays = self.make(job, shot, through=t)
        carry = prepared.carry
        carried = carry.next(0, None)
        for i in range(1, t + 1):
            carried = carry.next(i, carry.motion.step(grays[i - 1], grays[i]))
        l_small, _ = render_gray(job, frame.y, frame.ab.shape[:2])
        frame.ab = carried.over(match_palette(l_small, frame.ab, prepared.palette, self.strength))


def _in_thread(fn: Callable, *args) -> Future:
    """``fn(*args)`` in a daemon thread of its own; its result, or its error, in the future."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(fn(*args))
        except BaseException as e:  # raised where the result is asked for
            future.set_exception(e)

    threading.Thread(target=run, name="filmcolor-keyframes", daemon=True).start()
    return future


def render_gray(job, y: np.ndarray, size: tuple[int, int] | None = None):
    """A frame's L* at the render size (``size`` (h, w), or the network's), (h, w) float32,
    and the (h, w) uint8 the flow reads (L* * 2.55)."""
    lightness = lightness_of(y, job.lut_np)
    if size is None:
        size = job.colorizer.render_shape(lightness.shape)
    h, w = size
    l_small = cv2.resize(lightness, (w, h), interpolation=cv2.INTER_AREA)
    return l_small, cv2.convertScaleAbs(l_small, alpha=2.55)
