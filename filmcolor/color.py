"""Colour maths only: luma code values -> L*, and Lab -> Y'CbCr with a stream's matrix and range.

The network sees CIE L* and predicts a*b*; the video holds Y'CbCr code values. Luma goes in
through a lookup table (:meth:`LumaFormat.lightness_table`), chroma comes out through Lab ->
sRGB -> Cb, Cr with the matrix (BT.601, BT.709 or BT.2020) and range (limited or full) of the
output. Nothing here reads or writes files.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from filmcolor.models.color import gray_to_lightness

# AVColorRange / AVColorSpace values (libavutil/pixfmt.h).
RANGE_UNSPECIFIED, RANGE_MPEG, RANGE_JPEG = 0, 1, 2
SPACE_RGB, SPACE_BT709, SPACE_UNSPECIFIED, SPACE_BT470BG, SPACE_SMPTE170M = 0, 1, 2, 5, 6
SPACE_BT2020_NCL, SPACE_BT2020_CL = 9, 10
KR_KB = {  # the luma weights of red and blue of each Y'CbCr matrix
    SPACE_BT709: (0.2126, 0.0722),
    SPACE_BT470BG: (0.299, 0.114),
    SPACE_SMPTE170M: (0.299, 0.114),
    SPACE_BT2020_NCL: (0.2627, 0.0593),
    SPACE_BT2020_CL: (0.2627, 0.0593),
}


@dataclass(frozen=True)
class LumaFormat:
    """How the luma values of a stream are to be read: bit depth and range."""

    bits: int
    full_range: bool

    def lightness_table(self) -> torch.Tensor:
        """Lookup table from a luma code value to L* (as for an sRGB gray of that level)."""
        levels = torch.arange(2**self.bits, dtype=torch.float64)
        scale = 2 ** (self.bits - 8)
        if self.full_range:
            gray = levels / (2**self.bits - 1)
        else:
            gray = ((levels - 16 * scale) / (219 * scale)).clamp(0, 1)
        return gray_to_lightness(16)[(gray * 65535).round().long()]


@dataclass(frozen=True)
class OutputFormat:
    """The video format written: pixel format, bit depth, subsampling, range and matrix."""

    codec: str
    pix_fmt: str
    bits: int
    subsampled: bool  # 4:2:0
    full_range: bool
    colorspace: int

    @property
    def kr_kb(self) -> tuple[float, float]:
        return KR_KB.get(self.colorspace, (0.299, 0.114))


def lightness_of(y: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Luma code values (any shape) -> L* (float32) through ``lut`` (one entry per code)."""
    if y.dtype == np.uint8 and len(lut) == 256:  # OpenCV's table lookup: several times faster
        return cv2.LUT(y.reshape(-1, y.shape[-1]), lut).reshape(y.shape)
    return lut[y]


def scale_luma(y: np.ndarray, in_bits: int, out_bits: int) -> np.ndarray:
    """Move luma code values between bit depths (a shift, as FFmpeg does); same depth = same."""
    if in_bits == out_bits:
        return y
    dtype = np.uint16 if out_bits > 8 else np.uint8
    if out_bits > in_bits:
        return y.astype(np.uint16) << (out_bits - in_bits)
    d = in_bits - out_bits
    out = (y.astype(np.uint32) + (1 << (d - 1))) >> d
    return np.minimum(out, 2**out_bits - 1).astype(dtype)


def rgb_to_chroma(rgb: torch.Tensor, fmt: OutputFormat) -> tuple[torch.Tensor, torch.Tensor]:
    """Gamma-encoded RGB in [0, 1], (B, 3, H, W) -> Cb, Cr code values of ``fmt`` (B, h, w).

    Subsampled to 4:2:0 by 2x2 averaging when ``fmt`` asks for it.
    """
    kr, kb = fmt.kr_kb
    r, g, b = rgb.unbind(1)
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb = (b - y) / (2 * (1 - kb))  # [-0.5, 0.5]
    cr = (r - y) / (2 * (1 - kr))
    c = torch.stack((cb, cr), 1)
    if fmt.subsampled:
        c = torch.nn.functional.avg_pool2d(c, 2)
    scale = 2**fmt.bits - 1 if fmt.full_range else 224 * 2 ** (fmt.bits - 8)
    c = (c * scale + 2 ** (fmt.bits - 1)).round().clamp(0, 2**fmt.bits - 1)
    return c[:, 0], c[:, 1]


def chroma_matrix(fmt: OutputFormat) -> np.ndarray:
    """(2, 4) float32: gamma-encoded RGB in [0, 1] (and 1) -> Cb, Cr code values of ``fmt``.

    The same affine map as :func:`rgb_to_chroma`, for :func:`cv2.transform`.
    """
    kr, kb = fmt.kr_kb
    kg = 1 - kr - kb
    scale = 2**fmt.bits - 1 if fmt.full_range else 224 * 2 ** (fmt.bits - 8)
    offset = 2 ** (fmt.bits - 1)
    cb = np.array([-kr, -kg, 1 - kb]) / (2 * (1 - kb))
    cr = np.array([1 - kr, -kg, -kb]) / (2 * (1 - kr))
    return np.array([[*(cb * scale), offset], [*(cr * scale), offset]], dtype=np.float32)


def lab_to_chroma(
    lightness: np.ndarray, ab: np.ndarray, fmt: OutputFormat, matrix: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """L* at full size and a*b* at any size -> Cb, Cr code values of ``fmt``, with OpenCV.

    What ``lab_to_rgb`` + :func:`rgb_to_chroma` compute, about ten times faster and without
    holding the GIL, so it can run beside the network: Lab -> sRGB (clipped to [0, 1]) -> Cb, Cr,
    rounded, at the size of the chroma planes. For 4:2:0 that is half the frame's: L* is
    averaged over 2x2 blocks and a*b* upsampled bilinearly straight to that size, so the
    conversion runs on a quarter of the pixels. Against converting every pixel and averaging
    Cb, Cr over the blocks, this differs only where a block straddles a sharp edge between
    colours near the gamut's limit (on a 256 px portrait: mean 0.09 code values, 1.2% of
    samples off by more than one, at most 12; tested).

    Args:
        lightness: L* in [0, 100], (H, W) float32.
        ab: a*b*, (h, w, 2) float32.
        fmt: the output format.
        matrix: :func:`chroma_matrix` of ``fmt``, when the caller keeps it.

    Returns:
        Cb, Cr planes, (H, W) or (H/2, W/2) for 4:2:0, uint8 or uint16.
    """
    h, w = lightness.shape
    if fmt.subsampled:
        h, w = h // 2, w // 2
        lightness = cv2.resize(lightness, (w, h), interpolation=cv2.INTER_AREA)  # 2x2 means
    if ab.shape[:2] != (h, w):
        ab = cv2.resize(ab, (w, h), interpolation=cv2.INTER_LINEAR)
    rgb = cv2.cvtColor(cv2.merge((lightness, ab[..., 0], ab[..., 1])), cv2.COLOR_Lab2RGB)
    np.clip(rgb, 0, 1, out=rgb)
    c = cv2.transform(rgb, chroma_matrix(fmt) if matrix is None else matrix)  # (h, w, 2)
    np.clip(np.rint(c, out=c), 0, 2**fmt.bits - 1, out=c)
    c = c.astype(np.uint16 if fmt.bits > 8 else np.uint8)
    return c[..., 0], c[..., 1]


# Is it already in colour?

COLOUR_CHROMA = 5.0  # a*b* chroma (Lab units) a viewer sees as colour, not as a gray's noise
COLOUR_SHARE = 0.02  # share of such pixels below which an image is black-and-white
ONE_HUE = 0.9  # chroma-weighted hue agreement above which the colour is a single tone


def colour_facts(rgb: np.ndarray) -> tuple[float, float]:
    """How much colour an image holds, and how much of it is one hue.

    Args:
        rgb: (..., 3) uint8 or uint16 gamma-encoded RGB pixels (any number of them).

    Returns:
        ``(share, agreement)``: the share of pixels with a visible chroma (>=
        :data:`COLOUR_CHROMA`), and the length of their chroma-weighted mean hue vector (1 =
        all one hue: a sepia, selenium or cyanotype print; near 0 = many hues).
    """
    top = 65535.0 if rgb.dtype == np.uint16 else 255.0
    px = (rgb.reshape(1, -1, 3).astype(np.float32) / top).clip(0, 1)
    lab = cv2.cvtColor(px, cv2.COLOR_RGB2Lab)[0]
    a, b = lab[:, 1], lab[:, 2]
    chroma = np.hypot(a, b)
    strong = chroma >= COLOUR_CHROMA
    if not strong.any():
        return 0.0, 1.0
    agreement = float(np.hypot(a[strong].sum(), b[strong].sum()) / chroma[strong].sum())
    return float(strong.mean()), agreement


def is_colour(rgb: np.ndarray) -> bool:
    """Whether pixels show real colour: enough of them chromatic, in more than one hue. A toned
    black-and-white print (one hue) is not colour."""
    share, agreement = colour_facts(rgb)
    return share >= COLOUR_SHARE and agreement < ONE_HUE
