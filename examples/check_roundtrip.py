"""End-to-end check: colorize a 1,500-frame 640x480 clip with audio and compare with the input.

Generates the clip with PyAV (two shots, a moving pattern, an AAC tone), colorizes it with the
shipped default model (or, with ``--random-width W``, a randomly initialised ``compact``
network: this checks the plumbing, not the colours), then checks frame count, every frame's
timestamp, luma and the audio packets. Prints JSON.

    python examples/check_roundtrip.py [--frames 1500] [--random-width 0.25] [--codec libx264]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from filmcolor.config import DEFAULT_RENDER_SIZE
from filmcolor.models import ColorizationNet, preset
from filmcolor.pipeline import ColorizeConfig, colorize_video
from filmcolor.weights import save_model


def make_clip(path: Path, frames: int, width: int, height: int, rate: int = 25) -> None:
    """A gray x264 clip with a cut halfway and a 440 Hz AAC tone as long as the picture."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=rate)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.codec_context.options = {"preset": "veryfast"}
        a = out.add_stream("aac", rate=48000, layout="mono")
        for i in range(frames):
            if i < frames // 2:
                f = 40 + 150 * (((xx + 3 * i) % width) / width)
            else:
                f = 128 + 90 * np.sin((xx + yy + 2 * i) / 23)
            frame = av.VideoFrame.from_ndarray(f.astype(np.uint8), format="gray")
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
            frame.time_base = Fraction(1, rate)
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        samples = 48000 * frames // rate
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)
        for k in range(0, samples, 1024):
            af = av.AudioFrame.from_ndarray(tone[None, k : k + 1024], format="flt", layout="mono")
            af.sample_rate, af.pts = 48000, k
            out.mux(a.encode(af))
        out.mux(a.encode(None))


def facts(path: Path) -> dict:
    """Timestamps and luma means of every video frame, and the audio packets' payloads."""
    with av.open(str(path)) as c:
        times, luma = [], []
        for f in c.decode(c.streams.video[0]):
            times.append(float(f.pts * f.time_base))
            luma.append(f.to_ndarray(format="gray").astype(np.float32))
    with av.open(str(path)) as c:  # a second pass: decoding above read to the end
        audio = [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]
    return {"times": times, "luma": luma, "audio": audio}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1500)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--random-width", type=float, help="random compact model of this width")
    parser.add_argument("--codec", default="libx264")
    parser.add_argument("--render-size", type=int, default=DEFAULT_RENDER_SIZE)
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src, out = tmp / "clip.mp4", tmp / "clip_color.mp4"
        t0 = time.perf_counter()
        make_clip(src, args.frames, w, h)
        t_make = time.perf_counter() - t0
        model = None  # the shipped default
        if args.random_width:
            torch.manual_seed(0)
            model = tmp / "random.safetensors"
            net = ColorizationNet(preset("compact", width=args.random_width, num_classes=0))
            save_model(model, net)
        cfg = ColorizeConfig(
            src,
            out,
            model=model,
            codec=args.codec,
            render_size=args.render_size,
            precision=args.precision,
            crf=18,
        )
        t0 = time.perf_counter()
        result = colorize_video(cfg)
        t_run = time.perf_counter() - t0
        a, b = facts(src), facts(out)
        dy = [float(np.abs(x - y).mean()) for x, y in zip(a["luma"], b["luma"], strict=False)]
        report = {
            "frames_in": len(a["times"]),
            "frames_out": len(b["times"]),
            "shots": [[s.start, s.end] for s in result.shots],
            "timestamps_equal": len(a["times"]) == len(b["times"])
            and bool(np.allclose(a["times"], b["times"], atol=1e-6)),
            "max_timestamp_error_s": float(np.max(np.abs(np.subtract(a["times"], b["times"]))))
            if len(a["times"]) == len(b["times"])
            else None,
            "audio_packets_in": len(a["audio"]),
            "audio_packets_out": len(b["audio"]),
            "audio_identical": a["audio"] == b["audio"],
            "mean_abs_dY": float(np.mean(dy)),
            "max_frame_mean_abs_dY": float(np.max(dy)),
            "size": args.size,
            "codec": args.codec,
            "model": f"compact width={args.random_width} (random init)"
            if args.random_width
            else "shipped default",
            "render_size": args.render_size,
            "precision": str(result_precision(args.precision)),
            "seconds_make_clip": round(t_make, 1),
            "seconds_colorize": round(t_run, 1),
            "fps_colorize_both_passes": round(result.frames / t_run, 1),
            "torch_threads": torch.get_num_threads(),
            "warnings": result.warnings,
        }
    print(json.dumps(report, indent=2))
    ok = (
        report["frames_in"] == report["frames_out"] == args.frames
        and report["timestamps_equal"]
        and report["audio_identical"]
        and report["mean_abs_dY"] <= 1
    )
    return 0 if ok else 1


def result_precision(name: str) -> torch.dtype:
    from filmcolor.device import resolve_device, resolve_precision

    return resolve_precision(name, resolve_device("auto"))


if __name__ == "__main__":
    sys.exit(main())
