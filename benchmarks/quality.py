"""Colour quality of a model on colour photographs (and videos); prints JSON.

Each colour image under DIR (or each file of a Places-style list) is reduced to its lightness: the
ground truth's CIE L* written as an 8-bit sRGB gray image, which is also the gray baseline
(a* = b* = 0). That gray image is colorized exactly as ``filmcolor frames`` colorizes a still
(:meth:`filmcolor.colorizer.Colorizer.load` + :func:`filmcolor.stills.colorize_image`), and the
8-bit result, the gray baseline and the truth are compared with :mod:`filmcolor.metrics` (the
trainer's own measures: PSNR, colourfulness, AuC, hue agreement) and SSIM. Videos contribute a few
evenly spaced frames, each colorized as a still. Means are reported over all images and per
``kind`` (from a MANIFEST.csv with a ``kind`` column in the image's folder; "photo" otherwise).
A contact sheet (gray | ours | truth) of the 12 images with the lowest hue agreement is written
beside the JSON.

    python benchmarks/quality.py /work/shared/data/photos --list train/lists/photos_val.txt \
        --model runs/reg-cls/model.safetensors --out out/quality

Several lists in one run (paths in a list are relative to DIR and may lead into sub-folders):

    python benchmarks/quality.py /work/shared/data --list train/lists/scenes_val.txt \
        --list train/lists/nature_val.txt --out out/quality

JSON layout. With one list (or none) the report is flat, as before several lists were possible:
``list``, ``images``, ``model``, ..., ``mean`` (``model``/``gray``/``truth``), ``summary``,
``hue_cells``, ``by_kind`` (kind -> ``images``, ``mean``, ``summary``, ``hue_cells``),
``per_image``, ``skipped``, ``outputs`` (``json``, ``contact_sheet``). With several lists these
per-list entries move under ``lists``, keyed by each list file's stem (which must be unique), and
each list's ``outputs.contact_sheet`` is ``contact_sheet_<stem>.png``.
"""

from __future__ import annotations

import argparse
import csv
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

from filmcolor.colorizer import Colorizer
from filmcolor.config import DEFAULT_RENDER_SIZE
from filmcolor.images import IMAGE_SUFFIXES, ImageReadError, read_image
from filmcolor.metrics import ab_auc, colourfulness, hue_cells, psnr_rgb
from filmcolor.models.color import rgb_to_gray8, rgb_to_lab
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
HUE_GRID = 8  # cells per side for hue agreement (filmcolor.metrics.hue_cells' defaults)
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
    "hue_agreement": (
        "8x8 grid of cells; over the cells whose true mean a*b* has chroma > 10, the share whose "
        "predicted mean a*b* has chroma > 3 and a hue angle within 45 degrees of the truth's "
        "(filmcolor.metrics.hue_cells); a*b* of the 8-bit images; gray scores 0; null for an "
        "image without such a cell. HEADLINE: mean.*.hue_agreement, the mean over the images "
        "that have such a cell (every image weighs the same, as in the other means); "
        "mean.*.hue_agreement_pooled is the share over all those cells pooled (images with more "
        "colourful cells weigh more); hue_cells counts the images and cells"
    ),
    "input": (
        "the truth's CIE L* (D65) as an 8-bit sRGB gray image; the gray baseline is that image "
        "(a* = b* = 0); the model sees it as `filmcolor frames` would read it from a file"
    ),
    "video": "evenly spaced frames, each colorized as a still (its own global features)",
    "kind": (
        "the `kind` column of MANIFEST.csv in the image's folder, matched by file name; "
        "'photo' for a folder without one; by_kind holds the means per kind"
    ),
    "contact_sheet": (
        "the 12 images with the lowest hue agreement (ties: the smallest PSNR gain over gray; "
        "images without a colourful cell last), worst first"
    ),
}
DEFAULT_KIND = "photo"
SHEET_IMAGES = 12
SHEET_HEIGHT = 160
SHEET_LINE = 18  # height of one label line; each row has two (the file, then its figures)


@dataclass
class Sample:
    """One picture to measure: its name and its truth as (H, W, 3) sRGB in [0, 1]."""

    name: str  # relative to the benchmark's folder
    truth: np.ndarray  # float32
    frame: int | None = None  # frame index, for videos
    kind: str = DEFAULT_KIND  # from the folder's MANIFEST.csv


def list_files(root: Path, list_file: Path | None) -> list[Path]:
    """Images and videos under ``root``, or the files a Places-style list names (``/a.jpg 3``).

    A list's paths are relative to ``root`` and may lead into its sub-folders
    (``/scenes/a.jpg 3``); the trailing class label is optional.
    """
    if list_file is None:
        suffixes = IMAGE_SUFFIXES + VIDEO_SUFFIXES
        return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    files = []
    for line in list_file.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.rsplit(maxsplit=1)
        name = parts[0] if len(parts) == 2 and parts[1].lstrip("-").isdigit() else line
        files.append(root / name.lstrip("/"))
    return files


def folder_kinds(folder: Path) -> dict[str, str]:
    """File name -> ``kind`` from ``folder/MANIFEST.csv``; empty without a ``kind`` column."""
    manifest = folder / "MANIFEST.csv"
    if not manifest.is_file():
        return {}
    with manifest.open(newline="") as f:
        reader = csv.DictReader(f)
        if not {"file", "kind"} <= set(reader.fieldnames or ()):
            return {}
        return {row["file"]: row["kind"] for row in reader if row["kind"]}


def image_truth(path: Path) -> np.ndarray | None:
    """A colour image as (H, W, 3) sRGB in [0, 1] (alpha dropped); None for a gray image."""
    img = read_image(path)
    if img.ndim == 2 or img.shape[2] < 3:
        return None
    top = 65535.0 if img.dtype == np.uint16 else 255.0
    return (img[..., 2::-1].astype(np.float32) / top).copy()  # BGR(A) -> RGB


def video_truths(path: Path, frames: int) -> list[tuple[int, np.ndarray]]:
    """``frames`` evenly spaced frames of a video as (index, (H, W, 3) sRGB in [0, 1])."""
    from filmcolor.video.decode import decode_video
    from filmcolor.video.probe import probe

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
    return rgb_to_gray8(torch.from_numpy(truth).permute(2, 0, 1)).numpy()


def measure(pred: np.ndarray, truth: np.ndarray) -> tuple[dict[str, float | None], int, int]:
    """PSNR, SSIM, colourfulness, AuC and hue agreement of 8-bit RGB (H, W, 3) against the truth.

    Returns:
        The measures (hue agreement None without a colourful cell), and the numbers of agreeing
        and of eligible cells behind the hue agreement.
    """
    truth8 = (truth * 255).round().astype(np.uint8)
    p = torch.from_numpy(pred).permute(2, 0, 1)[None].float() / 255  # (1, 3, H, W)
    t = torch.from_numpy(truth8).permute(2, 0, 1)[None].float() / 255
    pred_ab, true_ab = rgb_to_lab(p)[:, 1:], rgb_to_lab(t)[:, 1:]  # (1, 2, H, W)
    agreeing = eligible = 0
    if min(pred.shape[:2]) >= HUE_GRID:  # smaller images have no grid: no eligible cell
        agreeing, eligible = (int(n[0]) for n in hue_cells(pred_ab, true_ab, HUE_GRID))
    measures = {
        "psnr": float(psnr_rgb(p, t)[0]),
        "ssim": float(structural_similarity(pred, truth8, **SSIM_ARGS)),
        "colourfulness": float(colourfulness(p)[0]),
        "auc": float(ab_auc(pred_ab, true_ab)[0]),
        "hue_agreement": agreeing / eligible if eligible else None,
    }
    return measures, agreeing, eligible


def colorize_gray(colorizer: Colorizer, gray: np.ndarray) -> np.ndarray:
    """Colorize an 8-bit gray image as ``filmcolor frames`` does; (H, W, 3) uint8 RGB."""
    return colorize_image(colorizer, gray)[..., ::-1].copy()  # BGR -> RGB


def _thumbnail(img: np.ndarray) -> np.ndarray:
    """An RGB (or gray) uint8 image scaled to ``SHEET_HEIGHT`` px high, as RGB."""
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    h, w = img.shape[:2]
    size = (max(1, round(w * SHEET_HEIGHT / h)), SHEET_HEIGHT)
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def contact_sheet(rows: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
    """One row per image: gray | ours | truth, each ``SHEET_HEIGHT`` px high; RGB uint8.

    Args:
        rows: ``(label, gray, ours, truth)``; the label's lines (``\\n``) are written above the
            images, ``SHEET_LINE`` px each.
    """
    gap = 4
    font = (cv2.FONT_HERSHEY_SIMPLEX, 0.45)
    strips = []
    for label, gray, ours, truth in rows:
        cells = []
        for img in (gray, ours, truth):
            cells += [_thumbnail(img), np.full((SHEET_HEIGHT, gap, 3), 255, np.uint8)]
        strip = np.concatenate(cells[:-1], axis=1)
        lines = label.split("\n")
        text_width = max(cv2.getTextSize(line, *font, 1)[0][0] for line in lines) + 4
        width = max(strip.shape[1], text_width)
        head = np.full((SHEET_LINE * len(lines), width, 3), 255, np.uint8)
        for k, line in enumerate(lines):
            origin = (2, SHEET_LINE * (k + 1) - 5)
            cv2.putText(head, line, origin, *font, (0, 0, 0), 1, cv2.LINE_AA)
        strip = np.pad(strip, ((0, 0), (0, width - strip.shape[1]), (0, 0)), constant_values=255)
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
    kinds: dict[Path, dict[str, str]] = {}  # folder -> its MANIFEST.csv kinds
    for path in files:
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        if path.parent not in kinds:
            kinds[path.parent] = folder_kinds(path.parent)
        kind = kinds[path.parent].get(path.name, DEFAULT_KIND)
        try:
            if path.suffix.lower() in VIDEO_SUFFIXES:
                for i, truth in video_truths(path, video_frames):
                    yield Sample(name, truth, i, kind)
                continue
            truth = image_truth(path)
        except (ImageReadError, ValueError, OSError) as e:
            skipped.append({"file": name, "reason": str(e)})
            continue
        if truth is None:
            skipped.append({"file": name, "reason": "gray image, nothing to compare colour with"})
        else:
            yield Sample(name, truth, kind=kind)


def _mean(rows: list[dict], key: str) -> dict[str, float | None]:
    """Mean of each measure over the rows that have it (None where none has)."""
    means = {}
    for k in rows[0][key] if rows else ():
        values = [r[key][k] for r in rows if r[key][k] is not None]
        means[k] = round(float(np.mean(values)), 4) if values else None
    return means


def summarize(rows: list[dict]) -> dict:
    """The images' means, pooled hue agreement, hue cell counts and the summary figures."""
    mean = {key: _mean(rows, key) for key in ("model", "gray", "truth")}
    eligible = sum(r["hue_cells"]["eligible"] for r in rows)
    for key in ("model", "gray"):
        agreeing = sum(r["hue_cells"][key] for r in rows)
        mean[key]["hue_agreement_pooled"] = round(agreeing / eligible, 4) if eligible else None
    return {
        "images": len(rows),
        "mean": mean,
        "summary": {
            "psnr_gain_db": round(mean["model"]["psnr"] - mean["gray"]["psnr"], 4),
            "colourfulness_ratio": round(
                mean["model"]["colourfulness"] / max(mean["truth"]["colourfulness"], 1e-9), 4
            ),
        },
        "hue_cells": {
            "images": sum(r["hue_cells"]["eligible"] > 0 for r in rows),
            "eligible": eligible,
        },
    }


def _worst_key(row: dict) -> tuple:
    """Sort key of the contact sheet: lowest hue agreement first, then smallest PSNR gain."""
    hue = row["model"]["hue_agreement"]
    return (hue is None, hue or 0.0, row["model"]["psnr"] - row["gray"]["psnr"])


def _sheet_label(row: dict) -> str:
    """Two lines above a contact sheet row: the file, then its figures."""
    m, g = row["model"], row["gray"]
    frame = f" frame {row['frame']}" if row["frame"] is not None else ""
    hue = "-" if m["hue_agreement"] is None else f"{m['hue_agreement']:.2f}"
    return (
        f"{row['file']}{frame} ({row['kind']})   gray | ours | truth\n"
        f"hue {hue} of {row['hue_cells']['eligible']} cells   "
        f"PSNR {m['psnr']:.2f} dB (gray {g['psnr']:.2f})   AuC {m['auc']:.3f}   "
        f"colourfulness {m['colourfulness']:.1f} (truth {row['truth']['colourfulness']:.1f})"
    )


def measure_files(
    colorizer: Colorizer, files: list[Path], root: Path, video_frames: int, tag: str = ""
) -> tuple[dict, list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]]:
    """Measure the model and the gray baseline on every sample of ``files``.

    Args:
        colorizer: the model at inference.
        files: images and videos.
        root: names are given relative to this folder.
        video_frames: frames sampled per video.
        tag: prefix of the progress lines on stderr.

    Returns:
        The section of the report (see the module docstring) and the contact sheet's rows.
    """
    skipped: list[dict] = []
    per_image: list[dict] = []
    worst: list[tuple[tuple, int, tuple]] = []  # (key, order, sheet row), at most SHEET_IMAGES
    for s in samples(files, root, video_frames, skipped):
        gray = gray_input(s.truth)
        ours = colorize_gray(colorizer, gray)
        model, model_agreeing, eligible = measure(ours, s.truth)
        baseline, gray_agreeing, _ = measure(np.repeat(gray[..., None], 3, axis=2), s.truth)
        truth_rgb = torch.from_numpy(s.truth).permute(2, 0, 1)[None]
        row = {
            "file": s.name,
            "frame": s.frame,
            "kind": s.kind,
            "size": [s.truth.shape[1], s.truth.shape[0]],
            "model": model,
            "gray": baseline,
            "truth": {"colourfulness": float(colourfulness(truth_rgb)[0])},
            "hue_cells": {"eligible": eligible, "model": model_agreeing, "gray": gray_agreeing},
        }
        per_image.append(row)
        truth8 = (s.truth * 255).round().astype(np.uint8)
        images = tuple(_thumbnail(img) for img in (gray, ours, truth8))
        worst.append((_worst_key(row), len(per_image), (_sheet_label(row), *images)))
        worst = sorted(worst, key=lambda w: w[:2])[:SHEET_IMAGES]
        hue = "-" if model["hue_agreement"] is None else f"{model['hue_agreement']:.2f}"
        print(
            f"{tag}{row['file']}: psnr {model['psnr']:.2f} (gray {baseline['psnr']:.2f}) hue {hue}",
            file=sys.stderr,
        )
    by_kind = {}
    for kind in sorted({r["kind"] for r in per_image}):
        by_kind[kind] = summarize([r for r in per_image if r["kind"] == kind])
    section = summarize(per_image) | {
        "by_kind": by_kind,
        "per_image": per_image,
        "skipped": skipped,
    }
    return section, [w[2] for w in worst]


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


def table(name: str, section: dict) -> str:
    """A few lines for a person: the list's means, then one line per kind."""

    def line(label: str, s: dict) -> str:
        m, g, t = s["mean"]["model"], s["mean"]["gray"], s["mean"]["truth"]

        def hue(x: float | None) -> str:
            return "-" if x is None else f"{x:.3f}"

        return (
            f"{label:<24} {s['images']:>4} images  PSNR {m['psnr']:.2f} (gray {g['psnr']:.2f})  "
            f"SSIM {m['ssim']:.4f} (gray {g['ssim']:.4f})  "
            f"colourfulness {m['colourfulness']:.1f} (truth {t['colourfulness']:.1f})  "
            f"AuC {m['auc']:.4f} (gray {g['auc']:.4f})  "
            f"hue {hue(m['hue_agreement'])} (pooled {hue(m['hue_agreement_pooled'])}, "
            f"gray {hue(g['hue_agreement'])})"
        )

    lines = [line(name, section)]
    lines += [line(f"  {kind}", s) for kind, s in section["by_kind"].items()]
    return "\n".join(lines)


def flip_averaged(colorizer: Colorizer) -> None:
    """Make ``colorizer`` average its a*b* with that of the mirrored frame (test-time
    augmentation; twice the network's cost), to measure whether it pays."""
    plain = colorizer.ab

    def ab(l: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return (plain(l, g) + plain(l.flip(-1), g).flip(-1)) / 2

    colorizer.ab = ab


def run(args: argparse.Namespace) -> dict:
    """Measure every sample of every list; write the JSON and the contact sheets to ``args.out``."""
    t0 = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    root = Path(args.dir)
    if not root.is_dir():
        raise SystemExit(f"error: not a folder: {root}")
    if args.render_size < 0:
        raise SystemExit("error: --render-size must be positive (or 0 for full size)")
    lists = [Path(p) for p in args.list or ()]
    for path in lists:
        if not path.is_file():
            raise SystemExit(f"error: no such list: {path}")
    names = [p.stem for p in lists]
    if len(set(names)) < len(names):
        raise SystemExit(f"error: two lists share a name, which must be unique: {names}")
    model_path = Path(args.model) if args.model else default_model_path()
    try:
        model = model_facts(model_path)
        colorizer = Colorizer.load(model_path, args.device, args.precision, args.temperature)
    except (ModelFileError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    colorizer.render_size = args.render_size
    if args.flip_tta:
        flip_averaged(colorizer)
    out = Path(args.out)
    sections, sheets = {}, {}
    for name, path in zip(names or [None], lists or [None], strict=True):
        files = list_files(root, path)
        section, sheets[name] = measure_files(
            colorizer, files, root, args.video_frames, f"{name}: " if len(lists) > 1 else ""
        )
        if not section["images"]:
            where = f"in {path}" if path else f"under {root}"
            raise SystemExit(f"error: no colour image or video found {where}")
        sections[name] = {"list": str(path) if path else None} | section
        print(table(name or root.name, section), file=sys.stderr)
    report = {
        "benchmark": "quality",
        "data": str(root),
        "model": model,
        "render_size": colorizer.render_size,
        "flip_tta": args.flip_tta,
        "device": str(colorizer.device),
        "precision": str(colorizer.dtype).removeprefix("torch."),
        "measures": MEASURES | {"ssim_args": SSIM_ARGS},
    }
    if len(sections) == 1:  # the layout of a single list (or folder), as before several lists
        (section,) = sections.values()
        head = {k: report[k] for k in ("benchmark", "data")} | {"list": section["list"]}
        report = head | {"images": section["images"]} | report | section
    else:
        report["lists"] = sections
    report |= {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }
    out.mkdir(parents=True, exist_ok=True)
    sheet_paths = {}
    for name, rows in sheets.items():
        single = len(sheets) == 1  # the file name of a single list, as before several lists
        sheet_paths[name] = out / ("contact_sheet.png" if single else f"contact_sheet_{name}.png")
        cv2.imwrite(str(sheet_paths[name]), contact_sheet(rows)[..., ::-1])
    if len(sections) == 1:
        (sheet_path,) = sheet_paths.values()
        report["outputs"] = {"json": str(out / "quality.json"), "contact_sheet": str(sheet_path)}
    else:
        report["outputs"] = {"json": str(out / "quality.json")}
        for name, section in sections.items():
            section["outputs"] = {"contact_sheet": str(sheet_paths[name])}
    (out / "quality.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", help="folder of colour images and videos (the ground truth)")
    parser.add_argument(
        "--list",
        action="append",
        help="only these files: a Places-style list ('/a.jpg 3'), paths relative to DIR; "
        "repeat to measure several lists, each reported under its file's stem",
    )
    parser.add_argument("--model", help=".safetensors checkpoint [default: the shipped model]")
    parser.add_argument(
        "--render-size",
        type=int,
        default=DEFAULT_RENDER_SIZE,
        help="short side the network runs at; 0 = full size",
    )
    parser.add_argument(
        "--out", default="out/quality", help="folder for quality.json and the contact sheets"
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
    parser.add_argument(
        "--flip-tta", action="store_true", help="average with the mirrored frame's a*b*"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark, print its JSON on stdout and return it."""
    report = run(parse_args(argv))
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
