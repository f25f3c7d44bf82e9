"""Pass 1: decode the film once, find the cuts, and average global vectors per shot.

:func:`analyse` is the library call (``filmcolor shots`` is a thin wrapper around it), as
PySceneDetect's ``detect()``: a file in, the shots and their colours out, progress through a
callback. Cuts are found by PySceneDetect's detectors, fed the luma frames we decode ourselves
(no second decoder, no colour conversion): :class:`scenedetect.ContentDetector` with
``luma_only`` by default, or :class:`scenedetect.AdaptiveDetector`. The shot list a person
corrects is :mod:`filmcolor.shotlist`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np
import torch
from scenedetect import AdaptiveDetector, ContentDetector
from scenedetect.common import FrameTimecode

from filmcolor.colorizer import Colorizer, thumb224
from filmcolor.config import DEFAULT_THRESHOLDS, DETECTORS
from filmcolor.errors import UserError
from filmcolor.progress import Progress, ProgressFn
from filmcolor.video.decode import decode_video, luma_plane
from filmcolor.video.probe import VideoInfo, luma_format, probe

DETECT_WIDTH = 128  # frames are shrunk to this width (keeping the aspect) before detection
SAMPLES_PER_SECOND = 2  # pass 1 computes a global vector this often


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
