"""Review before you render: a contact sheet with one colour frame per shot.

``filmcolor preview`` runs pass 1 exactly as ``colorize`` does (:func:`filmcolor.plan.
plan_shots`: the same model, ``--style``, ``--shots`` and its ``style`` column), decodes the
middle frame of every shot, colours it with pass 2's network stage
(:func:`filmcolor.pass2.colour_frame`, at the same render size), and lays the shots out in
pages: number, time code and style of each shot above its gray | colour pair. It also writes
the shot list as CSV, with an empty ``style`` column to fill in where a shot came out wrong.
With ``--keyframes``, a keyframed shot is marked with its keyframes' names and its middle frame
is shown as pass 2 renders it: the keyframes carried to it along the flow
(:class:`filmcolor.propagate.KeyframeStage`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from filmcolor.color import lightness_of
from filmcolor.colorizer import Colorizer
from filmcolor.config import COLUMNS, PER_PAGE, ColorizeConfig
from filmcolor.errors import UserError
from filmcolor.images import write_image
from filmcolor.keyframes import Keyframe, check_luma, keyframes_of
from filmcolor.models.color import lab_to_rgb
from filmcolor.palette import match_palette
from filmcolor.pass2 import Frame, Pass2, colour_frame
from filmcolor.plan import WarnFn, plan_shots, shot_palettes
from filmcolor.progress import Progress, ProgressFn
from filmcolor.propagate import KeyframeStage
from filmcolor.shotlist import ShotListError, read_shot_list, write_csv
from filmcolor.shots import Shot
from filmcolor.timecode import format_time
from filmcolor.video.decode import decode_video, luma_plane
from filmcolor.video.mux import choose_output_format
from filmcolor.video.probe import VideoInfo, luma_format, probe

TILE_HEIGHT = 120  # px, of each picture of a tile
SHEET_SUFFIXES = (".png", ".jpg", ".jpeg")

_MARGIN, _GAP, _LABEL, _TITLE = 10, 4, 34, 30  # px
_BACKGROUND, _TEXT, _STYLED = (34, 34, 34), (235, 235, 235), (80, 190, 255)  # BGR
_FONT = cv2.FONT_HERSHEY_SIMPLEX


class PreviewError(UserError):
    """A preview that cannot be made as asked."""


@dataclass
class Page:
    """One page of the sheet."""

    path: Path
    shots: list[int]  # indices of the shots on it, in order
    boxes: dict[int, tuple[int, int, int, int]]  # shot -> (x, y, w, h) of its colour picture;
    # the gray picture is the same size, just left of it


@dataclass
class PreviewResult:
    """What :func:`preview_video` wrote, and how long each part took."""

    pages: list[Page]
    csv: Path | None  # the shot list written (None when --shots gave one)
    shots: list[Shot]
    styles: dict[int, str]  # shot index -> its reference; missing = its own colours
    frames: dict[int, int]  # shot index -> the frame shown
    seconds: dict[str, float] = field(default_factory=dict)  # "model", "shots", "frames",
    # "colour" (the network on the chosen frames), "total"
    keyframed: dict[int, list[str]] = field(default_factory=dict)  # shot -> its keyframes


def default_sheet(video: Path) -> Path:
    """``<stem>_sheet.png`` beside the input."""
    return video.with_name(f"{video.stem}_sheet.png")


def default_csv(video: Path, sheet: Path) -> Path:
    """``<stem>_shots.csv`` beside the sheet."""
    return sheet.with_name(f"{video.stem}_shots.csv")


def page_paths(sheet: Path, pages: int) -> list[Path]:
    """``sheet.png`` for one page; ``sheet-001.png``, ``sheet-002.png``, ... for more."""
    if pages == 1:
        return [sheet]
    return [sheet.with_name(f"{sheet.stem}-{i:03d}{sheet.suffix}") for i in range(1, pages + 1)]


def preview_video(
    cfg: ColorizeConfig,
    sheet: Path,
    *,
    csv: Path | None = None,
    per_page: int = PER_PAGE,
    columns: int = COLUMNS,
    tile_height: int = TILE_HEIGHT,
    on_progress: ProgressFn | None = None,
    on_warning: WarnFn | None = None,
    colorizer: Colorizer | None = None,
) -> PreviewResult:
    """Colour the middle frame of every shot as ``colorize`` would, and write a contact sheet.

    Args:
        cfg: the options ``colorize`` would run with (its output is not used).
        sheet: the sheet (.png or .jpg); several pages are numbered ``-001``, ``-002``, ...
        csv: where to write the shot list when ``cfg.shots`` gives none; None =
            :func:`default_csv`. An existing list that gives shots a style is not replaced.
        per_page: shots per page.
        columns: tiles per row.
        tile_height: height in pixels of each picture.
        on_progress: receives :class:`filmcolor.progress.Progress` reports.
        on_warning: receives warnings meant for the user.
        colorizer: an already loaded model; None = load ``cfg.model``.

    Raises:
        UserError: a message meant for the user (the input, the shot list, a style reference,
            the model, or where the sheet goes).
    """
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    if per_page < 1 or columns < 1 or tile_height < 16:
        raise PreviewError("--per-page and --columns must be at least 1, the tile height 16")
    sheet = Path(sheet)
    if sheet.suffix.lower() not in SHEET_SUFFIXES:
        raise PreviewError(f"the sheet {sheet.name} must end in .png or .jpg")
    if not sheet.parent.is_dir():
        raise PreviewError(f"the folder {sheet.parent} does not exist")
    info = probe(cfg.input)
    if cfg.shots and csv is not None:
        raise PreviewError(f"--csv: with --shots, the shot list to edit is {cfg.shots}")
    csv = None if cfg.shots else (csv or default_csv(Path(cfg.input), sheet))
    if csv is not None:
        _check_replaceable(csv, info)
    if colorizer is None:
        colorizer = Colorizer.from_config(cfg)
    seconds["model"] = time.perf_counter() - t0

    t = time.perf_counter()
    plan = plan_shots(cfg, info, colorizer, on_warning, on_progress)  # exactly colorize's
    keys: dict[int, list[Keyframe]] = {}
    found = keyframes_of(cfg, plan.shots, info)  # checked as colorize checks them
    check_luma(found, info, cfg.max_damaged, plan.shots)
    for key in found:
        keys.setdefault(key.shot, []).append(key)
    seconds["shots"] = time.perf_counter() - t
    t = time.perf_counter()
    middle = {k: s.start + s.frames // 2 for k, s in enumerate(plan.shots)}
    luma = _frames_at(info, set(middle.values()), cfg.max_damaged, len(plan.shots), on_progress)
    missing = [k + 1 for k, n in middle.items() if n not in luma]
    if missing and on_warning:
        on_warning(f"shot(s) {', '.join(map(str, missing))} lie past the last frame; not shown")
    seconds["frames"] = time.perf_counter() - t

    t = time.perf_counter()
    job = Pass2(
        colorizer=colorizer,
        shots=plan.shots,
        vectors=plan.vectors,
        luma=luma_format(info),
        fmt=choose_output_format(info, cfg.codec),
        batch_size=1,
        samples=cfg.samples,
        total=None,
        on_progress=None,
    )
    palettes = shot_palettes(cfg, info, plan.shots) if cfg.style_strength > 0 else {}
    stage = KeyframeStage(
        info.path, info.time_base, plan.shots, keys, 0, cfg.style_strength, cfg.max_damaged
    )
    aspect = info.width * float(info.sar or 1) / info.height
    size = (max(8, round(tile_height * aspect)), tile_height)
    tiles = {}
    for k, n in middle.items():
        if n in luma:
            ab = colour_frame(job, k, luma[n])  # pass 2's network stage: shot vector, size
            if k in palettes and k not in keys:  # pass 2's reference palette
                h, w = ab.shape[:2]
                l_small = cv2.resize(
                    lightness_of(luma[n], job.lut_np), (w, h), interpolation=cv2.INTER_AREA
                )
                ab = match_palette(l_small, ab, palettes[k], cfg.style_strength)
            if k in keys:  # and the keyframe stage, at the frame shown
                frame = Frame(luma[n], 0, ab)
                stage.show(job, k, n - plan.shots[k].start, frame)
                ab = frame.ab
            tiles[k] = _pair(lightness_of(luma[n], job.lut_np), ab, size)
    seconds["colour"] = time.perf_counter() - t

    shown = list(tiles)
    chunks = [shown[i : i + per_page] for i in range(0, len(shown), per_page)] or [[]]
    title = _title(cfg, info, colorizer)
    keyframed = {k: [key.path.name for key in ks] for k, ks in keys.items()}
    labels = dict(plan.styles)
    for k, names in keyframed.items():  # marked on the sheet
        labels[k] = f"keyframe {', '.join(names)}" + (f" + {labels[k]}" if k in labels else "")
    pages = []
    for p, (path, chunk) in enumerate(zip(page_paths(sheet, len(chunks)), chunks, strict=True)):
        head = f"{title}   page {p + 1}/{len(chunks)}" if len(chunks) > 1 else title
        img, boxes = _page(head, chunk, tiles, plan.shots, labels, info, columns, size)
        write_image(path, img)
        pages.append(Page(path, chunk, boxes))
    if csv is not None:
        write_csv(csv, plan.shots)
    seconds["total"] = time.perf_counter() - t0
    frames = {k: middle[k] for k in shown}
    return PreviewResult(pages, csv, plan.shots, plan.styles, frames, seconds, keyframed)


def _check_replaceable(csv: Path, info: VideoInfo) -> None:
    """Refuse to replace a shot list in which someone has given shots a style."""
    if not csv.exists():
        return
    try:
        styled = read_shot_list(csv, fps=info.fps, start=info.start_time).styles
    except ShotListError:
        styled = {"unreadable": None}
    if styled:
        raise PreviewError(
            f"{csv} exists and gives shots their own style; pass --shots {csv} to preview "
            "with it, or --csv to write the shot list elsewhere"
        )


def _frames_at(
    info: VideoInfo, wanted: set[int], max_damaged: int, shots: int, on_progress: ProgressFn | None
) -> dict[int, np.ndarray]:
    """The luma of the frames numbered ``wanted`` (display order from 0, as pass 2 counts)."""
    last = max(wanted, default=-1)
    found: dict[int, np.ndarray] = {}
    for n, frame in enumerate(decode_video(info.path, max_damaged=max_damaged)):
        if n in wanted:
            found[n] = luma_plane(frame)
        if on_progress and (n in wanted or n % 25 == 0):
            on_progress(Progress("preview", n + 1, last + 1, len(found), shots))
        if n >= last:
            break
    return found


def _pair(lightness: np.ndarray, ab: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Gray | colour, each ``size`` (w, h), BGR uint8, from full-size L* and render-size a*b*."""
    L = cv2.resize(lightness, size, interpolation=cv2.INTER_AREA)
    ab = cv2.resize(ab, size, interpolation=cv2.INTER_LINEAR)
    lab = torch.from_numpy(np.concatenate((L[None], ab.transpose(2, 0, 1)), 0))  # (3, h, w)
    gray = lab.clone()
    gray[1:] = 0
    rgb = lab_to_rgb(torch.stack((gray, lab)))  # (2, 3, h, w) in [0, 1]
    bgr = (rgb.flip(1).permute(0, 2, 3, 1) * 255).round().byte().numpy()  # (2, h, w, 3)
    gap = np.full((size[1], _GAP, 3), _BACKGROUND, np.uint8)
    return np.concatenate((bgr[0], gap, bgr[1]), axis=1)


def _title(cfg: ColorizeConfig, info: VideoInfo, colorizer: Colorizer) -> str:
    """The settings the sheet was made with: those ``colorize`` needs to give the same."""
    model = Path(cfg.model).name if cfg.model else "default model"
    render = colorizer.render_size or "full size"
    parts = [info.path.name, model, f"render size {render}"]
    if cfg.style:
        parts.append(f"--style {Path(str(cfg.style)).name}")
    if cfg.shots:
        parts.append(f"--shots {Path(cfg.shots).name}")
    return "   ".join(parts)


def _page(
    title: str,
    chunk: list[int],
    tiles: dict[int, np.ndarray],
    shots: list[Shot],
    styles: dict[int, str],
    info: VideoInfo,
    columns: int,
    size: tuple[int, int],
) -> tuple[np.ndarray, dict[int, tuple[int, int, int, int]]]:
    """One page (BGR uint8) and where each shot's colour picture is on it."""
    w, h = size
    tile_w, tile_h = 2 * w + _GAP, _LABEL + h
    cols = max(1, min(columns, len(chunk)))
    rows = max(1, math.ceil(len(chunk) / cols))
    width = max(_MARGIN + cols * (tile_w + _MARGIN), 480)
    height = _TITLE + rows * (tile_h + _MARGIN) + _MARGIN
    page = np.full((height, width, 3), _BACKGROUND, np.uint8)
    _text(page, title, (_MARGIN, 20), _TEXT, width - 2 * _MARGIN)
    boxes = {}
    for i, k in enumerate(chunk):
        x = _MARGIN + (i % cols) * (tile_w + _MARGIN)
        y = _TITLE + (i // cols) * (tile_h + _MARGIN)
        shot = shots[k]
        if shot.start_time is None:  # pass 1 was skipped: the nominal time
            when = format_time(shot.start / float(info.fps))
        else:  # as a player shows it, from the first frame
            when = format_time(max(0.0, shot.start_time - info.start_time))
        _text(page, f"{k + 1}   {when}   frames {shot.start}-{shot.end - 1}", (x, y + 13), _TEXT)
        style = styles.get(k)
        line = f"style: {style}" if style else "style: own"
        _text(page, line, (x, y + 28), _STYLED if style else _TEXT, tile_w)
        page[y + _LABEL : y + tile_h, x : x + tile_w] = tiles[k]
        boxes[k] = (x + w + _GAP, y + _LABEL, w, h)
    return page, boxes


def _text(
    img: np.ndarray, text: str, at: tuple[int, int], colour, width: int | None = None
) -> None:
    """Small anti-aliased text, cut with "..." to fit ``width`` pixels."""
    scale = 0.42
    if width is not None:
        while len(text) > 4 and cv2.getTextSize(text, _FONT, scale, 1)[0][0] > width:
            text = text[:-4] + "..."
    cv2.putText(img, text, at, _FONT, scale, colour, 1, cv2.LINE_AA)
