"""A reference's palette: the prediction's a*b* matched to it per band of L*."""

import cv2
import numpy as np

from filmcolor.palette import (
    BANDS,
    MAX_GAIN,
    MIN_SPREAD,
    PRIOR_PIXELS,
    match_palette,
    palette_of_lab,
    palette_of_rgb,
)


def _prediction(seed=0, size=48):
    """A frame with a ramp of lightness and dull, noisy a*b* (what a network gives)."""
    rng = np.random.default_rng(seed)
    lightness = np.tile(np.linspace(5, 95, size, dtype=np.float32), (size, 1))
    ab = rng.normal(0, 3, (size, size, 2)).astype(np.float32)
    return lightness, ab


def _rgb(lab: np.ndarray) -> np.ndarray:
    rgb = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB)
    return (rgb.clip(0, 1) * 255).round().astype(np.uint8)


def test_gray_reference_changes_nothing():
    lightness, ab = _prediction()
    gray = np.repeat(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], 3, axis=2)
    gray = np.repeat(gray, 32, axis=0)  # (32, 64, 3), R = G = B
    out = match_palette(lightness, ab, palette_of_rgb(gray), strength=1.0)
    assert np.array_equal(out, ab)


def test_colour_reference_moves_the_mean_toward_its_own():
    lightness, ab = _prediction()
    lab = np.dstack([lightness, np.full_like(lightness, 40), np.full_like(lightness, 25)])
    rgb = _rgb(lab)  # an orange picture (clipped to sRGB at its darkest and brightest)
    reference = palette_of_rgb(rgb)
    ref_mean = cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[..., 1:]
    ref_mean = ref_mean.reshape(-1, 2).mean(0)  # the same lightness ramp as the prediction's
    before = np.abs(ab.reshape(-1, 2).mean(0) - ref_mean).sum()
    half = match_palette(lightness, ab, reference, strength=0.5)
    full = match_palette(lightness, ab, reference, strength=1.0)
    d_half = np.abs(half.reshape(-1, 2).mean(0) - ref_mean).sum()
    d_full = np.abs(full.reshape(-1, 2).mean(0) - ref_mean).sum()
    assert d_full < 0.1 * before  # nearly the reference's mean in full
    assert d_full < d_half < before  # and half-way at half strength
    assert np.array_equal(match_palette(lightness, ab, reference, strength=0.0), ab)


def test_colours_go_where_the_reference_has_them_by_lightness():
    """Welsh et al.: dark pixels take the reference's dark colour, bright ones its bright one."""
    lightness, ab = _prediction()
    dark_blue = lightness < 50
    ref_ab = np.where(dark_blue[..., None], np.float32([10, -40]), np.float32([20, 50]))
    reference = palette_of_lab(lightness, ref_ab.astype(np.float32))
    out = match_palette(lightness, ab, reference, strength=1.0)
    shadows, lights = out[lightness < 30].mean(0), out[lightness > 70].mean(0)
    assert shadows[1] < -30  # blue in the shadows
    assert lights[1] > 40  # yellow-orange in the lights


def test_own_palette_is_a_fixed_point():
    lightness, ab = _prediction(seed=3)
    ab = ab + np.float32([15, -10])  # colourful enough not to be gray
    out = match_palette(lightness, ab, palette_of_lab(lightness, ab), strength=1.0)
    assert np.abs(out - ab).max() < 1e-3


def test_a_colour_style_reference_moves_the_films_colours_a_gray_one_changes_nothing(
    tmp_path, tiny_model
):
    """colorize --style: a colour reference and its own gray version no longer give the same
    film; the colour one pulls the mean a*b* toward its own, the gray one keeps today's."""
    import av
    from media import write_clip

    from filmcolor.config import ColorizeConfig
    from filmcolor.pipeline import colorize_video

    film = tmp_path / "film.mkv"
    write_clip(film, n=12, codec="ffv1", pix_fmt="yuv420p")
    rng = np.random.default_rng(1)
    lab = np.dstack(
        [rng.uniform(20, 90, (48, 64)), np.full((48, 64), 35.0), np.full((48, 64), 45.0)]
    )
    orange = _rgb(lab.astype(np.float32))
    gray = np.repeat(cv2.cvtColor(orange, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    cv2.imwrite(str(tmp_path / "orange.png"), orange[..., ::-1])
    cv2.imwrite(str(tmp_path / "gray.png"), gray)

    def mean_ab(name: str, **options) -> np.ndarray:
        out = tmp_path / f"{name}.mkv"
        cfg = ColorizeConfig(
            film, out, model=tiny_model, precision="fp32", device="cpu", render_size=32,
            codec="ffv1", **options,
        )  # fmt: skip
        colorize_video(cfg)
        with av.open(str(out)) as c:
            rgb = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
        rgb = rgb.reshape(-1, rgb.shape[2], 3).astype(np.float32) / 255  # frames stacked
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[..., 1:]

    gray_run = mean_ab("gray", style=tmp_path / "gray.png")
    assert np.array_equal(gray_run, mean_ab("off", style=tmp_path / "gray.png", style_strength=0))
    colour_run = mean_ab("orange", style=tmp_path / "orange.png")
    target = palette_of_rgb(orange).mean.mean(0)
    before = np.abs(gray_run.reshape(-1, 2).mean(0) - target).sum()
    after = np.abs(colour_run.reshape(-1, 2).mean(0) - target).sum()
    assert after < 0.5 * before, (before, after)


def _dense_match(lightness, ab, reference, strength):
    """The module docstring's formula, written out over all BANDS memberships per pixel."""
    centres = (np.arange(BANDS) + 0.5) * (100.0 / BANDS)
    l = np.clip(lightness, centres[0], centres[-1])[..., None]
    w = np.maximum(0.0, 1.0 - np.abs(l - centres) / (100.0 / BANDS))  # (h, w, K)
    x, n = ab.reshape(-1, 2).astype(np.float64), ab.shape[0] * ab.shape[1]
    wk = w.reshape(-1, BANDS)
    prior = PRIOR_PIXELS * n
    mean = (wk.T @ x + prior * x.mean(0)) / (wk.sum(0)[:, None] + prior)
    sq = (wk.T @ (x * x) + prior * (x * x).mean(0)) / (wk.sum(0)[:, None] + prior)
    spread = np.sqrt(np.maximum(sq - mean * mean, 0))
    gain = np.maximum(reference.spread, MIN_SPREAD) / np.maximum(spread, MIN_SPREAD)
    gain = np.clip(gain, 0, MAX_GAIN)
    matched = w @ gain * ab + w @ (reference.mean - mean * gain)
    return ab + strength * (matched - ab)


def test_two_bands_per_pixel_give_the_formula_over_all_bands():
    rng = np.random.default_rng(3)
    lightness = rng.uniform(-5, 105, (40, 56)).astype(np.float32)  # below, inside and above
    lightness[0, :4] = [6.25, 12.5, 50.0, 93.75]  # on band centres
    ab = rng.normal(0, 15, (40, 56, 2)).astype(np.float32)
    reference = palette_of_lab(rng.uniform(0, 100, (30, 30)), rng.normal(5, 25, (30, 30, 2)))
    out = match_palette(lightness, ab, reference, strength=0.8)
    assert np.allclose(out, _dense_match(lightness, ab, reference, 0.8), atol=1e-3)
