"""Keyframes: one gray frame per shot to colour by hand, and the coloured frames read back.

``filmcolor keyframes`` writes one frame of each shot (:func:`export_keyframes`) as a gray
picture at full size, 8-bit PNG (16-bit for deeper sources), named ``<shot>_<frame>.png``: the
shot counted from 1 in four digits, the frame from 0 in six (``0003_000126.png``). The user
colours them in any editor, fully or with a few strokes (:mod:`filmcolor.hints`), and may add
more frames of a shot under the same naming. :func:`read_keyframes` finds them again and
checks each against the film before any work: its name, its size, and that its luma is the
frame's own (Y' computed from its R'G'B' with the stream's matrix and range, as the film
stores it, so a colour frame whose gray is the film's frame passes whatever its saturation).
On a frame painted with strokes, only the pixels left gray are compared: a stroke may change
the light where it lies.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from filmcolor.color import KR_KB, LumaFormat
from filmcolor.errors import UserError
from filmcolor.files import atomic_output
from filmcolor.hints import Hints, find_hints
from filmcolor.images import IMAGE_SUFFIXES, ImageReadError, read_image
from filmcolor.progress import Progress, ProgressFn
from filmcolor.shotlist import ShotList, check_starts, read_shot_list, write_csv
from filmcolor.shots import Shot, analyse
from filmcolor.video.decode import decode_span, decode_video, luma_plane
from filmcolor.video.probe import VideoInfo, VideoInputError, luma_format, probe

NAME = re.compile(r"^(\d{4,})_(\d{6,})$")  # <shot from 1>_<frame from 0>, before the suffix
SHOT_LIST = "shots.csv"  # the shot list written beside the keyframes when none was given
LUMA_TOLERANCE = 4.0  # mean |Y' - frame Y'| on an 8-bit scale a keyframe may differ by
# (rounding to 8-bit R'G'B' and a lossy encode of the gray film stay well below; another
# frame of a moving shot does not)


class KeyframeError(UserError):
    """A keyframe that does not name, or is not, a frame of the film; the message names it."""


def keyframe_name(shot: int, frame: int, suffix: str = ".png") -> str:
    """The file name of frame ``frame`` (from 0) of shot index ``shot`` (from 0)."""
    return f"{shot + 1:04d}_{frame:06d}{suffix}"


def frame_to_show(shot: Shot, at: str) -> int:
    """The frame of ``shot`` written for it: its first, or its middle one (what ``preview``
    shows)."""
    return shot.start if at == "first" else shot.start + shot.frames // 2


def gray_picture(y: np.ndarray, luma: LumaFormat) -> np.ndarray:
    """Luma code values (H, W) -> a full-range gray picture (H, W): uint8 for 8-bit sources,
    uint16 for deeper ones. Its R'G'B' (all equal) give back ``y`` through the stream's
    matrix and range, to the rounding."""
    top_in = 2**luma.bits - 1
    if luma.full_range:
        g = y.astype(np.float64) / top_in
    else:
        scale = 2 ** (luma.bits - 8)
        g = np.clip((y.astype(np.float64) - 16 * scale) / (219 * scale), 0, 1)
    if luma.bits > 8:
        return np.round(g * 65535).astype(np.uint16)
    return np.round(g * 255).astype(np.uint8)


def luma_of_rgb(rgb: np.ndarray, info: VideoInfo) -> np.ndarray:
    """Y' code values on an 8-bit scale, (H, W) float32, of gamma-encoded RGB (H, W, 3) uint8
    or uint16 as the film stores it: the stream's matrix (BT.601 when unspecified) and range."""
    kr, kb = KR_KB.get(info.colorspace, (0.299, 0.114))
    top = 65535.0 if rgb.dtype == np.uint16 else 255.0
    x = rgb.astype(np.float32) / top
    y = kr * x[..., 0] + (1 - kr - kb) * x[..., 1] + kb * x[..., 2]
    return y * 255 if luma_format(info).full_range else 16 + 219 * y


def _luma_8bit(y: np.ndarray, luma: LumaFormat) -> np.ndarray:
    """Luma code values -> the same on an 8-bit scale (float32)."""
    return y.astype(np.float32) / 2 ** (luma.bits - 8)


@dataclass
class Export:
    """What :func:`export_keyframes` wrote."""

    written: list[Path] = field(default_factory=list)
    shots: list[Shot] = field(default_factory=list)
    shot_list: Path | None = None  # the CSV written beside them; None when one was given


def export_keyframes(
    video: str | os.PathLike,
    folder: str | os.PathLike,
    *,
    shots: str | os.PathLike | None = None,
    at: str = "middle",
    detector: str = "content",
    threshold: float | None = None,
    min_shot_frames: int = 15,
    max_damaged: int = 10,
    on_progress: ProgressFn | None = None,
) -> Export:
    """Write one gray frame per shot to ``folder`` (``filmcolor keyframes``).

    Args:
        video: the film.
        folder: where the pictures go (created); existing pictures of the same name are
            replaced, other files are left alone.
        shots: a shot list (CSV) to use; None = find the shots and write them beside the
            pictures as :data:`SHOT_LIST`, the list ``colorize --shots`` reads.
        at: "middle" or "first": which frame of each shot.
        detector, threshold, min_shot_frames, max_damaged: as ``filmcolor shots``.
        on_progress: called as the film is read.

    Raises:
        VideoInputError, ShotListError: before anything is written.
    """
    info = probe(video)
    folder = Path(folder)
    cuts = None
    if shots is not None:
        cuts = read_shot_list(shots, fps=info.fps, start=info.start_time).cuts
    found = analyse(
        info,
        cuts=cuts,
        detector=detector,
        threshold=threshold,
        min_shot_frames=min_shot_frames,
        max_damaged=max_damaged,
        on_progress=on_progress,
    )
    if cuts:
        check_starts(cuts, found.frames, shots)
    wanted = {frame_to_show(s, at): k for k, s in enumerate(found.shots)}
    luma = luma_format(info)
    folder.mkdir(parents=True, exist_ok=True)
    result = Export(shots=found.shots)
    for n, y in _frames(info, wanted, max_damaged):
        path = folder / keyframe_name(wanted[n], n)
        _write_png(path, gray_picture(y, luma))
        result.written.append(path)
        if on_progress:  # reported as preview's frame picking, which it is
            done = len(result.written)
            on_progress(Progress("preview", done, len(wanted), done, len(wanted)))
    if shots is None:
        result.shot_list = write_csv(folder / SHOT_LIST, found.shots)
    return result


def _write_png(path: Path, img: np.ndarray) -> None:
    import cv2

    with atomic_output(path, suffix=".png") as tmp:
        if not cv2.imwrite(str(tmp), img):
            raise OSError(f"cannot write {path}")


def _frames(
    info: VideoInfo, wanted: Iterable[int], max_damaged: int
) -> Iterable[tuple[int, np.ndarray]]:
    """(index, luma) of the frames ``wanted``, in order; decoding stops after the last."""
    wanted = set(wanted)
    last = max(wanted, default=-1)
    for n, frame in enumerate(decode_video(info.path, max_damaged=max_damaged)):
        if n in wanted:
            yield n, luma_plane(frame)
        if n >= last:
            return


def _frames_of_shots(
    info: VideoInfo, wanted: Iterable[int], shots: list[Shot], max_damaged: int
) -> Iterable[tuple[int, np.ndarray]]:
    """(index, luma) of the frames ``wanted``, in order, each shot's decoded from a seek to its
    start up to its last frame wanted (a film is not decoded up to its last keyframe); stops
    where the file ends early."""
    starts = [s.start for s in shots]
    by_shot: dict[int, list[int]] = {}
    for n in sorted(set(wanted)):
        by_shot.setdefault(bisect.bisect_right(starts, n) - 1, []).append(n)
    for i, frames in by_shot.items():
        s = shots[i]
        # a shot without a timestamp (a shot list's, untimed) is counted from the film's start
        first = 0 if s.start_time is None else s.start
        pts = 0 if s.start_time is None else round(s.start_time / info.time_base)
        span = decode_span(info.path, first, pts, frames[-1] - first + 1, max_damaged=max_damaged)
        try:
            for n, frame in enumerate(span, start=first):
                if n in frames:
                    yield n, luma_plane(frame)
        except VideoInputError:
            return


# Reading them back.


@dataclass
class Keyframe:
    """A coloured keyframe: which frame it is, and its pixels."""

    path: Path
    shot: int  # shot index, from 0
    frame: int  # frame index in the film, from 0
    rgb: np.ndarray  # (H, W, 3) uint8 or uint16 gamma-encoded RGB
    hints: Hints  # what was painted on it (full: a frame coloured in full)


def listed_keyframes(shot_list: ShotList, shots: list[Shot]) -> list[tuple[Path, int, int]]:
    """The ``keyframe`` cells of a shot list, as :func:`find_keyframes` gives a folder's:
    (path, relative to the CSV; shot index; frame). The frame is the one the file's name gives
    (``<shot>_<frame>.png``), else the shot's middle frame (what ``keyframes`` writes)."""
    starts = {s.start: k for k, s in enumerate(shots)}
    found = []
    for start, cell in shot_list.keyframes.items():
        k = starts.get(start)
        if k is None:
            continue  # the shot list is not this run's (--shots checks it)
        path = _cell_path(shot_list, cell.text)
        m = NAME.match(path.stem)
        found.append((path, k, int(m.group(2)) if m else frame_to_show(shots[k], "middle")))
    return found


def _cell_path(shot_list: ShotList, text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else shot_list.path.parent / path


def keyframe_hashes(folder: Path | None, shot_list: ShotList | None) -> dict[str, str] | None:
    """What a run's keyframes are, for the parts' fingerprint: a folder's by file name (which
    names the shot), a shot list's by ``row <start frame>: <cell>``; each hashed whole."""
    import hashlib

    def sha(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"

    hashes = {}
    if folder is not None and folder.is_dir():
        hashes = {p.name: sha(p) for p, _, _ in find_keyframes(folder)}
    for start, cell in (shot_list.keyframes if shot_list else {}).items():
        hashes[f"row {start}: {cell.text}"] = sha(_cell_path(shot_list, cell.text))
    return hashes or None


def shot_of_key(key: str, shots: list[Shot]) -> int | None:
    """The shot index a :func:`keyframe_hashes` key stands for (None: not in ``shots``)."""
    if key.startswith("row "):
        start = int(key[4:].split(":", 1)[0])
        return next((k for k, s in enumerate(shots) if s.start == start), None)
    m = NAME.match(Path(key).stem)
    return int(m.group(1)) - 1 if m else None


def find_keyframes(folder: Path) -> list[tuple[Path, int, int]]:
    """The pictures of ``folder`` named as keyframes: (path, shot index from 0, frame), in
    frame order. Other files (the shot list, notes) are ignored.

    Raises:
        KeyframeError: not a folder.
    """
    if not folder.is_dir():
        raise KeyframeError(f"--keyframes: not a folder: {folder}")
    found = []
    for p in sorted(folder.iterdir()):
        m = NAME.match(p.stem)
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and m:
            found.append((p, int(m.group(1)) - 1, int(m.group(2))))
    return sorted(found, key=lambda t: (t[2], t[0].name))


def read_keyframes(
    folder: Path | None,
    shots: list[Shot] | None,
    info: VideoInfo,
    listed: list[tuple[Path, int, int]] = (),
) -> list[Keyframe]:
    """The keyframes of ``folder`` that hold colour, checked against the film (names, sizes;
    :func:`check_luma` checks the pixels). Gray keyframes (left uncoloured) are ignored.

    Args:
        folder: the ``--keyframes`` folder.
        shots: the film's shots; None = before pass 1 found them (frames are checked against
            the header's frame count, shots not at all).
        info: the film.
        listed: more keyframes, from a shot list's ``keyframe`` column
            (:func:`listed_keyframes`).

    Raises:
        KeyframeError: a name whose shot or frame is not in the film, a frame outside the shot
            its name gives, an unreadable picture, or one of another size than the film's.
    """
    total = shots[-1].end if shots else info.estimated_frames
    keyframes = []
    entries = [*(find_keyframes(folder) if folder is not None else ()), *listed]
    seen = set()
    for path, shot, frame in entries:
        if path.resolve() in seen:
            continue  # named twice: in the folder and in the shot list
        seen.add(path.resolve())
        if not path.is_file():
            raise KeyframeError(f"keyframe not found: {path}")
        if total is not None and frame >= total:
            raise KeyframeError(
                f"{path}: frame {frame} is past the end of the film ({total} frames, 0 to "
                f"{total - 1})"
            )
        if shots is not None and not 0 <= shot < len(shots):
            raise KeyframeError(f"{path}: shot {shot + 1} is not in the film ({len(shots)} shots)")
        s = shots[shot] if shots is not None else None
        if s is not None and not s.start <= frame < s.end:
            raise KeyframeError(
                f"{path}: frame {frame} is not in shot {shot + 1} (frames {s.start} to "
                f"{s.end - 1}); was the shot list changed?"
            )
        try:
            img = read_image(path)
        except ImageReadError as e:
            raise KeyframeError(f"--keyframes: {e}") from None
        if img.shape[:2] != (info.height, info.width):
            raise KeyframeError(
                f"{path} is {img.shape[1]}x{img.shape[0]}, the film {info.width}x{info.height}; "
                "a keyframe is a frame of the film at its full size"
            )
        rgb = np.dstack([img] * 3) if img.ndim == 2 else np.ascontiguousarray(img[..., 2::-1])
        hints = find_hints(rgb)
        if hints.empty:
            continue  # left gray: nothing to carry
        keyframes.append(Keyframe(path, shot, frame, rgb, hints))
    return keyframes


def check_luma(
    keyframes: list[Keyframe],
    info: VideoInfo,
    max_damaged: int = 10,
    shots: list[Shot] | None = None,
) -> None:
    """Each keyframe's luma is its frame's (see the module's docstring). With the film's
    ``shots``, decodes each keyframed shot from its start to its last keyframe; without, the
    film from its start to the last keyframe.

    Raises:
        KeyframeError: naming the file, and how far its luma is from the frame it names.
    """
    if not keyframes:
        return
    luma = luma_format(info)
    by_frame: dict[int, list[Keyframe]] = {}
    for k in keyframes:
        by_frame.setdefault(k.frame, []).append(k)
    frames = (
        _frames(info, by_frame, max_damaged)
        if shots is None
        else _frames_of_shots(info, by_frame, shots, max_damaged)
    )
    for n, y in frames:
        film = _luma_8bit(y, luma)
        for k in by_frame.pop(n):
            diff = np.abs(luma_of_rgb(k.rgb, info) - film)
            gray = k.hints.mask == 0
            diff = float(diff.mean() if k.hints.full or not gray.any() else diff[gray].mean())
            if diff > LUMA_TOLERANCE:
                raise KeyframeError(
                    f"{k.path} is not frame {k.frame} of the film: its luma differs from that "
                    f"frame's by {diff:.1f} levels on average (at most {LUMA_TOLERANCE:g}); "
                    "colour the frame the name gives, without changing its light"
                )
    if by_frame:
        names = ", ".join(k.path.name for ks in by_frame.values() for k in ks)
        raise KeyframeError(f"{names}: the film ends before this frame could be decoded")


def keyframes_of(cfg, shots: list[Shot], info: VideoInfo) -> list[Keyframe]:
    """A run's keyframes (:class:`filmcolor.config.ColorizeConfig`): its ``--keyframes`` folder
    and its shot list's ``keyframe`` column, read and checked (:func:`read_keyframes`; the
    pixels: :func:`check_luma`)."""
    listed = []
    if cfg.shots is not None:
        shot_list = read_shot_list(cfg.shots, fps=info.fps, start=info.start_time)
        listed = listed_keyframes(shot_list, shots)
    if cfg.keyframes is None and not listed:
        return []
    return read_keyframes(cfg.keyframes, shots, info, listed)
