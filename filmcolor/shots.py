"""Pass 1: decode the film once, find the cuts, and average global vectors per shot.

:func:`analyse` is the library call (``filmcolor shots`` is a thin wrapper around it), as
PySceneDetect's ``detect()``: a file in, the shots and their colours out, progress through a
callback. Cuts are found by PySceneDetect's detectors, fed the luma frames we decode ourselves
(no second decoder, no colour conversion): :class:`scenedetect.ContentDetector` with
``luma_only`` by default, or :class:`scenedetect.AdaptiveDetector`. The shot list can be
written as CSV, corrected by a person, and read back.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch
from scenedetect import AdaptiveDetector, ContentDetector
from scenedetect.common import FrameTimecode

from filmcolor.colorizer import Colorizer, thumb224
from filmcolor.config import DEFAULT_THRESHOLDS, DETECTORS
from filmcolor.errors import UserError
from filmcolor.progress import Progress, ProgressFn
from filmcolor.timecode import parse_time
from filmcolor.video.decode import decode_video, luma_plane
from filmcolor.video.probe import VideoInfo, luma_format, probe

DETECT_WIDTH = 128  # frames are shrunk to this width (keeping the aspect) before detection
CSV_FIELDS = ("shot", "start_frame", "frames", "start_time", "end_time", "style")
# Where a shot list says when a shot starts: ours, then PySceneDetect's (its frames count from 1).
_FRAME_COLUMNS = ("start_frame", "start frame")
_TIME_COLUMNS = ("start_time", "start time (seconds)", "start timecode")
SAMPLES_PER_SECOND = 2  # pass 1 computes a global vector this often


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


@dataclass(frozen=True)
class Shot:
    """Frames ``start`` (inclusive) to ``end`` (exclusive), in display order from 0."""

    start: int
    end: int
    start_time: float | None = None  # seconds, from the frame's own timestamp
    end_time: float | None = None

    @property
    def frames(self) -> int:
        return self.end - self.start


class CutDetector:
    """Feeds luma frames, one at a time, to a PySceneDetect detector and collects the cuts.

    Args:
        fps: nominal frame rate (only used to express the minimum shot length).
        detector: ``"content"`` or ``"adaptive"``.
        threshold: the detector's threshold; None = :data:`filmcolor.config.DEFAULT_THRESHOLDS`
            (content: on PySceneDetect's 0-255 scale; adaptive: a ratio to the neighbours).
        min_shot_frames: no shot shorter than this (flashes are merged, not cut).
    """

    def __init__(
        self,
        fps: Fraction | float,
        detector: str = "content",
        threshold: float | None = None,
        min_shot_frames: int = 15,
    ):
        if threshold is None and detector in DEFAULT_THRESHOLDS:
            threshold = DEFAULT_THRESHOLDS[detector]
        if detector == "content":
            self.detector = ContentDetector(
                threshold=threshold,
                min_scene_len=min_shot_frames,
                luma_only=True,
            )
        elif detector == "adaptive":
            self.detector = AdaptiveDetector(
                adaptive_threshold=threshold,
                min_scene_len=min_shot_frames,
                luma_only=True,
            )
        else:
            raise UserError(f"unknown detector {detector!r}; choose from {', '.join(DETECTORS)}")
        self.fps = Fraction(fps)
        self.frames = 0
        self.cuts: list[int] = []
        self.level: float | None = None  # running mean brightness (see :meth:`add`)

    def add(self, gray: np.ndarray) -> None:
        """Add the next frame: (h, w) uint8 luma, already small.

        Brightness flicker of old prints (a few percent, frame to frame) is taken out first: the
        frame is scaled towards a running mean brightness, by at most 20% either way, so a
        flickering frame is not a cut and a real cut still differs in content and brightness.
        """
        mean = float(gray.mean())
        self.level = mean if self.level is None else 0.9 * self.level + 0.1 * mean
        gain = min(max(self.level / max(mean, 1.0), 0.8), 1.25)
        if abs(gain - 1) > 1e-3:
            gray = cv2.convertScaleAbs(gray, alpha=gain)
        bgr = np.repeat(gray[:, :, None], 3, axis=2)  # R=G=B, so the detector's V is our luma
        found = self.detector.process_frame(FrameTimecode(self.frames, self.fps), bgr)
        self.cuts.extend(tc.frame_num for tc in found)
        self.frames += 1

    def finish(self) -> list[int]:
        """All cut positions (the first frame of each new shot), once every frame was added."""
        if self.frames:
            last = FrameTimecode(self.frames - 1, self.fps)
            self.cuts.extend(tc.frame_num for tc in self.detector.post_process(last))
        return sorted({c for c in self.cuts if 0 < c < self.frames})


def small_gray(y: np.ndarray, bits: int, width: int = DETECT_WIDTH) -> np.ndarray:
    """Luma code values (any depth) -> a small 8-bit frame for the detector."""
    if bits > 8:
        y = (y >> (bits - 8)).astype(np.uint8)
    h, w = y.shape
    if w > width:
        y = cv2.resize(y, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    return y


def shots_from_cuts(
    cuts: Iterable[int], total: int, times: list[float] | None = None
) -> list[Shot]:
    """Shots between consecutive cuts; ``times`` (seconds per frame) adds start/end times."""
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < total), total]
    shots = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        start_time = times[a] if times else None
        end_time = times[b] if times and b < len(times) else None
        shots.append(Shot(a, b, start_time, end_time))
    return shots


def sample_positions(n: int, count: int) -> list[int]:
    """``count`` positions spread evenly over ``n`` items (the centres of ``count`` equal
    parts); all ``n`` when there are no more than ``count``."""
    k = min(count, n)
    return [int((i + 0.5) * n / k) for i in range(k)]


def detect(
    frames: Iterator[np.ndarray],
    fps: Fraction | float,
    *,
    detector: str = "content",
    threshold: float | None = None,
    min_shot_frames: int = 15,
) -> list[int]:
    """Cut positions in a sequence of small 8-bit luma frames (library entry without a file)."""
    cut = CutDetector(fps, detector, threshold, min_shot_frames)
    for frame in frames:
        cut.add(frame)
    return cut.finish()


@dataclass
class Analysis:
    """The result of pass 1."""

    frames: int
    cuts: list[int]
    shots: list[Shot]
    vectors: dict[int, torch.Tensor]  # shot index -> (1, D) global vector (missing = compute)


def analyse(
    video: VideoInfo | str | os.PathLike,
    colorizer: Colorizer | None = None,
    *,
    cuts: list[int] | None = None,
    detector: str = "content",
    threshold: float | None = None,
    min_shot_frames: int = 15,
    samples_per_shot: int = 5,
    max_damaged: int = 10,
    on_progress: ProgressFn | None = None,
) -> Analysis:
    """Pass 1: decode once, find cuts (unless given), and average global vectors per shot.

    A global vector is computed for :data:`SAMPLES_PER_SECOND` frames a second; each shot's
    vector is the mean of ``samples_per_shot`` of its samples, spread evenly through the shot.

    Args:
        video: the file, or what :func:`filmcolor.video.probe.probe` said about it.
        colorizer: computes the global vectors; None = find the shots only.
        cuts: a given shot list (first frames of shots); None = detect.
        detector, threshold, min_shot_frames: see :class:`CutDetector`.
        samples_per_shot: how many sampled frames per shot are averaged.
        max_damaged: damaged packets tolerated.
        on_progress: called every few frames.

    Raises:
        VideoInputError: the file cannot be read (see :func:`filmcolor.video.probe.probe`).
    """
    info = video if isinstance(video, VideoInfo) else probe(video)
    luma = luma_format(info)
    lut = luma.lightness_table()
    finder = CutDetector(info.fps, detector, threshold, min_shot_frames) if cuts is None else None
    stride = max(1, round(float(info.fps) / SAMPLES_PER_SECOND))
    samples: list[tuple[int, torch.Tensor]] = []
    pending: list[tuple[int, torch.Tensor]] = []
    times: list[float] = []
    total = info.estimated_frames

    def flush() -> None:
        if pending:
            g = colorizer.global_vector(torch.stack([t for _, t in pending]))
            samples.extend((i, v) for (i, _), v in zip(pending, g, strict=True))
            pending.clear()

    n = 0
    for frame in decode_video(info.path, max_damaged=max_damaged):
        y = luma_plane(frame)
        times.append(float(frame.pts * info.time_base))
        if finder is not None:
            finder.add(small_gray(y, luma.bits))
        if colorizer is not None and n % stride == 0:
            pending.append((n, thumb224(y, lut)))
            if len(pending) == 16:
                flush()
        n += 1
        if on_progress and n % 25 == 0:
            on_progress(Progress("shots", n, max(total or 0, n)))
    if colorizer is not None:
        flush()
    if finder is not None:
        cuts = finder.finish()
    if times:
        times.append(times[-1] + float(1 / info.fps))  # when the last frame ends
    shots = shots_from_cuts(cuts or [], n, times)
    if on_progress:
        on_progress(Progress("shots", n, n, len(shots), len(shots)))
    vectors = {}
    for k, shot in enumerate(shots):
        inside = [v for i, v in samples if shot.start <= i < shot.end]
        if inside:
            picks = sample_positions(len(inside), samples_per_shot)
            vectors[k] = torch.stack([inside[j] for j in picks]).mean(0, keepdim=True)
    return Analysis(n, sorted(set(cuts or [])), shots, vectors)


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
