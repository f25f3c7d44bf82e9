"""The Python API in ``filmcolor``: the same pixels and files as the command, and a light import."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
from media import read_video, shot_frames, write_clip
from typer.testing import CliRunner

import filmcolor
from filmcolor.cli import app


def test_import_filmcolor_loads_neither_torch_nor_pyav():
    code = "import sys, filmcolor; print('torch' in sys.modules, 'av' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_colorize_image_gives_the_pixels_frames_writes(tmp_path, tiny_model):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    gray = shot_frames(1, size=(72, 48))[0]
    cv2.imwrite(str(src / "a.png"), gray)
    cv2.imwrite(str(src / "b.png"), gray.astype(np.uint16) * 257)  # a 16-bit scan
    opts = ["--model", tiny_model, "--device", "cpu", "--precision", "fp32"]
    result = CliRunner().invoke(app, ["frames", str(src), "-o", str(dst), *map(str, opts)])
    assert result.exit_code == 0, result.output
    colorizer = filmcolor.Colorizer.load(tiny_model, "cpu", "fp32")
    for name, image in [("a.png", gray), ("b.png", gray.astype(np.uint16) * 257)]:
        written = cv2.imread(str(dst / name), cv2.IMREAD_UNCHANGED)[..., ::-1]  # BGR -> RGB
        from_path = filmcolor.colorize_image(
            src / name, model=tiny_model, device="cpu", precision="fp32"
        )
        from_array = filmcolor.colorize_image(image, colorizer=colorizer)
        assert from_path.dtype == image.dtype and from_path.shape == (*gray.shape, 3)
        np.testing.assert_array_equal(from_path, written)
        np.testing.assert_array_equal(from_array, written)
        assert np.ptp(from_path.astype(np.int64)[..., 0] - from_path[..., 2]) > 0  # colour


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan")])
def test_colorize_image_refuses_a_bad_temperature_before_loading_a_model(temperature):
    with pytest.raises(filmcolor.ConfigError, match="--temperature"):
        filmcolor.colorize_image(np.zeros((8, 8), np.uint8), temperature=temperature)


def test_colorize_image_refuses_an_array_that_is_no_image():
    with pytest.raises(filmcolor.UserError, match="uint8 or uint16"):
        filmcolor.colorize_image(np.zeros((8, 8), np.float32))


def test_colorize_video_is_the_command(tmp_path, tiny_model):
    clip = tmp_path / "film.mp4"
    write_clip(clip, n=12)
    reports = []
    opts = dict(model=tiny_model, device="cpu", precision="fp32", codec="ffv1")
    result = filmcolor.colorize_video(
        clip, tmp_path / "api.mkv", on_progress=reports.append, **opts
    )
    assert result.frames == 12 and {r.stage for r in reports} >= {"shots"}
    cli = CliRunner().invoke(
        app,
        ["colorize", str(clip), "-o", str(tmp_path / "cli.mkv")]
        + [f"--{k}={v}" for k, v in opts.items()],
    )
    assert cli.exit_code == 0, cli.output
    api, cmd = read_video(tmp_path / "api.mkv"), read_video(tmp_path / "cli.mkv")
    for plane in ("y", "u", "v"):
        np.testing.assert_array_equal(api[plane], cmd[plane])
