"""benchmarks/quality.py on generated colour images and a clip, with the tiny random model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from benchmark_modules import load_benchmark
from media import shot_frames, write_clip

from filmcolor.metrics import hue_agreement, hue_cells
from filmcolor.models.color import rgb_to_lab

RED = (200, 60, 40)  # the uniform test image's RGB


quality = load_benchmark("quality")


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
    measures = {"psnr", "ssim", "colourfulness", "auc", "hue_agreement"}
    for row in report["per_image"]:
        assert set(row["model"]) == measures and set(row["gray"]) == measures
        assert set(row["truth"]) == {"colourfulness"}
        assert 0 < row["model"]["ssim"] <= 1 and 0 <= row["model"]["auc"] <= 1
        assert row["kind"] == "photo"  # no MANIFEST.csv with a kind column
        assert set(row["hue_cells"]) == {"eligible", "model", "gray"}
    assert set(report["mean"]) == {"model", "gray", "truth"}
    assert list(report["by_kind"]) == ["photo"]
    assert report["by_kind"]["photo"]["mean"] == report["mean"]
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
    assert sheet.shape[0] == 4 * (quality.SHEET_HEIGHT + 2 * quality.SHEET_LINE + 4)
    (tmp_path / "val.txt").write_text("/sub/pattern.jpg 0\n/red.png 1\n")
    args = [str(photos), "--list", str(tmp_path / "val.txt"), "--model", str(tiny_model)]
    args += ["--out", str(tmp_path / "q"), "--device", "cpu", "--precision", "fp32"]
    capsys.readouterr()
    listed = quality.main(args)
    assert [r["file"] for r in listed["per_image"]] == ["sub/pattern.jpg", "red.png"]
    assert json.loads(capsys.readouterr().out)["images"] == 2


def _uniform_ab(a: float, b: float, size: tuple[int, int] = (24, 32)) -> torch.Tensor:
    """A one-image batch of a single a*b* colour, (1, 2, H, W)."""
    return torch.tensor([a, b], dtype=torch.float32).view(1, 2, 1, 1).expand(1, 2, *size)


def _rotated(ab: torch.Tensor, degrees: float) -> torch.Tensor:
    """``ab`` with its hue turned by ``degrees``, chroma kept."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    a, b = ab.unbind(1)
    return torch.stack((c * a - s * b, s * a + c * b), dim=1)


@pytest.mark.parametrize(
    ("turn", "expected"), [(0, 1.0), (30, 1.0), (-30, 1.0), (60, 0.0), (-60, 0.0), (180, 0.0)]
)
def test_hue_agreement_counts_hues_within_45_degrees(turn, expected):
    truth = _uniform_ab(25, 40)
    assert float(hue_agreement(_rotated(truth, turn), truth)[0]) == expected


def test_hue_agreement_gray_and_weak_predictions_score_0():
    truth = torch.cat((_uniform_ab(25, 40), _uniform_ab(-30, 5)))  # a batch of two
    assert hue_agreement(torch.zeros_like(truth), truth).tolist() == [0.0, 0.0]
    weak = truth / truth.norm(dim=1, keepdim=True) * 2  # the right hue at chroma 2
    assert hue_agreement(weak, truth).tolist() == [0.0, 0.0]
    assert hue_agreement(weak * 2, truth).tolist() == [1.0, 1.0]  # chroma 4 > 3


def test_hue_agreement_ignores_cells_of_low_true_chroma():
    truth = _uniform_ab(25, 40).clone()
    truth[..., :, 16:] = _uniform_ab(3, 6)[..., :, 16:]  # right half: chroma under 10
    pred = truth.clone()
    pred[..., :, 16:] = 0  # gray where the truth is nearly gray: not counted against it
    agreeing, eligible = hue_cells(pred, truth)
    assert (int(agreeing), int(eligible)) == (32, 32)
    assert float(hue_agreement(pred, truth)[0]) == 1.0
    gray = _uniform_ab(3, 6)
    assert math.isnan(float(hue_agreement(gray, gray)[0]))  # no eligible cell: NaN


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """``photos/`` without kinds, ``scenes/`` with a MANIFEST.csv kind column, and two lists."""
    root = tmp_path_factory.mktemp("data")
    (root / "photos").mkdir()
    (root / "scenes").mkdir()
    cv2.imwrite(str(root / "photos" / "red.png"), np.full((48, 64, 3), RED[::-1], np.uint8))
    cv2.imwrite(str(root / "scenes" / "grass.png"), np.full((48, 64, 3), (40, 160, 60), np.uint8))
    cv2.imwrite(str(root / "scenes" / "sky.png"), np.full((48, 64, 3), (220, 150, 90), np.uint8))
    (root / "scenes" / "MANIFEST.csv").write_text(
        "file,source_package,original_path,license,kind\n"
        "grass.png,x,/a,CC0,texture\nsky.png,x,/b,CC0,sky\n"
    )
    (root / "mixed_val.txt").write_text(
        "/scenes/grass.png 1\n/scenes/sky.png 2\n/photos/red.png 0\n"
    )
    (root / "photos_val.txt").write_text("/photos/red.png 0\n")
    return root


def test_several_lists_are_reported_apart_with_kinds(data_root, tiny_model, tmp_path):
    args = [str(data_root), "--model", str(tiny_model), "--out", str(tmp_path)]
    args += ["--device", "cpu", "--precision", "fp32", "--render-size", "32"]
    args += [
        "--list",
        str(data_root / "mixed_val.txt"),
        "--list",
        str(data_root / "photos_val.txt"),
    ]
    report = quality.main(args)
    assert list(report["lists"]) == ["mixed_val", "photos_val"]
    mixed = report["lists"]["mixed_val"]
    kinds = {r["file"]: r["kind"] for r in mixed["per_image"]}
    assert kinds == {
        "scenes/grass.png": "texture",
        "scenes/sky.png": "sky",
        "photos/red.png": "photo",
    }
    assert {k: s["images"] for k, s in mixed["by_kind"].items()} == {
        "photo": 1,
        "sky": 1,
        "texture": 1,
    }
    assert report["lists"]["photos_val"]["images"] == 1
    rows = mixed["per_image"]
    # Uniform colours: every cell is colourful; gray agrees nowhere.
    assert [r["hue_cells"]["eligible"] for r in rows] == [64, 64, 64]
    assert mixed["mean"]["gray"]["hue_agreement"] == 0
    assert mixed["mean"]["gray"]["hue_agreement_pooled"] == 0
    assert mixed["mean"]["model"]["hue_agreement"] == pytest.approx(
        np.mean([r["model"]["hue_agreement"] for r in rows]), abs=1e-4
    )
    assert mixed["mean"]["model"]["hue_agreement_pooled"] == pytest.approx(
        sum(r["hue_cells"]["model"] for r in rows) / 192, abs=1e-4
    )
    written = json.loads(Path(report["outputs"]["json"]).read_text())
    assert written["lists"]["mixed_val"]["by_kind"] == mixed["by_kind"]
    for name, n in (("mixed_val", 3), ("photos_val", 1)):
        sheet = cv2.imread(report["lists"][name]["outputs"]["contact_sheet"])
        assert sheet.shape[0] == n * (quality.SHEET_HEIGHT + 2 * quality.SHEET_LINE + 4)


def test_contact_sheet_orders_the_worst_hue_first():
    def row(hue, psnr):
        return {"model": {"hue_agreement": hue, "psnr": psnr}, "gray": {"psnr": 20.0}}

    rows = [row(None, 20.0), row(0.5, 25.0), row(0.2, 30.0), row(0.5, 21.0)]
    order = sorted(range(4), key=lambda i: quality._worst_key(rows[i]))
    assert order == [2, 3, 1, 0]  # lowest hue; ties by the smaller PSNR gain; no hue last
