"""--temporal: flicker kept from the network, colour carried along the motion within a shot."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from media import read_video, write_clip

from filmcolor.pipeline import ColorizeConfig, colorize_video
from filmcolor.temporal import FollowMotion, ShotLevel

W, H = 96, 64


def run(src, out, colorizer, **kw):
    return colorize_video(ColorizeConfig(src, out, codec="ffv1", **kw), colorizer=colorizer)


@pytest.fixture
def luma_colorizer(colorizer, monkeypatch):
    """The tiny model at full size, whose a*b* is a function of lightness alone: bright is red,
    dark is neutral. What the flow carries, and what a trail would be, is then plain to see."""
    monkeypatch.setattr(colorizer, "render_size", 0)

    def ab(lightness: torch.Tensor, g: torch.Tensor) -> torch.Tensor:  # (B, 1, h, w) L*/100
        a = (120 * (lightness - 0.45)).clamp(0, 60)
        return torch.cat([a, 0.3 * a], dim=1)  # (B, 2, h, w)

    monkeypatch.setattr(colorizer, "ab", ab)
    return colorizer


def texture(seed: int = 0) -> np.ndarray:
    """A static mid-gray texture, (H, W) float32 in gray levels."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((H // 8, W // 8))
    big = np.kron(noise, np.ones((8, 8)))
    return 120 + 25 * big.astype(np.float32)


def test_first_frames_of_shots_are_the_networks_alone_and_luma_is_untouched(
    tmp_path, luma_colorizer
):
    rng = np.random.default_rng(1)
    frames = np.stack(
        [texture(0 if i < 10 else 1) * (1 + 0.06 * rng.standard_normal()) for i in range(20)]
    )
    frames = np.clip(np.rint(frames), 0, 255).astype(np.uint8)
    src = tmp_path / "cut.mkv"
    write_clip(src, frames, codec="ffv1")
    off, on = tmp_path / "off.mkv", tmp_path / "on.mkv"
    run(src, off, luma_colorizer, temporal=0.0, shots=_shot_list(tmp_path, [10]), batch_size=4)
    run(src, on, luma_colorizer, temporal=0.8, shots=_shot_list(tmp_path, [10]), batch_size=4)
    a, b, y = read_video(off), read_video(on), read_video(src)["y"]
    assert (b["y"] == y).all() and (a["y"] == y).all()  # ffv1: exactly the input's Y
    for first in (0, 10):  # each shot's first frame: the network's alone
        assert (a["u"][first] == b["u"][first]).all() and (a["v"][first] == b["v"][first]).all()
    assert (a["u"][1:10] != b["u"][1:10]).any()  # and later frames are steadied


def _shot_list(folder, cuts: list[int]):
    path = folder / "shots.csv"
    path.write_text("start_frame\n0\n" + "".join(f"{c}\n" for c in cuts))
    return path


def test_static_flickering_scene_gives_steady_chroma(tmp_path, luma_colorizer):
    rng = np.random.default_rng(2)
    gains = 1 + 0.08 * rng.standard_normal(24)  # brightness flicker of 8%
    frames = np.clip(np.rint([texture() * g for g in gains]), 0, 255).astype(np.uint8)
    src = tmp_path / "flicker.mkv"
    write_clip(src, frames, codec="ffv1")
    jumps = {}
    for strength in (0.0, 0.8):
        out = tmp_path / f"out{strength}.mkv"
        run(src, out, luma_colorizer, temporal=strength)
        v = read_video(out)
        chroma = np.stack([v["u"], v["v"]], -1).astype(np.float32)  # (N, h, w, 2)
        jumps[strength] = np.abs(np.diff(chroma, axis=0)).mean()
    assert jumps[0.0] > 1.0  # the flicker does make the colour boil without --temporal
    assert jumps[0.8] < jumps[0.0] / 4


def test_bright_object_moving_over_dark_leaves_no_colour_trail(tmp_path, luma_colorizer):
    n, size, step = 16, 8, 4  # an 8 px bright square moving right by 4 px a frame
    frames = np.full((n, H, W), 20, np.uint8)
    for i in range(n):
        x = 4 + step * i
        frames[i, 24 : 24 + size, x : x + size] = 220
    src = tmp_path / "moving.mkv"
    write_clip(src, frames, codec="ffv1", pix_fmt="yuv444p")
    out = tmp_path / "out.mkv"
    run(src, out, luma_colorizer, temporal=0.9)
    v = read_video(out)
    for plane in ("u", "v"):
        neutral = float(np.median(v[plane][0][:10, :10]))  # the dark background's Cb, Cr
        for i in range(4, n):
            x = 4 + step * i
            behind = v[plane][i, 24 : 24 + size, : x - 2].astype(np.float32)  # 2 px and more
            assert np.abs(behind - neutral).max() <= 2, f"a colour trail in {plane} at {i}"
    cr = v["v"].astype(np.float32)
    for i in range(4, n):
        x = 4 + step * i
        assert (cr[i, 26 : 22 + size, x + 2 : x + size - 2] - cr[i, :10, :10].mean()).mean() > 10


def test_shot_level_takes_out_flicker_and_starts_each_shot_as_it_is():
    level = ShotLevel()
    means = torch.tensor([0.5, 0.55, 0.45, 0.52, 0.5])
    small = means.view(-1, 1, 1, 1).expand(-1, 1, 4, 4).clone()
    out = level(0, small)
    assert torch.equal(out[0], small[0])
    assert out.mean(dim=(1, 2, 3)).std() < means.std() / 4
    fresh = level(1, small[3:])  # a new shot: its first frame as it is
    assert torch.equal(fresh[0], small[3])


def test_follow_motion_resets_at_a_new_shot_and_strength_zero_is_off():
    gray = np.tile(np.arange(W, dtype=np.uint8) * 2, (H, 1))
    pred = np.full((H, W, 2), 10, np.float32)
    follow = FollowMotion(0.8)
    follow(0, gray, pred)
    steadied = follow(0, gray, pred + 20)
    assert 10 < steadied.mean() < 30  # carried over from the previous frame
    assert np.array_equal(follow(1, gray, pred + 20), pred + 20)  # new shot: the prediction
    assert np.array_equal(follow(2, gray, pred + 5), pred + 5)
    off = FollowMotion(0.0)  # strength zero: every frame is the network's own a*b*
    assert np.array_equal(off(0, gray, pred), pred)
    for k in range(1, 4):  # the same shot, the picture moving, the prediction changing
        moved, p = np.roll(gray, 2 * k, axis=1), pred + 7 * k
        assert np.array_equal(off(0, moved, p), p)


def test_brightness_flicker_is_not_a_cut():
    from filmcolor.shots import detect

    rng = np.random.default_rng(3)
    base = texture(4) - 20  # (H, W), a mid-dark texture
    gains = 1 + 0.15 * np.sign(rng.standard_normal(40))  # harsh flicker: +-15% every frame
    frames = [np.clip(np.rint(base * g), 0, 255).astype(np.uint8) for g in gains]
    assert detect(iter(frames), 24, min_shot_frames=2) == []
    two = frames[:20] + [255 - f for f in frames[20:]]  # and a real cut is still found
    assert detect(iter(two), 24, min_shot_frames=2) == [20]
