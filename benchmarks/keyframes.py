"""Colour where the user says (issue 22): keyframes, a reference's palette, hints; prints JSON.

    python benchmarks/keyframes.py [DATA] [--quick] [--model M] [--photos-limit N]
        [--list train/lists/photos_val.txt ...] [--out benchmarks/keyframes.json]

1. **Clips** (``benchmarks/flicker.py``'s moving colour clips, generated the same way, seeded).
   Each clip's gray film is the truth's BT.601 luma Y' (8-bit gray, FFV1), so that the truth's
   own frames are valid keyframes (``colorize`` checks a keyframe's Y' against the film's).
   The real program colours it (``filmcolor colorize --codec ffv1``, a shot list with the known
   cuts) several ways:

   - *automatic*: default options;
   - *style_S*: each shot's ``style`` cell is the truth's first frame of that shot (another
     frame of the same shot), at ``--style-strength S``; ``style_0.0`` is ``--style`` as it was
     (the reference's global vector only), the others add its palette (:mod:`filmcolor.palette`);
   - *keyframes*: ``--keyframes`` with the truth's middle frame of every shot.

   Measured against the truth on every frame: PSNR, SSIM (``benchmarks/quality.py``'s), the
   warping error (``benchmarks/flicker.py``'s, flow from the gray original), colourfulness, and
   frames/s of the whole child process less its start-up (a two-frame film); ``fps_ratio`` is
   keyframes / automatic, measured in the same run: the two alternate ``--repeats`` times and
   the fastest run of each counts.
2. **Hints on stills**: on the validation photos, N random 7x7 patches of the truth's colour per
   image (N = 5, 20, 50; seeded by the file name) painted on its gray input and passed as the
   hints of ``filmcolor frames --hints`` (:func:`filmcolor.stills.colorize_image`): PSNR and hue
   agreement (``benchmarks/quality.py``'s) beside automatic.
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
from filmcolor.config import DEFAULT_RENDER_SIZE, DEFAULT_STYLE_STRENGTH  # noqa: E402
from filmcolor.keyframes import keyframe_name  # noqa: E402
from filmcolor.stills import colorize_image  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
HINT_COUNTS = (5, 20, 50)
PATCH = 7
ANCHORS = {
    "ColorMNet (Yang et al. 2024)": "35.8 dB PSNR on DAVIS with the truth's first frame as "
    "reference (GPU, learned memory)",
    "Zhang et al. 2017 (user-guided)": "several dB over automatic with ten points",
}


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


def write_shot_list(path: Path, cuts: list[int], n: int, styles: dict[int, str]) -> None:
    """A shot list with a style cell per shot (shot index -> reference path)."""
    bounds = [0, *cuts, n]
    rows = ["start_frame,style"]
    rows += [f"{a},{styles.get(k, '')}" for k, a in enumerate(bounds[:-1])]
    path.write_text("\n".join(rows) + "\n")


def measure_clip(clip, args: argparse.Namespace, startup: float) -> dict:
    shots_n = 2 if args.quick else len(clip.shots)
    truth, cuts = render_clip(clip, Path(args.data) / "photos", shots_n, args.shot_frames)
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in truth])  # BT.601 Y'
    n = len(truth)
    bounds = [0, *cuts, n]
    shots = [range(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]
    work = Path(args.work) / clip.name
    work.mkdir(parents=True, exist_ok=True)
    src = work / "film.mkv"
    write_gray(src, gray)
    refs, keys = work / "refs", work / "keys"
    refs.mkdir(exist_ok=True)
    keys.mkdir(exist_ok=True)
    for k, shot in enumerate(shots):  # a same-shot reference, and the middle frame as keyframe
        cv2.imwrite(str(refs / f"shot{k + 1}_first.png"), truth[shot.start][..., ::-1])
        middle = shot.start + len(shot) // 2
        cv2.imwrite(str(keys / keyframe_name(k, middle)), truth[middle][..., ::-1])
    styled = work / "styled.csv"
    write_shot_list(styled, cuts, n, {k: f"refs/shot{k + 1}_first.png" for k in range(len(shots))})
    plain_list = work / "shots.csv"
    write_shot_list(plain_list, cuts, n, {})
    motion = Motion.of(gray, cuts)
    row = {"clip": clip.name, "frames": n, "shots": len(shots)}
    row["truth"] = {"warp_error": round(warp_error(lab_of(truth)[..., 1:], motion), 3)}
    row["truth"]["colourfulness"] = round(mean_colourfulness(truth), 2)
    variants = {
        "automatic": ["--shots", plain_list],
        "keyframes": ["--shots", plain_list, "--keyframes", keys],
        **{
            f"style_{s}": ["--shots", styled, "--style-strength", str(s)]
            for s in (0.0, *args.strengths)
        },
    }
    # automatic and keyframes alternate --repeats times (the fastest of each counts: the load of
    # a shared machine comes and goes); the style variants run once.
    order = ["automatic", "keyframes"] * args.repeats + [
        v for v in variants if v.startswith("style")
    ]
    seconds: dict[str, float] = {}
    for name in order:
        took, _ = colorize(src, work / f"{name}.mkv", args.model, [str(a) for a in variants[name]])
        seconds[name] = min(took, seconds.get(name, took))
    films = {}
    for name in variants:
        films[name] = read_rgb(work / f"{name}.mkv")
        fps = n / max(seconds[name] - startup, 1e-3)
        row[name] = film_scores(films[name], truth, motion) | {"fps_after_startup": round(fps, 1)}
    row["keyframes"]["fps_ratio"] = round(
        row["keyframes"]["fps_after_startup"] / row["automatic"]["fps_after_startup"], 3
    )
    if args.pictures:
        first = shots[0]
        strip = [
            np.concatenate(
                [
                    gray[t][..., None].repeat(3, 2),
                    films["automatic"][t],
                    films["keyframes"][t],
                    truth[t],
                ],
                1,
            )  # fmt: skip
            for t in (first.start, first.start + len(first) // 2, first.stop - 1)
        ]
        out = Path(args.pictures) / f"keyframes_{clip.name}.jpg"
        out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out), np.concatenate(strip, 0)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
        row["strip"] = str(out)
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
            "style_strength_default": DEFAULT_STYLE_STRENGTH,
            "render_size": DEFAULT_RENDER_SIZE,
            "repeats": args.repeats,
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
    """Means over the clips of the headline figures of each variant."""
    names = [k for k in rows[0] if isinstance(rows[0][k], dict) and "psnr" in rows[0][k]]
    keys = ("psnr", "psnr_min_frame", "ssim", "warp_error", "colourfulness", "fps_after_startup")
    out = {
        name: {k: round(float(np.mean([r[name][k] for r in rows])), 3) for k in keys}
        for name in names
    }
    out["truth"] = {
        "warp_error": round(float(np.mean([r["truth"]["warp_error"] for r in rows])), 3)
    }
    out["keyframes"]["psnr_gain"] = round(out["keyframes"]["psnr"] - out["automatic"]["psnr"], 3)
    out["keyframes"]["fps_ratio"] = round(
        float(np.mean([r["keyframes"]["fps_ratio"] for r in rows])), 3
    )
    out["keyframes"]["clips_below_automatic"] = sum(
        r["keyframes"]["psnr"] < r["automatic"]["psnr"] for r in rows
    )
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--quick", action="store_true", help="2 clips of 2 shots")
    parser.add_argument("--model", help=".safetensors checkpoint [default: the shipped model]")
    parser.add_argument("--shot-frames", type=int, default=24, help="frames per shot")
    parser.add_argument(
        "--strengths",
        default=str(DEFAULT_STYLE_STRENGTH),
        help="--style-strength values to run besides 0, comma-separated (e.g. 0.25,0.5,0.75,1)",
    )
    parser.add_argument(
        "--repeats", type=int, default=2, help="automatic/keyframes runs alternated for fps_ratio"
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
    args.strengths = [float(x) for x in args.strengths.split(",") if x]
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
