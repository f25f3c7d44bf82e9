"""Checks on the input before any work: is it black-and-white, and does a frame fit in memory?

A colour film or photograph would have its colours replaced by the network's guesses, so it is
refused unless ``--force``. A header that claims an enormous frame is refused before anything
that size is allocated.
"""

from __future__ import annotations

import os

import numpy as np

from filmcolor.errors import UserError

BYTES_PER_PIXEL = 200  # what a frame costs in flight: luma, L*, a*b*, RGB, queued frames


# What one frame of a pass-2 batch costs, measured with the shipped network in fp32 on CPU
# (320x240 frames, one 160-frame shot, batch 8 and 160, render size 128 and 256: 142 bytes
# per pixel the network renders, 20 per pixel of the frame), with a margin.
NETWORK_BYTES_PER_PIXEL = 160
FRAME_BYTES_PER_PIXEL = 32
BATCH_SHARE = 8  # a batch may take an eighth of the memory it runs in (frames queue beside it)


def machine_memory() -> int | None:
    """This machine's RAM in bytes (None: unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def default_max_pixels() -> int:
    """The largest frame (in pixels) this machine's memory takes: RAM / 200 bytes, in whole
    megapixels (RAM unknown: 50 MP)."""
    ram = machine_memory()
    if ram is None:
        return 50_000_000
    return max(1, ram // BYTES_PER_PIXEL // 1_000_000) * 1_000_000


def batch_frame_bytes(width: int, height: int, render_size: int) -> int:
    """What one ``width`` x ``height`` frame of a batch costs when the network runs with the
    short side at ``render_size`` (0 = the frame's own size), in bytes."""
    short = min(width, height)
    scale = render_size / short if render_size and short > render_size else 1.0
    rendered = width * height * scale * scale
    return int(rendered * NETWORK_BYTES_PER_PIXEL + width * height * FRAME_BYTES_PER_PIXEL)


def max_batch(width: int, height: int, render_size: int, memory: int | None) -> int | None:
    """The largest batch of such frames that takes at most ``memory / BATCH_SHARE`` bytes
    (at least 1; None when ``memory`` is unknown)."""
    if memory is None:
        return None
    return max(1, memory // BATCH_SHARE // batch_frame_bytes(width, height, render_size))


class AlreadyColourError(UserError):
    """Input that already has colour (``--force`` colorizes it anyway)."""


class TooLargeError(UserError):
    """A frame larger than ``--max-pixels``."""


def check_pixels(width: int, height: int, max_pixels: int | None, what: str) -> None:
    """Refuse a ``width`` x ``height`` frame above ``max_pixels`` (None = the default).

    Raises:
        TooLargeError: naming ``what`` (the file) and the limit.
    """
    limit = default_max_pixels() if max_pixels is None else max_pixels
    if width * height > limit:
        raise TooLargeError(
            f"{what} claims {width}x{height} pixels ({width * height / 1e6:.0f} MP), more than "
            f"--max-pixels {limit / 1e6:.0f} MP this machine's memory takes"
        )


def check_black_and_white(rgb: np.ndarray | None, what: str) -> None:
    """Refuse pixels that already show colour in more than one hue (toned prints pass).

    Args:
        rgb: (..., 3) pixels sampled from the input; None = no chroma at all.
        what: the file, for the message.

    Raises:
        AlreadyColourError: the input is in colour.
    """
    from filmcolor.color import colour_facts, is_colour  # OpenCV and torch: when needed

    if rgb is None or not is_colour(rgb):
        return
    share, _ = colour_facts(rgb)
    raise AlreadyColourError(
        f"{what} is already in colour ({share:.0%} of its pixels); colorizing would replace "
        "its colours: pass --force to do it anyway"
    )
