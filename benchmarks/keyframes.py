"""Colour where the user says (issue 22): keyframes, a reference's palette, hints; prints JSON.

    python benchmarks/keyframes.py [DATA] [--quick] [--model M] [--photos-limit N]
        [--list train/lists/photos_val.txt ...] [--out benchmarks/keyframes.json]

1. **Clips** (``benchmarks/flicker.py``'s moving colour clips, generated the same way, seeded):
   each clip's clean gray film is colorized by the real program (``filmcolor colorize --codec
   ffv1``, default options): *automatic*. Then, on its output:

   - *palette*: each frame's a*b* matched to the palette of another frame of the same shot (the
     truth's first frame of the shot) at several strengths (:mod:`filmcolor.palette`): what a
     colour ``--style`` reference adds;
   - *keyframes*: the truth's middle frame of every shot as its keyframe, carried through the
     shot (:mod:`filmcolor.propagate`, pass 2's DIS flow at the render size) over the
     automatic a*b* matched to the keyframe's palette (the fill), as ``colorize --keyframes``
     does.

   Measured against the truth on every frame: PSNR, SSIM (``benchmarks/quality.py``'s), the
   warping error (``benchmarks/flicker.py``'s, flow from the clean gray original), and
   colourfulness. The output's lightness is the automatic output's (the film's own) in every
   variant, so only a*b* differ.
2. **Hints on stills**: on the validation photos, N random 7x7 patches of the truth's colour per
   image (N = 5, 20, 50; seeded by the file name) painted on its gray input and passed as the
   hints of ``filmcolor frames --hints`` (:func:`filmcolor.stills.colorize_image`): PSNR and hue
   agreement (``benchmarks/quality.py``'s) beside automatic.

Speed: the program's frames/s (automatic) and the keyframe stage's own time per frame
(palette, flow chains, blend), measured in this process; ``keyframe_fps_estimate`` adds the
two (the stage runs in pass 2's encode thread, where it may overlap the network instead).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # flicker.py, quality.py

from flicker import (  # noqa: E402
    CLIPS,
    QUICK_CLIPS,
    Motion,
    colorize,
    gray_of,
    lab_of,
    machine,
    mean_colourfulness,
    model_facts,
    program_version,
    read_rgb,
    render_clip,
    startup_seconds,
    warp_error,
    write_gray,
)
from quality import gray_input, image_truth, list_files, measure  # noqa: E402

from filmcolor.colorizer import Colorizer  # noqa: E402
from filmcolor.config import DEFAULT_RENDER_SIZE  # noqa: E402
from filmcolor.palette import match_palette, palette_of_lab, palette_of_rgb  # noqa: E402
from filmcolor.propagate import carry_shot  # noqa: E402
from filmcolor.stills import colorize_image  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
STRENGTHS = (0.25, 0.5, 0.75, 1.0)
HINT_COUNTS = (5, 20, 50)
PATCH = 7
ANCHORS = {
    "ColorMNet (Yang et al. 2024)": "35.8 dB PSNR on DAVIS with the truth's first frame as "
    "reference (GPU, learned memory)",
    "Zhang et al. 2017 (user-guided)": "several dB over automatic with ten points",
}


def rgb_from(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """L* (H, W) and a*b* (h, w, 2) -> (H, W, 3) uint8 RGB (a*b* enlarged bilinearly)."""
    h, w = lightness.shape
    if ab.shape[:2] != (h, w):
        ab = cv2.resize(ab, (w, h), interpolation=cv2.INTER_LINEAR)
    lab = cv2.merge((lightness.astype(np.float32), ab[..., 0], ab[..., 1]))
    return (cv2.cvtColor(lab, cv2.COLOR_Lab2RGB).clip(0, 1) * 255).round().astype(np.uint8)


def render_scale(h: int, w: int, render: int) -> tuple[int, int]:
    """(h, w) at the render size (short side ``render``; smaller frames as they are)."""
    s = min(1.0, render / min(h, w))
    return max(8, round(h * s)), max(8, round(w * s))


def film_scores(rgb: np.ndarray, truth: np.ndarray, motion: Motion) -> dict:
    """Mean PSNR and SSIM over the frames, warping error and colourfulness of (N, H, W, 3)."""
    per_frame = [measure(p, t.astype(np.float32) / 255)[0] for p, t in zip(rgb, truth, strict=True)]
    return {
        "psnr": round(float(np.mean([m["psnr"] for m in per_frame])), 3),
        "psnr_min_frame": round(float(np.min([m["psnr"] for m in per_frame])), 3),
        "ssim": round(float(np.mean([m["ssim"] for m in per_frame])), 4),
        "warp_error": round(warp_error(lab_of(rgb)[..., 1:], motion), 3),
        "colourfulness": round(mean_colourfulness(rgb), 2),
    }


def keyframed(
    auto: np.ndarray, truth: np.ndarray, gray: np.ndarray, shots: list[range], strength: float
) -> tuple[np.ndarray, float]:
    """The automatic film with the truth's middle frame of each shot as its keyframe.

    Returns:
        (N, H, W, 3) uint8 RGB, and the keyframe stage's seconds (palette, chains, blend).
    """
    auto_lab, truth_lab = lab_of(auto), lab_of(truth)
    n, h, w = gray.shape
    size = render_scale(h, w, DEFAULT_RENDER_SIZE)
    out = np.empty_like(auto)
    seconds = 0.0
    for shot in shots:
        k = shot.start + len(shot) // 2
        t0 = time.perf_counter()
        small = [cv2.resize(g, size[::-1], interpolation=cv2.INTER_AREA) for g in gray[shot]]
        key_ab = cv2.resize(truth_lab[k, ..., 1:], size[::-1], interpolation=cv2.INTER_AREA)
        key_l = cv2.resize(truth_lab[k, ..., 0], size[::-1], interpolation=cv2.INTER_AREA)
        palette = palette_of_lab(key_l, key_ab)
        carried = carry_shot(small, {k - shot.start: key_ab})
        for i, t in enumerate(shot):
            l_small = cv2.resize(auto_lab[t, ..., 0], size[::-1], interpolation=cv2.INTER_AREA)
            a_small = cv2.resize(auto_lab[t, ..., 1:], size[::-1], interpolation=cv2.INTER_AREA)
            fill = match_palette(l_small, a_small, palette, strength)
            ab = carried[i].over(fill)
            seconds += 0 if i else time.perf_counter() - t0  # the chains, once per shot
            t1 = time.perf_counter()
            out[t] = rgb_from(auto_lab[t, ..., 0], ab)
            seconds += time.perf_counter() - t1
    return out, seconds


def palette_matched(auto: np.ndarray, truth: np.ndarray, shots: list[range], strength: float):
    """Each frame's a*b* matched to the palette of the truth's first frame of its shot."""
    auto_lab = lab_of(auto)
    out = np.empty_like(auto)
    for shot in shots:
        palette = palette_of_rgb(truth[shot.start])
        for t in shot:
            ab = match_palette(auto_lab[t, ..., 0], auto_lab[t, ..., 1:], palette, strength)
            out[t] = rgb_from(auto_lab[t, ..., 0], ab)
    return out


def measure_clip(clip, args: argparse.Namespace, startup: float) -> dict:
    shots_n = 2 if args.quick else len(clip.shots)
    per_shot = args.shot_frames
    truth, cuts = render_clip(clip, Path(args.data) / "photos", shots_n, per_shot)
    gray = gray_of(truth)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    src, dst = work / f"{clip.name}.mkv", work / f"{clip.name}_color.mkv"
    write_gray(src, gray)
    seconds, _ = colorize(src, dst, args.model, [])
    auto = read_rgb(dst)
    bounds = [0, *cuts, len(truth)]
    shots = [range(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]
    motion = Motion.of(gray, cuts)
    row = {"clip": clip.name, "frames": len(truth), "shots": len(shots)}
    row["truth"] = {"warp_error": round(warp_error(lab_of(truth)[..., 1:], motion), 3)}
    row["truth"]["colourfulness"] = round(mean_colourfulness(truth), 2)
    auto_fps = len(truth) / max(seconds - startup, 1e-3)
    row["automatic"] = film_scores(auto, truth, motion) | {"fps_after_startup": round(auto_fps, 1)}
    row["palette"] = {
        str(s): film_scores(palette_matched(auto, truth, shots, s), truth, motion)
        for s in STRENGTHS
    }
    film, stage = keyframed(auto, truth, gray, shots, args.strength)
    per_frame = stage / len(truth)
    row["keyframes"] = film_scores(film, truth, motion) | {
        "stage_ms_per_frame": round(1000 * per_frame, 1),
        "keyframe_fps_estimate": round(1 / (1 / auto_fps + per_frame), 1),
    }
    row["keyframes"]["fps_ratio_estimate"] = round(
        row["keyframes"]["keyframe_fps_estimate"] / auto_fps, 3
    )
    if args.pictures:
        strip = [
            np.concatenate([gray[t][..., None].repeat(3, 2), auto[t], film[t], truth[t]], 1)
            for t in (shots[0].start, shots[0].start + len(shots[0]) // 2, shots[0].stop - 1)
        ]
        out = Path(args.pictures) / f"keyframes_{clip.name}.jpg"
        out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out), np.concatenate(strip, 0)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
        row["strip"] = str(out.relative_to(REPO)) if out.is_relative_to(REPO) else str(out)
    return row


def painted(gray: np.ndarray, truth: np.ndarray, count: int, seed: int) -> np.ndarray:
    """The gray image as RGB with ``count`` 7x7 patches of the truth's colour (seeded)."""
    rng = np.random.default_rng(seed)
    h, w = gray.shape
    out = np.repeat(gray[..., None], 3, axis=2)
    truth8 = (truth * 255).round().astype(np.uint8)
    for _ in range(count):
        y, x = rng.integers(0, h - PATCH), rng.integers(0, w - PATCH)
        out[y : y + PATCH, x : x + PATCH] = truth8[y : y + PATCH, x : x + PATCH]
    return out


def measure_hints(colorizer: Colorizer, files: list[Path], limit: int | None) -> dict:
    rows = []
    for path in files[:limit]:
        truth = image_truth(path)
        if truth is None:
            continue
        gray = gray_input(truth)
        row = {"file": path.name}
        auto = colorize_image(colorizer, gray)[..., ::-1].copy()
        row["automatic"] = measure(auto, truth)[0]
        seed = zlib.crc32(path.name.encode())
        for n in HINT_COUNTS:
            hints = painted(gray, truth, n, seed)
            t0 = time.perf_counter()
            out = colorize_image(colorizer, gray, hints=hints)[..., ::-1].copy()
            row[f"hints_{n}"] = measure(out, truth)[0] | {"seconds": time.perf_counter() - t0}
        rows.append(row)
    summary = {}
    for key in ("automatic", *(f"hints_{n}" for n in HINT_COUNTS)):
        hue = [r[key]["hue_agreement"] for r in rows if r[key]["hue_agreement"] is not None]
        summary[key] = {
            "psnr": round(float(np.mean([r[key]["psnr"] for r in rows])), 3),
            "hue_agreement": round(float(np.mean(hue)), 4) if hue else None,
            "colourfulness": round(float(np.mean([r[key]["colourfulness"] for r in rows])), 2),
        }
        if key != "automatic":
            summary[key]["seconds_per_image"] = round(
                float(np.mean([r[key]["seconds"] for r in rows])), 2
            )
            summary[key]["images_below_automatic_psnr"] = sum(
                r[key]["psnr"] < r["automatic"]["psnr"] for r in rows
            )
    return {"images": len(rows), "mean": summary, "per_image": rows}


def run(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "benchmark": "keyframes",
        "program": program_version(),
        "model": model_facts(args.model),
        "machine": machine(),
        "options": {
            "quick": args.quick,
            "shot_frames": args.shot_frames,
            "keyframe_palette_strength": args.strength,
            "render_size": DEFAULT_RENDER_SIZE,
        },
        "anchors": ANCHORS,
    }
    if not args.skip_clips:
        startup = startup_seconds(work, args.model, [])
        report["options"]["startup_seconds"] = round(startup, 2)
        names = QUICK_CLIPS if args.quick else tuple(c.name for c in CLIPS)
        report["clips"] = [measure_clip(c, args, startup) for c in CLIPS if c.name in names]
        report["clips_mean"] = clips_mean(report["clips"])
    if not args.skip_hints:
        colorizer = Colorizer.load(args.model and Path(args.model), "cpu", "fp32")
        report["hints"] = {}
        for list_file in args.list:
            files = list_files(Path(args.data), REPO / list_file)
            if files and not files[0].exists():  # photos_val.txt names files under photos/
                files = list_files(Path(args.data) / "photos", REPO / list_file)
            found = measure_hints(colorizer, files, args.photos_limit)
            report["hints"][Path(list_file).stem] = found
    return report


def clips_mean(rows: list[dict]) -> dict:
    def mean(path: tuple[str, ...]) -> float:
        values = []
        for r in rows:
            v = r
            for key in path:
                v = v[key]
            values.append(v)
        return round(float(np.mean(values)), 3)

    out = {
        "truth": {"warp_error": mean(("truth", "warp_error"))},
        "automatic": {k: mean(("automatic", k)) for k in ("psnr", "ssim", "warp_error")},
        "keyframes": {k: mean(("keyframes", k)) for k in ("psnr", "ssim", "warp_error")},
        "palette": {
            s: {k: mean(("palette", s, k)) for k in ("psnr", "ssim")} for s in map(str, STRENGTHS)
        },
    }
    out["keyframes"]["psnr_gain"] = round(out["keyframes"]["psnr"] - out["automatic"]["psnr"], 3)
    out["keyframes"]["fps_ratio_estimate"] = mean(("keyframes", "fps_ratio_estimate"))
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--quick", action="store_true", help="2 clips of 2 shots")
    parser.add_argument("--model", help=".safetensors checkpoint [default: the shipped model]")
    parser.add_argument("--shot-frames", type=int, default=24, help="frames per shot")
    parser.add_argument(
        "--strength", type=float, default=1.0, help="palette strength of the keyframes' fill"
    )
    parser.add_argument("--list", action="append", default=None, help="photo lists for hints")
    parser.add_argument("--photos-limit", type=int, default=None, help="first N photos per list")
    parser.add_argument("--skip-clips", action="store_true")
    parser.add_argument("--skip-hints", action="store_true")
    parser.add_argument("--work", default=str(REPO / "out" / "keyframes"))
    parser.add_argument("--pictures", default=str(REPO / "out" / "keyframes"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "keyframes.json"))
    args = parser.parse_args(argv)
    args.list = args.list or ["train/lists/photos_val.txt"]
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    report = run(args)
    text = json.dumps(report, indent=1)
    Path(args.out).write_text(text + "\n")
    print(
        json.dumps({k: v for k, v in report.items() if k not in ("clips",)} | {}, indent=1)[:4000]
    )
    return report


if __name__ == "__main__":
    main()
