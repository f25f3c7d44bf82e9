"""The colorization networks; imports only torch."""

from .colorization import (
    GLOBAL_SIZE,
    PRESETS,
    ColorizationNet,
    ModelConfig,
    count_weights,
    pad_to_multiple,
    preset,
    resize_for_global,
)

__all__ = [
    "GLOBAL_SIZE",
    "PRESETS",
    "ColorizationNet",
    "ModelConfig",
    "count_weights",
    "pad_to_multiple",
    "preset",
    "resize_for_global",
]
