"""Writing the colour film: frames encoded with the input's timing and tags, other streams
copied packet for packet, into a temporary file that is verified and then renamed.

The output keeps what the input had: each frame's ``pts`` in the input's time base (variable
frame rate survives), the sample aspect ratio, the rotation (display matrix), the colour range
and matrix tags, and every audio and subtitle stream packet for packet, following PyAV's
``examples/basics/remux.py`` for the packet copy.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from filmcolor.color import RANGE_JPEG, RANGE_MPEG, OutputFormat
from filmcolor.config import DEFAULT_CRF
from filmcolor.files import publish, temporary_beside
from filmcolor.metadata import copy_video_metadata
from filmcolor.video.mux import StreamPlan, VideoOutputError, format_for, mux_options
from filmcolor.video.probe import FIELD_BT, FIELD_TT, VideoInfo


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


# The layout FFmpeg gives N channels of unknown order (av_channel_layout_default).
DEFAULT_LAYOUTS = {
    1: "mono",
    2: "stereo",
    3: "2.1",
    4: "4.0",
    5: "5.0",
    6: "5.1",
    7: "6.1",
    8: "7.1",
}


def channel_layout(layout: av.AudioLayout) -> av.AudioLayout | str:
    """``layout``, or the usual one for its channel count when the input does not name its
    channels (Matroska stores only a count: PCM from an MKV reads as "2 channels", which
    the AAC encoder refuses)."""
    if any(c.name == "NONE" for c in layout.channels):
        return DEFAULT_LAYOUTS.get(layout.nb_channels, layout)
    return layout


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

    ``crf`` and ``preset`` are the x264/x265 quality and speed settings (default
    :data:`filmcolor.config.DEFAULT_CRF` and the encoder's own default, "medium").
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
                str(self.tmp), "w", format=format_for(output), options=mux_options(output)
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
            options["crf"] = str(crf if crf is not None else DEFAULT_CRF)
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
                    out.layout = channel_layout(src.layout)
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
        """Copy an audio/subtitle packet of the input untouched (or transcode it, if planned
        so): the join (:func:`filmcolor.parts.join_parts`) brings them in beside the video."""
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
        of :class:`filmcolor.parts.PartsWriter`), with its own timestamps."""
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
