"""The contact sheet: one tile per shot, pages, the shot list, and colorize's own settings."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from media import write_clip
from test_styles import CUTS, write_reference

from filmcolor.pipeline import ColorizeConfig, colorize_video
from filmcolor.preview import PreviewError, preview_video
from filmcolor.shotlist import read_csv, read_shot_list, write_csv
from filmcolor.shots import shots_from_cuts


@pytest.fixture
def clip(tmp_path):
    src = tmp_path / "three.mp4"
    write_clip(src, n=45, cuts=CUTS)
    return src


def test_one_tile_per_shot_and_pages_of_per_page(tmp_path, clip, colorizer):
    sheet = tmp_path / "sheet.png"
    cfg = ColorizeConfig(clip, tmp_path / "unused.mp4")
    result = preview_video(cfg, sheet, per_page=2, colorizer=colorizer)
    assert [p.path.name for p in result.pages] == ["sheet-001.png", "sheet-002.png"]
    assert [p.shots for p in result.pages] == [[0, 1], [2]]
    assert result.frames == {0: 7, 1: 22, 2: 37}  # the middle frame of each shot
    for page in result.pages:
        img = cv2.imread(str(page.path))
        for x, y, w, h in page.boxes.values():
            colour = img[y : y + h, x : x + w].astype(int)
            gray = img[y : y + h, x - 4 - w : x - 4].astype(int)  # left of it, past the gap
            assert (gray.max(2) - gray.min(2)).max() <= 1  # gray really is gray
            assert (colour.max(2) - colour.min(2)).mean() > 2  # and the colour half is not
    assert not (tmp_path / "sheet.png").exists()
    # The shot list to edit is written beside the sheet, with an empty style column.
    assert result.csv == tmp_path / "three_shots.csv"
    assert read_csv(result.csv) == list(CUTS)
    assert result.csv.read_text().splitlines()[0].endswith(",style")

    one = preview_video(cfg, sheet, colorizer=colorizer)  # the default: 60 a page
    assert [p.path.name for p in one.pages] == ["sheet.png"]
    assert one.pages[0].shots == [0, 1, 2]


def test_preview_colours_each_shot_with_the_vector_colorize_uses(
    tmp_path, clip, colorizer, monkeypatch
):
    write_reference(tmp_path / "ref.png", seed=1)
    write_reference(tmp_path / "shot2.png", seed=2)
    csv = write_csv(tmp_path / "s.csv", shots_from_cuts(list(CUTS), 45), {1: "shot2.png"})
    used = []
    real = colorizer.ab
    monkeypatch.setattr(colorizer, "ab", lambda l, g: used.append(g) or real(l, g))
    for i, style in enumerate((None, tmp_path / "ref.png")):
        out = tmp_path / f"o{i}.mp4"
        cfg = ColorizeConfig(clip, out, shots=csv, style=style, batch_size=15)
        used.clear()
        result = preview_video(cfg, tmp_path / "sheet.png", colorizer=colorizer)
        shown = list(used)
        used.clear()
        colorize_video(cfg, colorizer=colorizer)  # one batch per shot
        assert len(shown) == len(used) == 3
        assert all(torch.equal(a, b) for a, b in zip(shown, used, strict=True))
        assert result.styles == (
            {1: "shot2.png"} if style is None else {0: "ref.png", 1: "shot2.png", 2: "ref.png"}
        )
        assert result.csv is None  # with --shots, that file is the one to edit
    assert read_shot_list(csv).styles[15].text == "shot2.png"


def test_a_shot_list_with_styles_is_not_replaced(tmp_path, clip, colorizer):
    write_reference(tmp_path / "ref.png")
    listed = write_csv(tmp_path / "three_shots.csv", shots_from_cuts([15], 45), {0: "ref.png"})
    before = listed.read_text()
    cfg = ColorizeConfig(clip, tmp_path / "unused.mp4")
    with pytest.raises(PreviewError, match="--shots"):
        preview_video(cfg, tmp_path / "sheet.png", colorizer=colorizer)
    assert listed.read_text() == before
    assert not (tmp_path / "sheet.png").exists()
    with pytest.raises(PreviewError, match=".png or .jpg"):
        preview_video(cfg, tmp_path / "sheet.gif", colorizer=colorizer)


def test_preview_command_prints_where_everything_went(tmp_path, clip, tiny_model):
    from typer.testing import CliRunner

    from filmcolor.cli import app

    opts = ["--model", tiny_model, "--precision", "fp32", "--render-size", "32"]
    args = ["preview", clip, "-o", tmp_path / "s.jpg", "--per-page", "2", *opts]
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "s-001.jpg" in result.output and "s-002.jpg" in result.output
    assert "3 shots" in result.output
    assert f"--shots {tmp_path / 'three_shots.csv'}" in result.output
    assert np.asarray(cv2.imread(str(tmp_path / "s-002.jpg"))).ndim == 3
