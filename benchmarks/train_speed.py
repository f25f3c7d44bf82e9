"""Training throughput on this machine: images/s of the network step and of the data loader.

    python benchmarks/train_speed.py [--presets compact paper] [--batch 16] [--data DIR]

Prints JSON: the CPU's matmul peak (fp32, bf16), then per preset and precision the images/s
of a full training step (forward, backward, AdamW) at 224x224, its FLOPs per image and the
share of the matmul peak reached; with --data, the CPU time the loader spends per image
(decode, random crop, Lab conversion), which says how many workers keep a GPU fed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from filmcolor.device import autocast, bf16_supported
from filmcolor.models import ColorizationNet, preset
from filmcolor.profile import matmul_peak, train_flops_per_image
from filmcolor.train.data import scan_folder
from filmcolor.train.samples import Augment, BatchSampler, ColorizationDataset


def step_speed(name: str, dtype: torch.dtype, batch: int, seconds: float) -> dict:
    model = ColorizationNet(preset(name, num_classes=205)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    l = torch.rand(batch, 1, 224, 224)
    ab = torch.rand(batch, 2, 112, 112)
    labels = torch.randint(0, 205, (batch,))
    device = torch.device("cpu")

    def step() -> None:
        with autocast(device, dtype):
            head, logits = model(l, return_head=True)
        loss = (head.float() - ab).square().mean()
        loss = loss + torch.nn.functional.cross_entropy(logits.float(), labels) / 300
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up: oneDNN picks its kernels
    n, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds or n < 2:
        step()
        n += 1
    return {"images_per_s": n * batch / elapsed, "steps": n}


def loader_cpu_per_image(data: Path, batch: int, batches: int) -> float:
    """CPU seconds one loader process spends per training image (decode, multiscale crop,
    flip, Lab conversion). Measured as process time, so it holds on a busy machine too:
    one worker delivers 1 / this images per second of its own core."""
    images = scan_folder(data)
    dataset = ColorizationDataset(images, Augment(256, 224, multiscale=True), ab_range=110)
    sampler = BatchSampler(len(images.items), batch, total_steps=batches)
    keys = [key for batch_keys in sampler for key in batch_keys]
    torch.set_num_threads(1)
    t0 = time.process_time()
    for key in keys:
        dataset[key]
    return (time.process_time() - t0) / len(keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["compact", "paper"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0, help="per measurement")
    parser.add_argument("--data", type=Path, help="an image folder, to time the data loader")
    args = parser.parse_args()

    dtypes = {"fp32": torch.float32}
    if bf16_supported(torch.device("cpu")):
        dtypes["bf16"] = torch.bfloat16
    peak = {k: matmul_peak(v) for k, v in dtypes.items()}
    report: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "matmul_peak_gflops": {k: round(v / 1e9, 1) for k, v in peak.items()},
        "train_step": {},
    }
    for name in args.presets:
        with torch.device("meta"):
            flops = train_flops_per_image(ColorizationNet(preset(name, num_classes=205)))
        for key, dtype in dtypes.items():
            r = step_speed(name, dtype, args.batch, args.seconds)
            achieved = r["images_per_s"] * flops
            report["train_step"][f"{name}/{key}"] = {
                "images_per_s": round(r["images_per_s"], 2),
                "gflops_per_image": round(flops / 1e9, 2),
                "share_of_matmul_peak": round(achieved / peak[key], 3),
            }
            print(json.dumps({f"{name}/{key}": report["train_step"][f"{name}/{key}"]}), flush=True)
    if args.data:
        per_image = loader_cpu_per_image(args.data, args.batch, 8)
        report["loader"] = {
            "cpu_seconds_per_image": round(per_image, 4),
            "images_per_s_per_worker": round(1 / per_image, 1),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
