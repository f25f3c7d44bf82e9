"""Distributed training, switched on by the environment that ``torchrun`` sets: the process
group of :class:`filmcolor.distributed.World` (the same ranks ``colorize`` uses), and the
batch statistics and logged means reduced over it."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn

from filmcolor.distributed import World


def setup(device_type: str) -> World:
    """Join the process group when started by torchrun (RANK and WORLD_SIZE set), else no-op."""
    world = World.from_env()
    if "RANK" not in os.environ or not world.enabled:
        return World()
    world.join("nccl" if device_type == "cuda" else "gloo")
    if device_type == "cuda":
        torch.cuda.set_device(world.local_rank)
    return world


def teardown(d: World) -> None:
    """Leave the process group once every process is done with it.

    Rank 0 writes the last checkpoint and evaluates while the others are already finished; a
    process that destroyed its group then exited under a peer still using it was aborted by
    gloo's threads ("terminate called without an active exception", about 1 run in 5). Call it
    on success only: after an error the other processes may never reach the barrier, and
    torchrun stops them anyway.
    """
    if d.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; the gradient of every process's input is the summed gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose batch statistics are reduced over every process.

    ``nn.SyncBatchNorm`` only runs on GPUs; this does the same with a differentiable all-reduce
    of per-channel sums, so CPU (gloo) runs normalise exactly like one process with the whole
    batch. Outside training or without a process group it is a plain BatchNorm.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        dims = [d for d in range(x.dim()) if d != 1]
        c = x.shape[1]
        xf = x.float()
        count = torch.tensor([x.numel() / c], dtype=torch.float32, device=x.device)
        sums = _AllReduceSum.apply(torch.cat((xf.sum(dims), count)))  # (C + 1,)
        n = sums[-1]
        mean = sums[:c] / n
        shape = [1, c] + [1] * (x.dim() - 2)
        centred = xf - mean.view(shape)
        # A second pass over centred values: E[x^2] - E[x]^2 would cancel badly in fp32.
        var = _AllReduceSum.apply((centred * centred).sum(dims)) / n
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1 / self.num_batches_tracked
                self.running_mean.lerp_(mean.detach(), m)
                self.running_var.lerp_(var.detach() * n / (n - 1), m)
        y = centred * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def sync_batchnorm(module: nn.Module, device_type: str) -> nn.Module:
    """Replace every BatchNorm by one that normalises over the global batch."""
    if device_type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            new = GlobalBatchNorm(
                child.num_features,
                child.eps,
                child.momentum,
                child.affine,
                child.track_running_stats,
            )
            if child.affine:  # the same Parameter objects, so optimizers keep working
                new.weight, new.bias = child.weight, child.bias
            new.running_mean, new.running_var = child.running_mean, child.running_var
            new.num_batches_tracked = child.num_batches_tracked
            setattr(module, name, new)
        else:
            sync_batchnorm(child, device_type)
    return module


def reduce_mean(x: torch.Tensor, d: World) -> torch.Tensor:
    """The mean of a scalar over all processes (for logging)."""
    if not d.enabled:
        return x
    x = x.detach().clone()
    dist.all_reduce(x)
    return x / d.size


__all__ = [
    "GlobalBatchNorm",
    "World",
    "reduce_mean",
    "setup",
    "sync_batchnorm",
    "teardown",
]
