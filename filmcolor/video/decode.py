"""Decoding a film's video stream into frames, repairing what can be repaired.

:func:`decode_video` gives every frame in display order with a valid timestamp, skipping (and
counting) damaged packets; :func:`decode_span` gives a run of frames from a seek, as pass 2
decodes one run of segments; :func:`luma_plane` is the only plane the colorizer reads.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from filmcolor.video.probe import LUMA_FIRST, VideoInputError, bit_depth

log = logging.getLogger(__name__)


@dataclass
class DecodeReport:
    """What went wrong while decoding, for the user."""

    damaged_packets: int = 0
    fixed_timestamps: int = 0
    corrupt_frames: int = 0


def decode_video(
    path: str | os.PathLike | av.container.InputContainer,
    *,
    max_damaged: int = 10,
    report: DecodeReport | None = None,
) -> Iterator[av.VideoFrame]:
    """Decoded frames of the first video stream, in display order, each with a valid ``pts``.

    Timestamps that are missing or that would go backwards are replaced by the previous frame's
    plus one frame duration (counted in ``report.fixed_timestamps``). Packets the decoder rejects
    are skipped and counted; more than ``max_damaged`` of them raise :class:`VideoInputError`.

    Args:
        path: the video file, or an open container (which the caller closes).
        max_damaged: how many damaged packets are tolerated.
        report: filled in as decoding goes.
    """
    if isinstance(path, av.container.InputContainer):
        yield from _decode(path, path.name, max_damaged, report)
        return
    with av.open(str(path)) as container:
        yield from _decode(container, path, max_damaged, report)


def _decode(
    container: av.container.InputContainer,
    path,
    max_damaged: int,
    report: DecodeReport | None,
) -> Iterator[av.VideoFrame]:
    report = report if report is not None else DecodeReport()
    vs = container.streams.video[0]
    vs.thread_type = "AUTO"
    tb = Fraction(vs.time_base)
    rate = vs.guessed_rate or vs.average_rate or Fraction(25)
    step = max(1, round(1 / (rate * tb))) if tb else 1
    last_pts: int | None = None

    def fixed(frame: av.VideoFrame) -> av.VideoFrame:
        nonlocal last_pts
        pts = frame.pts
        if pts is None or (last_pts is not None and pts <= last_pts):
            pts = 0 if last_pts is None else last_pts + step
            report.fixed_timestamps += 1
        frame.pts = last_pts = pts
        if frame.is_corrupt:
            report.corrupt_frames += 1
        return frame

    def damaged(e: Exception) -> None:
        report.damaged_packets += 1
        log.debug("damaged packet: %s", e)
        if report.damaged_packets > max_damaged:
            raise VideoInputError(
                f"{path}: more than {max_damaged} damaged video packets (last: {e}); "
                "the file is too broken to colorize (raise --max-damaged to go on anyway)"
            ) from None

    packets = container.demux(vs)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except (av.error.InvalidDataError, av.error.EOFError) as e:
            damaged(e)
            continue
        try:
            frames = packet.decode()
        except av.error.InvalidDataError as e:
            damaged(e)
            continue
        for frame in frames:
            yield fixed(frame)
    while True:  # drain: some decoders hold frames back after the last packet
        try:
            frames = vs.codec_context.decode(None)
        except av.error.EOFError:
            break
        except av.error.InvalidDataError as e:
            damaged(e)
            break
        if not frames:
            break
        for frame in frames:
            yield fixed(frame)


def decode_span(
    path: Path,
    start: int,
    start_pts: int,
    frames: int,
    *,
    max_damaged: int = 10,
    report: DecodeReport | None = None,
) -> Iterator[av.VideoFrame]:
    """``frames`` decoded frames from frame number ``start`` on, whose timestamp is
    ``start_pts``: as :func:`decode_video` gives them, from a seek to the keyframe before.

    When the seek does not land on that exact frame (missing or repaired timestamps, a
    keyframe index that points past it), the file is decoded from its start instead and
    frames are counted, as pass 1 counted them.

    Raises:
        VideoInputError: the file ends before the last frame asked for.
    """
    report = report if report is not None else DecodeReport()
    got = 0
    if start > 0:
        with av.open(str(path)) as container:
            vs = container.streams.video[0]
            try:
                container.seek(start_pts, stream=vs, backward=True, any_frame=False)
            except av.error.FFmpegError:
                log.debug("%s: cannot seek to %d; decoding from the start", path, start_pts)
            else:
                scratch = DecodeReport()
                decoded = decode_video(container, max_damaged=max_damaged, report=scratch)
                for frame in decoded:
                    if frame.pts < start_pts:
                        continue
                    if got == 0 and frame.pts != start_pts:
                        break
                    yield frame
                    got += 1
                    if got == frames:
                        break
                _merge(report, scratch)
                if got == frames:
                    return
                if got:  # frames were yielded: the count below would not match pass 1's
                    raise VideoInputError(
                        f"{path}: the film ends {frames - got} frame(s) early in pass 2"
                    )
    for n, frame in enumerate(decode_video(path, max_damaged=max_damaged, report=report)):
        if n >= start:
            yield frame
            got += 1
            if got == frames:
                return
    raise VideoInputError(f"{path}: the film ends {frames - got} frame(s) early in pass 2")


def _merge(report: DecodeReport, more: DecodeReport) -> None:
    report.damaged_packets += more.damaged_packets
    report.fixed_timestamps += more.fixed_timestamps
    report.corrupt_frames += more.corrupt_frames


def luma_plane(frame: av.VideoFrame) -> np.ndarray:
    """The frame's luma as (H, W) uint8 or uint16 code values, without any scaling.

    YUV and gray frames give their Y plane as stored. Other formats (RGB, palette) give
    BT.709 luma of their gamma-encoded RGB, full range.
    """
    name = frame.format.name
    if LUMA_FIRST.match(name):
        plane = frame.planes[0]
        dtype = np.uint16 if bit_depth(frame.format) > 8 else np.uint8
        row = plane.line_size // np.dtype(dtype).itemsize
        buf = np.frombuffer(memoryview(plane), dtype=dtype).reshape(-1, row)
        return buf[: frame.height, : frame.width].copy()
    deep = bit_depth(frame.format) > 8
    rgb = frame.to_ndarray(format="rgb48le" if deep else "rgb24").astype(np.float32)
    y = rgb @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    return np.rint(y).astype(np.uint16 if deep else np.uint8)
