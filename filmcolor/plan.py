"""The film's plan, before pass 2: its shots, the global vector and style of each, and the
segments it is written in.

:func:`plan_shots` is pass 1 as ``colorize`` runs it (``--shots`` with its ``style`` column,
``--style``, then :func:`filmcolor.shots.analyse`); ``filmcolor preview`` calls it too, so the
sheet shows what ``colorize`` will do. :func:`plan_film` adds the segments of pass 2
(:func:`filmcolor.segments.plan_segments`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from filmcolor.colorizer import Colorizer
from filmcolor.config import ColorizeConfig
from filmcolor.palette import Palette
from filmcolor.progress import ProgressFn
from filmcolor.segments import Plan, plan_segments
from filmcolor.shotlist import check_starts, read_shot_list
from filmcolor.shots import Shot, analyse, shots_from_cuts
from filmcolor.styles import csv_styles, parse_reference, style_palette, style_vector
from filmcolor.video.probe import VideoInfo

WarnFn = Callable[[str], None]


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
            samples_per_shot=cfg.samples,
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


def shot_palettes(cfg: ColorizeConfig, info: VideoInfo, shots: list[Shot]) -> dict[int, Palette]:
    """The palette of the reference that colours each shot, in :func:`plan_shots`' order of
    precedence (its row's ``style`` cell, else ``--style``); shots with a gray reference or
    none are left out (their colours stay the network's). Read again by every process and on
    resume: a reference is one picture, and the fingerprint holds its hash.
    """
    palettes: dict[int, Palette] = {}
    if cfg.style:
        palettes = dict.fromkeys(range(len(shots)), style_palette(cfg.style))
    if cfg.shots:
        shot_list = read_shot_list(cfg.shots, fps=info.fps, start=info.start_time)
        base, found = shot_list.path.parent, {}
        for k, shot in enumerate(shots):
            cell = shot_list.styles.get(shot.start)
            if cell is None:
                continue
            if cell.text not in found:
                where = f"{shot_list.path}, line {cell.line}: style {cell.text!r}"
                found[cell.text] = style_palette(cell.text, where=where, base=base)
            palettes[k] = found[cell.text]
    return {k: p for k, p in palettes.items() if not p.gray}


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
