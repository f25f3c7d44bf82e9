"""What ``--temporal`` costs: ``filmcolor colorize`` at 640x480 with and without it; JSON.

    python benchmarks/temporal_speed.py [--frames 600] [--repeats 3] [--strength 0.8]
        [--baseline REV] [--out benchmarks/temporal_speed.json]

The clip is ``benchmarks/speed.py``'s (gray 640x480 x264, a cut every 120 frames). Each round
runs the CLI in a child process, back to back: with the default settings (``--temporal`` at
``--strength``), with ``--temporal 0``, and, with ``--baseline``, the default settings of a
``git worktree`` of that commit (the program before ``--temporal``). Alternating rounds let a
busy machine slow every variant alike. Each run records its wall time and the CPU time of the
child (user + system, ``os.wait4``); frames/s is frames / wall time, start-up included.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/speed.py

from speed import CLI_CHILD, machine, report_json, worktree, write_film  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def timed(args: list[str], env: dict) -> dict:
    """One ``filmcolor`` run in a child: wall and CPU seconds, and which filmcolor it ran."""
    t0 = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", CLI_CHILD, *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        cwd=tempfile.gettempdir(),  # not this checkout: `-c` puts the working folder first
    )  # fmt: skip
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"colorize failed: {stderr[-800:]}")
    where = next(ln for ln in stderr.splitlines() if ln.startswith("filmcolor from"))
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "filmcolor": where.split()[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of back-to-back runs")
    parser.add_argument("--strength", type=float, default=None, help="[default: the default]")
    parser.add_argument("--baseline", help="also run this commit (a git worktree of it)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="fc_temporal_speed_"))
    clip = write_film(folder / "film.mp4", args.frames)
    cores = os.cpu_count() or 1
    env = {**os.environ, "OMP_NUM_THREADS": str(cores)}
    common = ["colorize", str(clip), "--overwrite"]
    on = ["--temporal", str(args.strength)] if args.strength is not None else []
    variants = {
        "temporal_default": (common + on + ["-o", str(folder / "on.mp4")], env),
        "temporal_0": (common + ["--temporal", "0", "-o", str(folder / "off.mp4")], env),
    }
    tree = None
    if args.baseline:
        tree = worktree(args.baseline, folder)
        base_env = {**env, "PYTHONPATH": str(tree)}
        variants["baseline"] = (common + ["-o", str(folder / "base.mp4")], base_env)
    runs: dict[str, list[dict]] = {k: [] for k in variants}
    try:
        for _ in range(args.repeats):
            for name, (cmd, run_env) in variants.items():
                runs[name].append(timed(cmd, run_env))
                print(json.dumps({name: runs[name][-1]}), file=sys.stderr, flush=True)
    finally:
        if tree is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO)
    n = args.frames
    summary = {}
    for name, rs in runs.items():
        best = min(r["wall_s"] for r in rs)
        summary[name] = {
            "frames_per_s_best": round(n / best, 2),
            "frames_per_s_median": round(n / sorted(r["wall_s"] for r in rs)[len(rs) // 2], 2),
            "cpu_s_median": sorted(r["cpu_s"] for r in rs)[len(rs) // 2],
            "cpu_ms_per_frame_median": round(
                1000 * sorted(r["cpu_s"] for r in rs)[len(rs) // 2] / n, 1
            ),
        }
    report = {
        "benchmark": "temporal_speed",
        "clip": f"640x480, {n} frames, 25 fps, x264, a cut every 120 frames",
        "baseline": args.baseline,
        "runs": runs,
        "summary": summary,
        "machine": {**machine(), "load_average": [round(x, 2) for x in os.getloadavg()]},
    }
    report_json(report, args.out)


if __name__ == "__main__":
    main()
