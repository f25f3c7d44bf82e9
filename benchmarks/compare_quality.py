"""Two models' quality reports side by side, with how sure each difference is; prints JSON.

``quality.py`` gives each list's means; on lists of 31 to 182 images a difference of a few
hundredths of a dB or of hue agreement is within what another draw of the same kind of images
would change. This pairs the images of two reports (same list, same file and frame), and for
each list and measure gives both models' figures, the difference (candidate minus base) and a
95% interval for it from a paired bootstrap over the images: the images are resampled with
replacement, each draw keeping an image's two scores together. It also gives the interval of
the candidate's own figure, to read against a target ("nature hue at least 0.70").

    python benchmarks/compare_quality.py benchmarks/quality_default_scenes.json \
        benchmarks/quality_v3p_candidate_scenes.json

Measures: ``psnr`` and ``hue_agreement`` (means over the images; hue over the images both
models have a colourful cell in), ``colourfulness_share`` (the model's mean colourfulness over
the truth's, as quality.py prints it). All three read as the targets do, higher is better:
``p_candidate_not_worse`` is the share of draws in which the candidate's figure is at least
the base's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def load_lists(path: Path) -> dict[str, list[dict]]:
    """A quality.py report's per-image rows, by list name (one list: its file's stem)."""
    try:
        report = json.loads(path.read_text())
        lists = report.get("lists") or {Path(report.get("list") or path.stem).stem: report}
        return {name: section["per_image"] for name, section in lists.items()}
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as e:
        sys.exit(f"error: {path} is not a report of benchmarks/quality.py ({e})")


def pair_rows(base: list[dict], cand: list[dict]) -> list[tuple[dict, dict]]:
    """The rows of the images both reports measured, matched by file and frame."""
    by_key = {(r["file"], r["frame"]): r for r in cand}
    return [(r, by_key[k]) for r in base if (k := (r["file"], r["frame"])) in by_key]


def interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap draws."""
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def columns(pairs: list[tuple[dict, dict]]) -> dict[str, tuple[np.ndarray, ...]]:
    """Per measure, the base's and the candidate's per-image values, and for a share the
    truth's (the denominator). Hue agreement keeps the images both models score."""

    def column(rows: list[tuple[dict, dict]], side: int, key: str, of: str = "model"):
        return np.array([r[side][of][key] for r in rows], dtype=np.float64)

    hued = [
        p
        for p in pairs
        if None not in (p[0]["model"]["hue_agreement"], p[1]["model"]["hue_agreement"])
    ]
    return {
        "psnr": (column(pairs, 0, "psnr"), column(pairs, 1, "psnr")),
        "colourfulness_share": (
            column(pairs, 0, "colourfulness"),
            column(pairs, 1, "colourfulness"),
            column(pairs, 0, "colourfulness", of="truth"),
        ),
        "hue_agreement": (column(hued, 0, "hue_agreement"), column(hued, 1, "hue_agreement")),
    }


def statistic(
    values: np.ndarray, denominator: np.ndarray | None, idx: np.ndarray | slice = slice(None)
) -> np.ndarray:
    """The mean of ``values`` over the images ``idx`` (rows of draws), or for a share its
    ratio to the mean of ``denominator`` over the same images."""
    mean = values[idx].mean(axis=-1)
    return mean if denominator is None else mean / denominator[idx].mean(axis=-1)


def compare(pairs: list[tuple[dict, dict]], draws: int = 10_000, seed: int = 0) -> dict[str, dict]:
    """Both models' figures, the difference and the bootstrap intervals, per measure."""
    rng = np.random.default_rng(seed)
    result = {}
    for name, (base, cand, *truth) in columns(pairs).items():
        n = len(base)
        if n == 0:
            continue
        denominator = truth[0] if truth else None
        idx = rng.integers(0, n, size=(draws, n))  # the same draws for both models: paired
        b, c = statistic(base, denominator, idx), statistic(cand, denominator, idx)
        whole = statistic(base, denominator), statistic(cand, denominator)
        result[name] = {
            "base": round(float(whole[0]), 4),
            "candidate": round(float(whole[1]), 4),
            "difference": round(float(whole[1] - whole[0]), 4),
            "difference_95": [round(v, 4) for v in interval(c - b)],
            "candidate_95": [round(v, 4) for v in interval(c)],
            "p_candidate_not_worse": round(float(np.mean(c >= b)), 4),
            "images": n,
        }
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="quality.json of the model to compare against")
    parser.add_argument("candidate", type=Path, help="quality.json of the candidate")
    parser.add_argument("--draws", type=int, default=10_000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Compare the lists the two reports share; print the JSON and a table on stderr."""
    args = parse_args(argv)
    base, cand = load_lists(args.base), load_lists(args.candidate)
    shared = [name for name in base if name in cand]
    if not shared:
        sys.exit(f"error: {args.base} and {args.candidate} measured no list in common")
    report = {"base": str(args.base), "candidate": str(args.candidate), "lists": {}}
    for name in shared:
        pairs = pair_rows(base[name], cand[name])
        if len(pairs) < max(len(base[name]), len(cand[name])):
            print(
                f"{name}: {len(pairs)} images in both reports, of {len(base[name])} and "
                f"{len(cand[name])}; comparing those",
                file=sys.stderr,
            )
        report["lists"][name] = compare(pairs, args.draws, args.seed)
        for measure, r in report["lists"][name].items():
            lo, hi = r["difference_95"]
            clo, chi = r["candidate_95"]
            print(
                f"{name:12s} {measure:20s} {r['base']:8.3f} -> {r['candidate']:8.3f} "
                f"({clo:.3f} to {chi:.3f})  difference {r['difference']:+.3f} "
                f"({lo:+.3f} to {hi:+.3f}), not worse in {r['p_candidate_not_worse']:.0%} "
                f"of draws, {r['images']} images",
                file=sys.stderr,
            )
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
