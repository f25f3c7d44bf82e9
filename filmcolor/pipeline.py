"""Colorize a film: pass 1 finds the shots and their colours, pass 2 colorizes and re-encodes.

Pass 1 is :func:`filmcolor.shots.analyse`. Pass 2 runs in stages joined by bounded queues, so
memory does not grow with the film; each stage is one function below:

    decode thread  :func:`decode`     packets -> :class:`Frame` (luma) and :class:`Packet`
    this thread    :func:`batches`    frames -> :class:`Batch` of one shot (packets ride along)
                   :func:`add_colour` luma -> L* at --render-size (despeckled; levelled
                                      with --temporal) -> network -> a*b*
    encode thread  :func:`follow_motion` a*b* carried along the optical flow within a shot
                                      (--temporal, :mod:`filmcolor.temporal`)
                   :func:`encode`     a*b* upsampled + full-size L* -> Cb, Cr (OpenCV);
                                      original Y + new Cb, Cr -> encoder (source pts)

The optical flow and the colour conversion run in the encode thread because OpenCV releases
the GIL: they overlap the network instead of following it (benchmarks/speed.py measures each
stage, benchmarks/temporal_speed.py the flow). A stage that works on batches of a shot is one
more function called in :func:`_run_network` or in the encode thread.

Only chrominance comes from the network: the Y plane written is the Y plane read.
Progress goes to an ``on_progress`` callback; nothing here prints.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import torch

from filmcolor.color import (
    LumaFormat,
    OutputFormat,
    chroma_matrix,
    lab_to_chroma,
    lightness_of,
    scale_luma,
)
from filmcolor.colorizer import DEFAULT_RENDER_SIZE, Colorizer, style_vector, thumb224
from filmcolor.errors import UserError
from filmcolor.progress import Progress, ProgressFn
from filmcolor.shots import Shot, analyse, check_starts, read_csv, shots_from_cuts
from filmcolor.temporal import DEFAULT_TEMPORAL, FollowMotion, ShotLevel, despeckle, gray8
from filmcolor.video_io import (
    DecodeReport,
    VideoInfo,
    VideoInputError,
    VideoOutputError,
    VideoWriter,
    check_codec_fits,
    choose_output_format,
    decode_video,
    luma_format,
    luma_plane,
    make_frame,
    plan_streams,
    probe,
)

log = logging.getLogger(__name__)

WarnFn = Callable[[str], None]


@dataclass
class ColorizeConfig:
    """Everything ``filmcolor colorize`` needs; the CLI fills it from its options."""

    input: Path
    output: Path
    model: Path | None = None  # None = the shipped default model
    style: Path | None = None  # one reference image for the whole film
    shots: Path | None = None  # a corrected shot list (CSV from `filmcolor shots`)
    codec: str = "libx264"
    crf: int | None = None
    preset: str | None = "faster"  # x264/x265 speed preset; None = the encoder's (medium)
    batch_size: int = 8
    threads: int = 0  # torch threads of the network in pass 2; 0 = torch's default
    render_size: int = DEFAULT_RENDER_SIZE  # 0 = the frame's own size
    device: str = "auto"
    precision: str = "auto"
    temperature: float | None = None
    overwrite: bool = False
    detector: str = "content"
    threshold: float | None = None
    min_shot_frames: int = 15
    keyframes: int = 5  # frames whose global vectors are averaged per shot
    max_damaged: int = 10
    temporal: float = DEFAULT_TEMPORAL  # steady colour within a shot (filmcolor.temporal); 0 = off


@dataclass
class ColorizeResult:
    """What was written."""

    output: Path
    frames: int
    shots: list[Shot]
    packets: dict[int, int]  # output stream index -> packets written
    report: DecodeReport
    seconds: float
    warnings: list[str] = field(default_factory=list)


def default_output(video: Path) -> Path:
    """``<stem>_color.mp4`` beside the input."""
    return video.with_name(f"{video.stem}_color.mp4")


def check_output(cfg: ColorizeConfig) -> Path:
    """The output path, checked: not the input, not an existing file (unless --overwrite),
    in an existing folder, in a container that takes the codec."""
    out = Path(cfg.output)
    if out.exists() and out.resolve() == Path(cfg.input).resolve():
        raise VideoOutputError(f"the output {out} is the input file; choose another -o")
    if out.exists() and out.is_dir():
        raise VideoOutputError(f"the output {out} is a folder; give a file name")
    if out.exists() and not cfg.overwrite:
        raise VideoOutputError(f"{out} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise VideoOutputError(f"the output folder {out.parent} does not exist")
    check_codec_fits(out, cfg.codec)
    return out


def colorize_video(
    cfg: ColorizeConfig,
    on_progress: ProgressFn | None = None,
    on_warning: WarnFn | None = None,
    colorizer: Colorizer | None = None,
) -> ColorizeResult:
    """Colorize ``cfg.input`` into ``cfg.output``.

    Everything a user can get wrong (input, output, streams the container cannot hold, style
    image, shot list, model file) is checked before the network runs.

    Args:
        cfg: the run's options.
        on_progress: receives :class:`filmcolor.progress.Progress` reports.
        on_warning: receives warnings meant for the user (default: logged).
        colorizer: an already loaded model (for repeated calls); None = load ``cfg.model``.

    Raises:
        UserError: with a message meant for the user (VideoInputError, VideoOutputError,
            StyleImageError, ShotListError, ModelFileError).
    """
    t0 = time.perf_counter()
    warnings: list[str] = []

    def warn(message: str) -> None:
        warnings.append(message)
        (on_warning or log.warning)(message)

    if cfg.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    if cfg.render_size < 0:
        raise UserError("--render-size must be positive (or 0 for the frame's own size)")
    info = probe(cfg.input)
    out = check_output(cfg)
    fmt = choose_output_format(info, cfg.codec)
    plans = plan_streams(info, out)
    for p in plans:
        if p.action == "transcode":
            warn(
                f"{p.kind} stream #{p.index} ({p.codec}) cannot go into {out.suffix} as is; "
                f"transcoding it to {p.target_codec}"
            )
    if info.interlaced:
        warn(
            "the video is interlaced; colour is computed per frame "
            "(deinterlace first for best results)"
        )
    if fmt.bits < info.bit_depth:
        warn(
            f"{cfg.codec} holds at most {fmt.bits} bits; luma is rounded from {info.bit_depth} bits"
        )
    given_cuts = None
    if cfg.shots:
        given_cuts = read_csv(cfg.shots, fps=info.fps, start=info.start_time, on_warning=warn)
    if colorizer is None:
        colorizer = Colorizer.load(
            cfg.model, cfg.device, cfg.precision, cfg.temperature, cfg.render_size
        )
    style = style_vector(colorizer, cfg.style) if cfg.style else None

    # Pass 1: the shots, and a global vector for each (unless --style gives one for all).
    ran_pass1 = style is None or given_cuts is None
    if ran_pass1:
        analysis = analyse(
            info,
            None if style is not None else colorizer,
            cuts=given_cuts,
            detector=cfg.detector,
            threshold=cfg.threshold,
            min_shot_frames=cfg.min_shot_frames,
            keyframes=cfg.keyframes,
            max_damaged=cfg.max_damaged,
            on_progress=on_progress,
        )
        shots, total = analysis.shots, analysis.frames
        vectors = analysis.vectors
        if given_cuts:
            check_starts(given_cuts, total, cfg.shots)
    else:
        total = info.estimated_frames or 0
        if total:
            check_starts(given_cuts, total, cfg.shots)
        shots = shots_from_cuts(given_cuts, max(total, max(given_cuts, default=0) + 1))
        vectors = {}
    if style is not None:
        vectors = dict.fromkeys(range(len(shots)), style)

    # Pass 2.
    report = DecodeReport()
    source = av.open(str(info.path))  # open until the end: copied packets point into it
    with source, VideoWriter(out, info, fmt, plans, cfg.crf, cfg.preset) as writer:
        job = Pass2(
            colorizer=colorizer,
            shots=shots,
            vectors=vectors,
            luma=luma_format(info),
            fmt=fmt,
            batch_size=cfg.batch_size,
            keyframes=cfg.keyframes,
            total=total,
            on_progress=on_progress,
            temporal=cfg.temporal,
        )
        copy_streams = tuple(p.index for p in plans)
        frames = _pass2(job, cfg, info, source, copy_streams, report, writer)
        if report.damaged_packets:
            warn(f"skipped {report.damaged_packets} damaged video packet(s)")
        if report.fixed_timestamps:
            warn(f"{report.fixed_timestamps} frame(s) had missing or out-of-order timestamps")
        if ran_pass1 and frames != total:
            raise VideoOutputError(
                f"pass 2 decoded {frames} frames, pass 1 {total}; not keeping it"
            )
        if info.frames_in_header and frames != info.frames_in_header:
            warn(f"the header says {info.frames_in_header} frames; the file holds {frames}")
        writer.commit(overwrite=cfg.overwrite)
        packets = dict(writer.packets)
    return ColorizeResult(out, frames, shots, packets, report, time.perf_counter() - t0, warnings)


# Pass 2: the messages between the stages.


@dataclass
class Frame:
    """A decoded frame: its luma, its source timestamp, and (once the network ran) its a*b*."""

    y: np.ndarray  # (H, W) luma code values, uint8 or uint16
    pts: int
    ab: np.ndarray | None = None  # (h, w, 2) float32 at the render size
    gray: np.ndarray | None = None  # (h, w) uint8: the network's levelled input (--temporal)


@dataclass
class Packet:
    """An audio or subtitle packet, copied (or transcoded) by the writer."""

    packet: av.Packet


@dataclass
class Batch:
    """Consecutive frames of one shot, and the packets read while they were, in that order."""

    shot: int  # index into the shot list
    frames: list[Frame] = field(default_factory=list)
    packets: list[av.Packet] = field(default_factory=list)


_END = None  # the last message on every queue


@dataclass
class Pass2:
    """What the stages of pass 2 share: the model, the shots and their vectors, the formats."""

    colorizer: Colorizer
    shots: list[Shot]
    vectors: dict[int, torch.Tensor]  # shot index -> (1, D); filled in for unsampled shots
    luma: LumaFormat
    fmt: OutputFormat
    batch_size: int
    keyframes: int
    total: int | None
    on_progress: ProgressFn | None
    temporal: float = 0.0  # strength of filmcolor.temporal; 0 = each frame on its own

    def __post_init__(self) -> None:
        self.lut = self.luma.lightness_table()
        self.lut_np = self.lut.numpy()
        self.level = ShotLevel()  # used by the network's thread
        self.follow = FollowMotion(self.temporal)  # used by the encode thread


# Pass 2: the stages.


def decode(
    source: av.container.InputContainer,
    max_damaged: int,
    report: DecodeReport,
    copy_streams: tuple[int, ...],
    put: Callable[[Frame | Packet | None], None],
) -> None:
    """Decode thread: every video frame as a :class:`Frame`, other packets as :class:`Packet`."""
    for frame in decode_video(
        source,
        max_damaged=max_damaged,
        report=report,
        copy_streams=copy_streams,
        on_packet=lambda p: put(Packet(p)),
    ):
        put(Frame(luma_plane(frame), frame.pts))
    put(_END)


def batches(job: Pass2, messages: Iterator[Frame | Packet]) -> Iterator[Batch]:
    """Group frames into batches of at most ``batch_size`` that never span a cut; packets go
    with the batch during which they were read (a batch may hold packets only)."""
    starts = [s.start for s in job.shots[1:]]
    batch = Batch(0)
    n = 0
    for item in messages:
        if isinstance(item, Packet):
            batch.packets.append(item.packet)
            continue
        if batch.shot < len(starts) and n == starts[batch.shot]:
            if batch.frames or batch.packets:
                yield batch
            batch = Batch(batch.shot + 1)
        batch.frames.append(item)
        n += 1
        if len(batch.frames) == job.batch_size:
            yield batch
            batch = Batch(batch.shot)
    if batch.frames or batch.packets:
        yield batch


def add_colour(job: Pass2, batch: Batch) -> None:
    """The network: each frame's a*b* at the render size, from its shot's global vector."""
    if not batch.frames:
        return
    y = np.stack([f.y for f in batch.frames])  # (B, H, W) code values
    lightness = torch.from_numpy(lightness_of(y, job.lut_np))[:, None]  # (B, 1, H, W) L*
    g = job.vectors.get(batch.shot)
    if g is None:  # a shot too short to be sampled in pass 1: use its first frames
        l224 = torch.stack([thumb224(f.y, job.lut) for f in batch.frames[: job.keyframes]])
        g = job.vectors[batch.shot] = job.colorizer.global_vector(l224).mean(0, keepdim=True)
    small = despeckle(job.colorizer.shrink(lightness / 100))  # (B, 1, h, w) at the render size
    if job.temporal:
        small = job.level(batch.shot, small)  # brightness flicker out of the input only
    ab = job.colorizer.ab(small, g).permute(0, 2, 3, 1).numpy()  # (B, h, w, 2)
    for i, f in enumerate(batch.frames):
        f.ab = np.ascontiguousarray(ab[i])
        f.gray = gray8(small[i, 0]) if job.temporal else None


def follow_motion(job: Pass2, batch: Batch) -> None:
    """Encode thread: each frame's a*b* blended with the previous frame's moved along the
    optical flow, within the shot (:class:`filmcolor.temporal.FollowMotion`)."""
    if not job.temporal:
        return
    for f in batch.frames:
        f.ab = job.follow(batch.shot, f.gray, f.ab)


def encode(job: Pass2, batch: Batch, writer: VideoWriter, matrix: np.ndarray) -> None:
    """Encode thread: full-size L* + a*b* -> Cb, Cr; the original Y; then the packets."""
    fmt, bits = job.fmt, job.luma.bits
    for f in batch.frames:
        cb, cr = lab_to_chroma(lightness_of(f.y, job.lut_np), f.ab, fmt, matrix)
        writer.write_frame(make_frame(scale_luma(f.y, bits, fmt.bits), cb, cr, fmt), f.pts)
    for p in batch.packets:
        writer.write_packet(p)


def _run_network(
    job: Pass2, messages: Iterator[Frame | Packet], put: Callable[[Batch | None], None]
) -> int:
    """This thread: batches -> a*b* -> the encoder queue. Returns the number of frames."""
    n, shot = 0, 0
    for batch in batches(job, messages):
        add_colour(job, batch)
        put(batch)
        n, shot = n + len(batch.frames), batch.shot
        if job.on_progress and len(batch.frames) == job.batch_size:
            job.on_progress(
                Progress("colorize", n, max(job.total or 0, n), shot + 1, len(job.shots))
            )
    put(_END)
    if job.on_progress:
        job.on_progress(Progress("colorize", n, n, shot + 1, len(job.shots)))
    return n


# Pass 2: the threads and queues that join the stages.


class _Stop(Exception):
    """Raised in a stage when another one failed or the user pressed Ctrl-C."""


class _Queue:
    """A bounded queue whose ``put`` and ``get`` give up (:class:`_Stop`) once ``stop`` is set,
    or, for ``get``, once the thread that feeds it has died."""

    def __init__(self, maxsize: int, stop: threading.Event):
        self.q: queue.Queue = queue.Queue(maxsize=maxsize)
        self.stop = stop
        self.feeder: threading.Thread | None = None

    def put(self, item) -> None:
        while not self.stop.is_set():
            try:
                self.q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stop

    def get(self):
        while True:
            try:
                return self.q.get(timeout=0.1)
            except queue.Empty:
                if self.stop.is_set():
                    raise _Stop from None
                feeder = self.feeder
                if feeder is not None and not feeder.is_alive() and self.q.empty():
                    raise _Stop from None

    def __iter__(self):
        """The messages up to (not including) the end mark."""
        while (item := self.get()) is not _END:
            yield item


def _pass2(
    job: Pass2,
    cfg: ColorizeConfig,
    info: VideoInfo,
    source: av.container.InputContainer,
    copy_streams: tuple[int, ...],
    report: DecodeReport,
    writer: VideoWriter,
) -> int:
    """Run the three threads of pass 2 from ``source`` to ``writer``; the first error (or
    Ctrl-C) stops all of them. Returns the number of frames written."""
    stop = threading.Event()
    q_in = _Queue(max(16, 3 * cfg.batch_size), stop)
    q_out = _Queue(2, stop)
    errors: list[BaseException] = []
    matrix = chroma_matrix(job.fmt)

    def thread(name: str, fn: Callable[[], None]) -> threading.Thread:
        def run() -> None:
            try:
                fn()
            except _Stop:
                pass
            except BaseException as e:  # handed to the main thread, which re-raises it
                errors.append(e)
                stop.set()

        return threading.Thread(target=run, name=f"filmcolor-{name}", daemon=True)

    def encode_all() -> None:
        for batch in q_out:
            follow_motion(job, batch)
            encode(job, batch, writer, matrix)

    def decode_all() -> None:
        decode(source, cfg.max_damaged, report, copy_streams, q_in.put)

    decoder = thread("decode", decode_all)
    encoder = thread("encode", encode_all)
    q_in.feeder = decoder
    decoder.start()
    encoder.start()
    finished = False
    threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)  # the other cores decode, convert and encode
    frames = 0
    try:
        frames = _run_network(job, iter(q_in), q_out.put)
        encoder.join()
        finished = not errors
    except _Stop:
        pass
    finally:
        torch.set_num_threads(threads)
        if not finished:
            stop.set()  # Ctrl-C or an error: both threads leave at their next queue call
        decoder.join(timeout=5)
        encoder.join(timeout=30)
    if errors:
        raise errors[0]
    if not finished:
        raise VideoInputError(f"{info.path}: decoding stopped unexpectedly")
    return frames
