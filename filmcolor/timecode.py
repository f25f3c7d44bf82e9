"""Times as people write them: seconds (``83.5``), ``MM:SS.s`` (``1:23.5``) or ``HH:MM:SS.s``
(``00:01:23.5``). One parser for every option and file that takes a time: ``--style
film.mp4@1:23.5``, a shot list's time column and its ``style`` cells.
"""

from __future__ import annotations

import math


def parse_time(text: str) -> float:
    """Seconds from ``"83.5"``, ``"1:23.5"`` or ``"00:01:23.5"``.

    Raises:
        ValueError: not a time (empty, more than three fields, negative, NaN or infinite).
    """
    parts = text.strip().split(":")
    if len(parts) > 3 or not all(parts):
        raise ValueError(text)
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + float(p)
    if not 0 <= seconds < math.inf:  # negative, NaN or infinite
        raise ValueError(text)
    return seconds


def format_time(seconds: float) -> str:
    """``HH:MM:SS.mmm``, which :func:`parse_time` reads back."""
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
