"""The colorization networks; imports only torch."""

from .attention import PatchAttention, SelfAttention
from .bins import (
    ANNEALED_T,
    NUM_BINS,
    annealed_mean,
    bin_centres,
    bin_histogram,
    nearest_bin,
    pixel_weights,
    rebalanced_cross_entropy,
    rebalancing_weights,
    smoothed_distribution,
    soft_encode,
)
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
    "ANNEALED_T",
    "GLOBAL_SIZE",
    "NUM_BINS",
    "PRESETS",
    "ColorizationNet",
    "ModelConfig",
    "PatchAttention",
    "SelfAttention",
    "annealed_mean",
    "bin_centres",
    "bin_histogram",
    "count_weights",
    "nearest_bin",
    "pad_to_multiple",
    "pixel_weights",
    "preset",
    "rebalanced_cross_entropy",
    "rebalancing_weights",
    "resize_for_global",
    "smoothed_distribution",
    "soft_encode",
]
