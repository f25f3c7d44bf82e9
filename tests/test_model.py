"""The network: exact size, shapes at any input size, and the global/local split."""

import pytest
import torch

from filmcolor.models import GLOBAL_SIZE, ColorizationNet, count_weights, preset

TINY = preset("compact", width=0.125, num_classes=5)


def test_paper_weight_count_matches_the_paper():
    with torch.device("meta"):
        model = ColorizationNet(preset("paper", num_classes=205, fusion_kernel=1))
    assert count_weights(model) == 42_346_880


def test_fusion_kernel_3_is_the_released_models_shape():
    with torch.device("meta"):
        k1 = ColorizationNet(preset("paper"))
        k3 = ColorizationNet(preset("paper", fusion_kernel=3))
    assert count_weights(k3) - count_weights(k1) == 512 * 256 * 8


def test_compact_halves_every_channel_count():
    with torch.device("meta"):
        paper, compact = ColorizationNet(preset("paper")), ColorizationNet(preset("compact"))
    for (name, p), (_, c) in zip(paper.named_parameters(), compact.named_parameters(), strict=True):
        if p.ndim == 4 and p.shape[1] > 1:  # conv weights other than the 1-channel input
            assert c.shape[0] in (p.shape[0] // 2, p.shape[0]), name  # output conv keeps 2
            assert c.shape[1] == p.shape[1] // 2, name


@pytest.mark.parametrize("shape", [(1, 1, 97, 131), (2, 1, 224, 224), (1, 1, 8, 8), (1, 1, 1, 1)])
@pytest.mark.parametrize("name", ["paper", "compact"])
def test_output_has_the_input_size(name, shape):
    model = ColorizationNet(preset(name, width=preset(name).width / 4)).eval()
    with torch.no_grad():
        ab, logits = model(torch.rand(shape))
    assert ab.shape == (shape[0], 2, *shape[2:])
    assert logits.shape == (shape[0], 205)


@pytest.mark.parametrize("size", [(97, 131), (480, 640), (224, 224), (16, 600)])
def test_global_path_always_sees_224(size):
    model = ColorizationNet(TINY).eval()
    seen = []
    hook = model.global_conv.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[-2:]))
    with torch.no_grad():
        model(torch.rand(1, 1, *size))
    hook.remove()
    assert seen == [(GLOBAL_SIZE // 8, GLOBAL_SIZE // 8)]


def test_global_features_refuse_other_sizes():
    with pytest.raises(ValueError, match="224x224"):
        ColorizationNet(TINY).global_features(torch.rand(1, 1, 100, 100))


def _randomized(model: ColorizationNet) -> ColorizationNet:
    """Give BN non-trivial statistics so that different inputs give clearly different outputs."""
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = None  # running statistics = the exact average over the passes below
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(4, 1, 224, 224))
    return model.eval()


def test_style_transfer_global_features_from_another_image_change_the_output():
    model = _randomized(ColorizationNet(TINY))
    a, b = torch.rand(1, 1, 224, 224), torch.rand(1, 1, 224, 224) ** 3
    with torch.no_grad():
        own_ab, _ = model(a)
        g_a, _ = model.global_features(a)
        g_b, _ = model.global_features(b)
        same = model.colorize(a, g_a)
        styled = model.colorize(a, g_b)
    torch.testing.assert_close(same, own_ab)
    assert (styled - own_ab).abs().mean() > 1e-3


def test_colorize_is_per_image_within_a_batch():
    model = _randomized(ColorizationNet(TINY))
    l = torch.rand(3, 1, 40, 56)
    g, _ = model.global_features(torch.rand(3, 1, 224, 224))
    with torch.no_grad():
        batched = model.colorize(l, g)
        single = model.colorize(l[1:2], g[1:2])
        shared = model.colorize(l, g[:1])  # one vector shared by the whole batch
    torch.testing.assert_close(batched[1:2], single, atol=1e-3, rtol=0)  # a*b* units
    torch.testing.assert_close(shared[0], batched[0], atol=1e-3, rtol=0)  # a*b* units


def test_no_classifier_when_num_classes_is_zero():
    model = ColorizationNet(preset("compact", width=0.125, num_classes=0)).eval()
    with torch.no_grad():
        ab, logits = model(torch.rand(1, 1, 32, 32))
    assert logits is None and ab.shape == (1, 2, 32, 32)


@pytest.mark.parametrize(
    "field", [{"width": 0}, {"fusion_kernel": 2}, {"color_head": "x"}, {"num_classes": -1}]
)
def test_bad_config_is_refused(field):
    with pytest.raises(ValueError):
        preset("compact", **field)
