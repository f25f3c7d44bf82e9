"""Steady colour within a shot: what pass 2 does between frames (``--temporal``).

Old prints flicker, weave and carry grain, dust and scratches; the network sees each frame on
its own, so its colour boils. Two small stages make it see, and show, a steadier film; neither
touches the output's luma (pass 2 writes the input's Y plane as it is):

- :class:`ShotLevel` (before the network, in the thread that runs it): each frame's lightness,
  at the render size, scaled to its shot's running brightness level, so brightness flicker
  does not reach the network. Only the network's input changes.
- :class:`FollowMotion` (after the network, in the encode thread, where OpenCV overlaps the
  network): dense optical flow (OpenCV DIS) at the render size from each frame to the one
  before it, the previous frame's a*b* moved along it, and the blend
  ``ab_t = (1 - s*M) * pred_t + s*M * warp(ab_t-1)`` with ``s`` the strength and ``M`` a
  confidence in [0, 1]: zero where the forward-backward check fails (occlusions, new regions,
  flow leaving the frame) and where the moved luma disagrees with the frame's own. So colour
  follows motion, and what appears takes the fresh prediction.

Both start over at every cut: the first frame of a shot is the network's alone, exactly as with
``--temporal 0``. ``benchmarks/flicker.py`` measures the effect (README, "Old film").
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

LEVEL_MEMORY = 0.9  # weight of the running level against the new frame's own brightness
FLOW_PRESET = cv2.DISOPTICAL_FLOW_PRESET_FAST
FLOW_SIDE = 128  # the flow is computed with the short side at most this, px (chroma is smooth)
LUMA_TOLERANCE = (6.0, 18.0)  # |L* - moved L*|: full confidence below, none above (ramp)


class ShotLevel:
    """Brightness flicker out of the network's input: each frame's mean lightness brought to a
    running level of its shot (an exponential average of the frames' means).

    Args:
        memory: weight of the running level when a frame comes in; 0.9 averages about ten
            frames, so a one-frame flicker is taken out and a fade is followed within a second.
    """

    def __init__(self, memory: float = LEVEL_MEMORY):
        self.memory = memory
        self.shot: int | None = None
        self.level = 0.0

    def __call__(self, shot: int, small: torch.Tensor) -> torch.Tensor:
        """Consecutive frames of ``shot``, (B, 1, h, w) L*/100 -> the same, levelled.

        The first frame of a shot sets the level and is returned as it is.
        """
        x = small.numpy()  # numpy, not torch: small ops in torch wake its threads (slow)
        means = x.mean(axis=(1, 2, 3), dtype=np.float64).tolist()
        gains = []
        for m in means:
            if shot != self.shot:
                self.shot, self.level = shot, m
                gains.append(1.0)
                continue
            self.level = self.memory * self.level + (1 - self.memory) * m
            gains.append(self.level / m if m > 1e-3 else 1.0)
        if all(g == 1.0 for g in gains):
            return small
        gain = np.float32(gains).reshape(-1, 1, 1, 1)
        return torch.from_numpy(np.clip(x * gain, 0, 1))


def despeckle(small: torch.Tensor) -> torch.Tensor:
    """A 5x5 median of each frame at the render size, (B, 1, h, w) -> the same: dust specks
    and scratches a few pixels wide, which the network turns into blotches of colour, are
    taken out of its input. Always on in pass 2 (``benchmarks/flicker.py`` measured it against
    a 3x3 median, a bilateral filter and a temporal median: benchmarks/README.md); the output's
    luma is untouched.
    """
    frames = small[:, 0].numpy()  # (B, h, w) float32
    out = np.stack([cv2.medianBlur(np.ascontiguousarray(f), 5) for f in frames])
    return torch.from_numpy(out)[:, None]


def gray8(small: torch.Tensor) -> np.ndarray:
    """(h, w) lightness in [0, 1] -> (h, w) uint8, what the optical flow reads."""
    return cv2.convertScaleAbs(np.ascontiguousarray(small.numpy()), alpha=255)


@dataclass
class Step:
    """One frame's motion from the frame before (:meth:`FollowMotion.step`)."""

    where: np.ndarray  # (h, w, 2) float32: each pixel's position in the previous frame
    check: np.ndarray  # (h, w) bool: the forward-backward check passed
    trust: np.ndarray  # (h, w) float32: inside the previous frame x luma agreement


class FollowMotion:
    """The a*b* of each frame blended with the previous frame's, moved along the optical flow.

    One object per run of pass 2; call it with the frames in order. It keeps the previous frame
    of the current shot (its gray and its blended a*b*) and starts over at a new shot.

    Args:
        strength: ``s`` of the blend, in [0, 1); 0 returns the prediction unchanged.
    """

    def __init__(self, strength: float):
        self.strength = strength
        self.shot: int | None = None
        self.prev: tuple[np.ndarray, np.ndarray] | None = None  # gray (h, w), a*b* (h, w, 2)
        self.flow = cv2.DISOpticalFlow_create(FLOW_PRESET)
        self._grid: np.ndarray | None = None

    def __call__(self, shot: int, gray: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """The frame's a*b*: ``pred`` (h, w, 2) float32 from the network, blended with the
        previous frame's; ``gray`` (h, w) uint8 is the levelled lightness the network saw."""
        if shot != self.shot or self.prev is None or self.prev[0].shape != gray.shape:
            self.shot, self.prev = shot, (gray, pred)
            # A DIS object's results depend on the calls before (by ~1e-5): a new one per shot
            # makes a shot's colours the same whatever came before it (segments, torchrun).
            self.flow = cv2.DISOpticalFlow_create(FLOW_PRESET)
            return pred
        prev_gray, prev_ab = self.prev
        moved_ab, confidence = self.moved(prev_gray, gray, prev_ab)
        ab = pred + two(self.strength * confidence) * (moved_ab - pred)
        self.prev = (gray, ab)
        return ab

    def moved(
        self, prev_gray: np.ndarray, gray: np.ndarray, prev_ab: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``prev_ab`` (h, w, C), its first two channels a*b* (more may travel with them),
        moved onto this frame, and the confidence M (h, w) in [0, 1]."""
        return self.carry(self.step(prev_gray, gray), prev_ab)

    def step(
        self,
        prev_gray: np.ndarray,
        gray: np.ndarray,
        flows: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Step:
        """The motion from the previous frame to this one, and what of M does not depend on
        the colour moved (one step can carry several colours: :meth:`carry`); ``flows`` are
        :meth:`flows`' when they were computed already."""
        h, w = gray.shape
        # (h, w, 2) each: to the previous frame, from it
        back, fwd = self.flows(gray, prev_gray) if flows is None else flows
        if self._grid is None or self._grid.shape[:2] != (h, w):
            xx, yy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            self._grid = np.dstack([xx, yy])
        where = self._grid + back  # (h, w, 2) positions in the previous frame
        moved_gray = remap(prev_gray, where)
        fwd_there = remap(fwd, where)
        # Forward-backward check (Ruder et al. 2016, as benchmarks/flicker.py measures).
        mismatch = _norm2(back + fwd_there)
        scale = _norm2(back) + _norm2(fwd_there)
        check = mismatch <= 0.01 * scale + 0.5
        mx, my = cv2.split(where)
        inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        # Luma agreement, in L* (the gray is L* * 2.55).
        diff = cv2.absdiff(gray, moved_gray).astype(np.float32) / 2.55
        lo, hi = LUMA_TOLERANCE
        agree = np.clip((hi - diff) / (hi - lo), 0, 1)
        return Step(where, check, inside * agree)

    def carry(self, step: Step, prev_ab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``prev_ab`` (h, w, C) moved by ``step``, and its confidence M (h, w)."""
        consistent = self.consistent(step.check, prev_ab, step.where)
        return remap(prev_ab, step.where), consistent * step.trust

    def consistent(self, check: np.ndarray, prev_ab: np.ndarray, where: np.ndarray) -> np.ndarray:
        """How far the forward-backward ``check`` (h, w, bool) is trusted, (h, w) float32 in
        [0, 1]; ``prev_ab`` and ``where`` (the positions moved from) for a subclass that
        forgives failures by what is moved. Here: the check as it is."""
        return check.astype(np.float32)

    def flows(self, gray: np.ndarray, prev_gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """DIS flow from this frame to the previous and back, (h, w, 2) each in pixels of
        ``gray``; computed at most :data:`FLOW_SIDE` px on the short side, then enlarged."""
        h, w = gray.shape
        s = min(1.0, FLOW_SIDE / min(h, w))
        if s == 1.0:
            return self.flow.calc(gray, prev_gray, None), self.flow.calc(prev_gray, gray, None)
        size = (max(8, round(w * s)), max(8, round(h * s)))
        a = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        b = cv2.resize(prev_gray, size, interpolation=cv2.INTER_AREA)
        scale = tuple(float(np.float32(x)) for x in (w / size[0], h / size[1], 0, 0))
        return tuple(  # cv2.multiply by a per-channel scalar: numpy's broadcast is slow here
            cv2.multiply(cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR), scale)
            for f in (self.flow.calc(a, b, None), self.flow.calc(b, a, None))
        )


def two(x: np.ndarray) -> np.ndarray:
    """An (h, w) weight as (h, w, 2), to multiply a*b* (cv2.merge: numpy's broadcasting over a
    last axis of 2 is several times slower)."""
    return cv2.merge([x, x])


def remap(img: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``img`` sampled bilinearly at ``where`` (h, w, 2) float32 positions; edges replicated."""
    return cv2.remap(img, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _norm2(v: np.ndarray) -> np.ndarray:
    """|v|^2 of (h, w, 2) vectors, (h, w) (cv2.split: numpy is slow over a last axis of 2)."""
    x, y = cv2.split(v)
    return x * x + y * y
