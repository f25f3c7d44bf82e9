"""Colorize a film: pass 1 finds the shots and their colours, pass 2 colorizes and re-encodes.

Pass 2 runs in three stages joined by bounded queues, so memory does not grow with the film:

    decode thread: packets -> luma planes (+ audio/subtitle packets, untouched)
    this thread:   luma -> L* at --render-size -> network -> a*b* at the render size
    encode thread: a*b* upsampled + full-size L* -> Cb, Cr (OpenCV); original Y + new Cb, Cr
                   -> encoder (source pts) -> temporary file

The colour conversion runs in the encode thread because OpenCV releases the GIL: it overlaps
the network instead of following it (benchmarks/speed.py measures each stage).

Only chrominance comes from the network: the Y plane written is the Y plane read.
Progress goes to an ``on_progress`` callback; nothing here prints.
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np
import torch
import torch.nn.functional as F

from filmcolor.device import autocast, resolve_device, resolve_precision
from filmcolor.models import GLOBAL_SIZE, ColorizationNet
from filmcolor.models.color import gray_to_lightness
from filmcolor.shots import CutDetector, Shot, read_csv, shots_from_cuts, small_gray
from filmcolor.video_io import (
    CODECS,
    DecodeReport,
    VideoInfo,
    VideoInputError,
    VideoOutputError,
    VideoWriter,
    check_codec_fits,
    choose_output_format,
    chroma_matrix,
    decode_video,
    lab_to_chroma,
    luma_format,
    luma_plane,
    make_frame,
    plan_streams,
    probe,
    scale_luma,
)

log = logging.getLogger(__name__)

DEFAULT_RENDER_SIZE = 256  # short side the network runs at; see README "Render size"
SAMPLES_PER_SECOND = 2  # pass 1 computes a global vector this often


class StyleImageError(ValueError):
    """A ``--style`` reference that cannot be read; the message is meant for the user."""


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


@dataclass
class Progress:
    """A progress report: ``stage`` is "shots" (pass 1) or "colorize" (pass 2)."""

    stage: str
    done: int
    total: int | None
    shot: int = 0  # 1-based, 0 = not known yet
    shots: int = 0


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


ProgressFn = Callable[[Progress], None]
WarnFn = Callable[[str], None]


def default_output(video: Path) -> Path:
    """``<stem>_color.mp4`` beside the input."""
    return video.with_name(f"{video.stem}_color.mp4")


# The network, as the pipeline uses it.


def fold_batchnorm(model: ColorizationNet) -> ColorizationNet:
    """A copy of an eval-mode model with every Conv2d -> BatchNorm2d pair folded into one
    convolution (weights scaled, bias added): the same function, one pass less per layer."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = copy.deepcopy(model)
    for seq in model.modules():
        if not isinstance(seq, torch.nn.Sequential):
            continue
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d):
                seq[i], seq[i + 1] = fuse_conv_bn_eval(conv, bn), torch.nn.Identity()
    return model


class Colorizer:
    """The model on its device and precision, at a render size.

    The network is prepared for inference without changing its maths: BatchNorm folded into
    the convolutions before it (:func:`fold_batchnorm`), and the weights in channels-last order
    (on CPU, oneDNN's fast layout; on CUDA, the tensor cores'), which every input follows.

    Args:
        model: a loaded network in eval mode (``fold`` works on a copy of it).
        device: where it lives.
        dtype: the autocast precision (float32 = none).
        render_size: short side at which the local path runs; 0 = the frame's own size.
            Frames smaller than this are not enlarged.
        fold: fold BatchNorm into the convolutions.
    """

    def __init__(
        self,
        model: ColorizationNet,
        device: torch.device,
        dtype: torch.dtype,
        render_size: int,
        fold: bool = True,
    ):
        if fold and not model.training:
            model = fold_batchnorm(model)
        self.model = model.to(memory_format=torch.channels_last)
        self.device = device
        self.dtype = dtype
        self.render_size = render_size

    @classmethod
    def load(
        cls,
        model: Path | None,
        device: str = "auto",
        precision: str = "auto",
        temperature: float | None = None,
        render_size: int = DEFAULT_RENDER_SIZE,
    ) -> Colorizer:
        """Load a checkpoint (see :func:`filmcolor.weights.load_model`)."""
        from filmcolor.weights import load_model

        dev = resolve_device(device)
        dtype = resolve_precision(precision, dev)
        net, _ = load_model(model, dev, temperature)
        return cls(net, dev, dtype, render_size)

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        """A CPU tensor on the model's device, channels-last; on CUDA copied from pinned memory
        without waiting for the copy."""
        if self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
        else:
            x = x.to(self.device)
        return x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x

    @torch.no_grad()
    def global_vector(self, l224: torch.Tensor) -> torch.Tensor:
        """Global features of (B, 1, 224, 224) lightness (L*/100) -> (B, D) float32 on CPU."""
        with autocast(self.device, self.dtype):
            g, _ = self.model.global_features(self._input(l224))
        return g.float().cpu()

    def shrink(self, l: torch.Tensor) -> torch.Tensor:
        """Lightness (B, 1, H, W) rescaled (antialiased) to the render size; smaller frames
        and ``render_size`` 0 are left as they are."""
        h, w = l.shape[-2:]
        short = min(h, w)
        if not self.render_size or short <= self.render_size:
            return l
        s = self.render_size / short
        size = (max(8, round(h * s)), max(8, round(w * s)))
        return F.interpolate(l, size=size, mode="bilinear", antialias=True, align_corners=False)

    @torch.no_grad()
    def ab(self, l: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """a*b* for lightness (B, 1, H, W) (L*/100), at (H, W), float32 on CPU.

        The network runs with the short side at ``render_size`` (see :meth:`shrink`); its a*b*
        is upsampled bilinearly to (H, W). Pass 2 gives lightness already shrunk and upsamples
        a*b* itself, with the colour conversion, in the encode thread.
        """
        h, w = l.shape[-2:]
        small = self.shrink(l)
        with autocast(self.device, self.dtype):
            ab = self.model.colorize(self._input(small), self._input(g))
        ab = ab.float()
        if ab.shape[-2:] != (h, w):
            ab = F.interpolate(ab, size=(h, w), mode="bilinear", align_corners=False)
        return ab.cpu()


def lightness_of(y: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Luma code values (any shape) -> L* (float32) through ``lut`` (one entry per code)."""
    if y.dtype == np.uint8 and len(lut) == 256:  # OpenCV's table lookup: several times faster
        return cv2.LUT(y.reshape(-1, y.shape[-1]), lut).reshape(y.shape)
    return lut[y]


def thumb224(y: np.ndarray, lut: torch.Tensor) -> torch.Tensor:
    """Luma code values (H, W) -> (1, 224, 224) lightness for the global path."""
    interp = cv2.INTER_AREA if min(y.shape) > GLOBAL_SIZE else cv2.INTER_LINEAR
    small = cv2.resize(y, (GLOBAL_SIZE, GLOBAL_SIZE), interpolation=interp)
    return lut[torch.from_numpy(small.astype(np.int64))][None] / 100


def style_vector(colorizer: Colorizer, path: Path) -> torch.Tensor:
    """One global vector (1, D) from a reference image, for the whole film.

    Raises:
        StyleImageError: missing or unreadable image.
    """
    from filmcolor.stills import ImageReadError, read_luma

    try:
        y, bits = read_luma(path)
    except ImageReadError as e:
        raise StyleImageError(f"--style: {e}") from None
    lut = gray_to_lightness(bits)
    return colorizer.global_vector(thumb224(y, lut)[None])


# Pass 1.


@dataclass
class Analysis:
    """The result of pass 1."""

    frames: int
    cuts: list[int]
    shots: list[Shot]
    vectors: dict[int, torch.Tensor]  # shot index -> (1, D) global vector (missing = compute)


def analyse(
    info: VideoInfo,
    colorizer: Colorizer | None,
    *,
    cuts: list[int] | None = None,
    detector: str = "content",
    threshold: float | None = None,
    min_shot_frames: int = 15,
    keyframes: int = 5,
    max_damaged: int = 10,
    on_progress: ProgressFn | None = None,
) -> Analysis:
    """Pass 1: decode once, find cuts (unless given), and average global vectors per shot.

    Args:
        info: from :func:`filmcolor.video_io.probe`.
        colorizer: computes the global vectors; None = find the shots only.
        cuts: a given shot list (first frames of shots); None = detect.
        detector, threshold, min_shot_frames: see :class:`filmcolor.shots.CutDetector`.
        keyframes: how many sampled frames per shot are averaged.
        max_damaged: damaged packets tolerated.
        on_progress: called every few frames.
    """
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
            pick = [inside[int((j + 0.5) * len(inside) / keyframes)] for j in range(keyframes)]
            pick = pick if len(inside) >= keyframes else inside
            vectors[k] = torch.stack(pick).mean(0, keepdim=True)
    return Analysis(n, sorted(set(cuts or [])), shots, vectors)


# Pass 2.


_END = object()


class _Stop(Exception):
    pass


def _put(q: queue.Queue, item, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue
    raise _Stop


def _get(q: queue.Queue, stop: threading.Event, worker: threading.Thread | None = None):
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if stop.is_set():
                raise _Stop from None
            if worker is not None and not worker.is_alive() and q.empty():
                raise _Stop from None


def check_output(cfg: ColorizeConfig) -> Path:
    """The output path, checked: not the input, not an existing file (unless --overwrite),
    in an existing folder, in a container that takes the codec."""
    out = Path(cfg.output)
    if cfg.codec not in CODECS:
        raise VideoOutputError(f"unknown --codec {cfg.codec!r}; choose from {', '.join(CODECS)}")
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
        on_progress: receives :class:`Progress` reports.
        on_warning: receives warnings meant for the user (default: logged).
        colorizer: an already loaded model (for repeated calls); None = load ``cfg.model``.

    Raises:
        VideoInputError, VideoOutputError, StyleImageError, ShotListError, ModelFileError:
            with a message meant for the user.
    """
    t0 = time.perf_counter()
    warnings: list[str] = []

    def warn(message: str) -> None:
        warnings.append(message)
        (on_warning or log.warning)(message)

    if cfg.batch_size < 1:
        raise ValueError("--batch-size must be at least 1")
    if cfg.render_size < 0:
        raise ValueError("--render-size must be positive (or 0 for the frame's own size)")
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
    given_cuts = read_csv(cfg.shots) if cfg.shots else None
    if colorizer is None:
        colorizer = Colorizer.load(
            cfg.model, cfg.device, cfg.precision, cfg.temperature, cfg.render_size
        )
    style = style_vector(colorizer, cfg.style) if cfg.style else None

    # Pass 1.
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
    else:
        total = info.estimated_frames or 0
        shots = shots_from_cuts(given_cuts, max(total, max(given_cuts, default=0) + 1))
        vectors = {}
    if style is not None:
        vectors = dict.fromkeys(range(len(shots)), style)

    # Pass 2.
    report = DecodeReport()
    luma = luma_format(info)
    lut = luma.lightness_table()
    lut_np = lut.numpy()
    matrix = chroma_matrix(fmt)
    copy_streams = tuple(p.index for p in plans)
    stop = threading.Event()
    q_in: queue.Queue = queue.Queue(maxsize=max(16, 3 * cfg.batch_size))
    q_out: queue.Queue = queue.Queue(maxsize=2)
    errors: list[BaseException] = []

    def decode() -> None:
        try:
            for frame in decode_video(
                source,
                max_damaged=cfg.max_damaged,
                report=report,
                copy_streams=copy_streams,
                on_packet=lambda p: _put(q_in, ("packet", p), stop),
            ):
                _put(q_in, ("frame", luma_plane(frame), frame.pts), stop)
            _put(q_in, _END, stop)
        except _Stop:
            pass
        except BaseException as e:  # handed to the main thread, which re-raises it
            errors.append(e)
            stop.set()

    source = av.open(str(info.path))  # open until the end: copied packets point into it
    with source, VideoWriter(out, info, fmt, plans, cfg.crf, cfg.preset) as writer:

        def encode() -> None:
            try:
                while True:
                    item = _get(q_out, stop)
                    if item is _END:
                        return
                    for kind, *payload in item:
                        if kind == "frame":
                            y, ab, pts = payload  # luma (H, W) codes, a*b* (h, w, 2) float32
                            cb, cr = lab_to_chroma(lightness_of(y, lut_np), ab, fmt, matrix)
                            y = scale_luma(y, luma.bits, fmt.bits)
                            writer.write_frame(make_frame(y, cb, cr, fmt), pts)
                        else:
                            writer.write_packet(payload[0])
            except _Stop:
                pass
            except BaseException as e:
                errors.append(e)
                stop.set()

        decoder = threading.Thread(target=decode, name="filmcolor-decode", daemon=True)
        encoder = threading.Thread(target=encode, name="filmcolor-encode", daemon=True)
        decoder.start()
        encoder.start()
        finished = False
        threads = torch.get_num_threads()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)  # the other cores decode, convert and encode
        try:
            frames = _colorize_stream(
                colorizer,
                shots,
                vectors,
                lut,
                cfg,
                q_in,
                q_out,
                stop,
                decoder,
                total,
                on_progress,
            )
            _put(q_out, _END, stop)
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


def _colorize_stream(
    colorizer: Colorizer,
    shots: list[Shot],
    vectors: dict[int, torch.Tensor],
    lut: torch.Tensor,
    cfg: ColorizeConfig,
    q_in: queue.Queue,
    q_out: queue.Queue,
    stop: threading.Event,
    decoder: threading.Thread,
    total: int | None,
    on_progress: ProgressFn | None,
) -> int:
    """The main thread's loop: batches of one shot -> a*b* at the render size -> the encoder
    queue (which turns it into chroma)."""
    lut_np = lut.numpy()
    starts = [s.start for s in shots[1:]]
    shot = 0
    batch: list[tuple[np.ndarray, int]] = []
    packets: list = []
    n = 0

    def run() -> None:
        nonlocal vectors
        if not batch:
            if packets:
                _put(q_out, [("packet", p) for p in packets], stop)
                packets.clear()
            return
        y = np.stack([b[0] for b in batch])  # (B, H, W) code values
        lightness = torch.from_numpy(lightness_of(y, lut_np))[:, None]  # (B, 1, H, W) L*
        g = vectors.get(shot)
        if g is None:  # a shot too short to be sampled in pass 1: use its first frames
            l224 = torch.stack([thumb224(b[0], lut) for b in batch[: cfg.keyframes]])
            g = vectors[shot] = colorizer.global_vector(l224).mean(0, keepdim=True)
        small = colorizer.shrink(lightness / 100)  # (B, 1, h, w) at the render size
        ab = colorizer.ab(small, g).permute(0, 2, 3, 1).numpy()  # (B, h, w, 2)
        items = [
            ("frame", yi, np.ascontiguousarray(ab[i]), pts) for i, (yi, pts) in enumerate(batch)
        ]
        items += [("packet", p) for p in packets]
        _put(q_out, items, stop)
        batch.clear()
        packets.clear()

    while True:
        item = _get(q_in, stop, decoder)
        if item is _END:
            break
        if item[0] == "packet":
            packets.append(item[1])
            continue
        if shot < len(starts) and n == starts[shot]:
            run()
            shot += 1
        batch.append((item[1], item[2]))
        n += 1
        if len(batch) == cfg.batch_size:
            run()
            if on_progress:
                on_progress(Progress("colorize", n, max(total or 0, n), shot + 1, len(shots)))
    run()
    if on_progress:
        on_progress(Progress("colorize", n, n, shot + 1, len(shots)))
    return n
