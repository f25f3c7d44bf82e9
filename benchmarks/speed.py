"""Speed of every stage of ``filmcolor colorize`` on this machine, against the CPU's limit; JSON.

    python benchmarks/speed.py [--frames 600] [--rss-frames 300 3000] [--out speed.json]

One run measures:

- ``matmul_peak_gflops``: torch 2048x2048 matmul, fp32 and bf16: the practical peak.
- ``network``: frames/s of what pass 2 runs per batch (shrink L to the render size, the local
  path with a given global vector, a*b* decoded at the render size) for ``compact`` and
  ``paper`` at 640x480 and at the default render size, fp32 and bf16; FLOPs per frame
  (torch.utils.flop_counter: with the global path, as :func:`filmcolor.profile.flops_per_frame`
  counts it, and without it, as pass 2 runs it) and the share of the matmul peak reached.
- ``levers``: the same measurement with one thing changed at a time (layout, batch size, the
  global path per frame, the bins decoding, the colour conversion, torch.compile).
- ``stages``: decode-only, encode-only (per x264 preset) and full ``colorize`` frames/s on a
  generated 640x480 clip, and the sum decode + network + encode that bounds the full run.
- ``memory``: peak RSS of ``filmcolor colorize`` (a child process, ``os.wait4``) for short and
  long clips.
- ``segments`` (``--segments``): full ``colorize`` written in segments against the commit
  before segments came in (a ``git worktree`` of it), run back to back on the same clip; with
  ``--torchrun``, 2 processes against 1 with the same total threads.
- ``profile`` (``--profile``, only): one full ``colorize`` of a generated ``--frames`` clip with
  pass 2's :class:`filmcolor.pass2.StageClock` on: wall and CPU ms per frame of every step of
  the decode, network and encode threads (the encode thread also runs temporal, style and
  keyframes), each thread's idle time (waits on its queues) and what no step accounts for.
- ``targets``: each speed target (network >= 70% of the bf16 peak, colorize within 10% of the
  stage sum and >= 12 frames/s at 640x480, peak RSS flat in the film's length), met or not,
  with the numbers it rests on.

The model is the shipped default when it exists, else a randomly initialised ``compact`` model
with ``--color-head`` (speed does not depend on the weights).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from filmcolor.color import OutputFormat, lab_to_chroma, rgb_to_chroma
from filmcolor.colorizer import Colorizer
from filmcolor.config import DEFAULT_RENDER_SIZE
from filmcolor.device import bf16_supported
from filmcolor.models import ColorizationNet, ModelConfig, preset
from filmcolor.models.bins import bin_centres
from filmcolor.models.color import lab_to_rgb
from filmcolor.pipeline import ColorizeConfig, colorize_video
from filmcolor.profile import flops_per_frame, matmul_peak
from filmcolor.video.decode import decode_video, luma_plane
from filmcolor.video.probe import probe
from filmcolor.video.writer import VideoWriter, make_frame
from filmcolor.weights import default_model_path, read_metadata, save_model

REPO = Path(__file__).resolve().parent.parent
W, H = 640, 480
CPU = torch.device("cpu")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
X264_PRESETS = ("medium", "fast", "faster", "veryfast")


# The machine.


def machine() -> dict:
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    with contextlib.suppress(OSError):
        text = Path("/proc/cpuinfo").read_text()
        names = [ln.split(":", 1)[1].strip() for ln in text.splitlines() if "model name" in ln]
        flags = next((ln for ln in text.splitlines() if ln.startswith("flags")), "").split()
        info["cpu"] = names[0] if names else info["cpu"]
        info["simd"] = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        **info,
        "gpu": torch.cuda.is_available(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "pyav": av.__version__,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
    }


# The network.


def bench_model(color_head: str, folder: Path) -> tuple[Path, ModelConfig, str]:
    """The shipped default model, or a random compact one saved in ``folder``."""
    default = default_model_path()
    if default.exists():
        cfg = ModelConfig.from_dict(read_metadata(default)["config"])
        return default, cfg, "shipped default"
    torch.manual_seed(0)
    cfg = preset("compact", num_classes=0, color_head=color_head)
    path = save_model(folder / "compact.safetensors", ColorizationNet(cfg))
    return path, cfg, f"random compact, color_head={color_head} (no shipped default yet)"


def local_flops(model: ColorizationNet, height: int, width: int) -> int:
    """FLOPs of the local path for one frame (the global vector given), as pass 2 runs it."""
    l = torch.zeros(1, 1, height, width, device="meta")
    g = torch.zeros(1, model.global_dim, device="meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.colorize(l, g)
    return counter.get_total_flops()


def render_shape(render_size: int) -> tuple[int, int]:
    """The (h, w) the network sees for a 640x480 frame (as :meth:`Colorizer.shrink`)."""
    c = Colorizer.__new__(Colorizer)
    c.render_size = render_size
    return tuple(c.shrink(torch.zeros(1, 1, H, W)).shape[-2:])


def timed(fn: Callable[[], object], seconds: float, min_runs: int = 2) -> float:
    """Seconds per call of ``fn`` after one warm-up call (oneDNN picks its kernels)."""
    fn()
    runs, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds or runs < min_runs:
        fn()
        runs += 1
    return elapsed / runs


class _NCHW(Colorizer):
    """A colorizer that keeps the default (NCHW) memory layout, for comparison."""

    def __init__(self, model, device, dtype, render_size):
        super().__init__(model, device, dtype, render_size)
        self.model = self.model.to(memory_format=torch.contiguous_format)

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device).contiguous()


def network_fps(
    model: ColorizationNet,
    dtype: torch.dtype,
    render_size: int,
    batch: int,
    seconds: float,
    layout: str = "channels_last",
    fold: bool = True,
) -> float:
    """Frames/s of pass 2's per-batch work on 640x480 frames: shrink, network, a*b*."""
    c = (
        Colorizer(model, CPU, dtype, render_size, fold)
        if layout == "channels_last"
        else _NCHW(model, CPU, dtype, render_size)
    )
    l = torch.rand(batch, 1, H, W)
    g = torch.randn(1, model.global_dim)
    dt = timed(lambda: c.ab(c.shrink(l), g), seconds)
    model.to(memory_format=torch.channels_last)
    return batch / dt


def network_grid(cfg: ModelConfig, peaks: dict, args) -> dict:
    rows = {}
    for name in ("compact", "paper"):
        pcfg = preset(name, num_classes=0, color_head=cfg.color_head)
        torch.manual_seed(0)
        model = ColorizationNet(pcfg).eval()
        with torch.device("meta"):
            meta = ColorizationNet(pcfg).eval()
        for render in (0, DEFAULT_RENDER_SIZE):
            h, w = render_shape(render)
            full = flops_per_frame(meta, h, w)
            run = local_flops(meta, h, w)
            batch = args.batch if render else max(1, args.batch // 4)
            for key in peaks:
                fps = network_fps(model, DTYPES[key], render, batch, args.seconds)
                label = f"{name}/{'640x480' if not render else f'render{render}'}/{key}"
                rows[label] = {
                    "network_input": f"{w}x{h}",
                    "batch": batch,
                    "frames_per_s": round(fps, 2),
                    "gflops_per_frame": round(full / 1e9, 2),
                    "gflops_per_frame_run": round(run / 1e9, 2),
                    "gflops_per_s": round(fps * run / 1e9, 1),
                    "share_of_peak": round(fps * run / peaks[key], 3),
                    "share_of_bf16_peak": round(fps * run / peaks.get("bf16", peaks[key]), 3),
                }
                print(json.dumps({label: rows[label]}), file=sys.stderr, flush=True)
    return rows


def levers(cfg: ModelConfig, dtype_key: str, args) -> dict:
    """One change at a time, on the default model at the default render size."""
    torch.manual_seed(0)
    model = ColorizationNet(cfg).eval()
    dtype = DTYPES[dtype_key]
    out: dict = {"precision": dtype_key}
    r = DEFAULT_RENDER_SIZE
    out["layout_frames_per_s"] = {
        layout: round(network_fps(model, dtype, r, args.batch, args.seconds, layout), 2)
        for layout in ("nchw", "channels_last")
    }
    out["batchnorm_frames_per_s"] = {
        name: round(network_fps(model, dtype, r, args.batch, args.seconds, fold=fold), 2)
        for name, fold in (("separate", False), ("folded", True))
    }
    out["profile"] = profile(model, dtype, args.batch)
    out["batch_frames_per_s"] = {
        str(b): round(network_fps(model, dtype, r, b, args.seconds), 2) for b in (1, 2, 4, 8, 16)
    }
    print(json.dumps(out), file=sys.stderr, flush=True)

    # The global path: once per shot (pass 1, from a few keyframes) instead of once per frame.
    c = Colorizer(model, CPU, dtype, r)
    l224 = torch.rand(args.batch, 1, 224, 224)
    per_frame = timed(lambda: c.global_vector(l224), args.seconds) / args.batch
    fps = out["batch_frames_per_s"][str(args.batch)]
    out["global_path"] = {
        "ms_per_frame": round(per_frame * 1e3, 2),
        "frames_per_s_if_run_per_frame": round(1 / (1 / fps + per_frame), 2),
        "frames_per_s_once_per_shot": fps,
    }

    # The render size: the network at 640x480 instead of 256 px, colour upsampled.
    out["render_size_frames_per_s"] = {
        str(s): round(network_fps(model, dtype, s, args.batch, args.seconds), 2)
        for s in (0, 224, DEFAULT_RENDER_SIZE, 320)
    }

    # Bins head: the annealed mean over 313 logits, old (NCHW einsum) and new (bins last).
    if cfg.color_head == "bins":
        h, w = (s // 2 for s in render_shape(r))
        h, w = (h + 3) // 4 * 4, (w + 3) // 4 * 4  # the padded head size
        logits = torch.randn(args.batch, 313, h, w).to(dtype)
        centres = bin_centres()

        def einsum() -> torch.Tensor:
            p = torch.softmax(logits.float() / 0.38, dim=1)
            return torch.einsum("bqhw,qc->bchw", p, centres)

        from filmcolor.models.bins import annealed_mean

        last = logits.contiguous(memory_format=torch.channels_last)

        def whole() -> torch.Tensor:
            p = torch.softmax(last.movedim(1, -1).float() / 0.38, dim=-1)
            return (p @ centres).movedim(-1, 1)

        def ms(fn: Callable[[], object]) -> float:
            return round(timed(fn, args.seconds) / args.batch * 1e3, 2)

        out["bins_decode_ms_per_frame"] = {
            "nchw_einsum": ms(einsum),
            "bins_last_whole_tensor": ms(whole),
            "bins_last_blocks": ms(lambda: annealed_mean(last, centres)),
        }

    # Colour conversion: L* + a*b* -> Cb, Cr at 640x480, 4:2:0.
    fmt = OutputFormat("libx264", "yuv420p", 8, True, False, 6)
    hr, wr = render_shape(r)
    lightness = torch.rand(args.batch, 1, H, W) * 100
    ab = torch.randn(args.batch, 2, hr, wr) * 30

    def torch_path() -> None:
        up = torch.nn.functional.interpolate(ab, size=(H, W), mode="bilinear")
        cb, cr = rgb_to_chroma(lab_to_rgb(torch.cat((lightness, up), 1)), fmt)
        cb.numpy().astype(np.uint8), cr.numpy().astype(np.uint8)

    ln = lightness[:, 0].numpy()
    abn = np.ascontiguousarray(ab.permute(0, 2, 3, 1).numpy())

    def cv2_path() -> None:
        for i in range(args.batch):
            lab_to_chroma(ln[i], abn[i], fmt)

    out["chroma_ms_per_frame"] = {
        "torch_batch_main_thread": round(timed(torch_path, args.seconds) / args.batch * 1e3, 2),
        "opencv_per_frame": round(timed(cv2_path, args.seconds) / args.batch * 1e3, 2),
    }
    print(json.dumps(out), file=sys.stderr, flush=True)
    return out


def profile(model: ColorizationNet, dtype: torch.dtype, batch: int) -> dict:
    """Where one batch's time goes (torch.profiler, self time per op), and how close the
    convolutions alone come to the matmul peak."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    c = Colorizer(model, CPU, dtype, DEFAULT_RENDER_SIZE)
    l = c.shrink(torch.rand(batch, 1, H, W))
    g = torch.randn(1, model.global_dim)
    c.ab(l, g)
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        c.ab(l, g)
        wall = time.perf_counter() - t0
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in ops) / 1e6
    conv = sum(e.self_cpu_time_total for e in ops if "convolution" in e.key) / 1e6
    with torch.device("meta"):
        meta = ColorizationNet(model.cfg).eval()
    flops = local_flops(meta, *l.shape[-2:]) * batch
    return {
        "wall_s": round(wall, 3),
        "self_time_share": {e.key: round(e.self_cpu_time_total / 1e6 / total, 3) for e in ops[:8]},
        "convolution_gflops_per_s": round(flops / conv / 1e9, 1),
    }


def compiled(model: ColorizationNet, dtype: torch.dtype, args) -> dict:
    """torch.compile (inductor, frozen weights: oneDNN conv fusion) of the local path."""
    import torch._inductor.config as inductor

    inductor.freezing = True
    c = Colorizer(model, CPU, dtype, DEFAULT_RENDER_SIZE)
    l = c.shrink(torch.rand(args.batch, 1, H, W)).contiguous(memory_format=torch.channels_last)
    g = torch.randn(1, model.global_dim)
    fn = torch.compile(model.colorize)

    def run() -> torch.Tensor:
        with torch.no_grad(), torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            return fn(l, g)

    t0 = time.perf_counter()
    try:
        run()
    except Exception as e:  # report why it does not work here, measure the rest
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}
    compile_s = time.perf_counter() - t0
    fps = args.batch / timed(run, args.seconds)
    eager = network_fps(model, dtype, DEFAULT_RENDER_SIZE, args.batch, args.seconds)
    return {
        "compile_s": round(compile_s, 1),
        "frames_per_s": round(fps, 2),
        "eager_frames_per_s": round(eager, 2),
    }


# The clip.


def film_frames(n: int, seed: int = 0, shot: int = 120):
    """(H, W) uint8 limited-range luma frames: a new pattern every ``shot`` frames, slow
    motion within a shot, and film grain."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    patterns = [
        40 + 140 * (xx / W),
        np.where(((xx // 40 + yy // 40) % 2) > 0, 190.0, 70.0),
        120 + 60 * np.cos(np.hypot(xx - W / 2, yy - H / 2) / 18),
        60 + 120 * (yy / H) * (0.5 + 0.5 * np.sin(xx / 50)),
    ]
    for i in range(n):
        base = patterns[(i // shot) % len(patterns)]
        moved = np.roll(base, (i % shot) * 2, axis=1)
        grain = rng.integers(-8, 9, (H, W), dtype=np.int16)
        yield np.clip(moved.astype(np.int16) + grain, 16, 235).astype(np.uint8)


def write_film(path: Path, n: int) -> Path:
    """A gray 640x480 25 fps x264 clip of ``n`` frames (4:2:0, neutral chroma)."""
    fmt = OutputFormat("libx264", "yuv420p", 8, True, False, 6)
    neutral = np.full((H // 2, W // 2), 128, np.uint8)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.codec_context.options = {"crf": "20", "preset": "veryfast"}
        for i, y in enumerate(film_frames(n)):
            frame = make_frame(y, neutral, neutral, fmt)
            frame.pts = i
            frame.time_base = Fraction(1, 25)
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    return path


def decode_fps(path: Path) -> float:
    n, t0 = 0, time.perf_counter()
    for frame in decode_video(path):
        luma_plane(frame)
        n += 1
    return n / (time.perf_counter() - t0)


def encode_speed(path: Path, folder: Path, preset_name: str | None) -> dict:
    """Frames/s of the writer alone (the clip's luma, chroma that follows it) and file size."""
    info = probe(path)
    fmt = OutputFormat("libx264", "yuv420p", 8, True, False, 6)
    frames = []
    for i, y in enumerate(film_frames(info.estimated_frames or 0)):
        c = y[::2, ::2]
        pts = round(i / (info.fps * info.time_base))
        frames.append((y, (c // 4 + 96).astype(np.uint8), (160 - c // 4).astype(np.uint8), pts))
    out = folder / f"encode_{preset_name}.mp4"
    t0 = time.perf_counter()
    with VideoWriter(out, info, fmt, (), None, preset_name) as writer:
        for y, cb, cr, pts in frames:
            writer.write_frame(make_frame(y, cb, cr, fmt), pts)
        writer.commit(overwrite=True)
    fps = len(frames) / (time.perf_counter() - t0)
    seconds = len(frames) / float(info.fps)
    return {"frames_per_s": round(fps, 1), "kbit_per_s": round(out.stat().st_size * 8e-3 / seconds)}


def colorize_run(path: Path, colorizer: Colorizer, folder: Path, **options) -> dict:
    """A full ``colorize`` (both passes) with a loaded model; seconds of each pass."""
    marks: dict[str, float] = {}

    def progress(p) -> None:
        marks[p.stage] = time.perf_counter()  # the last "shots" report ends pass 1

    cfg = ColorizeConfig(path, folder / "colour.mp4", overwrite=True, **options)
    t0 = time.perf_counter()
    result = colorize_video(cfg, on_progress=progress, colorizer=colorizer)
    total = time.perf_counter() - t0
    pass1 = marks.get("shots", t0) - t0
    return {
        "frames": result.frames,
        "seconds": round(total, 2),
        "frames_per_s": round(result.frames / total, 2),
        "pass1_seconds": round(pass1, 2),
        "pass2_frames_per_s": round(result.frames / (total - pass1), 2),
    }


def stages(model_path: Path, cfg: ModelConfig, net_fps: float, folder: Path, args) -> dict:
    clip = write_film(folder / f"film{args.frames}.mp4", args.frames)
    out: dict = {"clip": f"640x480, {args.frames} frames, 25 fps, x264, a cut every 120 frames"}
    out["decode_frames_per_s"] = round(decode_fps(clip), 1)
    default = ColorizeConfig(clip, clip).preset or "medium"
    out["x264_preset_default"] = default
    out["encode"] = {p: encode_speed(clip, folder, p) for p in X264_PRESETS}
    print(json.dumps(out), file=sys.stderr, flush=True)
    colorizer = Colorizer.load(model_path)  # default device and precision
    full = colorize_run(clip, colorizer, folder)
    out["colorize"] = full
    n = args.frames
    encode = out["encode"][default]["frames_per_s"]
    parts = {
        "decode_s": n / out["decode_frames_per_s"],
        "network_s": n / net_fps,
        "encode_s": n / encode,
    }
    bound = sum(parts.values())
    out["bound"] = {
        **{k: round(v, 2) for k, v in parts.items()},
        "sum_s": round(bound, 2),
        "colorize_s": full["seconds"],
        "ratio": round(full["seconds"] / bound, 3),
    }
    print(json.dumps(out), file=sys.stderr, flush=True)
    if args.variants:
        short = write_film(folder / "variants.mp4", args.variants)
        out["variants"] = {"frames": args.variants, **variants(short, model_path, folder)}
    return out


def variants(clip: Path, model_path: Path, folder: Path) -> dict:
    """Full colorize with one setting changed: torch threads, x264 preset, batch size."""
    rows = {}
    tries: list[tuple[str, dict]] = [
        ("default", {}),
        ("torch_threads_1", {"threads": 1}),
        ("x264_medium", {"preset": "medium"}),
        ("x264_veryfast", {"preset": "veryfast"}),
        ("batch_4", {"batch_size": 4}),
        ("batch_16", {"batch_size": 16}),
    ]
    colorizer = Colorizer.load(model_path)
    for name, options in tries:
        rows[name] = colorize_run(clip, colorizer, folder, **options)["frames_per_s"]
        print(json.dumps({name: rows[name]}), file=sys.stderr, flush=True)
    return {"frames_per_s": rows}


def compare(paths: list[Path], folder: Path, args) -> dict:
    """Full ``colorize`` of one clip with each model in turn, ``--repeats`` rounds, so that two
    models are timed in the same run and the machine's drift falls on both alike."""
    clip = write_film(folder / f"compare{args.frames}.mp4", args.frames)
    rounds: dict[str, list[float]] = {str(p): [] for p in paths}
    for _ in range(args.repeats):
        for path in paths:
            fps = colorize_run(clip, Colorizer.load(path), folder)["frames_per_s"]
            rounds[str(path)].append(fps)
            print(json.dumps({str(path): fps}), file=sys.stderr, flush=True)
    out = {k: {"frames_per_s": v, "mean": round(float(np.mean(v)), 2)} for k, v in rounds.items()}
    first = out[str(paths[0])]["mean"]
    for v in out.values():
        v["vs_first"] = round(v["mean"] / first, 3)
    return out


def pass2_profile(folder: Path, args) -> dict:
    """A full ``colorize`` (default settings) with pass 2's stage clock on; ms per frame."""
    import filmcolor.pipeline as pipeline
    from filmcolor.pass2 import StageClock

    clip = write_film(folder / f"profile{args.frames}.mp4", args.frames)
    model_path, _, what = bench_model(args.color_head, folder)
    clock = StageClock()
    real = pipeline.run_pass2

    def with_clock(job, frames, writer):
        job.clock = clock
        return real(job, frames, writer)

    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout
    pipeline.run_pass2 = with_clock
    try:
        c0 = time.process_time()
        run = colorize_run(clip, Colorizer.load(model_path), folder)
        process_cpu = time.process_time() - c0
    finally:
        pipeline.run_pass2 = real
    n = run["frames"]
    threads: dict = {}
    for (thread, step), wall in clock.wall.items():
        row = threads.setdefault(thread, {"steps": {}})
        ms = {
            "wall_ms": round(wall / n * 1e3, 3),
            "cpu_ms": round(clock.cpu[thread, step] / n * 1e3, 3),
            "calls": clock.calls[thread, step],
        }
        if step == "total":
            row["total"] = ms
        elif step.startswith("idle"):
            row.setdefault("idle", {})[step] = ms
        else:
            row["steps"][step] = ms
    for row in threads.values():
        row["idle_wall_ms"] = round(sum(v["wall_ms"] for v in row.get("idle", {}).values()), 3)
        busy = sum(v["wall_ms"] for v in row["steps"].values())
        row["steps_wall_ms"] = round(busy, 3)
        if "total" in row:
            row["unaccounted_wall_ms"] = round(
                row["total"]["wall_ms"] - busy - row["idle_wall_ms"], 3
            )
    return {
        "clip": f"640x480, {n} frames, 25 fps, x264, a cut every 120 frames; default settings",
        "model": what,
        "load_at_start": uptime.strip(),
        "colorize": run,
        "pass2_wall_ms_per_frame": round((run["seconds"] - run["pass1_seconds"]) / n * 1e3, 2),
        "process_cpu_ms_per_frame": round(process_cpu / n * 1e3, 2),
        "threads": threads,
        "notes": (
            "ms per frame = the step's seconds over the run / frames; cpu_ms is "
            "time.thread_time of the thread that calls the step, so it leaves out torch's "
            "intra-op workers (network_ab) and x264's own threads (x264_write); idle = waiting "
            "on a queue (idle_get: nothing to do, idle_put: the next stage is full); "
            "unaccounted = the thread's total minus its steps and idle (batching, queue "
            "hand-offs, the clock itself); pass 1 is outside pass 2's threads"
        ),
    }


# Memory.


def peak_rss(clip: Path, model_path: Path, folder: Path) -> dict:
    """``filmcolor colorize`` with default settings in a child process: peak RSS and speed."""
    args = ["colorize", str(clip), "-o", str(folder / "rss.mp4"), "--overwrite"]
    if model_path != default_model_path():
        args += ["--model", str(model_path)]
    t0 = time.perf_counter()
    run = cli_run(args, dict(os.environ))
    seconds = time.perf_counter() - t0
    frames = probe(clip).estimated_frames
    return {
        "peak_rss_mb": round(run["peak_rss_mb"], 1),
        "seconds": round(seconds, 2),
        "frames_per_s_cli": round(frames / seconds, 2),
    }


def memory(model_path: Path, folder: Path, args) -> dict:
    out = {}
    for n in args.rss_frames:
        clip = write_film(folder / f"rss{n}.mp4", n)
        out[str(n)] = peak_rss(clip, model_path, folder)
        clip.unlink()
        print(json.dumps({n: out[str(n)]}), file=sys.stderr, flush=True)
    return out


# Segments: the resumable pipeline against the one it replaced, and torchrun.

# The CLI in a child, saying which filmcolor it imported (a worktree's, or this checkout's) and,
# on its way out, its peak RSS (VmHWM: the peak of the process image started by exec;
# getrusage(RUSAGE_CHILDREN) and os.wait4 would report at least this benchmark's own peak, as
# Linux carries ru_maxrss across fork and exec).
CLI_CHILD = """
import atexit, runpy, sys, filmcolor
def _rss():
    hwm = next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM"))
    print("peak_rss_kb", hwm.split()[1], file=sys.stderr)
atexit.register(_rss)
print("filmcolor from", filmcolor.__file__, file=sys.stderr)
sys.argv[0] = "filmcolor"
runpy.run_module("filmcolor.cli", run_name="__main__")
"""


def segments_baseline(rev: str | None) -> str:
    """The commit before segments came in (the parent of the one that added segments.py), or
    ``rev``; HEAD while segments are not committed yet."""
    if rev:
        return rev
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", "filmcolor/segments.py"],
        capture_output=True, text=True, check=False,
    ).stdout.split()  # fmt: skip
    return f"{added[-1]}^" if added else "HEAD"


def worktree(rev: str, folder: Path) -> Path:
    """A checkout of ``rev`` importable as ``filmcolor`` (models/ and train/ linked into the
    package as the editable install maps them)."""
    tree = folder / "baseline"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), rev], check=True, cwd=REPO)
    for sub in ("models", "train"):
        (tree / "filmcolor" / sub).symlink_to(tree / sub)
    return tree


def cli_run(args: list[str], env: dict) -> dict:
    """``filmcolor colorize`` in a child: the seconds it reports (model load, both passes, the
    join), its peak RSS and which filmcolor it ran."""
    child = subprocess.run(
        [sys.executable, "-c", CLI_CHILD, *args],
        capture_output=True, text=True, env=env, check=False,
        cwd=tempfile.gettempdir(),  # not this checkout: `-c` puts the working folder first
    )  # fmt: skip
    if child.returncode != 0:
        raise RuntimeError(f"colorize failed: {child.stderr[-800:]}")
    lines = child.stderr.splitlines()
    rss_kb = int(next(ln for ln in lines if ln.startswith("peak_rss_kb")).split()[1])
    return {
        "seconds": float(re.findall(r" in ([\d.]+) s", " ".join(child.stdout.split()))[-1]),
        "peak_rss_mb": rss_kb / 1024,
        "filmcolor": next(ln for ln in lines if ln.startswith("filmcolor from")).split()[-1],
    }


def segments(model_path: Path, folder: Path, args) -> dict:
    """The segmented pipeline (one process) against the commit before it, back to back on the
    same clip; then torchrun with 2 processes against 1 process with the same threads."""
    n = args.segment_clip
    clip = write_film(folder / f"segments{n}.mp4", n)  # a cut every 120 frames
    common = ["colorize", str(clip), "--overwrite"]
    # Stages added since the baseline are switched off, so that only segmenting differs.
    newer = [f.name for f in dataclasses.fields(ColorizeConfig) if f.name in ("temporal",)]
    off = [arg for name in newer for arg in (f"--{name}", "0")]  # options the baseline lacks
    if model_path != default_model_path():
        common += ["--model", str(model_path)]
    rev = segments_baseline(args.baseline)
    sha = subprocess.run(
        ["git", "rev-parse", "--short", rev], capture_output=True, text=True, check=True
    ).stdout.strip()
    tree = worktree(rev, folder)
    cores = os.cpu_count() or 1
    env = {**os.environ, "OMP_NUM_THREADS": str(cores)}
    base_env = {**env, "PYTHONPATH": str(tree)}
    runs: dict[str, list[float]] = {"segmented": [], "baseline": []}
    try:
        for _ in range(args.repeats):  # alternate, so slow phases of the machine hit both
            run = cli_run(
                common + off + ["-o", str(folder / "seg.mp4"), "--segment-frames", "120"], env
            )
            sec, where = run["seconds"], run["filmcolor"]
            assert str(tree) not in where
            runs["segmented"].append(sec)
            run = cli_run(common + ["-o", str(folder / "base.mp4")], base_env)
            sec, where = run["seconds"], run["filmcolor"]
            assert where.startswith(str(tree)), where
            runs["baseline"].append(sec)
            print(json.dumps({k: v[-1] for k, v in runs.items()}), file=sys.stderr, flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], check=False)
    best = {k: min(v) for k, v in runs.items()}
    out: dict = {
        "clip": f"640x480, {n} frames, x264, a cut every 120 frames",
        "baseline_commit": sha,
        "switched_off_since_baseline": newer,
        "segment_frames": 120,
        "seconds": runs,
        "frames_per_s_best": {k: round(n / v, 2) for k, v in best.items()},
        "ratio_best": round(best["baseline"] / best["segmented"], 3),
    }
    if args.torchrun:
        out["torchrun"] = sharded(common + off, folder, n, cores)
    return out


def sharded(common: list[str], folder: Path, n: int, cores: int) -> dict:
    """torchrun --nproc_per_node 2 (``cores`` / 2 threads each) against one process with
    ``cores`` threads, small segments so both processes get work."""
    torchrun = str(Path(sys.executable).parent / "torchrun")
    args = common + ["-o", str(folder / "tr.mp4"), "--segment-frames", "120"]
    one = cli_run(args, {**os.environ, "OMP_NUM_THREADS": str(cores)})["seconds"]
    t0 = time.perf_counter()
    child = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "filmcolor.cli", *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    if child.returncode != 0:
        raise RuntimeError(f"torchrun failed: {child.stderr[-800:]}")
    two = float(re.findall(r" in ([\d.]+) s", " ".join(child.stdout.split()))[-1])
    return {
        "one_process_s": one,
        "two_processes_s": two,
        "two_processes_wall_s": round(wall, 2),
        "speedup": round(one / two, 3),
        "frames_per_s": {"one": round(n / one, 2), "two": round(n / two, 2)},
    }


# Targets.


def targets(report: dict) -> dict:
    t: dict = {}
    head = report["model"]["preset_key"]
    net = report.get("network", {}).get(head)
    if net:
        t["network_share_of_bf16_peak"] = {
            "target": ">= 0.70",
            "measured": net["share_of_bf16_peak"],
            "met": net["share_of_bf16_peak"] >= 0.70,
        }
        prof = report.get("levers", {}).get("profile")
        peak = report["matmul_peak_gflops"].get("bf16")
        if prof and peak and net["share_of_bf16_peak"] < 0.70:
            shares = prof["self_time_share"]
            conv = sum(v for k, v in shares.items() if "convolution" in k)
            others = ", ".join(f"{k} {v:.0%}" for k, v in shares.items() if "convolution" not in k)
            t["network_share_of_bf16_peak"]["reason"] = (
                f"the convolutions alone run at {prof['convolution_gflops_per_s']} GFLOP/s "
                f"({prof['convolution_gflops_per_s'] / peak:.0%} of the bf16 peak) but take only "
                f"{conv:.0%} of the time; the rest has almost no FLOPs (mostly the 313-bin "
                f"annealed-mean decoding: mm, softmax): {others}"
            )
    st = report.get("stages")
    if st:
        t["colorize_vs_stage_sum"] = {
            "target": "<= 1.10",
            "measured": st["bound"]["ratio"],
            "met": st["bound"]["ratio"] <= 1.10,
        }
        fps = st["colorize"]["frames_per_s"]
        t["colorize_640x480_frames_per_s"] = {"target": ">= 12", "measured": fps, "met": fps >= 12}
    seg = report.get("segments")
    if seg:
        t["segmented_vs_unsegmented"] = {
            "target": ">= 0.95",
            "measured": seg["ratio_best"],
            "met": seg["ratio_best"] >= 0.95,
        }
    mem = report.get("memory")
    if mem and len(mem) >= 2:
        keys = sorted(mem, key=int)
        ratio = mem[keys[-1]]["peak_rss_mb"] / mem[keys[0]]["peak_rss_mb"]
        t[f"rss_{keys[-1]}_vs_{keys[0]}"] = {
            "target": "<= 1.05",
            "measured": round(ratio, 3),
            "met": ratio <= 1.05,
        }
    return t


def report_json(report: dict, out: Path | None) -> None:
    """Print a benchmark's report as JSON, and also write it to ``out`` when one is given."""
    text = json.dumps(report, indent=1)
    print(text)
    if out:
        out.write_text(text + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600, help="frames of the stage clip")
    parser.add_argument("--rss-frames", type=int, nargs="*", default=[300, 3000])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0, help="per network measurement")
    parser.add_argument("--color-head", default="bins", help="when there is no shipped model")
    parser.add_argument("--skip", nargs="*", default=[], help="network levers stages memory")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument(
        "--variants", type=int, default=0, help="N: full runs on N frames with one change each"
    )
    parser.add_argument("--segments", action="store_true", help="segmented vs the commit before")
    parser.add_argument("--segment-clip", type=int, default=360, help="frames of that clip")
    parser.add_argument("--repeats", type=int, default=3, help="back-to-back pairs of runs")
    parser.add_argument("--baseline", help="commit to compare with [default: before segments]")
    parser.add_argument("--torchrun", action="store_true", help="with --segments: 2 processes")
    parser.add_argument(
        "--compare",
        type=Path,
        nargs="+",
        help="only: full colorize with each of these models, "
        "alternated --repeats times on one --frames clip",
    )
    parser.add_argument(
        "--profile", action="store_true", help="only: pass 2's per-frame profile of one run"
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    if args.profile:
        with tempfile.TemporaryDirectory() as tmp:
            report = {"machine": machine(), "size": f"{W}x{H}"}
            report["profile"] = pass2_profile(Path(tmp), args)
            report["load_at_end"] = subprocess.run(
                ["uptime"], capture_output=True, text=True, check=False
            ).stdout.strip()
        report_json(report, args.out)
        return
    if args.compare:
        with tempfile.TemporaryDirectory() as tmp:
            report = {"machine": machine(), "frames": args.frames, "size": f"{W}x{H}"}
            report["compare"] = compare(args.compare, Path(tmp), args)
        report_json(report, args.out)
        return

    dtypes = ["fp32", "bf16"] if bf16_supported(CPU) else ["fp32"]
    peaks = {k: matmul_peak(DTYPES[k]) for k in dtypes}
    report: dict = {
        "machine": machine(),
        "matmul_peak_gflops": {k: round(v / 1e9, 1) for k, v in peaks.items()},
    }
    print(json.dumps(report), file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model_path, cfg, what = bench_model(args.color_head, folder)
        name = "compact" if cfg.width == 0.5 else "paper" if cfg.width == 1 else f"w{cfg.width}"
        key = f"{name}/render{DEFAULT_RENDER_SIZE}/{dtypes[-1]}"
        report["model"] = {
            "what": what,
            "config": cfg.to_dict(),
            "render_size": DEFAULT_RENDER_SIZE,
            "preset_key": key,
        }
        if "network" not in args.skip:
            report["network"] = network_grid(cfg, peaks, args)
        if "levers" not in args.skip:
            report["levers"] = levers(cfg, dtypes[-1], args)
        if args.compile:
            torch.manual_seed(0)
            report["torch_compile"] = compiled(
                ColorizationNet(cfg).eval(), DTYPES[dtypes[-1]], args
            )
            print(json.dumps(report["torch_compile"]), file=sys.stderr, flush=True)
        if "stages" not in args.skip:
            net = report.get("network", {}).get(key, {}).get("frames_per_s")
            if net is None:
                torch.manual_seed(0)
                model = ColorizationNet(cfg).eval()
                net = network_fps(model, DTYPES[dtypes[-1]], DEFAULT_RENDER_SIZE, 8, args.seconds)
            report["stages"] = stages(model_path, cfg, net, folder, args)
        if "memory" not in args.skip:
            report["memory"] = memory(model_path, folder, args)
        if args.segments:
            report["segments"] = segments(model_path, folder, args)
    report["targets"] = targets(report)
    report_json(report, args.out)


if __name__ == "__main__":
    main()
