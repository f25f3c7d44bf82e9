"""Colour math against scikit-image, and the network's normalisation."""

import numpy as np
import pytest
import torch
from skimage import color as skcolor

from filmcolor.models.color import (
    ab_to_unit,
    gray_to_lightness,
    lab_to_rgb,
    lightness_to_gray,
    rgb_to_gray8,
    rgb_to_lab,
    unit_to_ab,
)


def _random_rgb(n=4096, seed=0):
    rng = np.random.default_rng(seed)
    rgb = rng.random((64, n // 64, 3))
    rgb[0, :8] = [
        [0, 0, 0],
        [1, 1, 1],
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
        [1, 1, 0],
        [0.5] * 3,
        [0.02] * 3,
    ]
    return rgb


def test_rgb_to_lab_matches_skimage():
    rgb = _random_rgb()
    ours = rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1)).permute(1, 2, 0).numpy()
    ref = skcolor.rgb2lab(rgb)
    assert np.abs(ours[..., 0] - ref[..., 0]).max() < 1e-3
    assert np.abs(ours[..., 1:] - ref[..., 1:]).max() < 1e-2


def test_lab_to_rgb_matches_skimage_and_round_trips():
    rgb = _random_rgb(seed=1)
    lab = skcolor.rgb2lab(rgb)
    ours = lab_to_rgb(torch.from_numpy(lab).permute(2, 0, 1)).permute(1, 2, 0).numpy()
    assert np.abs(ours - skcolor.lab2rgb(lab)).max() < 1e-4
    assert np.abs(ours - rgb).max() < 1e-4


def test_batched_on_leading_dims():
    rgb = torch.rand(2, 3, 3, 5, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    lab = rgb_to_lab(rgb)
    assert lab.shape == rgb.shape and lab.dtype == torch.float32
    # float32 L* up to 100: a batched matmul may round differently in the last bits
    torch.testing.assert_close(rgb_to_lab(rgb[1, 2]), lab[1, 2], atol=1e-4, rtol=0)
    torch.testing.assert_close(lab_to_rgb(lab), rgb.float(), atol=1e-4, rtol=0)


def test_out_of_gamut_lab_is_clipped_to_valid_rgb():
    lab = torch.tensor([[[50.0]], [[110.0]], [[-110.0]]])
    rgb = lab_to_rgb(lab)
    assert rgb.min() >= 0 and rgb.max() <= 1


@pytest.mark.parametrize("bits", [8, 10, 16])
def test_gray_to_lightness_matches_skimage(bits):
    table = gray_to_lightness(bits)
    assert table.shape == (2**bits,)
    levels = np.arange(2**bits) / (2**bits - 1)
    ref = skcolor.rgb2lab(np.repeat(levels[:, None, None], 3, axis=2))[..., 0, 0]
    assert np.abs(table.numpy() - ref).max() < 1e-3
    assert table[0] == 0 and abs(table[-1] - 100) < 1e-3
    assert torch.all(table[1:] > table[:-1])  # strictly increasing: no two grays merge


def test_lightness_to_gray_inverts_the_lookup():
    table = gray_to_lightness(8)
    gray = lightness_to_gray(table) * 255
    assert (gray - torch.arange(256)).abs().max() < 1e-2


def test_a_gray_photo_stays_the_same_gray_and_colours_keep_their_lightness():
    levels = torch.arange(256, dtype=torch.float32) / 255
    gray = levels.view(1, 16, 16).expand(3, 16, 16)
    assert torch.equal(rgb_to_gray8(gray), torch.arange(256, dtype=torch.uint8).view(16, 16))
    red, dark_red = torch.tensor([1.0, 0, 0]).view(3, 1, 1), torch.tensor([0.5, 0, 0]).view(3, 1, 1)
    expected = lightness_to_gray(torch.tensor(skcolor.rgb2lab(np.array([[[1.0, 0, 0]]]))[0, 0, 0]))
    assert abs(int(rgb_to_gray8(red)) - float(expected) * 255) <= 0.5
    assert rgb_to_gray8(dark_red) < rgb_to_gray8(red)


def test_ab_normalisation_round_trip_and_range():
    ab = torch.linspace(-110, 110, 23)
    s = ab_to_unit(ab, 110)
    assert s.min() == 0 and s.max() == 1 and ab_to_unit(torch.zeros(1), 110) == 0.5
    torch.testing.assert_close(unit_to_ab(s, 110), ab)


@pytest.mark.parametrize("subsampled", [True, False])
def test_lab_to_chroma_matches_converting_every_pixel(subsampled):
    """Pass 2's fast conversion (OpenCV, at the chroma planes' size) against the reference:
    every pixel through lab_to_rgb and rgb_to_chroma, Cb and Cr averaged over 2x2 for 4:2:0."""
    import cv2
    from skimage import data

    from filmcolor.color import OutputFormat, lab_to_chroma, rgb_to_chroma

    lab = skcolor.rgb2lab(data.astronaut()[::2, ::2]).astype(np.float32)  # 256x256, real edges
    ab = cv2.resize(lab[..., 1:], (64, 64), interpolation=cv2.INTER_AREA)  # the network's size
    full = cv2.resize(ab, (256, 256), interpolation=cv2.INTER_LINEAR)
    fmt = OutputFormat("libx264", "yuv420p" if subsampled else "yuv444p", 8, subsampled, False, 1)
    ref_lab = torch.from_numpy(np.dstack((lab[..., :1], full))).permute(2, 0, 1)[None]
    ref = torch.stack(rgb_to_chroma(lab_to_rgb(ref_lab), fmt), -1)[0].numpy()
    fast = np.dstack(lab_to_chroma(lab[..., 0].copy(), ab, fmt)).astype(np.float32)
    assert fast.shape == ref.shape == ((128, 128, 2) if subsampled else (256, 256, 2))
    diff = np.abs(fast - ref)
    if subsampled:  # blocks across a sharp edge differ (measured: mean 0.09, 1.2% by more
        # than one code value, at most 12); everywhere else the last bit at most
        assert diff.mean() < 0.15 and np.mean(diff > 1) < 0.02 and diff.max() <= 16
    else:
        assert diff.max() <= 1
