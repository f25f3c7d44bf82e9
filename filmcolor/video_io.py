"""Reading and writing video with PyAV: probe, decode the luma plane, encode, copy other streams.

The output keeps what the input had: each frame's ``pts`` in the input's time base (variable
frame rate survives), the sample aspect ratio, the rotation (display matrix), the colour range and
matrix tags, and every audio and subtitle stream packet for packet. It is written to a temporary
file beside the final name, verified, and only then renamed, following PyAV's
``examples/basics/remux.py`` for the packet copy.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from filmcolor.checks import check_pixels
from filmcolor.color import (
    KR_KB,
    RANGE_JPEG,
    RANGE_MPEG,
    RANGE_UNSPECIFIED,
    SPACE_BT709,
    SPACE_SMPTE170M,
    LumaFormat,
    OutputFormat,
)
from filmcolor.errors import UserError
from filmcolor.files import publish, temporary_beside
from filmcolor.metadata import copy_video_metadata

log = logging.getLogger(__name__)

CODECS = ("libx264", "libx265", "ffv1", "prores")
MAX_BITS = {"libx264": 10, "libx265": 12, "ffv1": 16, "prores": 10}

# FFmpeg's AVFieldOrder: how the two fields of an interlaced frame are coded and shown.
FIELD_PROGRESSIVE, FIELD_TT, FIELD_BB, FIELD_TB, FIELD_BT = 1, 2, 3, 4, 5

# Pixel formats whose first plane is the luma plane, little-endian.
_LUMA_FIRST = re.compile(r"^(gray|yuva?j?4[0-4][0-4]p|nv12|nv21)(\d+le)?$")


class VideoInputError(UserError):
    """An input the user gave that cannot be used."""


class VideoOutputError(UserError):
    """An output that cannot be written as asked."""


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
        if container.format.name == "image2" or container.format.name.endswith("_pipe"):
            raise VideoInputError(
                f"{path} is a still image; `filmcolor frames FOLDER -o OUT` colorizes photographs"
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
        interlaced = bool(first.interlaced_frame) or _field_order(cc) >= 2  # TT, BB, TB, BT
        field_order = _field_order(cc) if _field_order(cc) >= 2 else FIELD_TT * interlaced
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
            bit_depth=_bit_depth(fmt),
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


def _field_order(cc) -> int:
    value = getattr(cc, "field_order", 0)
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0 if str(value).lower() in ("progressive", "unknown") else 2


def keep_interlacing(cc, options: dict[str, str], codec: str, field_order: int) -> None:
    """Make an interlaced input's output interlaced too, with the same field order.

    The fields stay woven in each frame as decoded (luma untouched), so tagging the field order
    is what players need; x264 and ProRes also code the frame as fields (interlaced DCT and
    motion estimation), and x264 marks each picture top or bottom field first.
    """
    if field_order < FIELD_TT:
        return
    cc.field_order = field_order
    top_first = field_order in (FIELD_TT, FIELD_BT)
    if codec == "libx264":
        options["flags"] = "+ildct+ilme"
        options["x264-params"] = "interlaced=1:" + ("tff=1" if top_first else "bff=1")
    elif codec == "prores":
        options["flags"] = "+ildct"


def _bit_depth(fmt: av.VideoFormat) -> int:
    if fmt.name.startswith("pal"):
        return 8
    return max(8, max(c.bits for c in fmt.components if not c.is_alpha))


# Luma in, frames out.


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
    if not _LUMA_FIRST.match(info.pix_fmt):
        return LumaFormat(info.bit_depth, True)  # RGB-like input: luma computed full range
    full = info.color_range == RANGE_JPEG or "yuvj" in info.pix_fmt
    if info.color_range == RANGE_UNSPECIFIED and info.pix_fmt.startswith("gray"):
        full = True  # a gray picture without a tag means 0 = black, max = white
    return LumaFormat(info.bit_depth, full)


def luma_plane(frame: av.VideoFrame) -> np.ndarray:
    """The frame's luma as (H, W) uint8 or uint16 code values, without any scaling.

    YUV and gray frames give their Y plane as stored. Other formats (RGB, palette) give
    BT.709 luma of their gamma-encoded RGB, full range.
    """
    name = frame.format.name
    if _LUMA_FIRST.match(name):
        plane = frame.planes[0]
        dtype = np.uint16 if _bit_depth(frame.format) > 8 else np.uint8
        row = plane.line_size // np.dtype(dtype).itemsize
        buf = np.frombuffer(memoryview(plane), dtype=dtype).reshape(-1, row)
        return buf[: frame.height, : frame.width].copy()
    deep = _bit_depth(frame.format) > 8
    rgb = frame.to_ndarray(format="rgb48le" if deep else "rgb24").astype(np.float32)
    y = rgb @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    return np.rint(y).astype(np.uint16 if deep else np.uint8)


def choose_output_format(info: VideoInfo, codec: str) -> OutputFormat:
    """4:2:0 where the codec is a delivery codec and the size is even, else 4:4:4 (same size).

    ``codec`` is one of :data:`CODECS` (:func:`check_codec_fits` says so to the user).
    """
    luma = luma_format(info)
    bits = min(luma.bits, MAX_BITS[codec])
    if codec == "prores":
        bits = 10
    elif codec in ("libx264", "libx265", "ffv1") and bits > 8:
        allowed = {"libx264": (10,), "libx265": (10, 12), "ffv1": (10, 12, 16)}[codec]
        bits = min((b for b in allowed if b >= bits), default=max(allowed))
    even = info.width % 2 == 0 and info.height % 2 == 0
    subsampled = codec in ("libx264", "libx265") and even
    pix_fmt = ("yuv420p" if subsampled else "yuv444p") + (f"{bits}le" if bits > 8 else "")
    space = info.colorspace
    if space not in KR_KB:  # unspecified or RGB: choose and tag a matrix players agree on
        space = SPACE_BT709 if info.height >= 720 else SPACE_SMPTE170M
    return OutputFormat(codec, pix_fmt, bits, subsampled, luma.full_range, space)


def make_frame(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, fmt: OutputFormat) -> av.VideoFrame:
    """A planar YUV frame of ``fmt`` from its three planes (numpy, code values)."""
    h, w = y.shape
    frame = av.VideoFrame(w, h, fmt.pix_fmt)
    dtype = np.uint16 if fmt.bits > 8 else np.uint8
    for plane, values in zip(frame.planes, (y, cb, cr), strict=True):
        row = plane.line_size // np.dtype(dtype).itemsize
        buf = np.frombuffer(memoryview(plane), dtype=dtype).reshape(-1, row)
        buf[: plane.height, : plane.width] = values
    frame.color_range = RANGE_JPEG if fmt.full_range else RANGE_MPEG
    frame.colorspace = fmt.colorspace
    return frame


# Decoding.


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
    copy_streams: tuple[int, ...] = (),
    on_packet: Callable[[av.Packet], None] | None = None,
) -> Iterator[av.VideoFrame]:
    """Decoded frames of the first video stream, in display order, each with a valid ``pts``.

    Timestamps that are missing or that would go backwards are replaced by the previous frame's
    plus one frame duration (counted in ``report.fixed_timestamps``). Packets the decoder rejects
    are skipped and counted; more than ``max_damaged`` of them raise :class:`VideoInputError`.

    Args:
        path: the video file, or an open container (which the caller closes: copied packets
            stay valid only while their container is open).
        max_damaged: how many damaged packets are tolerated.
        report: filled in as decoding goes.
        copy_streams: indices of other streams whose packets are passed to ``on_packet``.
        on_packet: receives those packets in file order (flush packets without dts are dropped).
    """
    if isinstance(path, av.container.InputContainer):
        yield from _decode(path, path.name, max_damaged, report, copy_streams, on_packet)
        return
    with av.open(str(path)) as container:
        yield from _decode(container, path, max_damaged, report, copy_streams, on_packet)


def _decode(
    container: av.container.InputContainer,
    path,
    max_damaged: int,
    report: DecodeReport | None,
    copy_streams: tuple[int, ...],
    on_packet: Callable[[av.Packet], None] | None,
) -> Iterator[av.VideoFrame]:
    report = report if report is not None else DecodeReport()
    vs = container.streams.video[0]
    vs.thread_type = "AUTO"
    tb = Fraction(vs.time_base)
    rate = vs.guessed_rate or vs.average_rate or Fraction(25)
    step = max(1, round(1 / (rate * tb))) if tb else 1
    last_pts: int | None = None
    streams = [vs] + [container.streams[i] for i in copy_streams]

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

    packets = container.demux(streams)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except (av.error.InvalidDataError, av.error.EOFError) as e:
            damaged(e)
            continue
        if packet.stream.index != vs.index:
            if on_packet is not None and packet.dts is not None and packet.size:
                on_packet(packet)
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


# Writing.


@dataclass(frozen=True)
class StreamPlan:
    """What happens to one non-video input stream."""

    index: int
    kind: str
    codec: str
    action: str  # "copy" | "transcode"
    target_codec: str | None = None


def plan_streams(info: VideoInfo, output: Path) -> tuple[StreamPlan, ...]:
    """Decide, before any work, how each audio/subtitle stream gets into ``output``'s container.

    A stream the container cannot hold is transcoded (audio, to AAC or FLAC) or refused with a
    message that names a container that can hold it.

    Raises:
        VideoOutputError: the container cannot be written, or cannot hold a stream.
    """
    try:
        container = av.open(os.devnull, "w", format=_format_for(output))
    except (ValueError, av.error.FFmpegError) as e:
        raise VideoOutputError(f"cannot write {output.name}: unknown container ({e})") from None
    supported = set(container.supported_codecs)
    name = container.format.name
    container.close()
    plans = []
    for s in info.streams:
        if s.codec in supported:
            plans.append(StreamPlan(s.index, s.kind, s.codec, "copy"))
        elif s.kind == "audio" and ({"aac", "flac"} & supported):
            target = "aac" if "aac" in supported else "flac"
            plans.append(StreamPlan(s.index, s.kind, s.codec, "transcode", target))
        else:
            better = _container_for(s.codec)
            raise VideoOutputError(
                f"the {name} container cannot hold {s.kind} stream #{s.index} ({s.codec}); "
                f"write to {better} instead (-o {output.with_suffix(better).name})"
            )
    return tuple(plans)


def check_codec_fits(output: Path, codec: str) -> None:
    """The video codec must be one we write, and fit the container (ProRes does not fit MP4).

    Raises:
        VideoOutputError: an unknown codec, or one the container cannot hold.
    """
    if codec not in CODECS:
        raise VideoOutputError(f"unknown --codec {codec!r}; choose from {', '.join(CODECS)}")
    check_container(output)
    container = av.open(os.devnull, "w", format=_format_for(output))
    supported = set(container.supported_codecs)
    container.close()
    encoded = {"libx264": "h264", "libx265": "hevc", "ffv1": "ffv1", "prores": "prores"}[codec]
    if encoded not in supported:
        better = ".mov" if codec == "prores" else ".mkv"
        raise VideoOutputError(
            f"{output.suffix or output.name} files cannot hold {codec} video; "
            f"use {better} (-o {output.with_suffix(better).name}) or another --codec"
        )


def _format_for(output: Path) -> str | None:
    suffix = output.suffix.lower()
    return _FORMATS.get(suffix) or (suffix[1:] if suffix else None)


# Output suffixes whose FFmpeg muxer is not named after them.
_FORMATS = {
    ".mkv": "matroska",
    ".mov": "mov",
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".ts": "mpegts",
    ".m2ts": "mpegts",
    ".mts": "mpegts",
    ".mpg": "mpeg",
    ".mpeg": "mpeg",
    ".wmv": "asf",
    ".ogv": "ogg",
}


def check_container(output: Path) -> None:
    """``output``'s suffix names a container FFmpeg can write.

    Raises:
        VideoOutputError: no suffix, or one that is not a video container.
    """
    usual = ".mp4, .mkv, .mov or .avi"
    if not output.suffix:
        raise VideoOutputError(f"-o {output}: add a container suffix ({usual})")
    try:
        av.open(os.devnull, "w", format=_format_for(output)).close()
    except (ValueError, av.error.FFmpegError):
        raise VideoOutputError(
            f"-o {output.name}: {output.suffix} is not a video container FFmpeg writes; use {usual}"
        ) from None


def _mux_options(output: Path) -> dict[str, str]:
    """Muxer options: a container without per-frame timestamps (AVI) must not shift the video
    to make primed audio start at zero (a 21 ms shift is a whole frame at its 1/fps time base)."""
    with av.open(os.devnull, "w", format=_format_for(output)) as probe_container:
        flags = probe_container.format.flags
    return {} if flags & av.format.Flags.variable_fps.value else {"avoid_negative_ts": "disabled"}


def _container_for(codec: str) -> str:
    for suffix in (".mkv", ".mov", ".mp4"):
        container = av.open(os.devnull, "w", format=_format_for(Path("x" + suffix)))
        ok = codec in container.supported_codecs
        container.close()
        if ok:
            return suffix
    return ".mkv"


@dataclass
class FrameTiming:
    """How output frames are timed: with their source timestamps, or, in a container that has
    no per-frame timestamps (AVI), at a constant rate that matches the input's (frame n at
    n / fps), counting the frames whose source time that moves by more than half a frame."""

    time_base: Fraction
    constant_rate: Fraction | None = None  # frames per second, when the container needs it
    source_time_base: Fraction = Fraction(1)
    start: float = 0.0  # seconds: the first frame's source time
    moved: int = 0  # frames shown at another time than in the input

    @classmethod
    def for_container(cls, container: av.container.OutputContainer, info: VideoInfo):
        if container.format.flags & av.format.Flags.variable_fps.value:
            return cls(info.time_base)
        return cls(1 / info.fps, info.fps, info.time_base, info.start_time)

    def pts(self, source_pts: int, n: int) -> int:
        """The output ``pts`` of frame ``n``, shown at ``source_pts`` in the input."""
        if self.constant_rate is None:
            return source_pts
        late = (
            float(source_pts * self.source_time_base) - self.start - float(n / self.constant_rate)
        )
        if abs(late * self.constant_rate) > 0.5:
            self.moved += 1
        return n


class VideoWriter:
    """Encodes frames and muxes copied packets into a temporary file, then renames it.

    Use as a context manager; :meth:`commit` verifies and renames, leaving the block without
    committing (an error, Ctrl-C) deletes the temporary file.

    ``crf`` and ``preset`` are the x264/x265 quality and speed settings (default 18 and the
    encoder's own default, "medium").
    """

    def __init__(
        self,
        output: Path,
        info: VideoInfo,
        fmt: OutputFormat,
        streams: tuple[StreamPlan, ...],
        crf: int | None = None,
        preset: str | None = None,
        video_template: av.stream.Stream | None = None,
    ):
        self.output = output
        self.fmt = fmt
        self.encoding = video_template is None  # else: a join of parts (write_encoded)
        self.tmp = temporary_beside(output, suffix=".part" + output.suffix)
        self.frames = 0
        self.packets: dict[int, int] = {}  # output stream index -> packets muxed
        self._closed = False
        try:
            self.container = av.open(
                str(self.tmp), "w", format=_format_for(output), options=_mux_options(output)
            )
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise
        codec_name = "prores_ks" if fmt.codec == "prores" else fmt.codec
        if video_template is not None:  # the parts' stream as it is: PyAV's remux
            self.video = self.container.add_stream_from_template(video_template)
        else:
            self.video = self.container.add_stream(codec_name, rate=info.fps)
        cc = self.video.codec_context
        cc.width, cc.height, cc.pix_fmt = info.width, info.height, fmt.pix_fmt
        self.timing = FrameTiming.for_container(self.container, info)
        cc.time_base = self.timing.time_base
        self.video.time_base = self.timing.time_base
        if info.sar and info.sar != 1:
            cc.sample_aspect_ratio = info.sar
        cc.color_range = RANGE_JPEG if fmt.full_range else RANGE_MPEG
        cc.colorspace = fmt.colorspace
        if info.color_primaries not in (0, 2):
            cc.color_primaries = info.color_primaries
        if info.color_trc not in (0, 2):
            cc.color_trc = info.color_trc
        options = {}
        if fmt.codec in ("libx264", "libx265"):
            options["crf"] = str(crf if crf is not None else 18)
            if preset:
                options["preset"] = preset
            if fmt.codec == "libx265":
                options["x265-params"] = "log-level=error"
        elif fmt.codec == "prores":
            options["profile"] = "4"  # 4444: the 4:4:4 format chosen above
        elif fmt.codec == "ffv1":
            options.update(level="3", slicecrc="1")
        if self.timing.constant_rate is not None:
            cc.max_b_frames = 0  # frames stored in display order: AVI keeps no pts to reorder
        keep_interlacing(cc, options, fmt.codec, info.field_order)
        cc.options = options
        if info.rotation:
            self.video.set_display_rotation(info.rotation)
        self.copies: dict[int, av.stream.Stream] = {}
        self.transcodes: dict[int, av.audio.stream.AudioStream] = {}
        with av.open(str(info.path)) as source:
            for plan in streams:
                src = source.streams[plan.index]
                if plan.action == "copy":
                    self.copies[plan.index] = self.container.add_stream_from_template(src)
                else:
                    out = self.container.add_stream(plan.target_codec, rate=src.rate)
                    out.layout = src.layout
                    self.transcodes[plan.index] = out
            kept = {info.video_index: self.video, **self.copies, **self.transcodes}
            copy_video_metadata(source, self.container, kept)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(av.error.FFmpegError, OSError):
                self.container.close()
        self.tmp.unlink(missing_ok=True)

    def write_frame(self, frame: av.VideoFrame, pts: int) -> None:
        """Encode one frame with the source timestamp ``pts`` (in the input's time base)."""
        frame.pts = self.timing.pts(pts, self.frames)
        frame.time_base = self.video.codec_context.time_base
        self._mux(self.video.encode(frame))
        self.frames += 1

    def write_packet(self, packet: av.Packet) -> None:
        """Copy an audio/subtitle packet untouched (or transcode it, if planned so)."""
        index = packet.stream.index
        if index in self.copies:
            packet.stream = self.copies[index]
            self._mux([packet])
        elif index in self.transcodes:
            out = self.transcodes[index]
            for frame in packet.decode():
                frame.pts = None  # the encoder's own sample count keeps audio continuous
                self._mux(out.encode(frame))

    def write_encoded(self, packet: av.Packet) -> None:
        """Mux a video packet encoded with this writer's settings elsewhere (a segment part
        of :class:`PartsWriter`), with its own timestamps."""
        packet.stream = self.video
        self._mux([packet])
        self.frames += 1

    def _mux(self, packets) -> None:
        for p in packets:
            self.packets[p.stream.index] = self.packets.get(p.stream.index, 0) + 1
            self.container.mux(p)

    def commit(self, overwrite: bool = False) -> Path:
        """Flush, close, verify the packet counts, then rename to the final name."""
        if self.encoding:
            self._mux(self.video.encode(None))
        for out in self.transcodes.values():
            self._mux(out.encode(None))
        self.container.close()
        self._closed = True
        verify_counts(self.tmp, self.packets)
        if not overwrite and self.output.exists():
            raise VideoOutputError(f"{self.output} appeared while writing; not overwriting it")
        publish(self.tmp, self.output)
        return self.output


def verify_counts(path: Path, expected: dict[int, int]) -> None:
    """Every stream of ``path`` holds exactly the expected number of packets."""
    found: dict[int, int] = {}
    try:
        with av.open(str(path)) as container:
            for packet in container.demux():
                if packet.size:
                    found[packet.stream.index] = found.get(packet.stream.index, 0) + 1
    except av.error.FFmpegError as e:
        raise VideoOutputError(f"the written file cannot be read back ({e})") from None
    for index, n in expected.items():
        if found.get(index, 0) != n:
            raise VideoOutputError(
                f"the written file has {found.get(index, 0)} packets in stream #{index}, "
                f"expected {n}; not keeping it"
            )


# Segments: a film written as parts, then joined.


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


class PartsWriter:
    """Pass 2's writer when the film is written as segments: frames go to one
    :class:`VideoWriter` per part (video only), each verified and renamed into place as soon
    as its last frame is written, so a crash keeps the parts finished before it.

    Args:
        parts: each part's file and how many frames it takes, in order.
        info, fmt, crf, preset: as for :class:`VideoWriter` (the same for every part, so the
            parts' streams can be joined into one).
        first_frame: the film's frame number of the first frame written here.
        on_part: called with a part's path once it is in place.
    """

    def __init__(
        self,
        parts: list[tuple[Path, int]],
        info: VideoInfo,
        fmt: OutputFormat,
        crf: int | None = None,
        preset: str | None = None,
        first_frame: int = 0,
        on_part: Callable[[Path], None] | None = None,
    ):
        self.parts = list(parts)
        self.info, self.fmt, self.crf, self.preset = info, fmt, crf, preset
        self.on_part = on_part
        self.frames = first_frame  # film frame number of the next frame
        self.current: VideoWriter | None = None
        self.left = 0
        self.packets: dict[int, int] = {}
        self.moved = 0  # frames shown at another time than in the input (constant-rate)

    def __enter__(self) -> PartsWriter:
        return self

    def __exit__(self, *exc) -> None:
        if self.current is not None:  # an unfinished part is deleted
            self.current.__exit__(*exc)
            self.current = None

    def write_frame(self, frame: av.VideoFrame, pts: int) -> None:
        if self.current is None:
            if not self.parts:
                raise VideoOutputError("pass 2 has more frames than the segments planned")
            path, self.left = self.parts.pop(0)
            self.current = VideoWriter(path, self.info, self.fmt, (), self.crf, self.preset)
            self.current.frames = self.frames  # constant-rate containers number the frames
        self.current.write_frame(frame, pts)
        self.frames += 1
        self.left -= 1
        if self.left == 0:
            writer, self.current = self.current, None
            with writer:
                path = writer.commit(overwrite=True)
            for k, v in writer.packets.items():
                self.packets[k] = self.packets.get(k, 0) + v
            self.moved += writer.timing.moved
            if self.on_part is not None:
                self.on_part(path)

    def write_packet(self, packet: av.Packet) -> None:
        """Parts hold video only: the join copies the other streams from the input."""

    @property
    def finished(self) -> bool:
        return self.current is None and not self.parts


def join_parts(
    parts: list[Path],
    output: Path,
    info: VideoInfo,
    fmt: OutputFormat,
    streams: tuple[StreamPlan, ...],
    crf: int | None = None,
    preset: str | None = None,
    overwrite: bool = False,
) -> VideoWriter:
    """Remux the video packets of ``parts``, in order, with the input's audio and subtitle
    streams (copied, or transcoded as planned), into ``output``; verify it and rename it into
    place, as :class:`VideoWriter` does for a film written in one piece.

    Packets of the two sources are interleaved by decode time, as one run would mux them.
    The output's video stream is made from the first part's (``add_stream_from_template``),
    with the tags, rotation and timing a :class:`VideoWriter` gives; every other part must
    hold the same codec header (the parts were encoded with the same settings).

    Returns:
        The committed writer (``frames``, ``packets``, ``timing``).

    Raises:
        VideoOutputError: a part that does not fit the others, or a failed check.
    """
    with (
        av.open(str(info.path)) as source,
        av.open(str(parts[0])) as first,
        VideoWriter(output, info, fmt, streams, crf, preset, first.streams.video[0]) as writer,
    ):
        header = bytes(first.streams.video[0].codec_context.extradata or b"")
        copies = [source.streams[p.index] for p in streams]
        others = (
            (p for p in source.demux(copies) if p.dts is not None and p.size)
            if copies
            else iter(())
        )
        video = _part_packets(parts, header)
        for packet in heapq.merge(video, others, key=_decode_time):
            if packet.stream.type == "video":
                writer.write_encoded(packet)
            else:
                writer.write_packet(packet)
        writer.commit(overwrite=overwrite)
    return writer


def _decode_time(packet: av.Packet) -> float:
    ts = packet.dts if packet.dts is not None else packet.pts
    return float(ts * packet.time_base) if ts is not None else 0.0


def _part_packets(parts: list[Path], header: bytes) -> Iterator[av.Packet]:
    """The video packets of every part in turn (PyAV's remux: skip empty packets)."""
    for path in parts:
        with av.open(str(path)) as part:
            vs = part.streams.video[0]
            if bytes(vs.codec_context.extradata or b"") != header:
                raise VideoOutputError(
                    f"{path.name} was encoded with other settings than the output; "
                    "run again with --fresh"
                )
            for packet in part.demux(vs):
                if packet.size == 0:
                    continue
                yield packet


def is_video(path: Path) -> bool:
    """Whether PyAV opens ``path`` as a film: a container (not a still image) with a video
    stream that is not cover art."""
    try:
        with av.open(str(path)) as container:
            name = container.format.name
            if name.endswith("_pipe") or name in ("image2", "gif", "webp"):
                return False
            return any(
                not (s.disposition & av.stream.Disposition.attached_pic)
                for s in container.streams.video
            )
    except (av.error.FFmpegError, UnicodeDecodeError, OSError):
        return False
