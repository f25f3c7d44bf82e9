"""Style references: the image (or video frame) whose global features colour a shot.

This is the paper's style transfer: the global vector of one picture, fused into the local
features of another. It reads only the reference's lightness, so the reference's colours come
in through its palette as well (:func:`style_palette`, :mod:`filmcolor.palette`), at
``--style-strength``; a gray reference has none and changes nothing more.

A reference is written as a path, or as ``film.mp4@00:01:23.5`` for the
frame a video shows at that time (a colour remake, a tinted print, a frame coloured by hand).
``--style`` gives one for the whole film; the ``style`` column of a shot list gives one per
shot (:func:`csv_styles`), a path relative to the CSV.
"""

from __future__ import annotations

import os
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch

from filmcolor.colorizer import Colorizer, thumb224
from filmcolor.errors import UserError
from filmcolor.images import IMAGE_SUFFIXES, ImageReadError, read_image, read_luma
from filmcolor.models.color import gray_to_lightness
from filmcolor.palette import Palette, palette_of_rgb
from filmcolor.shotlist import ShotList
from filmcolor.timecode import format_time, parse_time
from filmcolor.video.decode import decode_video, luma_plane
from filmcolor.video.probe import luma_format, probe


class StyleImageError(UserError):
    """A style reference that cannot be read."""


@dataclass(frozen=True)
class Reference:
    """A style reference: an image, or the frame a video shows at ``time``."""

    path: Path
    time: float | None = None  # seconds from the video's first frame; None = a still image

    @property
    def label(self) -> str:
        """Short form for the contact sheet: the file name, and the time of a video frame."""
        return self.path.name + ("" if self.time is None else f"@{format_time(self.time)}")


def parse_reference(text: str | os.PathLike, base: Path | None = None) -> Reference:
    """A reference as written: a path, or ``path@time`` for a video frame.

    A file whose name holds an ``@`` is taken as it is when it exists.

    Args:
        text: what the user wrote.
        base: the folder relative paths start from (the shot list's); None = the current one.
    """
    text = str(text)

    def resolve(p: str) -> Path:
        path = Path(p).expanduser()
        return path if base is None or path.is_absolute() else base / path

    whole = resolve(text)
    head, at, when = text.rpartition("@")
    if at and head and not whole.exists():
        try:
            return Reference(resolve(head), parse_time(when))
        except ValueError:
            pass
    return Reference(whole)


def read_reference(ref: Reference) -> tuple[np.ndarray, torch.Tensor]:
    """The reference's gray level (H, W) and its code value -> L* table.

    Raises:
        ImageReadError: a missing or unreadable image.
        VideoInputError: a video that cannot be read.
        StyleImageError: a time past the end of the video, or a video given without a time.
    """
    if ref.time is None:
        try:
            y, bits = read_luma(ref.path)
        except ImageReadError as e:
            if ref.path.is_file() and ref.path.suffix.lower() not in IMAGE_SUFFIXES:
                raise StyleImageError(
                    f"{e}; for a frame of a video, add its time: {ref.path.name}@00:00:10"
                ) from None
            raise
        return y, gray_to_lightness(bits)
    return video_frame(ref.path, ref.time)


def video_frame(path: Path, seconds: float) -> tuple[np.ndarray, torch.Tensor]:
    """The luma of the frame a video shows ``seconds`` after its first frame, and its L* table.

    Raises:
        VideoInputError: the video cannot be read.
        StyleImageError: ``seconds`` is past its end.
    """
    info = probe(path)
    return _shown_at(path, seconds, info, luma_plane), luma_format(info).lightness_table()


def reference_rgb(ref: Reference) -> np.ndarray:
    """The reference's colours: (H, W, 3) uint8 or uint16 RGB (a gray image: R = G = B).

    Raises:
        ImageReadError, VideoInputError, StyleImageError: as :func:`read_reference`.
    """
    if ref.time is None:
        read_reference(ref)  # its errors, with their hints
        img = read_image(ref.path)
        return np.dstack([img] * 3) if img.ndim == 2 else np.ascontiguousarray(img[..., 2::-1])
    info = probe(ref.path)
    deep = info.bit_depth > 8
    return _shown_at(
        ref.path, ref.time, info, lambda f: f.to_ndarray(format="rgb48le" if deep else "rgb24")
    )


def _shown_at(path: Path, seconds: float, info, convert):
    """``convert(frame)`` of the frame a video shows ``seconds`` after its first frame."""
    target = info.start_time + seconds
    shown, last = None, 0.0
    with av.open(str(path)) as container:
        vs = container.streams.video[0]
        if target > info.start_time:  # from the keyframe at or before the time
            container.seek(int(target / info.time_base), stream=vs, backward=True)
        with closing(decode_video(container)) as frames:
            for frame in frames:
                t = float(frame.pts * frame.time_base)
                if t > target + 1e-6 and shown is not None:
                    break
                shown = convert(frame)
                last = t
    if shown is None:
        raise StyleImageError(f"{path}: no frame could be decoded")
    if target > last + 1.5 / float(info.fps):
        raise StyleImageError(
            f"{path} ends at {format_time(last - info.start_time)}; "
            f"there is no frame at {format_time(seconds)}"
        )
    return shown


def style_palette(
    reference: str | os.PathLike | Reference, *, where: str = "--style", base: Path | None = None
) -> Palette:
    """A reference's palette (:func:`filmcolor.palette.palette_of_rgb`).

    Raises:
        StyleImageError: the reference cannot be read (the message starts with ``where``).
    """
    ref = reference if isinstance(reference, Reference) else parse_reference(reference, base)
    try:
        return palette_of_rgb(reference_rgb(ref))
    except UserError as e:
        raise StyleImageError(f"{where}: {e}") from None


def style_vector(
    colorizer: Colorizer,
    reference: str | os.PathLike | Reference,
    *,
    where: str = "--style",
    base: Path | None = None,
) -> torch.Tensor:
    """One global vector (1, D) from a reference image or video frame.

    Args:
        colorizer: the loaded model.
        reference: a path, ``video@time``, or a parsed :class:`Reference`.
        where: names the option or CSV row in error messages.
        base: the folder relative paths start from.

    Raises:
        StyleImageError: the reference cannot be read (the message starts with ``where``).
    """
    ref = reference if isinstance(reference, Reference) else parse_reference(reference, base)
    try:
        y, lut = read_reference(ref)
    except UserError as e:
        raise StyleImageError(f"{where}: {e}") from None
    return colorizer.global_vector(thumb224(y, lut)[None])


def csv_styles(colorizer: Colorizer, shot_list: ShotList) -> dict[int, tuple[str, torch.Tensor]]:
    """The global vector of each ``style`` cell of a shot list, read before any frame is.

    Shots that name the same reference share one vector (it is read once).

    Returns:
        Start frame -> (the reference's label, its vector (1, D)).

    Raises:
        StyleImageError: a reference that cannot be read, naming the CSV and its line.
    """
    base = shot_list.path.parent
    found: dict[Reference, torch.Tensor] = {}
    styles = {}
    for start, cell in shot_list.styles.items():
        ref = parse_reference(cell.text, base)
        if ref not in found:
            where = f"{shot_list.path}, line {cell.line}: style {cell.text!r}"
            found[ref] = style_vector(colorizer, ref, where=where)
        styles[start] = (ref.label, found[ref])
    return styles
