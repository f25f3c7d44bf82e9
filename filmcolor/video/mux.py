"""Containers and codecs: which codec a container holds, what each output stream becomes.

Every question about a container is asked of a dry-run muxer (:func:`muxer`: opened on the
null device, nothing written): can it be written, which codecs it holds, does it keep per-frame
timestamps. The codec table (:data:`MAX_BITS`, :func:`choose_output_format`) says what each
of :data:`filmcolor.config.CODECS` writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av
import av.error

from filmcolor.color import KR_KB, SPACE_BT709, SPACE_SMPTE170M, OutputFormat
from filmcolor.config import CODECS
from filmcolor.errors import UserError
from filmcolor.video.probe import VideoInfo, luma_format

MAX_BITS = {"libx264": 10, "libx265": 12, "ffv1": 16, "prores": 10}
ENCODED = {"libx264": "h264", "libx265": "hevc", "ffv1": "ffv1", "prores": "prores"}

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


class VideoOutputError(UserError):
    """An output that cannot be written as asked."""


def format_for(output: Path) -> str | None:
    """The FFmpeg muxer for ``output``'s suffix (None: FFmpeg guesses from the name)."""
    suffix = output.suffix.lower()
    return _FORMATS.get(suffix) or (suffix[1:] if suffix else None)


@dataclass(frozen=True)
class Muxer:
    """What a container format can hold, as its muxer says."""

    name: str
    codecs: frozenset[str]
    variable_fps: bool  # keeps a timestamp per frame (AVI does not)


def muxer(output: Path) -> Muxer:
    """Ask a dry-run muxer for ``output``'s container (opened on the null device).

    Raises:
        ValueError, av.error.FFmpegError: FFmpeg cannot write that container.
    """
    with av.open(os.devnull, "w", format=format_for(output)) as container:
        flags = container.format.flags
        return Muxer(
            container.format.name,
            frozenset(container.supported_codecs),
            bool(flags & av.format.Flags.variable_fps.value),
        )


def check_container(output: Path) -> None:
    """``output``'s suffix names a container FFmpeg can write.

    Raises:
        VideoOutputError: no suffix, or one that is not a video container.
    """
    usual = ".mp4, .mkv, .mov or .avi"
    if not output.suffix:
        raise VideoOutputError(f"-o {output}: add a container suffix ({usual})")
    try:
        muxer(output)
    except (ValueError, av.error.FFmpegError):
        raise VideoOutputError(
            f"-o {output.name}: {output.suffix} is not a video container FFmpeg writes; use {usual}"
        ) from None


def check_codec_fits(output: Path, codec: str) -> None:
    """The video codec must be one we write, and fit the container (ProRes does not fit MP4).

    Raises:
        VideoOutputError: an unknown codec, or one the container cannot hold.
    """
    if codec not in CODECS:
        raise VideoOutputError(f"unknown --codec {codec!r}; choose from {', '.join(CODECS)}")
    check_container(output)
    if ENCODED[codec] not in muxer(output).codecs:
        better = ".mov" if codec == "prores" else ".mkv"
        raise VideoOutputError(
            f"{output.suffix or output.name} files cannot hold {codec} video; "
            f"use {better} (-o {output.with_suffix(better).name}) or another --codec"
        )


def mux_options(output: Path) -> dict[str, str]:
    """Muxer options: a container without per-frame timestamps (AVI) must not shift the video
    to make primed audio start at zero (a 21 ms shift is a whole frame at its 1/fps time base)."""
    return {} if muxer(output).variable_fps else {"avoid_negative_ts": "disabled"}


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
        found = muxer(output)
    except (ValueError, av.error.FFmpegError) as e:
        raise VideoOutputError(f"cannot write {output.name}: unknown container ({e})") from None
    supported = found.codecs
    plans = []
    for s in info.streams:
        if s.codec in supported and _holds(info.path, s.index, output):
            plans.append(StreamPlan(s.index, s.kind, s.codec, "copy"))
        elif s.kind == "audio" and ({"aac", "flac"} & supported):
            target = "aac" if "aac" in supported else "flac"
            plans.append(StreamPlan(s.index, s.kind, s.codec, "transcode", target))
        else:
            better = _container_for(s.codec)
            raise VideoOutputError(
                f"the {found.name} container cannot hold {s.kind} stream #{s.index} ({s.codec}); "
                f"write to {better} instead (-o {output.with_suffix(better).name})"
            )
    return tuple(plans)


_PROBE_PACKETS = 2000  # packets read to find a stream's first one for the dry run


def _holds(source: Path, index: int, output: Path) -> bool:
    """Whether ``output``'s container takes stream ``index`` of ``source`` as it is: its
    first packet muxed to the null device, header and trailer included.

    The muxer's codec list is not enough: FFmpeg's MP4 muxer lists PCM, yet refuses stereo
    or 5.1 PCM when it writes its index at the end (``unsupported channel layout``, EINVAL),
    which would be after the whole colour pass. Only the first :data:`_PROBE_PACKETS` packets
    of the file are read: a stream that has none among them (sparse subtitles) is muxed
    without a packet, header and trailer only.
    """
    try:
        with (
            av.open(str(source)) as src,
            av.open(os.devnull, "w", format=format_for(output)) as out,
        ):
            stream = src.streams[index]
            copy = out.add_stream_from_template(stream)
            for n, packet in enumerate(src.demux()):
                if n == _PROBE_PACKETS:
                    break
                if packet.stream.index == index and packet.size and packet.dts is not None:
                    packet.stream = copy
                    out.mux(packet)
                    break
    except (ValueError, av.error.FFmpegError):
        return False
    return True


def _container_for(codec: str) -> str:
    for suffix in (".mkv", ".mov", ".mp4"):
        if codec in muxer(Path("x" + suffix)).codecs:
            return suffix
    return ".mkv"


def choose_output_format(info: VideoInfo, codec: str) -> OutputFormat:
    """4:2:0 where the codec is a delivery codec and the size is even, else 4:4:4 (same size).

    ``codec`` is one of :data:`filmcolor.config.CODECS` (:func:`check_codec_fits` says so to
    the user).
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
