"""The "Let there be Color!" network (Iizuka, Simo-Serra, Ishikawa, SIGGRAPH 2016).

Read top to bottom: the config and its presets, the building blocks, then the network.
Shapes are for an input of (B, 1, H, W) with H, W multiples of 8 (other sizes are padded).

    L (B,1,H,W) ──low──> (B,512,H/8,W/8) ──mid──> (B,256,H/8,W/8) ─┐
    L224 (B,1,224,224) ──low──> (B,512,28,28) ──global──> g (B,256)  ├─fusion─> (B,256,H/8,W/8)
                                                 └──> class logits   ┘        ──colorization──>
                                                                              ab (B,2,H/2,W/2)

Variants, options of the same network: ``attention=True`` adds a patch-wise self-attention block
(Zhao, Jia, Koltun 2020) after each downsampling conv of the low-level network and a SAGAN block
(Zhang et al. 2019) before the output conv; ``color_head="bins"`` makes the output conv give
logits over 313 ab bins (Zhang, Isola, Efros 2016), decoded by the annealed mean, instead of a
sigmoid a*b*.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from .attention import PatchAttention, SelfAttention
from .bins import ANNEALED_T, NUM_BINS, annealed_mean, bin_centres
from .color import lightness_to_gray, unit_to_ab
from .efficientnet import HEAD, TAPS, VARIANTS, EfficientNetLite, scale_rgb

GLOBAL_SIZE = 224  # the global path always sees the frame rescaled to this square
COLOR_HEADS = ("regression", "bins")
# "paper": the paper's low-level network, learnt from scratch; "efficientnet-lite0" or "-lite2": an
# ImageNet classifier's maps in its place (stride 4, 8, 16 for the local path, its pooled vector
# for the global one).
ENCODERS = ("paper", *VARIANTS)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network; saved inside every checkpoint."""

    width: float = 1.0  # multiplier on every channel count and FC width
    num_classes: int = 205  # scene classes of the classification head; 0 = no classifier
    fusion_kernel: int = 1  # 1 = the paper's per-pixel fusion; 3 = the released weights
    ab_range: float = 110.0  # a*, b* = ab_range * (2 sigmoid - 1)
    color_head: str = "regression"  # "regression": sigmoid a*b*; "bins": logits over 313 ab bins
    attention: bool = False  # patch-wise attention in the low-level net, SAGAN before the output
    temperature: float = ANNEALED_T  # annealed-mean softmax temperature of the "bins" head
    encoder: str = "paper"  # what computes the low-level features: see ENCODERS

    def __post_init__(self):
        if self.width <= 0:
            raise ValueError(f"width must be positive, got {self.width}")
        if self.fusion_kernel not in (1, 3):
            raise ValueError(f"fusion_kernel must be 1 or 3, got {self.fusion_kernel}")
        if self.color_head not in COLOR_HEADS:
            raise ValueError(
                f"unknown color_head {self.color_head!r}; choose from {', '.join(COLOR_HEADS)}"
            )
        if self.num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {self.num_classes}")
        if not self.temperature > 0:  # also refuses nan
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}; choose from {', '.join(ENCODERS)}")

    def ch(self, n: int) -> int:
        """A channel count of the paper network scaled by the width multiplier."""
        return max(1, round(n * self.width))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


PRESETS: dict[str, ModelConfig] = {
    "paper": ModelConfig(),
    "compact": ModelConfig(width=0.5),
    "attention": ModelConfig(attention=True, color_head="bins"),
    "compact-attention": ModelConfig(width=0.5, attention=True, color_head="bins"),
    # ImageNet features, and the ImageNet classifier's 1000 classes as the classification task
    "imagenet": ModelConfig(
        width=0.5, encoder="efficientnet-lite0", color_head="bins", num_classes=1000
    ),
    "imagenet-lite2": ModelConfig(
        width=0.5, encoder="efficientnet-lite2", color_head="bins", num_classes=1000
    ),
}


def preset(name: str, **overrides) -> ModelConfig:
    """A preset config by name, with fields overridden (e.g. ``num_classes=0``)."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides)


def conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    """3x3 conv (padding 1) -> BatchNorm -> ReLU, the unit every sub-network is built of."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def fc_bn_relu(n_in: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, n_out, bias=False), nn.BatchNorm1d(n_out), nn.ReLU(inplace=True)
    )


class ColorizationNet(nn.Module):
    """Low-level, mid-level, global, fusion, colorization and classification networks.

    With an EfficientNet-Lite ``encoder`` an ImageNet classifier stands in for the low-level
    network: its stride 8 and 16 maps make the mid-level features, its stride 4 map joins the
    colorization network as a skip, and its pooled vector feeds the global network; the fusion
    layer, the global vector and the heads are the paper's.

    Args:
        cfg: the model config; ``ModelConfig()`` is the paper network with 205 classes.
    """

    def __init__(self, cfg: ModelConfig = ModelConfig()):
        super().__init__()
        self.cfg = cfg
        c = cfg.ch
        bins = cfg.color_head == "bins"
        if bins:  # derived from the code, so kept out of the checkpoint
            self.register_buffer("bin_centres", bin_centres(), persistent=False)  # (313, 2)
        self.encoder = EfficientNetLite(VARIANTS[cfg.encoder]) if cfg.encoder != "paper" else None

        def attend(channels: int) -> list[nn.Module]:
            return [PatchAttention(channels)] if cfg.attention else []

        if self.encoder is None:
            self.low = nn.Sequential(
                conv_bn_relu(1, c(64), stride=2),  # (B, 64, H/2, W/2)
                *attend(c(64)),
                conv_bn_relu(c(64), c(128)),
                conv_bn_relu(c(128), c(128), stride=2),  # (B, 128, H/4, W/4)
                *attend(c(128)),
                conv_bn_relu(c(128), c(256)),
                conv_bn_relu(c(256), c(256), stride=2),  # (B, 256, H/8, W/8)
                *attend(c(256)),
                conv_bn_relu(c(256), c(512)),  # (B, 512, H/8, W/8)
            )
            self.mid = nn.Sequential(
                conv_bn_relu(c(512), c(512)),
                conv_bn_relu(c(512), c(256)),  # (B, 256, H/8, W/8)
            )
            self.global_conv = nn.Sequential(
                conv_bn_relu(c(512), c(512), stride=2),  # (B, 512, 14, 14)
                conv_bn_relu(c(512), c(512)),
                conv_bn_relu(c(512), c(512), stride=2),  # (B, 512, 7, 7)
                conv_bn_relu(c(512), c(512)),
            )
            self.global_fc = nn.Sequential(
                fc_bn_relu(7 * 7 * c(512), c(1024)),
                fc_bn_relu(c(1024), c(512)),  # also feeds the classifier
            )
            hidden = c(512)
        else:
            taps = self.encoder.variant.tap_channels
            self.mid = EncoderMid(taps[8], taps[16], c(256))  # (B, 256, H/8, W/8)
            self.global_fc = fc_bn_relu(HEAD, c(512))  # the pooled (B, 1280) -> (B, 512)
            hidden = HEAD  # the classifier is the ImageNet one, on the pooled vector
        self.global_out = fc_bn_relu(c(512), c(256))  # (B, 256): the global feature vector
        if not cfg.num_classes:
            self.classifier = None
        elif self.encoder is None:
            self.classifier = nn.Sequential(
                fc_bn_relu(hidden, c(256)), nn.Linear(c(256), cfg.num_classes)
            )
        else:
            self.classifier = nn.Linear(hidden, cfg.num_classes)
        k = cfg.fusion_kernel
        self.fusion = nn.Sequential(
            nn.Conv2d(2 * c(256), c(256), k, padding=k // 2, bias=False),
            nn.BatchNorm2d(c(256)),
            nn.ReLU(inplace=True),
        )
        out = NUM_BINS if bins else 2  # (B, 313, H/2, W/2) logits, or (B, 2, ...) before sigmoid
        if self.encoder is None:
            self.colorization = nn.Sequential(
                conv_bn_relu(c(256), c(128)),
                nn.Upsample(scale_factor=2, mode="nearest"),  # (B, 128, H/4, W/4)
                conv_bn_relu(c(128), c(64)),
                conv_bn_relu(c(64), c(64)),
                nn.Upsample(scale_factor=2, mode="nearest"),  # (B, 64, H/2, W/2)
                conv_bn_relu(c(64), c(32)),
                *([SelfAttention(c(32))] if cfg.attention else []),  # (B, 32, H/2, W/2)
                nn.Conv2d(c(32), out, 3, padding=1),
            )
        else:
            self.colorization = SkipDecoder(c(256), self.encoder.variant.tap_channels[4], c, out)

    @property
    def temperature(self) -> float:
        """Annealed-mean temperature of the "bins" head (part of the config, so it is saved)."""
        return self.cfg.temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        self.cfg = replace(self.cfg, temperature=value)  # validated by the config

    @property
    def global_dim(self) -> int:
        return self.cfg.ch(256)

    @property
    def multiple(self) -> int:
        """Input sides are padded to a multiple of this (the local path's deepest stride)."""
        return 8 if self.encoder is None else 16

    def train(self, mode: bool = True) -> ColorizationNet:
        """As nn.Module's; the encoder's BatchNorm keeps its ImageNet statistics (a few crops
        per step cannot estimate them)."""
        super().train(mode)
        if self.encoder is not None:
            for m in self.encoder.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    def encoder_input(self, l: torch.Tensor) -> torch.Tensor:
        """Normalised lightness (B, 1, H, W) -> the sRGB gray of that L*, as the encoder's
        (B, 3, H, W) input."""
        gray = lightness_to_gray(l * 100)
        return scale_rgb(gray).expand(-1, 3, -1, -1)

    # Global path (timm's forward_features).

    def global_features(self, l224: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Global feature vector and class logits of frames already rescaled to 224x224.

        Args:
            l224: normalised lightness, (B, 1, 224, 224).

        Returns:
            ``(g, class_logits)``: g is (B, 256 * width); logits are (B, num_classes), or None
            when the model has no classifier.
        """
        if l224.shape[-2:] != (GLOBAL_SIZE, GLOBAL_SIZE):
            raise ValueError(f"global path takes 224x224 input, got {tuple(l224.shape[-2:])}")
        return self._global_from_hidden(self._hidden224(l224))

    def _hidden224(self, l224: torch.Tensor) -> torch.Tensor:
        """What both the global vector and the classifier read: the paper's (B, 512) hidden
        layer, or the encoder's pooled (B, 1280) vector."""
        if self.encoder is not None:
            return self.encoder.pooled(self.encoder_input(l224))
        return self._global_hidden(self.low(l224))

    def _global_from_hidden(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits = self.classifier(h) if self.classifier is not None else None
        return self.global_out(self.global_fc(h) if self.encoder is not None else h), logits

    def _global_hidden(self, low224: torch.Tensor) -> torch.Tensor:
        h = self.global_conv(low224).flatten(1)  # (B, 7*7*512)
        return self.global_fc(h)  # (B, 512): feeds both the global vector and the classifier

    # Local path (timm's forward_head).

    def predict(self, l: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """Raw head output at half resolution, what the colour loss compares.

        Args:
            l: normalised lightness, (B, 1, H, W) with H, W multiples of :attr:`multiple`.
            g: global features, (B, 256 * width), or (1, 256 * width) to share one vector.

        Returns:
            "regression": sigmoid chrominance in [0, 1], (B, 2, H/2, W/2);
            "bins": logits over the 313 ab bins, (B, 313, H/2, W/2).
        """
        return self._predict_from_local(self._local(l), g)

    def _local(self, l: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """What the local path takes from the low-level features: the paper's (B, 512, H/8,
        W/8) map, or the encoder's stride 4, 8 and 16 maps."""
        if self.encoder is None:
            return (self.low(l),)
        maps = self.encoder.features(self.encoder_input(l), upto=TAPS[16] + 1)
        return tuple(maps[TAPS[s]] for s in (4, 8, 16))

    def _predict_from_local(self, local: tuple[torch.Tensor, ...], g: torch.Tensor):
        mid = self.mid(*local[-2:]) if self.encoder is not None else self.mid(local[0])
        tiled = g.to(mid.dtype)[:, :, None, None].expand(mid.shape[0], -1, *mid.shape[-2:])
        fused = self.fusion(torch.cat((tiled, mid), dim=1))  # (B, 256, H/8, W/8)
        if self.encoder is None:
            out = self.colorization(fused)  # (B, 2 or 313, H/2, W/2)
        else:
            out = self.colorization(fused, local[0])
        return out if self.cfg.color_head == "bins" else torch.sigmoid(out)

    def to_ab(self, head: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Head output at half resolution -> a*b* (float32) upsampled bilinearly to ``size``.

        Bin logits are decoded by the annealed mean at ``self.temperature`` before upsampling.
        """
        if self.cfg.color_head == "bins":
            ab = annealed_mean(head, self.bin_centres, self.temperature)  # (B, 2, H/2, W/2)
        else:
            ab = unit_to_ab(head.float(), self.cfg.ab_range)
        return F.interpolate(ab, size=size, mode="bilinear", align_corners=False)

    def colorize(self, l: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """a*b* for lightness ``l`` of any size, with given global features.

        Args:
            l: normalised lightness (L*/100), (B, 1, H, W), any H, W >= 1.
            g: global features from :meth:`global_features` of this or another image.

        Returns:
            a*b*, (B, 2, H, W), float32.
        """
        padded, (h, w) = pad_to_multiple(l, self.multiple)
        ab = self.to_ab(self.predict(padded, g), padded.shape[-2:])
        return ab[..., :h, :w]

    def forward(
        self, l: torch.Tensor, return_head: bool = False, classify_only: bool = False
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Colorize with each image's own global features.

        Args:
            l: normalised lightness, (B, 1, H, W), any H, W >= 1.
            return_head: return the raw head output at half resolution instead of a*b*
                (what the training losses compare; H, W must then be multiples of
                :attr:`multiple`).
            classify_only: run only the low-level, global and classification networks and
                return ``(None, class_logits)`` (classification pre-training).

        Returns:
            ``(ab, class_logits)``: a*b* (B, 2, H, W) and logits (B, num_classes) or None.
        """
        if classify_only:
            if self.classifier is None:
                raise ValueError("classify_only needs a model with a classifier (num_classes > 0)")
            return None, self.classifier(self._hidden224(resize_for_global(l)))
        padded, (h, w) = pad_to_multiple(l, self.multiple)
        local = self._local(padded)
        if l.shape[-2:] != (GLOBAL_SIZE, GLOBAL_SIZE):
            g, logits = self.global_features(resize_for_global(l))
        elif self.encoder is None:  # the paper's training case: one low-level pass for both
            g, logits = self._global_from_hidden(self._global_hidden(local[0]))
        else:  # the encoder's stages past stride 16 continue from the local path's last map
            x = local[-1]
            for stage in self.encoder.stages[TAPS[16] + 1 :]:
                x = stage(x)
            g, logits = self._global_from_hidden(self.encoder.head(x).mean((2, 3)))
        head = self._predict_from_local(local, g)
        if return_head:
            return head, logits
        ab = self.to_ab(head, padded.shape[-2:])
        return ab[..., :h, :w], logits


class EncoderMid(nn.Module):
    """The mid-level network on an encoder: its stride 16 map, upsampled, joined to its stride 8
    map, -> (B, C, H/8, W/8)."""

    def __init__(self, c8: int, c16: int, c_out: int):
        super().__init__()
        self.lateral = conv_bn_relu(c16, c_out)  # (B, C, H/16, W/16)
        self.join = nn.Sequential(
            conv_bn_relu(c_out + c8, c_out),  # (B, C, H/8, W/8)
            conv_bn_relu(c_out, c_out),
        )

    def forward(self, f8: torch.Tensor, f16: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(self.lateral(f16), size=f8.shape[-2:], mode="nearest")
        return self.join(torch.cat((up, f8), dim=1))


class SkipDecoder(nn.Module):
    """The colorization network with the encoder's stride 4 map joined at H/4:
    (B, C, H/8, W/8) fused -> (B, out, H/2, W/2)."""

    def __init__(self, c_in: int, c_skip: int, c, out: int):
        super().__init__()
        self.reduce = conv_bn_relu(c_in, c(128))
        self.quarter = nn.Sequential(
            conv_bn_relu(c(128) + c_skip, c(64)),  # (B, 64, H/4, W/4)
            conv_bn_relu(c(64), c(64)),
        )
        self.halfres = conv_bn_relu(c(64), c(32))  # (B, 32, H/2, W/2)
        self.out = nn.Conv2d(c(32), out, 1)  # per pixel: the bins' logits or a*b*

    def forward(self, fused: torch.Tensor, f4: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(self.reduce(fused), scale_factor=2, mode="nearest")
        x = self.quarter(torch.cat((x, f4), dim=1))
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.out(self.halfres(x))


def resize_for_global(l: torch.Tensor) -> torch.Tensor:
    """Rescale (B, C, H, W) to the global path's (B, C, 224, 224), antialiased when shrinking."""
    if l.shape[-2:] == (GLOBAL_SIZE, GLOBAL_SIZE):
        return l
    shrink = l.shape[-2] > GLOBAL_SIZE or l.shape[-1] > GLOBAL_SIZE
    return F.interpolate(
        l, size=(GLOBAL_SIZE, GLOBAL_SIZE), mode="bilinear", align_corners=False, antialias=shrink
    )


def pad_to_multiple(x: torch.Tensor, m: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Replicate-pad the last two dims up to multiples of m; returns the padded tensor and the
    original (H, W) to crop back to."""
    h, w = x.shape[-2:]
    ph, pw = -h % m, -w % m
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)


def count_weights(model: nn.Module) -> int:
    """Number of conv and linear weight entries (no biases, no norm layers)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear))
