"""benchmarks/quality.py on generated colour images and a clip, with the tiny random model."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from media import shot_frames, write_clip

from filmcolor.models.color import rgb_to_lab

ROOT = Path(__file__).resolve().parents[1]
RED = (200, 60, 40)  # the uniform test image's RGB


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("quality", ROOT / "benchmarks" / "quality.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["quality"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


quality = _load_benchmark()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """A folder of a uniform red image, a colourful pattern, a gray image, a clip and a text."""
    root = tmp_path_factory.mktemp("photos")
    cv2.imwrite(str(root / "red.png"), np.full((48, 64, 3), RED[::-1], np.uint8))
    yy, xx = np.mgrid[0:48, 0:64]
    pattern = np.stack([xx * 4, yy * 5, 255 - xx * 3], axis=-1).clip(0, 255).astype(np.uint8)
    (root / "sub").mkdir()
    cv2.imwrite(str(root / "sub" / "pattern.jpg"), pattern)
    cv2.imwrite(str(root / "gray.png"), shot_frames(1)[0])
    write_clip(root / "clip.mp4", n=12, rgb=True)
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def report(photos, tiny_model, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("report")
    args = [str(photos), "--model", str(tiny_model), "--render-size", "32", "--out", str(out)]
    args += ["--device", "cpu", "--precision", "fp32", "--video-frames", "2"]
    return quality.main(args)


def test_report_has_every_measure_for_model_gray_and_truth(report, tiny_model):
    assert report["images"] == 4  # red, pattern, two frames of the clip; gray.png is skipped
    assert [s["file"].endswith("gray.png") for s in report["skipped"]] == [True]
    files = [(r["file"], r["frame"]) for r in report["per_image"]]
    assert files == [("clip.mp4", 3), ("clip.mp4", 9), ("red.png", None), ("sub/pattern.jpg", None)]
    measures = {"psnr", "ssim", "colourfulness", "auc"}
    for row in report["per_image"]:
        assert set(row["model"]) == measures and set(row["gray"]) == measures
        assert set(row["truth"]) == {"colourfulness"}
        assert 0 < row["model"]["ssim"] <= 1 and 0 <= row["model"]["auc"] <= 1
    assert set(report["mean"]) == {"model", "gray", "truth"}
    assert report["mean"]["model"]["psnr"] == pytest.approx(
        np.mean([r["model"]["psnr"] for r in report["per_image"]]), abs=1e-3
    )
    assert report["measures"]["ssim_args"] == {
        "gaussian_weights": True,
        "sigma": 1.5,
        "use_sample_covariance": False,
        "data_range": 255,
        "channel_axis": -1,
    }
    assert report["model"]["path"] == str(tiny_model)
    assert report["model"]["config"]["width"] == pytest.approx(0.125)
    assert "provenance" in report["model"]
    assert report["summary"]["psnr_gain_db"] == pytest.approx(
        report["mean"]["model"]["psnr"] - report["mean"]["gray"]["psnr"], abs=1e-3
    )


def test_gray_baseline_is_measured_exactly(report):
    red = next(r for r in report["per_image"] if r["file"] == "red.png")
    for row in report["per_image"]:
        assert row["gray"]["colourfulness"] == pytest.approx(0, abs=1e-3)
    # A uniform colour: every pixel's a*b* error under a*=b*=0 is the colour's chroma c, so
    # AuC = (151 - ceil(c)) / 151; colourfulness = 0.3 * |(R - G, (R + G) / 2 - B)|.
    lab = rgb_to_lab(torch.tensor(RED, dtype=torch.float32).view(1, 3, 1, 1) / 255)
    chroma = float(lab[0, 1:].norm(dim=0))
    assert red["gray"]["auc"] == pytest.approx((151 - math.ceil(chroma)) / 151, abs=1e-6)
    r, g, b = RED
    assert red["truth"]["colourfulness"] == pytest.approx(0.3 * math.hypot(r - g, (r + g) / 2 - b))
    # The gray input keeps the truth's L*: its gray level is the sRGB gray of that lightness.
    level = round(float(quality.gray_input(np.array([[RED]], np.float32) / 255)[0, 0]))
    mse = np.mean([(c - level) ** 2 for c in RED])
    assert red["gray"]["psnr"] == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-3)


def test_outputs_written_and_list_selects_files(report, photos, tiny_model, tmp_path, capsys):
    written = json.loads(Path(report["outputs"]["json"]).read_text())
    assert written["mean"] == report["mean"]
    sheet = cv2.imread(report["outputs"]["contact_sheet"])
    assert sheet.shape[0] == 4 * (quality.SHEET_HEIGHT + 18 + 4)
    (tmp_path / "val.txt").write_text("/sub/pattern.jpg 0\n/red.png 1\n")
    args = [str(photos), "--list", str(tmp_path / "val.txt"), "--model", str(tiny_model)]
    args += ["--out", str(tmp_path / "q"), "--device", "cpu", "--precision", "fp32"]
    capsys.readouterr()
    listed = quality.main(args)
    assert [r["file"] for r in listed["per_image"]] == ["sub/pattern.jpg", "red.png"]
    assert json.loads(capsys.readouterr().out)["images"] == 2
