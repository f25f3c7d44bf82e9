"""Progress reports from the library; only the CLI turns them into a progress bar."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Progress:
    """A progress report: ``stage`` is "shots" (pass 1), "colorize" (pass 2) or "preview"
    (the frames of a contact sheet)."""

    stage: str
    done: int
    total: int | None
    shot: int = 0  # 1-based, 0 = not known yet
    shots: int = 0


ProgressFn = Callable[[Progress], None]
