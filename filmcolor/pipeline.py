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

The film is written in segments of whole shots (:mod:`filmcolor.segments`): each run of
consecutive segments still to do goes through the stages above once, from a seek to its
first frame (:func:`filmcolor.video_io.decode_span`) to a writer that publishes one part per
segment (:class:`filmcolor.video_io.PartsWriter`); the join remuxes the parts with the
input's other streams. A crash keeps the parts written; under torchrun, ranks share them.
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

from filmcolor.checks import check_black_and_white, check_detector, check_encoder_settings
from filmcolor.color import (
    LumaFormat,
    OutputFormat,
    chroma_matrix,
    lab_to_chroma,
    lightness_of,
    scale_luma,
)
from filmcolor.colorizer import Colorizer, thumb224
from filmcolor.config import ColorizeConfig
from filmcolor.errors import UserError
from filmcolor.progress import Progress, ProgressFn
from filmcolor.segments import (
    Parts,
    Plan,
    Segment,
    World,
    fingerprint,
    plan_segments,
)
from filmcolor.shots import Shot, analyse, check_starts, read_shot_list, shots_from_cuts
from filmcolor.styles import csv_styles, parse_reference, style_vector
from filmcolor.temporal import FollowMotion, ShotLevel, despeckle, gray8
from filmcolor.video_io import (
    DecodeReport,
    PartsWriter,
    VideoInfo,
    VideoInputError,
    VideoOutputError,
    VideoWriter,
    check_codec_fits,
    choose_output_format,
    decode_span,
    decode_video,
    join_parts,
    luma_format,
    luma_plane,
    make_frame,
    plan_streams,
    probe,
    sample_rgb,
)
from filmcolor.weights import default_model_path

log = logging.getLogger(__name__)

WarnFn = Callable[[str], None]


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


def default_output(video: Path, codec: str = "libx264") -> Path:
    """``<stem>_color`` beside the input, in the input's container when that holds ``codec``
    and every stream as it is (an MKV with subtitles stays MKV), else .mp4, else .mkv."""
    suffixes = [video.suffix.lower()] if video.suffix else []
    for suffix in [*suffixes, ".mp4", ".mkv"]:
        out = video.with_name(f"{video.stem}_color{suffix}")
        try:
            check_codec_fits(out, codec)
            if all(p.action == "copy" for p in plan_streams(probe(video), out)):
                return out
        except UserError:  # an input that cannot be read is reported by colorize_video
            continue
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


@dataclass
class ShotPlan:
    """Pass 1 as ``colorize`` runs it: the shots, and the global vector that colours each."""

    shots: list[Shot]
    total: int  # frames: counted by pass 1, or the header's estimate when it was skipped
    vectors: dict[int, torch.Tensor]  # shot index -> (1, D); missing = pass 2 computes it
    styles: dict[int, str]  # shot index -> the reference that colours it; missing = its own
    ran_pass1: bool  # False when --style and --shots leave nothing for pass 1 to do


def plan_shots(
    cfg: ColorizeConfig,
    info: VideoInfo,
    colorizer: Colorizer,
    on_warning: WarnFn | None = None,
    on_progress: ProgressFn | None = None,
) -> ShotPlan:
    """The shots and their global vectors, from ``--shots`` (with its ``style`` column),
    ``--style`` and pass 1. ``filmcolor preview`` calls it too, so it shows what ``colorize``
    will do.

    A shot's vector is, in order of precedence: its row's ``style`` reference, ``--style``,
    or the mean of its keyframes' own vectors (pass 1).

    Raises:
        ShotListError, StyleImageError: before pass 1 decodes a frame.
    """
    shot_list = given_cuts = None
    if cfg.shots:
        shot_list = read_shot_list(
            cfg.shots, fps=info.fps, start=info.start_time, on_warning=on_warning
        )
        given_cuts = shot_list.cuts
    style = style_vector(colorizer, cfg.style) if cfg.style else None
    per_shot = csv_styles(colorizer, shot_list) if shot_list else {}

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
    styles = {}
    if style is not None:
        vectors = dict.fromkeys(range(len(shots)), style)
        styles = dict.fromkeys(range(len(shots)), parse_reference(cfg.style).label)
    for k, shot in enumerate(shots):
        if shot.start in per_shot:
            styles[k], vectors[k] = per_shot[shot.start]
    return ShotPlan(shots, total, vectors, styles, ran_pass1)


def colorize_video(
    cfg: ColorizeConfig,
    on_progress: ProgressFn | None = None,
    on_warning: WarnFn | None = None,
    colorizer: Colorizer | None = None,
) -> ColorizeResult:
    """Colorize ``cfg.input`` into ``cfg.output``, resuming from the parts an interrupted run
    left in ``<output>.parts`` when they fit (see :mod:`filmcolor.segments`); under torchrun,
    every process calls this and they share the segments.

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
    check_encoder_settings(cfg.codec, cfg.crf)
    check_detector(cfg.detector)
    info = probe(cfg.input, cfg.max_pixels)
    if not cfg.force:
        check_black_and_white(sample_rgb(info), str(info.path))
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
        first = "top" if info.field_order in (2, 5) else "bottom"  # TT, BT: top shown first
        warn(
            f"the video is interlaced ({first} field first); it stays interlaced, with the same "
            "field order, and each frame is coloured as a whole (README: What is kept)"
        )
    if fmt.bits < info.bit_depth:
        warn(
            f"{cfg.codec} holds at most {fmt.bits} bits; luma is rounded from {info.bit_depth} bits"
        )
    world = World.from_env()  # one process, or one of torchrun's
    if colorizer is None:
        colorizer = Colorizer.load(
            cfg.model, world.device(cfg.device), cfg.precision, cfg.temperature, cfg.render_size
        )
    model = cfg.model or default_model_path()
    pixels = fingerprint(cfg, colorizer.device.type, colorizer.dtype, model)
    parts = Parts(out, pixels)

    # Pass 1 on rank 0, unless the parts of an interrupted run can be kept.
    with world.first():
        if world.rank == 0:
            kept = parts.resume(cfg.fresh, warn)
            if kept is None:
                parts.start(plan_film(cfg, info, colorizer, warn, on_progress))
            elif on_progress:
                on_progress(Progress("resume", parts.saved_frames(), kept.frames))
            parts.check_space(cfg.codec, info.width, info.height, info.path.stat().st_size)
    plan = parts.load()

    # Pass 2 on every rank: the segments not done yet, each written as a part.
    report = DecodeReport()
    done = parts.saved_frames()
    moved = 0
    try:
        for run in parts.runs(world):
            job = segment_job(run, plan, cfg, info, colorizer, fmt, done, on_progress)
            first = run[0]
            frames = decode_span(
                info.path,
                first.start,
                first.pts,
                job.total,
                max_damaged=cfg.max_damaged,
                report=report,
            )
            segment_parts = [(parts.part(s), s.frames) for s in run]
            with PartsWriter(segment_parts, info, fmt, cfg.crf, cfg.preset, first.start) as writer:
                done += _pass2(job, cfg, info, frames, (), report, writer)
            moved += writer.moved
    except UserError:
        if world.size == 1:
            raise
        log.exception("rank %d: a segment of %s failed", world.rank, cfg.input)
        # the barrier below is still reached: rank 0 then reports the missing segment
    world.barrier()
    if world.rank != 0:
        return ColorizeResult(out, done, plan.shots, {}, report, time.perf_counter() - t0, warnings)

    # The join on rank 0.
    missing = parts.missing()
    if missing:
        raise VideoOutputError(
            f"{len(missing)} segment(s) of {out.name} were not written (a process failed); "
            "run the same command again to write them"
        )
    if report.damaged_packets:
        warn(f"skipped {report.damaged_packets} damaged video packet(s)")
    if report.fixed_timestamps:
        warn(f"{report.fixed_timestamps} frame(s) had missing or out-of-order timestamps")
    if info.frames_in_header and plan.frames != info.frames_in_header:
        warn(f"the header says {info.frames_in_header} frames; the file holds {plan.frames}")
    if moved:
        warn(
            f"{out.suffix} files keep no timestamps: {moved} frame(s) of this "
            f"variable-rate film are shown at a constant {float(info.fps):g} fps "
            f"(.mkv or .mp4 keep every timestamp)"
        )
    files = [parts.part(s) for s in plan.segments]
    writer = join_parts(files, out, info, fmt, plans, cfg.crf, cfg.preset, cfg.overwrite)
    parts.remove()
    packets = dict(writer.packets)
    seconds = time.perf_counter() - t0
    return ColorizeResult(out, writer.frames, plan.shots, packets, report, seconds, warnings)


def plan_film(
    cfg: ColorizeConfig,
    info: VideoInfo,
    colorizer: Colorizer,
    warn: WarnFn,
    on_progress: ProgressFn | None,
) -> Plan:
    """Pass 1 (:func:`plan_shots`) and the segments of pass 2. When ``--style`` and
    ``--shots`` leave pass 1 nothing to compute, the frames are still decoded once and
    counted: segments need the exact count and each shot's first timestamp."""
    shot_plan = plan_shots(cfg, info, colorizer, warn, on_progress)
    shots, total = shot_plan.shots, shot_plan.total
    if not shot_plan.ran_pass1:
        counted = analyse(
            info,
            cuts=[s.start for s in shots[1:]],
            max_damaged=cfg.max_damaged,
            on_progress=on_progress,
        )
        shots, total = counted.shots, counted.frames
    segments = plan_segments(shots, info.time_base, cfg.segment_frames)
    return Plan(total, shots, shot_plan.vectors, segments)


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
    source: av.container.InputContainer | Iterator[av.VideoFrame],
    max_damaged: int,
    report: DecodeReport,
    copy_streams: tuple[int, ...],
    put: Callable[[Frame | Packet | None], None],
) -> None:
    """Decode thread: every video frame as a :class:`Frame`, other packets as :class:`Packet`.
    ``source`` is an open file, or frames already decoded (the segments of one run)."""
    if not isinstance(source, av.container.InputContainer):
        for frame in source:
            put(Frame(luma_plane(frame), frame.pts))
        put(_END)
        return
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


def segment_job(
    run: list[Segment],
    plan: Plan,
    cfg: ColorizeConfig,
    info: VideoInfo,
    colorizer: Colorizer,
    fmt: OutputFormat,
    done: int,
    on_progress: ProgressFn | None,
) -> Pass2:
    """Pass 2's shared state for a run of consecutive segments: their shots, numbered from the
    run's first frame and shot, and progress reported in the film's frames and shots."""
    first, last = run[0], run[-1]
    shots = [
        Shot(s.start - first.start, s.end - first.start, s.start_time, s.end_time)
        for s in plan.shots
        if first.start <= s.start < last.end
    ]
    vectors = {
        k - first.shot: v
        for k, v in plan.vectors.items()
        if first.shot <= k < first.shot + len(shots)
    }

    def progress(p: Progress) -> None:
        on_progress(
            Progress(p.stage, done + p.done, plan.frames, first.shot + p.shot, len(plan.shots))
        )

    return Pass2(
        colorizer=colorizer,
        shots=shots,
        vectors=vectors,
        luma=luma_format(info),
        fmt=fmt,
        batch_size=cfg.batch_size,
        keyframes=cfg.keyframes,
        total=last.end - first.start,
        on_progress=progress if on_progress else None,
        temporal=cfg.temporal,
    )
