"""What surrounds the pixels, copied from the input to the output.

Video (PyAV), as ``ffmpeg -map 0 -c copy -map_metadata 0`` does: the container's tags (title,
comment, ...), and for every stream kept, the video stream included, its tags (language,
title, ...) and its dispositions (default, forced, ...). Tags that describe the old encoding
(encoder, duration, byte and frame statistics) are left for the muxer to write anew.

Stills (Pillow, tifffile): EXIF (scanner, date, description, ...), the ICC profile and the
resolution (dpi), which OpenCV's writer drops. The orientation tag becomes 1, since the pixels
written are upright.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

# Tags that describe the input's encoding rather than its content (Matroska writes its
# statistics tags in upper case, MP4 its handler in lower case).
_ENCODING_TAGS = {"encoder", "duration", "number_of_frames", "number_of_bytes", "bps"}


def _content_tags(tags: dict[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in tags.items()
        if k.lower() not in _ENCODING_TAGS and not k.lower().startswith("_statistics")
    }


def copy_video_metadata(
    source: av.container.InputContainer,
    output: av.container.OutputContainer,
    streams: dict[int, av.stream.Stream],
) -> None:
    """Copy container tags, and each stream's tags and dispositions, before the header is written.

    Args:
        source: the open input.
        output: the output, before its first packet.
        streams: input stream index -> the output stream made from it.
    """
    output.metadata.update(_content_tags(dict(source.metadata)))
    for index, out in streams.items():
        src = source.streams[index]
        out.metadata.update(_content_tags(dict(src.metadata)))
        out.disposition = src.disposition


# Stills: what a scan carries besides its pixels.

_EXIF_ORIENTATION = 0x0112
# Descriptive TIFF tags (first IFD) kept in a TIFF: description, scanner make and model,
# software, date, artist, copyright.
_TIFF_TAGS = (270, 271, 272, 305, 306, 315, 33432)


@dataclass
class StillMetadata:
    """EXIF, ICC profile and resolution of an image file (read with Pillow, no pixels)."""

    exif: Image.Exif | None = None
    icc: bytes | None = None
    dpi: tuple[float, float] | None = None

    def __bool__(self) -> bool:
        return bool(self.exif) or bool(self.icc) or bool(self.dpi)

    def exif_bytes(self) -> bytes | None:
        """The EXIF block with the orientation set to 1: the pixels written are upright."""
        if not self.exif:
            return None
        if _EXIF_ORIENTATION in self.exif:
            self.exif[_EXIF_ORIENTATION] = 1
        return self.exif.tobytes()


def read_still_metadata(path: str | os.PathLike) -> StillMetadata:
    """What ``path`` says about itself; empty when Pillow cannot read its header."""
    try:
        with Image.open(path) as im:
            dpi = im.info.get("dpi")
            return StillMetadata(
                exif=im.getexif() or None,
                icc=im.info.get("icc_profile") or None,
                dpi=(float(dpi[0]), float(dpi[1])) if dpi and min(dpi) > 0 else None,
            )
    except (UnidentifiedImageError, OSError, ValueError):
        return StillMetadata()


def write_still(path: Path, bgr: np.ndarray, meta: StillMetadata) -> bool:
    """Write ``bgr`` (H, W, 3|4), uint8 or uint16, with ``meta``, in ``path``'s suffix's format.

    Pillow writes 8-bit JPEG, PNG and WebP; tifffile writes TIFF (8 or 16 bits); a 16-bit PNG
    is written by OpenCV and gets its iCCP, pHYs and eXIf chunks here.

    Returns:
        False for a format written without metadata here (BMP), for OpenCV to write.
    """
    suffix = path.suffix.lower()
    rgb = bgr[..., [2, 1, 0, 3][: bgr.shape[2]]] if bgr.ndim == 3 else bgr
    if suffix in (".tif", ".tiff"):
        _write_tiff(path, rgb, meta)
        return True
    if bgr.dtype == np.uint16 and suffix == ".png":
        ok, data = cv2.imencode(".png", bgr)
        if not ok:
            raise OSError(f"cannot encode {path}")
        path.write_bytes(_png_with_chunks(data.tobytes(), meta))
        return True
    if bgr.dtype != np.uint8 or suffix not in (".jpg", ".jpeg", ".png", ".webp"):
        return False
    options: dict = {}
    if (exif := meta.exif_bytes()) is not None:
        options["exif"] = exif
    if meta.icc:
        options["icc_profile"] = meta.icc
    if meta.dpi:
        options["dpi"] = meta.dpi
    if suffix in (".jpg", ".jpeg"):
        options["quality"] = 95
    elif suffix == ".webp":
        options.update(quality=95, method=4)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}[suffix]
    Image.fromarray(np.ascontiguousarray(rgb)).save(path, format=fmt, **options)
    return True


def _write_tiff(path: Path, rgb: np.ndarray, meta: StillMetadata) -> None:
    import tifffile

    tags = []
    description = None
    extra = {}
    if meta.exif:
        for code in _TIFF_TAGS:
            value = meta.exif.get(code)
            if not isinstance(value, str) or not value:
                continue
            if code == 270:
                description = value
            elif code == 305:  # tifffile writes Software itself (an extratag is refused)
                extra["software"] = value
            else:
                tags.append((code, "s", 0, value, True))
    if meta.dpi:
        extra.update(resolution=meta.dpi, resolutionunit="INCH")
    tifffile.imwrite(
        path,
        np.ascontiguousarray(rgb),
        photometric="rgb" if rgb.ndim == 3 else "minisblack",
        extrasamples=("unassalpha",) if rgb.ndim == 3 and rgb.shape[2] == 4 else None,
        compression="zlib",
        iccprofile=meta.icc,
        description=description,
        metadata=None,
        extratags=tags,
        **extra,
    )


def _png_with_chunks(png: bytes, meta: StillMetadata) -> bytes:
    """Insert iCCP (ICC profile), pHYs (dpi) and eXIf chunks after a PNG's IHDR chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    extra = b""
    if meta.icc:
        extra += chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(meta.icc))
    if meta.dpi:
        per_metre = [round(d / 0.0254) for d in meta.dpi]
        extra += chunk(b"pHYs", struct.pack(">IIB", *per_metre, 1))
    if (exif := meta.exif_bytes()) is not None:
        extra += chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\0\0") else exif)
    ihdr_end = 8 + 4 + 4 + 13 + 4  # signature, then IHDR: length, type, 13 bytes, CRC
    return png[:ihdr_end] + extra + png[ihdr_end:]
