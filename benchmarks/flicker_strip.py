"""A before/after strip of ``benchmarks/flicker.py`` runs: aged gray | before | after | truth.

    python benchmarks/flicker_strip.py BEFORE_WORK AFTER_WORK [--clip moving_objects]
        [--frames 5] [--scale 0.5] [--out benchmarks/flicker_strip.png]

BEFORE_WORK and AFTER_WORK are the ``--work`` folders of two full runs of flicker.py (same
clips and seeds; say ``--extra "--temporal 0"`` or the program before ``--temporal``, and the
default). The window shown is the one, within a shot, where the aged film's colour jumps most
in the *before* run; the truth is rendered again from the photos.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/flicker.py

import flicker as fl  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("data", nargs="?", default=str(fl.REPO.parent / "shared" / "data"))
    parser.add_argument("--clip", default="moving_objects")
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=fl.REPO / "benchmarks" / "flicker_strip.png")
    args = parser.parse_args()
    clip = next(c for c in fl.CLIPS if c.name == args.clip)
    truth, cuts = fl.render_clip(clip, Path(args.data) / "photos", len(clip.shots), 28)
    aged = fl.read_rgb(args.before / f"{clip.name}_aged.mkv")
    before = fl.read_rgb(args.before / f"{clip.name}_aged_color.mkv")
    after = fl.read_rgb(args.after / f"{clip.name}_aged_color.mkv")
    pairs = fl.shot_pairs(len(truth), cuts)
    jumps = fl.jumps_per_pair(before, pairs)
    w, h = round(fl.W * args.scale), round(fl.H * args.scale)

    def small(frames: np.ndarray) -> np.ndarray:
        return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])

    rows = {
        "aged gray input": small(aged),
        "before": small(before),
        "after": small(after),
        "truth": small(truth),
    }
    best = fl.strip_candidate(clip.name, args.frames, pairs, jumps, rows)
    fl.W, fl.H = w, h  # strip_image lays out cells of this size
    image = fl.strip_image(best)
    cv2.imwrite(str(args.out), image[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"{args.out}: {best.title}, {args.out.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
