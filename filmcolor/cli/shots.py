"""``filmcolor shots``: the shot list of a film, to read or to correct."""

from __future__ import annotations

from pathlib import Path

import typer

from filmcolor.cli import options as opt
from filmcolor.cli.options import config_from
from filmcolor.cli.render import VideoProgress, plural, say, table
from filmcolor.config import ShotsConfig


def shots(
    input: Path = typer.Argument(..., metavar="video", help="The film."),
    csv_path: Path | None = typer.Option(None, "--csv", help="Also write the list as CSV."),
    detector: str = opt.DETECTOR,
    threshold: float | None = opt.THRESHOLD,
    min_shot_frames: int = opt.MIN_SHOT,
    max_damaged: int = opt.MAX_DAMAGED,
) -> None:
    """List the shots of a video (correct the CSV and pass it to `colorize --shots`)."""
    cfg = config_from(ShotsConfig, dict(locals()))
    from filmcolor.shotlist import write_csv
    from filmcolor.shots import analyse

    with VideoProgress() as progress:
        found = analyse(
            cfg.input,
            detector=cfg.detector,
            threshold=cfg.threshold,
            min_shot_frames=cfg.min_shot_frames,
            max_damaged=cfg.max_damaged,
            on_progress=progress,
        )
    if csv_path is not None:
        write_csv(csv_path, found.shots)
    rows = []
    for i, s in enumerate(found.shots, 1):
        end = "" if s.end_time is None else f"{s.end_time:.3f}"
        rows.append((str(i), str(s.start), str(s.frames), f"{s.start_time:.3f}", end))
    table(("shot", "start frame", "frames", "start (s)", "end (s)"), rows)
    say(f"{plural(len(found.shots), 'shot')}, {plural(found.frames, 'frame')}")
