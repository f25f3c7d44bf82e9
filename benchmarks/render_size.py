"""Throughput of the network at several --render-size values on 640x480 frames; prints JSON.

Times what pass 2 does per batch: downscale L, run the local path at the render size, upsample
a*b* to 640x480, Lab -> RGB -> Cb/Cr. Random ``compact`` weights (speed does not depend on them).

    python benchmarks/render_size.py [--sizes 224 256 320 480] [--precision bf16 fp32]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from filmcolor.colorizer import Colorizer
from filmcolor.device import resolve_device, resolve_precision
from filmcolor.models import ColorizationNet, preset
from filmcolor.models.color import lab_to_rgb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 256, 320, 480])
    parser.add_argument("--precision", nargs="+", default=["bf16", "fp32"])
    parser.add_argument("--preset", default="compact")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--batches", type=int, default=3)
    args = parser.parse_args()
    device = resolve_device("auto")
    torch.manual_seed(0)
    model = ColorizationNet(preset(args.preset, num_classes=0)).eval().to(device)
    l = torch.rand(args.batch, 1, 480, 640)
    g = torch.randn(1, model.global_dim)
    rows = []
    for name in args.precision:
        dtype = resolve_precision(name, device)
        for size in args.sizes:
            c = Colorizer(model, device, dtype, size)
            c.ab(l[:2], g)  # warm-up
            t0 = time.perf_counter()
            for _ in range(args.batches):
                ab = c.ab(l, g)
                lab_to_rgb(torch.cat((l * 100, ab), 1))
            dt = time.perf_counter() - t0
            rows.append(
                {
                    "precision": name,
                    "render_size": size,
                    "frames_per_s": round(args.batch * args.batches / dt, 2),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    print(
        json.dumps(
            {
                "preset": args.preset,
                "frame": "640x480",
                "device": str(device),
                "cpu": platform.processor() or platform.machine(),
                "torch_threads": torch.get_num_threads(),
                "rows": rows,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
