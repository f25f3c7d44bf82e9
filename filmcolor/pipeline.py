"""Colorize a film: check everything, plan it (pass 1), colorize it in segments (pass 2), join.

:func:`colorize_video` is the whole of ``filmcolor colorize`` for one film, as a library call:

    checks        input (:func:`filmcolor.video.probe.probe`), output (:func:`check_output`),
                  streams (:func:`filmcolor.video.mux.plan_streams`), model
    plan          :func:`filmcolor.plan.plan_film`: pass 1 (shots and their global vectors)
                  and the segments, kept in ``<output>.parts`` (:class:`filmcolor.segments.Parts`)
    pass 2        :func:`filmcolor.pass2.run_pass2` for each run of consecutive segments still
                  to do: from a seek to its first frame (:func:`filmcolor.video.decode.
                  decode_span`) to one part per segment (:class:`filmcolor.parts.PartsWriter`)
    join          :func:`filmcolor.parts.join_parts`: the parts with the input's other streams

A crash keeps the parts written; under torchrun, ranks share them. Progress goes to an
``on_progress`` callback; nothing here prints.
"""

from __future__ import annotations

import datetime
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from filmcolor.checks import (
    BATCH_SHARE,
    batch_frame_bytes,
    check_black_and_white,
    max_batch,
)
from filmcolor.colorizer import Colorizer
from filmcolor.config import ColorizeConfig
from filmcolor.device import memory_of
from filmcolor.distributed import World
from filmcolor.errors import UserError
from filmcolor.keyframes import check_luma, keyframe_hashes, keyframes_of, read_keyframes
from filmcolor.parts import PartsWriter, join_parts
from filmcolor.pass2 import run_pass2, segment_job
from filmcolor.plan import WarnFn, plan_film, shot_palettes
from filmcolor.progress import Progress, ProgressFn
from filmcolor.segments import Parts, fingerprint
from filmcolor.shotlist import read_shot_list
from filmcolor.shots import Shot
from filmcolor.video.decode import DecodeReport, decode_span
from filmcolor.video.mux import (
    VideoOutputError,
    check_codec_fits,
    choose_output_format,
    plan_streams,
)
from filmcolor.video.probe import FIELD_BT, FIELD_TT, probe, sample_rgb
from filmcolor.weights import model_path

__all__ = ["ColorizeConfig", "ColorizeResult", "check_output", "colorize_video", "default_output"]

log = logging.getLogger(__name__)

# How long torchrun's ranks wait for each other: rank 0 may spend a long time in pass 1 and
# the join while the others wait.
RANK0_TIMEOUT = datetime.timedelta(days=2)


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


def bound_batch(
    cfg: ColorizeConfig, width: int, height: int, colorizer: Colorizer, warn: WarnFn
) -> ColorizeConfig:
    """``cfg`` with ``batch_size`` lowered to what 1/:data:`~filmcolor.checks.BATCH_SHARE` of
    the memory the network runs in takes (:func:`filmcolor.checks.max_batch`), saying so once
    when it is lowered."""
    memory = memory_of(colorizer.device)
    largest = max_batch(width, height, colorizer.render_size, memory)
    if largest is None or cfg.batch_size <= largest:
        return cfg
    each = batch_frame_bytes(width, height, colorizer.render_size)
    warn(
        f"--batch-size {cfg.batch_size} lowered to {largest}: a {width}x{height} frame takes "
        f"about {each / 1e6:.0f} MB in a batch, and a batch may use 1/{BATCH_SHARE} of the "
        f"{memory / 1e9:.0f} GB the network runs in"
    )
    return replace(cfg, batch_size=largest)


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
        first = "top" if info.field_order in (FIELD_TT, FIELD_BT) else "bottom"
        warn(
            f"the video is interlaced ({first} field first); it stays interlaced, with the same "
            "field order, and each frame is coloured as a whole (README: What is kept)"
        )
    if fmt.bits < info.bit_depth:
        warn(
            f"{cfg.codec} holds at most {fmt.bits} bits; luma is rounded from {info.bit_depth} bits"
        )
    if cfg.keyframes is not None:  # names, sizes, readable files: before pass 1
        read_keyframes(cfg.keyframes, None, info)
    world = World.from_env().join("gloo", RANK0_TIMEOUT)  # one process, or one of torchrun's
    if colorizer is None:
        colorizer = Colorizer.from_config(cfg)
    cfg = bound_batch(cfg, info.width, info.height, colorizer, warn)
    shot_list = (
        read_shot_list(cfg.shots, fps=info.fps, start=info.start_time) if cfg.shots else None
    )
    keys = keyframe_hashes(cfg.keyframes, shot_list)
    pixels = fingerprint(cfg, colorizer.device.type, colorizer.dtype, model_path(cfg.model), keys)
    parts = Parts(out, pixels)

    # Pass 1 on rank 0, unless the parts of an interrupted run can be kept.
    def plan_or_resume() -> None:
        kept = parts.resume(cfg.fresh, warn)
        if kept is None:
            film = plan_film(cfg, info, colorizer, warn, on_progress)
            # each keyframe is the frame it names: checked before pass 2 writes anything
            check_luma(keyframes_of(cfg, film.shots, info), info, cfg.max_damaged, film.shots)
            parts.start(film)
        else:
            check_luma(keyframes_of(cfg, kept.shots, info), info, cfg.max_damaged, kept.shots)
            if on_progress:
                on_progress(Progress("resume", parts.saved_frames(), kept.frames))
        parts.check_space(cfg.codec, info.width, info.height, info.path.stat().st_size)

    world.on_rank0(plan_or_resume)
    plan = parts.load()
    keyframes = keyframes_of(cfg, plan.shots, info)
    palettes = shot_palettes(cfg, info, plan.shots) if cfg.style_strength > 0 else {}

    # Pass 2 on every rank: the segments not done yet, each written as a part.
    report = DecodeReport()
    done = parts.saved_frames()
    moved = 0
    try:
        for run in parts.runs(world):
            job = segment_job(
                run, plan, cfg, info, colorizer, fmt, done, on_progress, keyframes, palettes
            )
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
                done += run_pass2(job, frames, writer)
            moved += writer.moved
    except UserError:
        if world.size == 1:
            raise
        log.exception("rank %d: a segment of %s failed", world.rank, cfg.input)
        # the barrier below is still reached: rank 0 then reports the missing segment
    world.barrier()
    if not world.main:
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
