"""benchmarks/compare_quality.py on reports written here, with known differences."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from benchmark_modules import load_benchmark

compare_quality = load_benchmark("compare_quality")


def _row(name: str, psnr: float, colour: float, hue: float | None, truth: float = 40.0) -> dict:
    return {
        "file": name,
        "frame": None,
        "model": {"psnr": psnr, "colourfulness": colour, "hue_agreement": hue},
        "truth": {"colourfulness": truth},
    }


def _report(path: Path, lists: dict[str, list[dict]]) -> Path:
    path.write_text(json.dumps({"lists": {k: {"per_image": v} for k, v in lists.items()}}))
    return path


def test_a_uniform_gain_is_certain_and_exact():
    rng = np.random.default_rng(0)
    base = [_row(f"{i}.jpg", 20 + 5 * rng.random(), 20.0, 0.5) for i in range(30)]
    cand = [_row(r["file"], r["model"]["psnr"] + 1.0, 30.0, 0.75) for r in base]
    r = compare_quality.compare(compare_quality.pair_rows(base, cand), draws=500)
    assert r["psnr"]["difference"] == pytest.approx(1.0)
    assert r["psnr"]["difference_95"] == pytest.approx([1.0, 1.0])
    assert r["psnr"]["p_candidate_not_worse"] == 1.0
    assert r["colourfulness_share"]["base"] == pytest.approx(0.5)
    assert r["colourfulness_share"]["candidate_95"] == pytest.approx([0.75, 0.75])
    assert r["hue_agreement"]["difference"] == pytest.approx(0.25)


def test_noise_gives_an_interval_around_a_difference_of_nothing():
    """Candidates that win on half the images and lose on the others by as much: the interval
    holds 0 and is about as wide as two standard errors either side."""
    rng = np.random.default_rng(1)
    swings = rng.choice([-4.0, 4.0], size=100)
    base = [_row(f"{i}.jpg", 25.0, 20.0, 0.8) for i in range(100)]
    cand = [_row(f"{i}.jpg", 25.0 + s, 20.0, 0.8) for i, s in enumerate(swings)]
    r = compare_quality.compare(compare_quality.pair_rows(base, cand), draws=4000)["psnr"]
    lo, hi = r["difference_95"]
    assert lo < r["difference"] < hi and lo < 0 < hi
    assert hi - lo == pytest.approx(2 * 1.96 * 4.0 / 10, rel=0.15)


def test_images_pair_by_file_and_hue_skips_images_without_colour(tmp_path, capsys):
    base = [_row("a.jpg", 20, 20, 0.5), _row("b.jpg", 22, 20, None), _row("c.jpg", 24, 20, 1.0)]
    cand = [_row("c.jpg", 25, 20, 1.0), _row("a.jpg", 21, 20, 0.7)]  # b.jpg not measured
    report = compare_quality.main(
        [
            str(_report(tmp_path / "base.json", {"nature_val": base, "photos_val": base})),
            str(_report(tmp_path / "cand.json", {"nature_val": cand})),
            "--draws",
            "200",
        ]
    )
    assert list(report["lists"]) == ["nature_val"]  # the one list both measured
    r = report["lists"]["nature_val"]
    assert r["psnr"]["images"] == 2 and r["psnr"]["base"] == pytest.approx(22.0)
    assert r["psnr"]["difference"] == pytest.approx(1.0)
    assert r["hue_agreement"]["base"] == pytest.approx(0.75)
    err = capsys.readouterr().err
    assert "nature_val: 2 images in both reports, of 3 and 2" in err


def test_reports_without_a_list_in_common_are_refused(tmp_path):
    a = _report(tmp_path / "a.json", {"photos_val": [_row("a.jpg", 20, 20, 0.5)]})
    b = _report(tmp_path / "b.json", {"nature_val": [_row("a.jpg", 20, 20, 0.5)]})
    with pytest.raises(SystemExit, match="no list in common"):
        compare_quality.main([str(a), str(b)])


def test_a_file_that_is_not_a_report_is_refused_in_one_line(tmp_path):
    report = _report(tmp_path / "a.json", {"photos_val": [_row("a.jpg", 20, 20, 0.5)]})
    (tmp_path / "notes.json").write_text("[1, 2]")
    for bad in (tmp_path / "missing.json", tmp_path / "notes.json"):
        with pytest.raises(SystemExit, match="is not a report of benchmarks/quality.py"):
            compare_quality.main([str(report), str(bad)])
