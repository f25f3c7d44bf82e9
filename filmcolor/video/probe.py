"""What a film is: :func:`probe` reads its header and first frame into a :class:`VideoInfo`.

Also the questions asked of an input before any work: is it a film at all (:func:`is_video`),
what range and depth its luma has (:func:`luma_format`), is it in colour already
(:func:`sample_rgb`).
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from filmcolor.checks import check_pixels
from filmcolor.color import RANGE_JPEG, RANGE_UNSPECIFIED, LumaFormat
from filmcolor.errors import UserError

# FFmpeg's AVFieldOrder: how the two fields of an interlaced frame are coded and shown.
FIELD_PROGRESSIVE, FIELD_TT, FIELD_BB, FIELD_TB, FIELD_BT = 1, 2, 3, 4, 5

# Pixel formats whose first plane is the luma plane, little-endian.
LUMA_FIRST = re.compile(r"^(gray|yuva?j?4[0-4][0-4]p|nv12|nv21)(\d+le)?$")


class VideoInputError(UserError):
    """An input the user gave that cannot be used."""


def is_still_format(name: str) -> bool:
    """Whether FFmpeg's demuxer ``name`` reads still pictures, not films: ``image2`` (an image
    file or a numbered sequence) and the ``*_pipe`` readers (``png_pipe``, ``jpeg_pipe``,
    ``webp_pipe``, ...). ``filmcolor frames`` colorizes those."""
    return name == "image2" or name.endswith("_pipe")


@dataclass(frozen=True)
class StreamInfo:
    """An audio or subtitle stream that is copied to the output."""

    index: int
    kind: str  # "audio" | "subtitle" | "data"
    codec: str
    language: str | None = None


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a file's first video stream."""

    path: Path
    container: str
    width: int
    height: int
    fps: Fraction  # the nominal (guessed) rate; frames keep their own timestamps
    time_base: Fraction
    frames_in_header: int  # 0 when the container does not say; may be wrong
    duration: float | None  # seconds
    pix_fmt: str
    bit_depth: int
    sar: Fraction | None
    rotation: int  # counter-clockwise degrees of the display matrix
    color_range: int
    colorspace: int
    color_primaries: int
    color_trc: int
    interlaced: bool
    video_index: int
    streams: tuple[StreamInfo, ...] = field(default_factory=tuple)
    start_time: float = 0.0  # seconds: the first frame's timestamp
    field_order: int = FIELD_PROGRESSIVE  # FFmpeg's AVFieldOrder; TT/BB/TB/BT = interlaced

    @property
    def estimated_frames(self) -> int | None:
        """The header's frame count, or duration x fps, or None."""
        if self.frames_in_header > 0:
            return self.frames_in_header
        if self.duration:
            return max(1, round(self.duration * self.fps))
        return None


def probe(path: str | os.PathLike, max_pixels: int | None = None) -> VideoInfo:
    """Open ``path``, read its first video frame and describe the file.

    Args:
        path: the film.
        max_pixels: the largest frame to decode (None = what this machine's memory takes).

    Raises:
        VideoInputError: missing, empty, unreadable, a still image, or without a video stream.
        TooLargeError: the header claims a frame larger than ``max_pixels``.
    """
    path = Path(path)
    if not path.exists():
        raise VideoInputError(f"input not found: {path}")
    if path.is_dir():
        raise VideoInputError(f"{path} is a folder; `filmcolor frames` colorizes image folders")
    if path.stat().st_size == 0:
        raise VideoInputError(f"{path} is empty (0 bytes)")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise VideoInputError(f"{path} is not a video file PyAV can read ({e})") from None
    with container:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["no"]
            raise VideoInputError(f"{path} has no video stream ({', '.join(kinds)} streams only)")
        vs = container.streams.video[0]
        if is_still_format(container.format.name):
            raise VideoInputError(
                f"{path} is a still image; `filmcolor frames {path} -o FOLDER` colorizes it"
            )
        check_pixels(vs.codec_context.width, vs.codec_context.height, max_pixels, str(path))
        first = None
        try:
            for packet in container.demux(vs):
                with contextlib.suppress(av.error.InvalidDataError):
                    decoded = packet.decode()
                    first = decoded[0] if decoded else None
                if first is not None:
                    break
        except av.error.FFmpegError as e:
            raise VideoInputError(f"{path}: cannot read the video stream ({e})") from None
        if first is None:
            raise VideoInputError(f"{path}: the video stream has no decodable frame")
        cc = vs.codec_context
        fps = vs.guessed_rate or vs.average_rate or vs.base_rate or Fraction(25)
        duration = None
        if vs.duration is not None and vs.time_base:
            duration = float(vs.duration * vs.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        streams = tuple(
            StreamInfo(s.index, s.type, s.codec_context.codec.canonical_name, s.language)
            for s in container.streams
            if s.type in ("audio", "subtitle") and s.codec_context is not None
        )
        sar = vs.sample_aspect_ratio
        interlaced = bool(first.interlaced_frame) or field_order_of(cc) >= 2  # TT, BB, TB, BT
        field_order = field_order_of(cc) if field_order_of(cc) >= 2 else FIELD_TT * interlaced
        fmt = first.format
        return VideoInfo(
            path=path,
            container=container.format.name,
            width=first.width,
            height=first.height,
            fps=Fraction(fps),
            time_base=Fraction(vs.time_base),
            frames_in_header=int(vs.frames or 0),
            duration=duration,
            pix_fmt=fmt.name,
            bit_depth=bit_depth(fmt),
            sar=Fraction(sar) if sar else None,
            rotation=int(first.rotation or 0) % 360,
            color_range=int(first.color_range or cc.color_range or 0),
            colorspace=int(first.colorspace if first.colorspace is not None else 2),
            color_primaries=int(first.color_primaries or cc.color_primaries or 2),
            color_trc=int(first.color_trc or cc.color_trc or 2),
            interlaced=interlaced,
            video_index=vs.index,
            streams=streams,
            start_time=float(first.pts * first.time_base) if first.pts and first.time_base else 0.0,
            field_order=field_order or FIELD_PROGRESSIVE,
        )


def field_order_of(cc) -> int:
    """The codec context's AVFieldOrder as an int (0 when unknown)."""
    value = getattr(cc, "field_order", 0)
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0 if str(value).lower() in ("progressive", "unknown") else 2


def bit_depth(fmt: av.VideoFormat) -> int:
    """Bits per sample of the deepest colour component (8 for a palette)."""
    if fmt.name.startswith("pal"):
        return 8
    return max(8, max(c.bits for c in fmt.components if not c.is_alpha))


def sample_rgb(info: VideoInfo, count: int = 8, width: int = 64) -> np.ndarray | None:
    """Small RGB copies of ``count`` frames spread through the film (seeking to each), to tell
    a colour film from a black-and-white one; None for a gray pixel format (no chroma at all).

    Returns:
        (N, h, width, 3) uint8, N <= count (seeks that fail are skipped).
    """
    if info.pix_fmt.startswith(("gray", "ya", "pal")) or info.pix_fmt in ("monow", "monob"):
        return None
    height = max(2, round(info.height * width / info.width / 2) * 2)
    frames = []
    with av.open(str(info.path)) as container:
        vs = container.streams.video[0]
        span = (info.duration or 0) / vs.time_base if vs.time_base else 0
        for k in range(count):
            try:
                if k and span:
                    container.seek(int(vs.start_time or 0) + int(span * k / count), stream=vs)
                frame = next(container.decode(vs), None)
            except (av.error.FFmpegError, StopIteration):
                continue
            if frame is not None:
                small = frame.reformat(width=width, height=height, format="rgb24")
                frames.append(small.to_ndarray())
            if not span:
                break  # no duration to seek by: the first frame says it
    return np.stack(frames) if frames else None


def luma_format(info: VideoInfo) -> LumaFormat:
    """Bit depth and range of the luma plane that :func:`luma_plane` returns for this stream."""
    if not LUMA_FIRST.match(info.pix_fmt):
        return LumaFormat(info.bit_depth, True)  # RGB-like input: luma computed full range
    full = info.color_range == RANGE_JPEG or "yuvj" in info.pix_fmt
    if info.color_range == RANGE_UNSPECIFIED and info.pix_fmt.startswith("gray"):
        full = True  # a gray picture without a tag means 0 = black, max = white
    return LumaFormat(info.bit_depth, full)


def is_video(path: Path) -> bool:
    """Whether PyAV opens ``path`` as a film: a container (not a still image) with a video
    stream that is not cover art."""
    try:
        with av.open(str(path)) as container:
            name = container.format.name
            if is_still_format(name) or name in ("gif", "webp"):  # nor animations, in folders
                return False
            return any(
                not (s.disposition & av.stream.Disposition.attached_pic)
                for s in container.streams.video
            )
    except (av.error.FFmpegError, UnicodeDecodeError, OSError):
        return False
