"""Colour quality of a model on colour photographs (and videos); prints JSON (MODEL_SPEC section 3).

Each colour image under DIR (or each file of a Places-style list) is reduced to its lightness: the
ground truth's CIE L* written as an 8-bit sRGB gray image, which is also the gray baseline
(a* = b* = 0). That gray image is colorized exactly as ``filmcolor frames`` colorizes a still
(:meth:`filmcolor.pipeline.Colorizer.load` + :func:`filmcolor.stills.colorize_image`), and the
8-bit result, the gray baseline and the truth are compared with :mod:`filmcolor.metrics` (the
trainer's own measures) and SSIM. Videos contribute a few evenly spaced frames, each colorized as
a still. A contact sheet (gray | ours | truth) is written beside the JSON.

    python benchmarks/quality.py /work/shared/data/photos --list train/lists/photos_val.txt \
        --model runs/reg-cls/model.safetensors --out out/quality
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage.metrics import structural_similarity

from filmcolor.colorizer import DEFAULT_RENDER_SIZE, Colorizer
from filmcolor.images import IMAGE_SUFFIXES, ImageReadError, read_image
from filmcolor.metrics import ab_auc, colourfulness, psnr_rgb
from filmcolor.models.color import lightness_to_gray, rgb_to_lab
from filmcolor.stills import colorize_image
from filmcolor.weights import ModelFileError, default_model_path, read_metadata

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts")
SSIM_ARGS = {
    "gaussian_weights": True,
    "sigma": 1.5,
    "use_sample_covariance": False,
    "data_range": 255,
    "channel_axis": -1,
}
MEASURES = {
    "psnr": "dB on RGB quantised to 0..255 (filmcolor.metrics.psnr_rgb), against the truth",
    "ssim": (
        "skimage.metrics.structural_similarity on 8-bit RGB against the truth, "
        "gaussian_weights=True, sigma=1.5 (11x11 window), use_sample_covariance=False, "
        "data_range=255, channel_axis=-1; mean over the three channels"
    ),
    "colourfulness": (
        "Hasler & Suesstrunk 2003 on 0..255 RGB, signed differences "
        "(filmcolor.metrics.colourfulness)"
    ),
    "auc": (
        "Zhang et al.: share of pixels with CIE a*b* error <= t, averaged over t = 0..150 "
        "(filmcolor.metrics.ab_auc); a*b* of the 8-bit images"
    ),
    "input": (
        "the truth's CIE L* (D65) as an 8-bit sRGB gray image; the gray baseline is that image "
        "(a* = b* = 0); the model sees it as `filmcolor frames` would read it from a file"
    ),
    "video": "evenly spaced frames, each colorized as a still (its own global features)",
}
SHEET_IMAGES = 16
SHEET_HEIGHT = 160


@dataclass
class Sample:
    """One picture to measure: its name and its truth as (H, W, 3) sRGB in [0, 1]."""

    name: str  # relative to the benchmark's folder
    truth: np.ndarray  # float32
    frame: int | None = None  # frame index, for videos


def list_files(root: Path, list_file: Path | None) -> list[Path]:
    """Images and videos under ``root``, or the files a Places-style list names (``/a.jpg 3``)."""
    if list_file is None:
        suffixes = IMAGE_SUFFIXES + VIDEO_SUFFIXES
        return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    files = []
    for line in list_file.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            files.append(root / line.split()[0].lstrip("/"))
    return files


def image_truth(path: Path) -> np.ndarray | None:
    """A colour image as (H, W, 3) sRGB in [0, 1] (alpha dropped); None for a gray image."""
    img = read_image(path)
    if img.ndim == 2 or img.shape[2] < 3:
        return None
    top = 65535.0 if img.dtype == np.uint16 else 255.0
    return (img[..., 2::-1].astype(np.float32) / top).copy()  # BGR(A) -> RGB


def video_truths(path: Path, frames: int) -> list[tuple[int, np.ndarray]]:
    """``frames`` evenly spaced frames of a video as (index, (H, W, 3) sRGB in [0, 1])."""
    from filmcolor.video_io import decode_video, probe

    total = probe(path).estimated_frames or 1
    wanted = sorted({min(total - 1, int((k + 0.5) * total / frames)) for k in range(frames)})
    found = []
    for i, frame in enumerate(decode_video(path)):
        if i in wanted:
            found.append((i, frame.to_ndarray(format="rgb24").astype(np.float32) / 255))
        if i >= wanted[-1]:
            break
    return found


def gray_input(truth: np.ndarray) -> np.ndarray:
    """The truth's L* as an 8-bit sRGB gray image (H, W): the colorizer's input."""
    lightness = rgb_to_lab(torch.from_numpy(truth).permute(2, 0, 1))[0]  # (H, W) L*
    return (lightness_to_gray(lightness) * 255).round().byte().numpy()


def measure(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """PSNR, SSIM, colourfulness and AuC of an 8-bit RGB image (H, W, 3) against the truth."""
    truth8 = (truth * 255).round().astype(np.uint8)
    p = torch.from_numpy(pred).permute(2, 0, 1)[None].float() / 255  # (1, 3, H, W)
    t = torch.from_numpy(truth8).permute(2, 0, 1)[None].float() / 255
    return {
        "psnr": float(psnr_rgb(p, t)[0]),
        "ssim": float(structural_similarity(pred, truth8, **SSIM_ARGS)),
        "colourfulness": float(colourfulness(p)[0]),
        "auc": float(ab_auc(rgb_to_lab(p)[:, 1:], rgb_to_lab(t)[:, 1:])[0]),
    }


def colorize_gray(colorizer: Colorizer, gray: np.ndarray) -> np.ndarray:
    """Colorize an 8-bit gray image as ``filmcolor frames`` does; (H, W, 3) uint8 RGB."""
    return colorize_image(colorizer, gray)[..., ::-1].copy()  # BGR -> RGB


def contact_sheet(rows: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
    """One row per image: gray | ours | truth, each ``SHEET_HEIGHT`` px high; RGB uint8."""
    gap, label = 4, 18
    strips = []
    for name, gray, ours, truth in rows:
        h, w = truth.shape[:2]
        size = (max(1, round(w * SHEET_HEIGHT / h)), SHEET_HEIGHT)
        cells = []
        for img in (np.repeat(gray[..., None], 3, axis=2), ours, truth):
            cells += [
                cv2.resize(img, size, interpolation=cv2.INTER_AREA),
                np.full((SHEET_HEIGHT, gap, 3), 255, np.uint8),
            ]
        strip = np.concatenate(cells[:-1], axis=1)
        head = np.full((label, strip.shape[1], 3), 255, np.uint8)
        cv2.putText(
            head, name, (2, label - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA
        )
        strips.append(np.concatenate((head, strip), axis=0))
    width = max(s.shape[1] for s in strips)
    padded = [
        np.pad(s, ((0, gap), (0, width - s.shape[1]), (0, 0)), constant_values=255) for s in strips
    ]
    return np.concatenate(padded, axis=0)


def samples(files: list[Path], root: Path, video_frames: int, skipped: list[dict]):
    """Yield a :class:`Sample` per colour image and per sampled video frame; note the rest.

    Args:
        files: images and videos.
        root: names are given relative to this folder.
        video_frames: frames sampled per video.
        skipped: receives ``{"file", "reason"}`` for files that are not measured.
    """
    for path in files:
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        try:
            if path.suffix.lower() in VIDEO_SUFFIXES:
                for i, truth in video_truths(path, video_frames):
                    yield Sample(name, truth, i)
                continue
            truth = image_truth(path)
        except (ImageReadError, ValueError, OSError) as e:
            skipped.append({"file": name, "reason": str(e)})
            continue
        if truth is None:
            skipped.append({"file": name, "reason": "gray image, nothing to compare colour with"})
        else:
            yield Sample(name, truth)


def _mean(rows: list[dict], key: str) -> dict[str, float]:
    keys = rows[0][key].keys() if rows else ()
    return {k: round(float(np.mean([r[key][k] for r in rows])), 4) for k in keys}


def model_facts(path: Path) -> dict:
    """The checkpoint's path, SHA-256, config and provenance (from its metadata)."""
    meta = read_metadata(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {
        "path": str(path),
        "sha256": digest,
        "bytes": path.stat().st_size,
        "config": meta.get("config"),
        "provenance": meta.get("provenance"),
    }


def run(args: argparse.Namespace) -> dict:
    """Measure every sample; write the JSON and the contact sheet to ``args.out``."""
    t0 = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    root = Path(args.dir)
    if not root.is_dir():
        raise SystemExit(f"error: not a folder: {root}")
    if args.render_size < 0:
        raise SystemExit("error: --render-size must be positive (or 0 for full size)")
    model_path = Path(args.model) if args.model else default_model_path()
    try:
        model = model_facts(model_path)
        colorizer = Colorizer.load(model_path, args.device, args.precision, args.temperature)
    except (ModelFileError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    colorizer.render_size = args.render_size
    files = list_files(root, Path(args.list) if args.list else None)
    skipped: list[dict] = []
    per_image, sheet = [], []
    for s in samples(files, root, args.video_frames, skipped):
        gray = gray_input(s.truth)
        ours = colorize_gray(colorizer, gray)
        row = {
            "file": s.name,
            "frame": s.frame,
            "size": [s.truth.shape[1], s.truth.shape[0]],
            "model": measure(ours, s.truth),
            "gray": measure(np.repeat(gray[..., None], 3, axis=2), s.truth),
            "truth": {
                "colourfulness": float(
                    colourfulness(torch.from_numpy(s.truth).permute(2, 0, 1)[None])[0]
                )
            },
        }
        per_image.append(row)
        if len(sheet) < SHEET_IMAGES:
            name = row["file"] + (f" frame {s.frame}" if s.frame is not None else "")
            name += (
                f"   gray | ours | truth   PSNR {row['model']['psnr']:.2f} dB "
                f"(gray {row['gray']['psnr']:.2f})"
            )
            sheet.append((name, gray, ours, (s.truth * 255).round().astype(np.uint8)))
        print(
            f"{row['file']}: psnr {row['model']['psnr']:.2f} (gray {row['gray']['psnr']:.2f})",
            file=sys.stderr,
        )
    if not per_image:
        raise SystemExit(f"error: no colour image or video found under {root}")
    mean = {key: _mean(per_image, key) for key in ("model", "gray", "truth")}
    report = {
        "benchmark": "quality",
        "data": str(root),
        "list": args.list,
        "images": len(per_image),
        "model": model,
        "render_size": colorizer.render_size,
        "device": str(colorizer.device),
        "precision": str(colorizer.dtype).removeprefix("torch."),
        "measures": MEASURES | {"ssim_args": SSIM_ARGS},
        "mean": mean,
        "summary": {
            "psnr_gain_db": round(mean["model"]["psnr"] - mean["gray"]["psnr"], 4),
            "colourfulness_ratio": round(
                mean["model"]["colourfulness"] / max(mean["truth"]["colourfulness"], 1e-9), 4
            ),
        },
        "per_image": per_image,
        "skipped": skipped,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality.json").write_text(json.dumps(report, indent=1) + "\n")
    cv2.imwrite(str(out / "contact_sheet.png"), contact_sheet(sheet)[..., ::-1])
    report["outputs"] = {
        "json": str(out / "quality.json"),
        "contact_sheet": str(out / "contact_sheet.png"),
    }
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", help="folder of colour images and videos (the ground truth)")
    parser.add_argument(
        "--list", help="only these files: a Places-style list ('/a.jpg 3'), paths relative to DIR"
    )
    parser.add_argument("--model", help=".safetensors checkpoint [default: the shipped model]")
    parser.add_argument(
        "--render-size",
        type=int,
        default=DEFAULT_RENDER_SIZE,
        help="short side the network runs at; 0 = full size",
    )
    parser.add_argument(
        "--out", default="out/quality", help="folder for quality.json and contact_sheet.png"
    )
    parser.add_argument("--video-frames", type=int, default=3, help="frames sampled per video")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument(
        "--temperature", type=float, default=None, help="annealed-mean T (bins models)"
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (0 = torch's default)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark, print its JSON on stdout and return it."""
    report = run(parse_args(argv))
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
