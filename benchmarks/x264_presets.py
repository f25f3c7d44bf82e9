"""x264 presets for the colour output: speed and luma quality per bit, ``veryfast`` against
``faster`` (the default, :class:`filmcolor.config.ColorizeConfig`); JSON.

    python benchmarks/x264_presets.py [--frames 300] [--clip FILE] [--out x264_presets.json]

The clip is benchmarks/speed.py's generated 640x480 film (a cut every 120 frames, slow motion,
grain) with chroma that follows the luma, or, with ``--clip``, a real 8-bit 4:2:0 clip's own
planes; written through :class:`VideoWriter` as pass 2 writes them. For each preset and CRF:
encode frames/s (best of ``--repeats``, the presets alternated), kbit/s, and the luma's PSNR
and SSIM (Wang et al. 2004: 11x11 Gaussian, sigma 1.5, on 8-bit Y) of the decoded output
against the frames given to the encoder. Equal CRF compares the presets as a user meets them;
equal bitrate gives ``veryfast`` the CRF (fractional, interpolated in log bitrate, then
measured) that spends ``faster``'s bits. benchmarks/x264_presets.json holds two runs' output
side by side (the generated clip and ``--clip examples/sample.mp4``), each with its command.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from speed import film_frames, machine, report_json, write_film  # noqa: E402

from filmcolor.color import OutputFormat  # noqa: E402
from filmcolor.config import DEFAULT_CRF  # noqa: E402
from filmcolor.video.decode import decode_video, luma_plane  # noqa: E402
from filmcolor.video.probe import probe  # noqa: E402
from filmcolor.video.writer import VideoWriter, make_frame  # noqa: E402

FMT = OutputFormat("libx264", "yuv420p", 8, True, False, 6)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two 8-bit images (Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    a, b = a.astype(np.float64), b.astype(np.float64)

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma * ma, blur(b * b) - mb * mb, blur(a * b) - ma * mb
    num = (2 * ma * mb + c1) * (2 * cov + c2)
    return float((num / ((ma * ma + mb * mb + c1) * (va + vb + c2))).mean())


def encode(clip: Path, frames: list, out: Path, preset: str, crf: float) -> dict:
    info = probe(clip)
    t0 = time.perf_counter()
    with VideoWriter(out, info, FMT, (), crf, preset) as writer:  # crf may be fractional
        for y, cb, cr, pts in frames:
            writer.write_frame(make_frame(y, cb, cr, FMT), pts)
        writer.commit(overwrite=True)
    fps = len(frames) / (time.perf_counter() - t0)
    seconds = len(frames) / float(info.fps)
    return {"frames_per_s": round(fps, 1), "kbit_per_s": out.stat().st_size * 8e-3 / seconds}


def quality(out: Path, frames: list) -> dict:
    mse, ssims = [], []
    for frame, (y, *_) in zip(decode_video(out), frames, strict=True):
        d = luma_plane(frame)
        mse.append(np.mean((d.astype(np.float64) - y) ** 2))
        ssims.append(ssim(d, y))
    psnr = 10 * np.log10(255**2 / max(np.mean(mse), 1e-12))  # PSNR of the mean MSE
    return {"luma_psnr_db": round(float(psnr), 3), "luma_ssim": round(float(np.mean(ssims)), 5)}


def generated_frames(clip: Path, n: int) -> list:
    """speed.py's film as (Y, Cb, Cr, pts), with chroma that follows the luma."""
    info = probe(clip)
    frames = []
    for i, y in enumerate(film_frames(n)):
        c = y[::2, ::2]
        pts = round(i / (info.fps * info.time_base))
        frames.append((y, (c // 4 + 96).astype(np.uint8), (160 - c // 4).astype(np.uint8), pts))
    return frames


def clip_frames(path: Path) -> list:
    """The (Y, Cb, Cr, pts) planes of every frame of an 8-bit 4:2:0 clip."""
    out = []
    for f in decode_video(path):
        planes = []
        for p in f.planes:
            a = np.frombuffer(memoryview(p), np.uint8).reshape(-1, p.line_size)
            planes.append(a[: p.height, : p.width].copy())
        out.append((*planes[:3], f.pts))
    return out


def measure(clip: Path, frames: list, folder: Path, repeats: int) -> dict:
    def run(preset: str, crf: float) -> dict:
        out = folder / f"{preset}_{crf}.mp4"
        row = encode(clip, frames, out, preset, crf)
        row.update(quality(out, frames))
        row["kbit_per_s"] = round(row["kbit_per_s"], 1)
        print(json.dumps({preset: {str(crf): row}}), file=sys.stderr, flush=True)
        return row

    report: dict = {}
    # Speed at the default CRF, presets alternated.
    speed: dict[str, list[float]] = {"faster": [], "veryfast": []}
    for _ in range(repeats):
        for p in speed:
            speed[p].append(encode(clip, frames, folder / "s.mp4", p, DEFAULT_CRF)["frames_per_s"])
    report["encode_frames_per_s"] = {p: {"runs": v, "best": max(v)} for p, v in speed.items()}
    # Quality per bit: a few CRFs of each; veryfast at the CRF that spends faster's bits.
    curves = {p: {str(c): run(p, c) for c in (16, 18, 20, 22)} for p in speed}
    target = curves["faster"][str(DEFAULT_CRF)]["kbit_per_s"]
    vf = sorted(curves["veryfast"].items(), key=lambda kv: kv[1]["kbit_per_s"])
    rates = np.log([r["kbit_per_s"] for _, r in vf])
    crf = round(float(np.interp(np.log(target), rates, [float(c) for c, _ in vf])), 2)
    matched = run("veryfast", crf)
    report["equal_crf"] = {
        "crf": DEFAULT_CRF,
        "faster": curves["faster"][str(DEFAULT_CRF)],
        "veryfast": curves["veryfast"][str(DEFAULT_CRF)],
    }
    report["equal_bitrate"] = {
        "faster": {"crf": DEFAULT_CRF, **curves["faster"][str(DEFAULT_CRF)]},
        "veryfast": {"crf": crf, **matched},
    }
    report["curves"] = curves
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2, help="speed runs per preset")
    parser.add_argument("--clip", type=Path, help="a real 8-bit 4:2:0 clip instead")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    report: dict = {"machine": machine(), "load_at_start": uptime}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.clip:
            clip, frames = args.clip, clip_frames(args.clip)
            report["clip"] = f"{args.clip.name}: {len(frames)} frames, its own Y, Cb, Cr planes"
        else:
            clip = write_film(folder / "film.mp4", args.frames)
            frames = generated_frames(clip, args.frames)
            report["clip"] = (
                f"640x480, {args.frames} frames, 25 fps, speed.py's generated film (grain, a "
                "cut every 120 frames), chroma following the luma, 4:2:0 8-bit"
            )
        report.update(measure(clip, frames, folder, args.repeats))
    end = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    report["load_at_end"] = end
    report_json(report, args.out)


if __name__ == "__main__":
    main()
