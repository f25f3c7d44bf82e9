"""A film written as parts, and their join: the files of :mod:`filmcolor.segments`' work
folder. Pass 2 writes each segment to its own part (:class:`PartsWriter`, video only); the
join (:func:`join_parts`) remuxes the parts' video packets with the input's other streams.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from pathlib import Path

import av

from filmcolor.color import OutputFormat
from filmcolor.video.mux import StreamPlan, VideoOutputError
from filmcolor.video.probe import VideoInfo
from filmcolor.video.writer import VideoWriter


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
