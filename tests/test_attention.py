"""The attention / colour-classification variant: its blocks, presets and checkpoints."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from filmcolor.models import (
    NUM_BINS,
    PRESETS,
    ColorizationNet,
    PatchAttention,
    SelfAttention,
    count_weights,
    preset,
)
from filmcolor.weights import load_model, save_model


def _random_norms(module: torch.nn.Module) -> torch.nn.Module:
    """Random BN statistics and affine parameters, in eval mode, so no layer is trivial."""
    torch.manual_seed(1)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_()
    return module.eval()


def test_sagan_block_is_the_identity_at_initialisation():
    block = SelfAttention(16).eval()
    x = torch.randn(2, 16, 5, 7)
    with torch.no_grad():
        assert torch.equal(block(x), x)
        block.gamma.fill_(0.5)
        assert (block(x) - x).abs().mean() > 1e-3


def test_sagan_block_attends_over_all_positions():
    torch.manual_seed(0)
    block = SelfAttention(16).eval()
    with torch.no_grad():
        block.gamma.fill_(0.7)
        x = torch.randn(2, 16, 5, 7)
        f, g, h = (conv(x).flatten(2) for conv in (block.f, block.g, block.h))  # (B, c, N)
        beta = torch.softmax(g.transpose(1, 2) @ f, dim=-1)  # (B, N queries j, N keys i)
        o = (h @ beta.transpose(1, 2)).view(2, 16, 5, 7)  # o_j = sum_i beta_ji h(x_i)
        torch.testing.assert_close(block(x), x + 0.7 * o)


def _sagan_by_hand(block: SelfAttention, x: torch.Tensor) -> torch.Tensor:
    """The SAGAN formula with the N x N attention matrix written out (no fused kernel)."""
    b, c, height, width = x.shape
    f, g, h = (conv(x).flatten(2) for conv in (block.f, block.g, block.h))  # (B, c', N)
    beta = torch.softmax(g.transpose(1, 2) @ f, dim=-1)  # (B, N queries j, N keys i)
    o = (h @ beta.transpose(1, 2)).view(b, c, height, width)  # o_j = sum_i beta_ji h(x_i)
    return x + block.gamma * o


class _LargestTensor(TorchDispatchMode):
    """Records the largest tensor (in elements) that any operation inside the block returns."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def test_sagan_block_runs_a_fused_kernel_that_never_stores_the_attention_matrix():
    torch.manual_seed(0)
    block = SelfAttention(32).eval()
    block.gamma.data.fill_(1)
    x = torch.randn(1, 32, 24, 32)
    n = 24 * 32  # positions: the matrix would hold n * n = 589,824 numbers, x holds 24,576
    with torch.no_grad():
        with _LargestTensor() as seen:
            y = block(x)
        reference = _sagan_by_hand(block, x)  # the matrix, outside the block
    assert seen.largest < n * n // 8, f"a tensor of {seen.largest} elements: the N x N matrix"
    torch.testing.assert_close(y, reference, atol=1e-5, rtol=1e-4)
    assert (y - x).abs().mean() > 1e-2  # the attention branch does contribute


def _patch_attention_slow(block: PatchAttention, x: torch.Tensor) -> torch.Tensor:
    """The block's formula with explicit loops over positions i and footprint positions j."""
    b, c, height, width = x.shape
    r = block.k // 2
    pre = block.pre(x)
    phi, psi, beta = block.phi(pre), block.psi(pre), block.beta(pre)
    y = torch.zeros(b, block.mid, height, width)
    for n in range(b):
        for yi in range(height):
            for xi in range(width):
                footprint = [
                    (yi + dy, xi + dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)
                ]
                inside = [0 <= yj < height and 0 <= xj < width for yj, xj in footprint]
                psi_j = [
                    psi[n, :, yj, xj] if ok else torch.zeros(block.rel)
                    for (yj, xj), ok in zip(footprint, inside, strict=True)
                ]
                # alpha of the concatenation [phi(x_i); psi(x_j) for every j in R(i)], psi
                # channel-major as nn.Unfold lays it out (the authors' order)
                cat = torch.cat([phi[n, :, yi, xi], torch.stack(psi_j, 1).flatten()])
                cat = cat.view(1, -1, 1, 1)
                alpha = block.alpha(cat).view(block.groups, len(footprint))
                for j, ((yj, xj), ok) in enumerate(zip(footprint, inside, strict=True)):
                    if ok:
                        for ch in range(block.mid):  # weights shared by channels ch % groups
                            y[n, ch, yi, xi] += alpha[ch % block.groups, j] * beta[n, ch, yj, xj]
    return x + block.post(y)


@pytest.mark.parametrize("channels", [64, 24])  # C/4 = 16 in 2 groups; C/4 = 6 in 1 group
def test_patch_attention_matches_a_slow_reference(channels):
    block = _random_norms(PatchAttention(channels))
    torch.manual_seed(0)
    x = torch.randn(2, channels, 4, 5)
    with torch.no_grad():
        fast, slow = block(x), _patch_attention_slow(block, x)
    assert fast.shape == x.shape
    assert (fast - x).abs().mean() > 1e-2  # the attention branch does contribute
    torch.testing.assert_close(fast, slow, atol=1e-4, rtol=1e-4)


def test_patch_attention_widths_follow_the_spec():
    block = PatchAttention(256)
    assert (block.phi.out_channels, block.psi.out_channels) == (16, 16)  # C/16
    assert block.beta.out_channels == 64  # C/4
    assert block.alpha[-1].out_channels == 8 * 9  # one weight per 8 channels and footprint cell


def test_attention_presets_use_bins_and_attention():
    for name in ("attention", "compact-attention"):
        cfg = PRESETS[name]
        assert cfg.attention and cfg.color_head == "bins"
    assert PRESETS["attention"].width == 1 and PRESETS["compact-attention"].width == 0.5
    with torch.device("meta"):
        model = ColorizationNet(preset("attention"))
    assert sum(isinstance(m, PatchAttention) for m in model.low) == 3
    assert sum(isinstance(m, SelfAttention) for m in model.colorization) == 1
    assert model.colorization[-1].out_channels == NUM_BINS
    assert count_weights(model) > count_weights(ColorizationNet(preset("paper")).to("meta"))


@pytest.mark.parametrize("name", ["attention", "compact-attention"])
def test_attention_presets_run_at_odd_sizes(name):
    torch.manual_seed(0)
    model = ColorizationNet(preset(name, width=preset(name).width / 8, num_classes=5)).eval()
    l = torch.rand(1, 1, 37, 53)
    with torch.no_grad():
        ab, logits = model(l)
        g, _ = model.global_features(torch.rand(1, 1, 224, 224))
        head = model.predict(torch.rand(1, 1, 40, 56), g)
    assert ab.shape == (1, 2, 37, 53) and ab.dtype == torch.float32
    assert logits.shape == (1, 5)
    assert head.shape == (1, NUM_BINS, 20, 28)  # logits over the bins at half resolution
    assert torch.isfinite(ab).all()


def test_bins_model_round_trips_and_temperature_changes_its_output(tmp_path):
    torch.manual_seed(0)
    model = ColorizationNet(preset("compact-attention", width=0.0625, num_classes=3)).eval()
    assert not any("bin_centres" in k for k in model.state_dict())  # derived, not a weight
    l = torch.rand(1, 1, 24, 40)
    with torch.no_grad():
        ab, _ = model(l)
    path = save_model(tmp_path / "bins.safetensors", model, class_names=["a", "b", "c"])
    loaded, meta = load_model(path)
    assert meta["config"]["color_head"] == "bins" and meta["config"]["attention"] is True
    with torch.no_grad():
        torch.testing.assert_close(loaded(l)[0], ab)
        cooler, _ = load_model(path, temperature=0.2)[0](l)
    assert cooler.shape == ab.shape
    assert (cooler - ab).abs().mean() > 1e-2  # a*b* units


def test_attention_and_bins_are_independent_options():
    model = ColorizationNet(preset("compact", width=0.0625, attention=True)).eval()
    with torch.no_grad():
        g, _ = model.global_features(torch.rand(1, 1, 224, 224))
        head = model.predict(torch.rand(1, 1, 16, 24), g)
    assert head.shape == (1, 2, 8, 12)  # a*b* regression, not logits over the bins
    assert any(isinstance(m, PatchAttention) for m in model.modules())


def test_a_bins_models_temperature_is_saved_with_it(tmp_path):
    model = ColorizationNet(preset("compact", width=0.0625, color_head="bins", num_classes=0))
    model.temperature = 0.6
    loaded, meta = load_model(save_model(tmp_path / "t.safetensors", model))
    assert loaded.temperature == 0.6 and meta["config"]["temperature"] == 0.6
    assert load_model(tmp_path / "t.safetensors", temperature=0.3)[0].temperature == 0.3
    with pytest.raises(ValueError, match="positive"):
        model.temperature = 0
