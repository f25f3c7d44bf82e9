"""Pass 2: decode -> batches of one shot -> network -> temporal -> encode, in three threads.

The stages run in threads joined by bounded queues, so memory does not grow with the film;
each stage is one function below, and a stage that works on batches of a shot is one more
function called in :func:`_run_network` or in the encode thread of :func:`run_pass2`:

    decode thread  :func:`decode`     decoded frames -> :class:`Frame` (luma, pts)
    this thread    :func:`batches`    frames -> :class:`Batch` of one shot
                   :func:`add_colour` luma -> L* at --render-size (despeckled; levelled
                                      with --temporal) -> network -> a*b*
    encode thread  :func:`follow_motion` a*b* carried along the optical flow within a shot
                                      (--temporal, :mod:`filmcolor.temporal`)
                   :func:`match_style` a*b* matched to the shot's reference's palette
                                      (--style, style cells; :mod:`filmcolor.palette`)
                   :func:`carry_keyframes` the keyframes' colour carried through their shot
                                      (--keyframes, :mod:`filmcolor.propagate`)
                   :func:`encode`     a*b* upsampled + full-size L* -> Cb, Cr (OpenCV);
                                      original Y + new Cb, Cr -> the writer (source pts)

The optical flow and the colour conversion run in the encode thread because OpenCV releases
the GIL: they overlap the network instead of following it (benchmarks/speed.py measures each
stage, benchmarks/temporal_speed.py the flow). Only chrominance comes from the network: the Y
plane written is the Y plane read.

``Pass2.clock`` (a :class:`StageClock`, None by default) times every step of every thread and
each thread's waits on its queues (``benchmarks/speed.py --profile``); off, a step costs one
``is None`` test.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import av
import cv2
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
from filmcolor.colorizer import Colorizer, thumb224
from filmcolor.config import ColorizeConfig
from filmcolor.keyframes import Keyframe
from filmcolor.models.color import normalize_l
from filmcolor.palette import Palette, match_palette
from filmcolor.progress import Progress, ProgressFn
from filmcolor.propagate import KeyframeStage
from filmcolor.segments import Plan, Segment
from filmcolor.shots import Shot
from filmcolor.temporal import FollowMotion, ShotLevel, despeckle, gray8
from filmcolor.video.decode import luma_plane
from filmcolor.video.probe import VideoInfo, VideoInputError, luma_format
from filmcolor.video.writer import make_frame

# The messages between the stages.


@dataclass
class Frame:
    """A decoded frame: its luma, its source timestamp, and (once the network ran) its a*b*."""

    y: np.ndarray  # (H, W) luma code values, uint8 or uint16
    pts: int
    ab: np.ndarray | None = None  # (h, w, 2) float32 at the render size
    gray: np.ndarray | None = None  # (h, w) uint8: the network's levelled input (--temporal)


@dataclass
class Batch:
    """Consecutive frames of one shot."""

    shot: int  # index into the shot list
    frames: list[Frame] = field(default_factory=list)


_END = None  # the last message on every queue


class StageClock:
    """Wall and CPU (``time.thread_time``) seconds per (thread, step) of pass 2, summed over
    the run, and how many times each step ran; ``"idle"`` steps are waits on a queue."""

    def __init__(self) -> None:
        self.wall: dict[tuple[str, str], float] = {}
        self.cpu: dict[tuple[str, str], float] = {}
        self.calls: dict[tuple[str, str], int] = {}

    @contextlib.contextmanager
    def __call__(self, thread: str, step: str):
        w0, c0 = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            key = (thread, step)
            self.wall[key] = self.wall.get(key, 0.0) + time.perf_counter() - w0
            self.cpu[key] = self.cpu.get(key, 0.0) + time.thread_time() - c0
            self.calls[key] = self.calls.get(key, 0) + 1


_OFF = contextlib.nullcontext()


def _step(job: Pass2, thread: str, step: str):
    """A context timing ``step`` of ``thread`` on ``job.clock``; nothing when it is None."""
    return _OFF if job.clock is None else job.clock(thread, step)


@dataclass
class Pass2:
    """What the stages of pass 2 share: the model, the shots and their vectors, the formats."""

    colorizer: Colorizer
    shots: list[Shot]
    vectors: dict[int, torch.Tensor]  # shot index -> (1, D); filled in for unsampled shots
    luma: LumaFormat
    fmt: OutputFormat
    batch_size: int
    samples: int  # frames of a shot pass 1 did not sample whose vectors are averaged
    total: int | None
    on_progress: ProgressFn | None
    temporal: float = 0.0  # strength of filmcolor.temporal; 0 = each frame on its own
    threads: int = 0  # torch threads for the network; 0 = leave torch's setting
    source: str = "the film"  # named in the error when decoding stops unexpectedly
    keys: KeyframeStage | None = None  # the run's keyframes (--keyframes)
    palettes: dict[int, Palette] = field(default_factory=dict)  # shot -> its reference's
    style_strength: float = 0.0  # how far a*b* follow that palette
    clock: StageClock | None = None  # times each step of each thread (benchmarks/speed.py)

    def __post_init__(self) -> None:
        self.lut = self.luma.lightness_table()
        self.lut_np = self.lut.numpy()
        self.level = ShotLevel()  # used by the network's thread
        self.follow = FollowMotion(self.temporal)  # used by the encode thread


class FrameWriter(Protocol):
    """Where pass 2's frames go: a :class:`filmcolor.video.writer.VideoWriter` or a
    :class:`filmcolor.parts.PartsWriter`."""

    def write_frame(self, frame: av.VideoFrame, pts: int) -> None: ...


# The stages.


def decode(
    frames: Iterable[av.VideoFrame],
    put: Callable[[Frame | None], None],
    clock: StageClock | None = None,
) -> None:
    """Decode thread: every decoded video frame as a :class:`Frame` (its luma, its pts)."""
    if clock is not None:
        return _decode_timed(iter(frames), put, clock)
    for frame in frames:
        put(Frame(luma_plane(frame), frame.pts))
    put(_END)


def _decode_timed(
    frames: Iterator[av.VideoFrame], put: Callable[[Frame | None], None], clock: StageClock
) -> None:
    """:func:`decode` with each step on ``clock``."""
    while True:
        with clock("decode", "demux_decode"):
            frame = next(frames, None)
        if frame is None:
            break
        with clock("decode", "luma_plane"):
            item = Frame(luma_plane(frame), frame.pts)
        with clock("decode", "idle_put"):
            put(item)
    put(_END)


def batches(job: Pass2, frames: Iterator[Frame]) -> Iterator[Batch]:
    """Group frames into batches of at most ``batch_size`` that never span a cut."""
    starts = [s.start for s in job.shots[1:]]
    batch = Batch(0)
    for n, item in enumerate(frames):
        if batch.shot < len(starts) and n == starts[batch.shot]:
            if batch.frames:
                yield batch
            batch = Batch(batch.shot + 1)
        batch.frames.append(item)
        if len(batch.frames) == job.batch_size:
            yield batch
            batch = Batch(batch.shot)
    if batch.frames:
        yield batch


def add_colour(job: Pass2, batch: Batch) -> None:
    """The network: each frame's a*b* at the render size, from its shot's global vector."""
    if not batch.frames:
        return
    with _step(job, "network", "lightness"):
        y = np.stack([f.y for f in batch.frames])  # (B, H, W) code values
        lightness = torch.from_numpy(lightness_of(y, job.lut_np))[:, None]  # (B, 1, H, W) L*
    g = job.vectors.get(batch.shot)
    if g is None:  # a shot too short to be sampled in pass 1: use its first frames
        with _step(job, "network", "global_vector"):
            l224 = torch.stack([thumb224(f.y, job.lut) for f in batch.frames[: job.samples]])
            g = job.colorizer.global_vector(l224).mean(0, keepdim=True)
            job.vectors[batch.shot] = g
    with _step(job, "network", "shrink_despeckle"):
        small = despeckle(job.colorizer.shrink(normalize_l(lightness)))  # (B, 1, h, w)
    if job.temporal:
        with _step(job, "network", "level"):
            small = job.level(batch.shot, small)  # brightness flicker out of the input only
    with _step(job, "network", "network_ab"):
        ab = job.colorizer.ab(small, g).permute(0, 2, 3, 1).numpy()  # (B, h, w, 2)
    with _step(job, "network", "to_frames"):
        for i, f in enumerate(batch.frames):
            f.ab = np.ascontiguousarray(ab[i])
            f.gray = gray8(small[i, 0]) if job.temporal else None


def colour_frame(job: Pass2, shot: int, y: np.ndarray) -> np.ndarray:
    """One frame of ``shot`` through the network stage, as pass 2 colours it in a batch of one
    (the shot's vector, the render size): its a*b*, (h, w, 2) float32 at the render size."""
    batch = Batch(shot, [Frame(y, 0)])
    add_colour(job, batch)
    return batch.frames[0].ab


def follow_motion(job: Pass2, batch: Batch) -> None:
    """Encode thread: each frame's a*b* blended with the previous frame's moved along the
    optical flow, within the shot (:class:`filmcolor.temporal.FollowMotion`). A keyframed
    shot's stage follows the frame before itself (:meth:`filmcolor.propagate.PreparedShot.next`)."""
    if not job.temporal or (job.keys is not None and batch.shot in job.keys.keys):
        return
    for f in batch.frames:
        f.ab = job.follow(batch.shot, f.gray, f.ab)


def match_style(job: Pass2, batch: Batch) -> None:
    """Encode thread: a shot's a*b* matched to its style reference's palette, band by band of
    L* (:func:`filmcolor.palette.match_palette`); a keyframed shot takes its keyframes'."""
    palette = job.palettes.get(batch.shot)
    if palette is None or (job.keys is not None and batch.shot in job.keys.keys):
        return
    for f in batch.frames:
        h, w = f.ab.shape[:2]
        lightness = cv2.resize(lightness_of(f.y, job.lut_np), (w, h), interpolation=cv2.INTER_AREA)
        f.ab = match_palette(lightness, f.ab, palette, job.style_strength)


def carry_keyframes(job: Pass2, batch: Batch) -> None:
    """Encode thread: a keyframed shot's a*b* under its keyframes' colour, carried along the
    flow (:class:`filmcolor.propagate.KeyframeStage`, prepared in the network's thread)."""
    if job.keys is not None:
        job.keys.apply(job, batch.shot, batch.frames)


def encode(job: Pass2, batch: Batch, writer: FrameWriter, matrix: np.ndarray) -> None:
    """Encode thread: full-size L* + a*b* -> Cb, Cr; the original Y; to the writer."""
    fmt, bits = job.fmt, job.luma.bits
    for f in batch.frames:
        with _step(job, "encode", "lab_to_chroma"):
            cb, cr = lab_to_chroma(lightness_of(f.y, job.lut_np), f.ab, fmt, matrix)
        with _step(job, "encode", "make_frame"):
            frame = make_frame(scale_luma(f.y, bits, fmt.bits), cb, cr, fmt)
        with _step(job, "encode", "x264_write"):
            writer.write_frame(frame, f.pts)


def _run_network(job: Pass2, frames: Iterator[Frame], put: Callable[[Batch | None], None]) -> int:
    """This thread: batches -> a*b* -> the encoder queue. Returns the number of frames."""
    n, shot = 0, 0
    for batch in batches(job, frames):
        if job.keys is not None:
            with _step(job, "network", "keyframes_prepare"):
                job.keys.prepare(job, batch.shot)  # starts it and the next keyframed shot
        add_colour(job, batch)
        with _step(job, "network", "idle_put"):
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


# The threads and queues that join the stages.


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


def _timed_gets(job: Pass2, items: Iterator[Frame]) -> Iterator[Frame]:
    """``items``, each wait for one on ``job.clock`` as the network thread's idle time."""
    if job.clock is None:
        yield from items
        return
    while True:
        with job.clock("network", "idle_get"):
            item = next(items, _END)
        if item is _END:
            return
        yield item


def run_pass2(job: Pass2, frames: Iterable[av.VideoFrame], writer: FrameWriter) -> int:
    """Run the three threads of pass 2 from decoded ``frames`` to ``writer``; the first error
    (or Ctrl-C) stops all of them. Returns the number of frames written."""
    stop = threading.Event()
    q_in = _Queue(max(16, 3 * job.batch_size), stop)
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
        batches = iter(q_out)
        while True:
            with _step(job, "encode", "idle_get"):
                batch = next(batches, None)
            if batch is None:
                break
            with _step(job, "encode", "follow_motion"):
                follow_motion(job, batch)
            with _step(job, "encode", "match_style"):
                match_style(job, batch)
            with _step(job, "encode", "carry_keyframes"):
                carry_keyframes(job, batch)
            encode(job, batch, writer, matrix)

    def timed_thread(name: str, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            with _step(job, name, "total"):
                fn()

        return run

    decoder = thread("decode", timed_thread("decode", lambda: decode(frames, q_in.put, job.clock)))
    encoder = thread("encode", timed_thread("encode", encode_all))
    q_in.feeder = decoder
    decoder.start()
    encoder.start()
    finished = False
    threads = torch.get_num_threads()
    if job.threads:
        torch.set_num_threads(job.threads)  # the other cores decode, convert and encode
    done = 0
    try:
        with _step(job, "network", "total"):
            done = _run_network(job, _timed_gets(job, iter(q_in)), q_out.put)
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
        raise VideoInputError(f"{job.source}: decoding stopped unexpectedly")
    return done


def segment_job(
    run: list[Segment],
    plan: Plan,
    cfg: ColorizeConfig,
    info: VideoInfo,
    colorizer: Colorizer,
    fmt: OutputFormat,
    done: int,
    on_progress: ProgressFn | None,
    keyframes: list[Keyframe] | None = None,
    palettes: dict[int, Palette] | None = None,
) -> Pass2:
    """Pass 2's shared state for a run of consecutive segments: their shots, numbered from the
    run's first frame and shot, and progress reported in the film's frames and shots; the
    ``keyframes`` (checked, :func:`filmcolor.keyframes.read_keyframes`) and reference
    ``palettes`` (:func:`filmcolor.plan.shot_palettes`) of the run's shots."""
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

    keys = {}
    for key in keyframes or ():
        if first.shot <= key.shot < first.shot + len(shots):
            keys.setdefault(key.shot - first.shot, []).append(key)
    stage = None
    if keys:
        stage = KeyframeStage(
            info.path,
            info.time_base,
            shots,
            keys,
            first.start,
            cfg.style_strength,
            cfg.max_damaged,
            cfg.temporal,
        )
    return Pass2(
        colorizer=colorizer,
        shots=shots,
        vectors=vectors,
        luma=luma_format(info),
        fmt=fmt,
        batch_size=cfg.batch_size,
        samples=cfg.samples,
        total=last.end - first.start,
        on_progress=progress if on_progress else None,
        temporal=cfg.temporal,
        threads=cfg.threads,
        source=str(info.path),
        keys=stage,
        palettes={
            k - first.shot: p
            for k, p in (palettes or {}).items()
            if first.shot <= k < first.shot + len(shots)
        },
        style_strength=cfg.style_strength,
    )
