"""Style references: a frame of a video by its time, and a reference per shot in the CSV."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
import torch
from media import read_video, shot_frames, write_clip
from PIL import Image
from typer.testing import CliRunner

from filmcolor.cli import app
from filmcolor.colorizer import Colorizer, thumb224
from filmcolor.pipeline import ColorizeConfig, colorize_video
from filmcolor.shotlist import write_csv
from filmcolor.shots import shots_from_cuts
from filmcolor.styles import (
    StyleImageError,
    csv_styles,
    parse_reference,
    read_reference,
    style_vector,
)
from filmcolor.timecode import format_time, parse_time
from filmcolor.video.probe import luma_format, probe

CUTS = (15, 30)  # three shots of 15 frames at 25 fps


@pytest.fixture(scope="module")
def shipped():
    """The shipped model at 32 px: the tiny random one's global path barely moves a*b*."""
    return Colorizer.load(None, device="cpu", precision="fp32", render_size=32)


def write_reference(path, seed: int = 1):
    """A textured image unlike the clip's frames."""
    rng = np.random.default_rng(seed)
    img = np.kron(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8))
    Image.fromarray(img).save(path)
    return path


def mean_ab_per_shot(path, cuts=CUTS) -> list[tuple[float, float]]:
    """Mean a*, b* (CIE Lab units) of each shot of a video, as a player shows it."""
    with av.open(str(path)) as c:
        rgb = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    lab = [cv2.cvtColor(f.astype(np.float32) / 255, cv2.COLOR_RGB2LAB) for f in rgb]
    bounds = [0, *cuts, len(lab)]
    return [
        tuple(np.mean([f[..., 1:].mean((0, 1)) for f in lab[a:b]], 0).tolist())
        for a, b in zip(bounds, bounds[1:], strict=False)
    ]


def test_times_and_references_parse():
    assert parse_time("83.5") == 83.5
    assert parse_time("1:23.5") == 83.5
    assert parse_time("00:01:23.5") == 83.5
    assert parse_time(format_time(3723.25)) == pytest.approx(3723.25)
    for bad in ("", "1::2", "-3", "a:b", "nan", "inf", "1:2:3:4"):
        with pytest.raises(ValueError):
            parse_time(bad)
    ref = parse_reference("clips/remake.mp4@00:01:23.5")
    assert (str(ref.path), ref.time) == ("clips/remake.mp4", 83.5)
    assert ref.label == "remake.mp4@00:01:23.500"


def test_style_file_at_time_takes_the_frame_shown_then(tmp_path, colorizer):
    # 30 frames at 10 fps, each tinted and lit differently; a keyframe every 5 frames, so
    # the reference is found by seeking and decoding on from the keyframe before it.
    rng = np.random.default_rng(0)
    base = rng.integers(0, 60, (48, 64)).astype(np.uint8)
    frames = np.stack([base + 6 * i for i in range(30)]).astype(np.uint8)
    clip = tmp_path / "remake.mp4"
    write_clip(clip, frames, rate=10, rgb=True, options={"g": "5"})
    shown = read_video(clip)["y"]
    for when, index in [("0", 0), ("00:00:01.72", 17), ("1.79", 17), ("0:01.8", 18), ("2.95", 29)]:
        y, _ = read_reference(parse_reference(f"{clip}@{when}"))
        assert (y == shown[index]).all(), when
    lut = luma_format(probe(clip)).lightness_table()
    g = style_vector(colorizer, f"{clip}@1.72")
    assert torch.equal(g, colorizer.global_vector(thumb224(shown[17], lut)[None]))
    assert not torch.equal(g, style_vector(colorizer, f"{clip}@0.5"))
    with pytest.raises(StyleImageError, match=r"--style: .*ends at 00:00:02.900"):
        style_vector(colorizer, f"{clip}@5")
    with pytest.raises(StyleImageError, match="add its time"):
        style_vector(colorizer, clip)


def test_a_per_shot_style_changes_that_shot_and_no_other(tmp_path, shipped):
    src = tmp_path / "three.mp4"
    write_clip(src, n=45, cuts=CUTS)
    write_reference(tmp_path / "refs_sky.png")
    shots = shots_from_cuts(list(CUTS), 45)
    plain = write_csv(tmp_path / "plain.csv", shots)
    styled = write_csv(tmp_path / "styled.csv", shots, styles={1: "refs_sky.png"})
    means = {}
    for name, csv in (("plain", plain), ("styled", styled)):
        out = tmp_path / f"{name}.mkv"  # lossless, so an untouched shot is the same to the bit
        colorize_video(ColorizeConfig(src, out, shots=csv, codec="ffv1"), colorizer=shipped)
        means[name] = mean_ab_per_shot(out)
    before, after = np.array(means["plain"]), np.array(means["styled"])
    change = np.abs(after - before).max(1)  # per shot, the larger of |d a*| and |d b*|
    assert change[0] < 0.01 and change[2] < 0.01
    assert change[1] > 3  # Lab units: a colour change anyone sees


def test_shots_that_share_a_reference_share_one_vector(tmp_path, colorizer, monkeypatch):
    from filmcolor.shotlist import read_shot_list

    (tmp_path / "refs").mkdir()
    write_reference(tmp_path / "refs" / "a.png")
    csv = tmp_path / "s.csv"
    csv.write_text(
        "start_frame,style\n0,refs/a.png\n10,refs/a.png\n20,\n30,"
        f"{(tmp_path / 'refs' / 'a.png').resolve()}\n"
    )
    reads = []
    monkeypatch.setattr(
        colorizer,
        "global_vector",
        lambda x, real=colorizer.global_vector: reads.append(1) or real(x),
    )
    styles = csv_styles(colorizer, read_shot_list(csv))
    assert sorted(styles) == [0, 10, 30]
    assert styles[0][1] is styles[10][1] is styles[30][1] and styles[0][0] == "a.png"
    assert len(reads) == 1  # relative to the CSV or absolute: the same file, read once


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize(
    ("row", "words"),
    [
        (2, ["line 3", "refs/none.png", "not found"]),
        (1, ["line 2", "'broken.jpg'"]),
        (3, ["line 4", "remake.mp4@00:00:09", "ends at"]),
    ],
)
def test_bad_style_rows_are_one_line_errors_naming_the_row(tmp_path, tiny_model, row, words):
    src = tmp_path / "three.mp4"
    write_clip(src, n=45, cuts=CUTS)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    write_clip(tmp_path / "remake.mp4", shot_frames(10), rate=10)
    cells = {1: "broken.jpg", 2: "refs/none.png", 3: "remake.mp4@00:00:09"}
    csv = write_csv(tmp_path / "shots.csv", shots_from_cuts([15, 30], 45), {row - 1: cells[row]})
    out = tmp_path / "o.mp4"
    opts = ["--model", tiny_model, "--precision", "fp32", "--render-size", "32"]
    for command in (["colorize", src, "-o", out], ["preview", src, "-o", tmp_path / "s.png"]):
        result = invoke(*command, "--shots", csv, *opts)
        assert result.exit_code == 1
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), result.output
        assert "shots.csv" in lines[0] and all(w in lines[0] for w in words), lines[0]
        assert "Traceback" not in result.output
    assert not out.exists() and not (tmp_path / "s.png").exists()
