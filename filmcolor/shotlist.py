"""The shot list: the CSV that ``filmcolor shots`` writes, a person corrects in a spreadsheet,
and ``--shots`` reads back (which columns count, how times are read, what is checked).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from filmcolor.errors import UserError
from filmcolor.shots import Shot
from filmcolor.timecode import parse_time

CSV_FIELDS = ("shot", "start_frame", "frames", "start_time", "end_time", "style")
# Where a shot list says when a shot starts: ours, then PySceneDetect's (its frames count from 1).
_FRAME_COLUMNS = ("start_frame", "start frame")
_TIME_COLUMNS = ("start_time", "start time (seconds)", "start timecode")


class ShotListError(UserError):
    """A shot list that cannot be used."""


@dataclass(frozen=True)
class StyleCell:
    """A filled ``style`` cell of a shot list: the reference as written, and its line."""

    text: str  # an image path relative to the CSV, or a video frame (``film.mp4@00:01:23.5``)
    line: int


@dataclass(frozen=True)
class ShotList:
    """A shot list read from CSV (:func:`read_shot_list`)."""

    path: Path
    cuts: list[int]  # every start frame except 0, increasing
    styles: dict[int, StyleCell]  # start frame -> the reference that colours that shot
    keyframes: dict[int, StyleCell] = field(default_factory=dict)  # start frame -> a coloured
    # frame of that shot (a ``keyframe`` column, added by the user; issue 22)


def write_csv(
    path: str | os.PathLike, shots: list[Shot], styles: dict[int, str] | None = None
) -> Path:
    """Write a shot list a person can correct in a spreadsheet and pass back with ``--shots``.

    Args:
        path: the CSV file.
        shots: the shots.
        styles: shot index -> the text of its ``style`` cell (the column is always written,
            empty where a shot keeps its own colours).
    """
    path = Path(path)
    styles = styles or {}
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_FIELDS)
        for i, s in enumerate(shots, 1):
            times = _fmt_time(s.start_time), _fmt_time(s.end_time)
            w.writerow([i, s.start, s.frames, *times, styles.get(i - 1, "")])
    return path


def read_csv(path: str | os.PathLike, **options) -> list[int]:
    """The cuts of a shot list: :func:`read_shot_list` (same options) without the styles."""
    return read_shot_list(path, **options).cuts


def read_shot_list(
    path: str | os.PathLike,
    *,
    fps: Fraction | float | None = None,
    start: float = 0.0,
    total: int | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> ShotList:
    """The shot starts of a shot list, and each row's ``style`` cell: ours (``filmcolor
    shots --csv``) as written or edited, or PySceneDetect's own (``scenedetect ...
    list-scenes``); comma- or semicolon-separated.

    Each row's first frame is its frame column (``start_frame``, from 0; PySceneDetect's
    ``Start Frame`` counts from 1) or, when that is empty or absent, its time column
    (``start_time`` or ``Start Time (seconds)``) times ``fps``. When a row has both and they
    disagree by more than a frame, the frame column wins and ``on_warning`` says so. Times
    take a decimal comma (``0,800``, as European spreadsheets write). A shot ends where the
    next starts; a ``frames`` column that says otherwise (an overlap or a gap, after an edit)
    is not read, and ``on_warning`` names its line. ``end_time`` is not read.

    Args:
        path: the CSV file.
        fps: the film's frame rate, to turn times into frames.
        start: the time of the film's first frame (seconds), subtracted from times.
        total: the film's frame count; a start at or past it is an error.
        on_warning: receives messages for the user (default: ignored).

    Returns:
        Cut positions (every start frame except 0), in increasing order, and each filled
        ``style`` cell by its row's start frame (read as references by
        :func:`filmcolor.styles.csv_styles`).

    Raises:
        ShotListError: missing file, no frame or time column, no shot (a header alone), a
            value that is not a non-negative number, starts that do not increase, or a start
            past the end.
    """
    path = Path(path)
    if not path.is_file():
        raise ShotListError(f"shot list not found: {path}")
    with open(path, newline="", encoding="utf-8-sig") as f:
        lines = f.read().splitlines()
    known = (*_FRAME_COLUMNS, *_TIME_COLUMNS)
    # The header is the first line that names a known column (PySceneDetect may write its
    # cut list above it).
    first = next((i for i, t in enumerate(lines[:2], 1) if any(k in t.lower() for k in known)), 1)
    header = lines[first - 1] if len(lines) >= first else ""
    delimiter = ";" if header.count(";") > header.count(",") else ","
    rows = csv.reader(lines[first - 1 :], delimiter=delimiter)
    names = [n.strip().lower() for n in next(rows, [])]
    frame_col = next((c for c in _FRAME_COLUMNS if c in names), None)
    time_col = next((c for c in _TIME_COLUMNS if c in names), None)
    if frame_col is None and time_col is None:
        raise ShotListError(
            f"{path} has no start_frame or start_time column (write one with `filmcolor shots`)"
        )
    one_based = frame_col == "start frame"
    starts: list[int] = []
    said: tuple[int, str] | None = None  # the row above: its line and its frames cell
    styles: dict[int, StyleCell] = {}
    keyframes: dict[int, StyleCell] = {}
    for line, row in enumerate(rows, first + 1):
        cells = dict(zip(names, (v.strip() for v in row), strict=False))
        frame_text = cells.get(frame_col, "") if frame_col else ""
        time_text = cells.get(time_col, "") if time_col else ""
        frame = time_frame = None
        if frame_text:
            if not frame_text.isdigit() or (one_based and int(frame_text) == 0):
                raise ShotListError(
                    f"{path}, line {line}: {frame_col} {frame_text!r} is not a frame number"
                )
            frame = int(frame_text) - one_based
        if time_text and (frame is None or fps is not None):
            time_frame = _frame_at(time_text, fps, start, f"{path}, line {line}: {time_col}")
        if frame is None and time_frame is None:
            continue
        disagree = frame is not None and time_frame is not None and abs(frame - time_frame) > 1
        if disagree and on_warning:
            on_warning(
                f"{path.name}, line {line}: {frame_col} {frame_text} and {time_col} "
                f"{time_text} (frame {time_frame}) disagree; using {frame_col} "
                "(empty it to use the time)"
            )
        frame = time_frame if frame is None else frame
        if starts and frame <= starts[-1]:
            raise ShotListError(
                f"{path}, line {line}: the shot starts at frame {frame}, not after the one "
                f"above it (frame {starts[-1]}); list the shots in order, once each"
            )
        if said is not None and on_warning:
            _check_frames(path.name, *said, starts[-1], line, frame, on_warning)
        starts.append(frame)
        said = (line, cells.get("frames", ""))
        if cells.get("style"):
            styles[frame] = StyleCell(cells["style"], line)
        if cells.get("keyframe"):
            keyframes[frame] = StyleCell(cells["keyframe"], line)
    if not starts:
        raise ShotListError(
            f"{path} lists no shots (a header and no rows); give each shot a row with its "
            "start_frame or start_time, or leave out --shots to find the shots"
        )
    cuts = [s for s in starts if s > 0]
    if total is not None:
        check_starts(cuts, total, path)
    return ShotList(path, cuts, styles, keyframes)


def _check_frames(
    name: str,
    line: int,
    frames: str,
    start: int,
    next_line: int,
    next_start: int,
    on_warning: Callable[[str], None],
) -> None:
    """Warn when the ``frames`` cell of the row on ``line`` (its shot starts at ``start``)
    does not end the shot where the row on ``next_line`` starts the next."""
    if not frames.isdigit() or start + int(frames) == next_start:
        return
    end = start + int(frames)
    if end > next_start:
        what = f"overlaps the next shot (line {next_line}, from frame {next_start})"
    else:
        what = f"leaves frames {end}-{next_start - 1} before the next shot (line {next_line})"
    on_warning(
        f"{name}, line {line}: frames {frames} ends this shot at frame {end} and {what}; "
        f"the next start wins (this shot is {next_start - start} frames): correct or empty "
        "the frames cell"
    )


def check_starts(cuts: list[int], total: int, path: str | os.PathLike) -> None:
    """Every cut of the shot list ``path`` falls inside a film of ``total`` frames.

    Raises:
        ShotListError: a shot starts at or past the end.
    """
    late = [c for c in cuts if c >= total]
    if late:
        raise ShotListError(
            f"{path}: a shot starts at frame {late[0]}, past the end of the film "
            f"({total} frames, numbered 0 to {total - 1})"
        )


def _frame_at(text: str, fps: Fraction | float | None, start: float, where: str) -> int:
    """A time (seconds, MM:SS.s or HH:MM:SS.s) -> the frame shown then."""
    if "," in text and "." not in text:  # a decimal comma: 0,800 or 00:01:23,5
        text = text.replace(",", ".")
    try:
        seconds = parse_time(text)
    except ValueError:
        raise ShotListError(f"{where} {text!r} is not a time (seconds or HH:MM:SS.s)") from None
    if fps is None:
        raise ShotListError(f"{where}: times need the film's frame rate; give start_frame")
    return max(0, round((seconds - start) * float(fps)))


def _fmt_time(t: float | None) -> str:
    return "" if t is None else f"{t:.3f}"
