"""Test media written with PyAV: small clips with known cuts, audio, odd sizes and so on."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

W, H = 64, 48


def shot_frames(
    n: int, cuts: tuple[int, ...] = (), size: tuple[int, int] = (W, H), bits: int = 8
) -> np.ndarray:
    """(n, H, W) gray frames: each shot its own pattern and brightness, drifting slowly.

    Consecutive frames within a shot differ by about 1% of the range, frames across a cut by
    far more, so a cut detector must find exactly ``cuts``.
    """
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = np.empty((n, h, w), np.float32)
    shot = 0
    for i in range(n):
        while shot < len(cuts) and i >= cuts[shot]:
            shot += 1
        t = i * 0.7
        if shot % 3 == 0:  # dark horizontal gradient moving right
            f = 30 + 80 * ((xx + t) % w) / w
        elif shot % 3 == 1:  # bright vertical bars
            f = 150 + 70 * (((xx // 8 + yy // 8 + t / 8) % 2) > 0)
        else:  # mid-gray radial pattern
            f = 90 + 60 * np.cos((np.hypot(xx - w / 2, yy - h / 2) + t) / 4)
        frames[i] = f
    top = 2**bits - 1
    return np.clip(np.rint(frames * top / 255), 0, top).astype(np.uint16 if bits > 8 else np.uint8)


def write_clip(
    path: Path,
    frames: np.ndarray | None = None,
    *,
    n: int = 40,
    cuts: tuple[int, ...] = (),
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    rate: int = 25,
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    audio: str | None = None,
    layout: str = "mono",
    subtitles: bool = False,
    rotation: int = 0,
    sar: Fraction | None = None,
    color_range: int | None = None,
    colorspace: int | None = None,
    rgb: bool = False,
    options: dict | None = None,
    container_options: dict | None = None,
) -> np.ndarray:
    """Write gray (or, with ``rgb``, colour) frames; returns the gray frames written.

    Args:
        pts: each frame's timestamp in ``time_base`` (default 1/rate); uneven = VFR.
        audio: an audio codec ("aac", "flac", "pcm_mulaw", ...) for a 48 kHz tone.
        layout: its channels ("mono", "stereo", ...), each the same tone.
    """
    if frames is None:
        bits = 10 if "10" in pix_fmt else 16 if "16" in pix_fmt else 8
        frames = shot_frames(n, cuts, bits=bits)
    n, h, w = frames.shape
    tb = time_base or Fraction(1, rate)
    with av.open(str(path), "w", options=container_options or {}) as out:
        vs = out.add_stream(codec, rate=rate)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        vs.codec_context.time_base = tb
        if options:
            vs.codec_context.options = options
        if sar:
            vs.codec_context.sample_aspect_ratio = sar
        if color_range is not None:
            vs.codec_context.color_range = color_range
        if colorspace is not None:
            vs.codec_context.colorspace = colorspace
        if rotation:
            vs.set_display_rotation(rotation)
        astream = out.add_stream(audio, rate=48000, layout=layout) if audio else None
        sstream = out.add_mux_stream("subrip") if subtitles else None
        for i, f in enumerate(frames):
            if rgb:
                tint = np.stack([f, np.roll(f, 7, axis=1), f[::-1]], axis=-1)
                frame = av.VideoFrame.from_ndarray(tint.astype(np.uint8), format="rgb24")
            else:
                fmt = "gray" if f.dtype == np.uint8 else "gray16le"
                g = f if f.dtype == np.uint8 else (f.astype(np.uint32) << (16 - _bits(pix_fmt)))
                frame = av.VideoFrame.from_ndarray(g.astype(f.dtype), format=fmt)
            frame = frame.reformat(format=pix_fmt)
            if color_range is not None:
                frame.color_range = color_range
            frame.pts = pts[i] if pts else i
            frame.time_base = tb
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        if astream is not None:
            duration = float(len(frames) / rate) if not pts else float(pts[-1] * tb) + 0.04
            samples = int(48000 * duration)
            t = np.arange(samples, dtype=np.float32) / 48000
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            chunk = 1024
            for k in range(0, samples, chunk):
                part = np.repeat(tone[k : k + chunk], astream.layout.nb_channels)[None]
                af = av.AudioFrame.from_ndarray(part, format="flt", layout=layout)
                af.sample_rate, af.pts = 48000, k
                out.mux(astream.encode(af))
            out.mux(astream.encode(None))
        if sstream is not None:
            for k, text in enumerate((b"one", b"two")):
                p = av.Packet(text)
                p.stream, p.time_base = sstream, Fraction(1, 1000)
                p.pts = p.dts = k * 400
                p.duration = 300
                out.mux(p)
    return frames


def _bits(pix_fmt: str) -> int:
    for b in (16, 12, 10):
        if str(b) in pix_fmt:
            return b
    return 8


def write_audio_only(path: Path) -> None:
    """An .m4a file with an AAC stream and no video."""
    with av.open(str(path), "w", format="mp4") as out:
        a = out.add_stream("aac", rate=48000, layout="mono")
        for k in range(10):
            af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), "flt", "mono")
            af.sample_rate, af.pts = 48000, k * 1024
            out.mux(a.encode(af))
        out.mux(a.encode(None))


def read_video(path: Path) -> dict:
    """Decoded facts of the first video stream: Y planes, U/V planes, times, tags."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        ys, us, vs_, times, rotations, fmts = [], [], [], [], [], set()
        for f in c.decode(vs):
            dtype = np.uint16 if "le" in f.format.name else np.uint8
            planes = []
            for p in f.planes:
                row = p.line_size // np.dtype(dtype).itemsize
                a = np.frombuffer(memoryview(p), dtype).reshape(-1, row)[: p.height, : p.width]
                planes.append(a.copy())
            ys.append(planes[0])
            if len(planes) > 2:
                us.append(planes[1])
                vs_.append(planes[2])
            times.append(float(f.pts * f.time_base))
            rotations.append(f.rotation)
            fmts.add(f.format.name)
            color_range = f.color_range
        return {
            "y": np.stack(ys),
            "u": np.stack(us) if us else None,
            "v": np.stack(vs_) if vs_ else None,
            "times": times,
            "rotation": rotations[0],
            "formats": fmts,
            "width": vs.codec_context.width,
            "height": vs.codec_context.height,
            "sar": vs.sample_aspect_ratio,
            "color_range": color_range,
            "colorspace": vs.codec_context.colorspace,
        }


def packets(path: Path, kind: str = "audio") -> list[bytes]:
    """The payload of every packet of the first stream of ``kind``."""
    with av.open(str(path)) as c:
        streams = [s for s in c.streams if s.type == kind]
        if not streams:
            return []
        return [bytes(p) for p in c.demux(streams[0]) if p.size]
