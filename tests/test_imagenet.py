"""The ImageNet encoders: the published weights load into our EfficientNet-Lite0 and Lite2 and
recognise what they should, in colour and in gray; the imagenet preset keeps the paper's
global/local split; a trained model needs neither the package nor a download."""

import subprocess
import sys

import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F

from filmcolor.models import GLOBAL_SIZE, ColorizationNet, preset
from filmcolor.models.color import ab_to_unit, rgb_to_lab
from filmcolor.models.efficientnet import VARIANTS, convert_state_dict, load_imagenet, scale_rgb
from filmcolor.train import imagenet

CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


@pytest.fixture(scope="module", params=list(VARIANTS))
def classifier(request):
    variant = VARIANTS[request.param]
    return load_imagenet(imagenet.weights_file(variant), variant)


def _input(image: np.ndarray, gray: bool) -> torch.Tensor:
    rgb = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    rgb = F.interpolate(rgb, size=(224, 224), mode="bilinear", antialias=True)
    if gray:  # the sRGB gray of the photograph's L*, as the colorizer's encoder sees it
        model = ColorizationNet(preset("imagenet"))
        return model.encoder_input(rgb_to_lab(rgb)[:, :1] / 100)
    return scale_rgb(rgb)


@pytest.mark.parametrize("gray", [False, True], ids=["colour", "gray"])
@pytest.mark.parametrize(("name", "classes"), [("chelsea", CATS), ("coffee", [ESPRESSO])])
def test_imagenet_weights_recognise_a_cat_and_an_espresso(classifier, name, classes, gray):
    with torch.no_grad():
        top = classifier(_input(getattr(skimage.data, name)(), gray)).argmax(1).item()
    assert top in classes


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_published_name_has_a_place(name):
    variant = VARIANTS[name]
    state = torch.load(imagenet.weights_file(variant), map_location="cpu", weights_only=True)
    ours = convert_state_dict(state, variant)
    assert len(ours) == sum(not k.endswith("num_batches_tracked") for k in state)
    with pytest.raises(KeyError):
        convert_state_dict({"_blocks.0._squeeze.weight": torch.zeros(1)}, variant)


def test_another_variants_file_is_refused():
    """Lite2's 21 blocks do not fit Lite0's 16: the mapping says so instead of loading half."""
    lite2 = VARIANTS["efficientnet-lite2"]
    state = torch.load(imagenet.weights_file(lite2), map_location="cpu", weights_only=True)
    with pytest.raises(KeyError):
        convert_state_dict(state, VARIANTS["efficientnet-lite0"])


def test_init_imagenet_loads_encoder_and_classifier(classifier):
    name = "imagenet" if classifier.variant.name.endswith("lite0") else "imagenet-lite2"
    model = ColorizationNet(preset(name))
    imagenet.init_from_imagenet(model)
    torch.testing.assert_close(model.classifier.weight, classifier.fc.weight)
    torch.testing.assert_close(
        model.encoder.stages[4][0].project[0].weight, classifier.stages[4][0].project[0].weight
    )


@pytest.mark.parametrize("shape", [(1, 1, 97, 131), (2, 1, 224, 224), (1, 1, 8, 8)])
def test_imagenet_preset_output_has_the_input_size(shape):
    model = ColorizationNet(preset("imagenet")).eval()
    with torch.no_grad():
        ab, logits = model(torch.rand(shape))
    assert ab.shape == (shape[0], 2, *shape[2:])
    assert logits.shape == (shape[0], 1000)


def test_imagenet_preset_style_comes_from_the_global_vector():
    """The paper's idea is kept: another image's global vector changes the colours."""
    torch.manual_seed(0)
    model = ColorizationNet(preset("imagenet")).eval()
    l = torch.rand(1, 1, 64, 96)  # a multiple of 16, as predict() takes
    with torch.no_grad():
        g_a, _ = model.global_features(torch.rand(1, 1, GLOBAL_SIZE, GLOBAL_SIZE))
        g_b = torch.rand_like(g_a) * 3  # another image's vector, as --style gives
        a, b = model.predict(l, g_a), model.predict(l, g_b)  # the bins' logits
    assert g_a.shape == (1, model.global_dim)
    assert (a - b).abs().max() > 1e-3


def test_training_224_shares_one_encoder_pass_and_matches_two_passes():
    """forward() on 224 crops continues the global path from the local path's stride-16 map;
    the result equals computing both paths separately."""
    torch.manual_seed(0)
    model = ColorizationNet(preset("imagenet")).eval()
    l = torch.rand(2, 1, 224, 224)
    with torch.no_grad():
        head, logits = model(l, return_head=True)
        g, logits2 = model.global_features(l)
        head2 = model.predict(l, g)
    torch.testing.assert_close(logits, logits2)
    torch.testing.assert_close(head, head2)


def test_frozen_encoder_keeps_imagenet_batchnorm_statistics():
    model = ColorizationNet(preset("imagenet")).train()
    bn = model.encoder.stem[2]
    before = bn.running_mean.clone()
    model(torch.rand(2, 1, 224, 224))
    assert not bn.training
    torch.testing.assert_close(bn.running_mean, before)


def test_loading_the_shipped_model_imports_no_weights_package():
    code = (
        "import sys; from filmcolor.weights import load_model; load_model(None); "
        f"sys.exit(int({imagenet.module_name()!r} in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("stages", [0, 3])
def test_tune_stages_trains_the_last_encoder_stages_at_the_lower_rate(stages):
    from filmcolor.train.config import TrainConfig
    from filmcolor.train.loop import build_model, build_optimizer

    cfg = TrainConfig(preset="imagenet", tune_stages=stages, optimizer="adam", lr=1e-3)
    model = build_model(cfg, num_classes=0)
    enc = model.encoder
    tuned = {
        id(p)
        for part in [*enc.stages[-stages:], enc.head] * bool(stages)
        for p in part.parameters()
    }
    assert {id(p) for p in enc.parameters() if p.requires_grad} == tuned
    opt, _ = build_optimizer(cfg, model, total_steps=10)
    groups = [{id(p) for p in g["params"]} for g in opt.param_groups]
    decoder = {id(p) for n, p in model.named_parameters() if not n.startswith("encoder.")}
    assert groups[0] == decoder
    assert groups[1:] == ([tuned] if stages else [])
    assert [g["lr"] for g in opt.param_groups[1:]] == ([1e-3 * cfg.encoder_lr] if stages else [])


@pytest.mark.parametrize("crop", [224, 288])
def test_teacher_calls_the_cat_a_cat_at_any_crop_size_under_bf16(crop):
    """`filmcolor train --crop 288` with an ImageNet preset: the teacher resizes the colour crop
    to 224 (antialiased, which has no bfloat16 kernel) inside the trainer's autocast."""
    rgb = torch.from_numpy(skimage.data.chelsea()).permute(2, 0, 1)[None].float() / 255
    rgb = F.interpolate(rgb, size=(crop, crop), mode="bilinear", antialias=True)
    lab = rgb_to_lab(rgb)
    teacher = imagenet.Teacher(torch.device("cpu"))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        probs = teacher(lab[:, :1] / 100, ab_to_unit(lab[:, 1:], 110.0), 110.0)
    assert probs.shape == (1, 1000) and probs.dtype == torch.float32
    assert probs.sum().item() == pytest.approx(1.0, abs=1e-3)
    assert int(probs.argmax()) in CATS
