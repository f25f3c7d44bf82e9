"""Seeded "old film" degradations of a gray clip, for ``benchmarks/flicker.py``.

What a print of a silent film adds to the picture, each frame on its own and each of them
seeded: gate weave (the frame shifted by a pixel or two), exposure flicker (a few percent of
brightness, frame to frame) on top of a slow exposure drift, vertical scratches that wander
sideways and come and go, dust specks (one frame each) and film grain. Only the gray picture
is touched; the cut positions are used so that scratches and drift restart with each shot, as
they would on a print spliced from different reels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Aging:
    """How strongly a clip is aged; the defaults look like a worn 1920s print."""

    weave_px: float = 1.5  # gate weave: standard deviation of the frame's shift, px
    flicker: float = 0.04  # brightness flicker: standard deviation of the per-frame gain
    drift: float = 0.06  # slow exposure drift: amplitude of the gain over a shot
    scratches: int = 2  # scratches alive at once, on average
    scratch_speed_px: float = 1.5  # sideways wander of a scratch per frame, px (std)
    dust_per_frame: float = 6.0  # dust specks per frame, on average
    grain: float = 6.0  # film grain: noise standard deviation in 8-bit levels (mid-gray)

    def as_dict(self) -> dict:
        return asdict(self)


def age_clip(
    gray: np.ndarray, cuts: list[int], seed: int, aging: Aging | None = None
) -> np.ndarray:
    """The clip as an old print would show it.

    Each kind of damage draws from its own random stream, so turning one off (strength 0)
    leaves the others exactly as they were.

    Args:
        gray: (N, H, W) uint8 frames.
        cuts: indices of the first frame of every shot but the first.
        seed: seed of every random choice; the same seed gives the same clip.
        aging: strengths; :class:`Aging` defaults when None.

    Returns:
        (N, H, W) uint8 aged frames.
    """
    aging = aging or Aging()
    exposure, scratch_rng, dust_rng, grain_rng = map(np.random.default_rng, _seeds(seed)[1:])
    n, h, w = gray.shape
    offsets = weave_offsets(n, seed, aging.weave_px)
    out = np.empty_like(gray)
    bounds = [0, *cuts, n]
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        # A new shot: a new piece of print, with its own scratches and drift phase.
        phase = exposure.uniform(0, 2 * np.pi)
        alive = scratch_rng.poisson(aging.scratches)
        scratches = [_Scratch.new(scratch_rng, w, h) for _ in range(alive)]
        for i in range(start, end):
            f = shift(gray[i].astype(np.float32), offsets[i])
            drift = 1 + aging.drift * np.sin(2 * np.pi * (i - start) / (end - start) + phase)
            f *= drift * (1 + aging.flicker * exposure.standard_normal())
            born = scratch_rng.poisson(aging.scratches / 20)  # about 20 frames each
            scratches = [s for s in scratches if s.alive]
            scratches += [_Scratch.new(scratch_rng, w, h) for _ in range(born)]
            for s in scratches:
                s.draw(f, scratch_rng, aging.scratch_speed_px)
            _dust(f, dust_rng, aging.dust_per_frame)
            f += _grain(grain_rng, h, w, aging.grain) * _grain_envelope(f)
            out[i] = np.clip(np.rint(f), 0, 255).astype(np.uint8)
    return out


def _seeds(seed: int) -> list[np.random.SeedSequence]:
    """Independent seeds for weave, exposure, scratches, dust and grain."""
    return np.random.SeedSequence(seed).spawn(5)


def weave_offsets(n: int, seed: int, sigma: float) -> np.ndarray:
    """The gate weave :func:`age_clip` applies with this seed: (n, 2) shifts (dx, dy) in px."""
    rng = np.random.default_rng(_seeds(seed)[0])
    return rng.normal(0, 1, (n, 2)) * np.array([sigma, sigma / 2])


def shift(frame: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """The frame moved by a sub-pixel ``offset`` (dx, dy), edges replicated; any channels."""
    m = np.float32([[1, 0, offset[0]], [0, 1, offset[1]]])
    h, w = frame.shape[:2]
    return cv2.warpAffine(frame, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@dataclass
class _Scratch:
    """A vertical scratch: where it is, how it looks and how long it lives."""

    x: float
    width: int
    top: int
    bottom: int
    level: float  # added gray levels: positive = white scratch (emulsion), negative = dark
    life: int

    @classmethod
    def new(cls, rng: np.random.Generator, w: int, h: int) -> _Scratch:
        top = int(rng.uniform(-0.5, 0.5) * h)
        return cls(
            x=rng.uniform(0.05, 0.95) * w,
            width=int(rng.integers(1, 3)),
            top=max(top, 0),
            bottom=int(min(h, top + rng.uniform(0.5, 1.5) * h)),
            level=float(rng.choice([-1, 1]) * rng.uniform(40, 110)),
            life=int(rng.integers(6, 35)),
        )

    @property
    def alive(self) -> bool:
        return self.life > 0

    def draw(self, frame: np.ndarray, rng: np.random.Generator, speed: float) -> None:
        """Draw the scratch on ``frame`` (in place), then let it wander and age by a frame."""
        x = int(round(self.x))
        if 0 <= x < frame.shape[1] - self.width and rng.random() > 0.1:  # sometimes skips
            strength = self.level * rng.uniform(0.6, 1.0)
            frame[self.top : self.bottom, x : x + self.width] += strength
        self.x += rng.normal(0, speed)
        self.life -= 1


def _dust(frame: np.ndarray, rng: np.random.Generator, per_frame: float) -> None:
    """Dark and white specks of dust and dirt, each only in this frame (in place)."""
    h, w = frame.shape
    for _ in range(rng.poisson(per_frame)):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(1, 4)), int(rng.integers(1, 3)))
        level = 245.0 if rng.random() < 0.3 else 10.0  # mostly dark dirt, some white
        cv2.ellipse(frame, centre, axes, float(rng.uniform(0, 180)), 0, 360, level, -1)


def _grain(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    """Film grain: gaussian noise of standard deviation ``sigma``, clumped over about 1 px."""
    noise = rng.standard_normal((h, w)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 0.7)
    return noise * (sigma / noise.std())


def _grain_envelope(frame: np.ndarray) -> np.ndarray:
    """Grain is strongest in the mid-tones and fades towards black and white (0.4 to 1)."""
    g = np.clip(frame, 0, 255) / 255
    return 0.4 + 2.4 * g * (1 - g)
