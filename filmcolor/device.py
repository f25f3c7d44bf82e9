"""Choosing the device and the numeric precision the network runs in."""

from __future__ import annotations

import contextlib

import torch

from filmcolor.config import DEVICES, PRECISIONS
from filmcolor.errors import UserError


class DeviceError(UserError):
    """A device or precision this machine does not have."""


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.split(":")[0] not in DEVICES:
        raise DeviceError(
            f"unknown --device {name!r}; choose from {', '.join(DEVICES)} (or cuda:N for one GPU)"
        )
    try:
        device = torch.device(name)
    except RuntimeError as e:  # torch's message lists the device types it knows
        raise DeviceError(str(e)) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError("--device cuda was asked for, but PyTorch sees no CUDA GPU")
    return device


def memory_of(device: torch.device) -> int | None:
    """The memory the network's batches run in: the GPU's for CUDA, else this machine's RAM
    (None: unknown)."""
    from filmcolor.checks import machine_memory

    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return machine_memory()


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 convolutions are fast on this device (AVX-512 BF16/AMX on CPU)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """``auto`` -> bf16 where the hardware has it, else fp32."""
    if name not in PRECISIONS:
        raise DeviceError(f"unknown precision {name!r}; choose from {', '.join(PRECISIONS)}")
    if name == "auto":
        return torch.bfloat16 if bf16_supported(device) else torch.float32
    if name == "fp16" and device.type == "cpu":
        raise DeviceError("fp16 is for CUDA; on CPU use bf16 or fp32")
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """Mixed-precision context for ``dtype``; a no-op for fp32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
