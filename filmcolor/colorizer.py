"""The model at inference: load it, prepare it, and run its two paths on batches of lightness.

:class:`Colorizer` holds the network on its device and precision, with BatchNorm folded into
the convolutions and the weights in channels-last order. Its global path turns a 224x224
thumbnail (:func:`thumb224`) into one vector per shot, image or style reference
(:mod:`filmcolor.styles`); its local path turns lightness at the render size and that vector
into a*b*. Stills, pass 1 (:mod:`filmcolor.shots`) and pass 2 (:mod:`filmcolor.pass2`) all
go through it; :meth:`Colorizer.from_config` loads the one a run config names.
"""

from __future__ import annotations

import copy
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from filmcolor.config import DEFAULT_RENDER_SIZE
from filmcolor.device import autocast, resolve_device, resolve_precision
from filmcolor.distributed import World
from filmcolor.models import GLOBAL_SIZE, ColorizationNet
from filmcolor.models.color import normalize_l
from filmcolor.weights import load_model


def fold_batchnorm(model: ColorizationNet) -> ColorizationNet:
    """A copy of an eval-mode model with every Conv2d -> BatchNorm2d pair folded into one
    convolution (weights scaled, bias added): the same function, one pass less per layer."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = copy.deepcopy(model)
    for seq in model.modules():
        if not isinstance(seq, torch.nn.Sequential):
            continue
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d):
                seq[i], seq[i + 1] = fuse_conv_bn_eval(conv, bn), torch.nn.Identity()
    return model


class Colorizer:
    """The model on its device and precision, at a render size.

    The network is prepared for inference without changing its maths: BatchNorm folded into
    the convolutions before it (:func:`fold_batchnorm`), and the weights in channels-last order
    (on CPU, oneDNN's fast layout; on CUDA, the tensor cores'), which every input follows.

    Args:
        model: a loaded network in eval mode (``fold`` works on a copy of it).
        device: where it lives.
        dtype: the autocast precision (float32 = none).
        render_size: short side at which the local path runs; 0 = the frame's own size.
            Frames smaller than this are not enlarged.
        fold: fold BatchNorm into the convolutions.
    """

    def __init__(
        self,
        model: ColorizationNet,
        device: torch.device,
        dtype: torch.dtype,
        render_size: int,
        fold: bool = True,
    ):
        if fold and not model.training:
            model = fold_batchnorm(model)
        self.model = model.to(memory_format=torch.channels_last)
        self.device = device
        self.dtype = dtype
        self.render_size = render_size

    @classmethod
    def load(
        cls,
        model: Path | None,
        device: str = "auto",
        precision: str = "auto",
        temperature: float | None = None,
        render_size: int = DEFAULT_RENDER_SIZE,
    ) -> Colorizer:
        """Load a checkpoint (see :func:`filmcolor.weights.load_model`)."""
        dev = resolve_device(device)
        dtype = resolve_precision(precision, dev)
        net, _ = load_model(model, dev, temperature)
        return cls(net, dev, dtype, render_size)

    @classmethod
    def from_config(cls, cfg) -> Colorizer:
        """The colorizer a run config names (:class:`filmcolor.config.ColorizeConfig`,
        :class:`filmcolor.config.FramesConfig`): its model (None = the shipped one),
        precision, temperature and render size, on this process's device (under torchrun,
        its own GPU or its share of the cores)."""
        device = World.from_env().device(cfg.device)
        return cls.load(cfg.model, device, cfg.precision, cfg.temperature, cfg.render_size)

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        """A CPU tensor on the model's device, channels-last; on CUDA copied from pinned memory
        without waiting for the copy."""
        if self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
        else:
            x = x.to(self.device)
        return x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x

    @torch.no_grad()
    def global_vector(self, l224: torch.Tensor) -> torch.Tensor:
        """Global features of (B, 1, 224, 224) lightness (L*/100) -> (B, D) float32 on CPU."""
        with autocast(self.device, self.dtype):
            g, _ = self.model.global_features(self._input(l224))
        return g.float().cpu()

    def render_shape(self, shape: tuple[int, int]) -> tuple[int, int]:
        """The (h, w) a frame of ``shape`` (H, W) is coloured at: the short side at the render
        size; smaller frames and ``render_size`` 0 as they are."""
        h, w = shape
        short = min(h, w)
        if not self.render_size or short <= self.render_size:
            return h, w
        s = self.render_size / short
        return max(8, round(h * s)), max(8, round(w * s))

    def shrink(self, l: torch.Tensor) -> torch.Tensor:
        """Lightness (B, 1, H, W) rescaled (antialiased) to the render size
        (:meth:`render_shape`)."""
        size = self.render_shape(tuple(l.shape[-2:]))
        if size == tuple(l.shape[-2:]):
            return l
        return F.interpolate(l, size=size, mode="bilinear", antialias=True, align_corners=False)

    @torch.no_grad()
    def ab(self, l: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """a*b* for lightness (B, 1, H, W) (L*/100), at (H, W), float32 on CPU.

        The network runs with the short side at ``render_size`` (see :meth:`shrink`); its a*b*
        is upsampled bilinearly to (H, W). Pass 2 gives lightness already shrunk and upsamples
        a*b* itself, with the colour conversion, in the encode thread.
        """
        h, w = l.shape[-2:]
        small = self.shrink(l)
        with autocast(self.device, self.dtype):
            ab = self.model.colorize(self._input(small), self._input(g))
        ab = ab.float()
        if ab.shape[-2:] != (h, w):
            ab = F.interpolate(ab, size=(h, w), mode="bilinear", align_corners=False)
        return ab.cpu()


def thumb224(y: np.ndarray, lut: torch.Tensor) -> torch.Tensor:
    """Luma code values (H, W) -> (1, 224, 224) lightness for the global path."""
    interp = cv2.INTER_AREA if min(y.shape) > GLOBAL_SIZE else cv2.INTER_LINEAR
    small = cv2.resize(y, (GLOBAL_SIZE, GLOBAL_SIZE), interpolation=interp)
    return normalize_l(lut[torch.from_numpy(small.astype(np.int64))][None])
