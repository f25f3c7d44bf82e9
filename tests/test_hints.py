"""Hints spread by Levin et al.'s optimisation: strokes colour their region, not the next."""

import cv2
import numpy as np

from filmcolor.hints import Hints, find_hints, spread_hints


def _two_regions(h=40, w=60):
    """A dark left half and a bright right half, with a little grain."""
    rng = np.random.default_rng(0)
    lightness = np.where(np.arange(w) < w // 2, 30.0, 70.0).astype(np.float32)
    return np.tile(lightness, (h, 1)) + rng.normal(0, 0.3, (h, w)).astype(np.float32)


def _paint(lightness, strokes):
    """The gray picture as 8-bit RGB with strokes of colour: (y, x0, x1, a, b), each a
    horizontal stroke 3 px thick from x0 to x1."""
    lab = np.dstack([lightness, np.zeros_like(lightness), np.zeros_like(lightness)])
    for y, x0, x1, a, b in strokes:
        lab[y - 1 : y + 2, x0:x1, 1:] = (a, b)
    rgb = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB)
    return (rgb.clip(0, 1) * 255).round().astype(np.uint8)


def test_each_region_takes_its_strokes_colour():
    lightness = _two_regions()
    strokes = [(20, 5, 25, 50, 30), (20, 35, 55, -30, 40)]  # red left, green right
    hints = find_hints(_paint(lightness, strokes))
    assert not hints.full and hints.mask.sum() == 2 * 3 * 20
    out = spread_hints(lightness, hints, prior=np.zeros((*lightness.shape, 2), np.float32))
    left, right = out[:, :30], out[:, 30:]
    # Each region near its stroke's colour, on average and at its farthest corner.
    assert np.abs(left - [50, 30]).mean() < 4 and np.abs(right - [-30, 40]).mean() < 4
    assert np.abs(left - [50, 30]).max() < 12 and np.abs(right - [-30, 40]).max() < 12


def test_the_prediction_holds_where_no_hint_reaches():
    lightness = _two_regions()
    prior = np.zeros((*lightness.shape, 2), np.float32)
    prior[:, 30:] = (5, -20)  # the network's blue on the right
    rgb = _paint(lightness, [(20, 5, 25, 50, 30)])  # a stroke on the left only
    out = spread_hints(lightness, find_hints(rgb), prior)
    assert np.abs(out[:, :30] - [50, 30]).mean() < 4
    assert np.abs(out[:, 30:] - [5, -20]).mean() < 4  # the edge stops the stroke
    flat = spread_hints(np.full_like(lightness, 50), find_hints(rgb), prior)
    assert np.abs(flat[:, 30:] - [5, -20]).mean() > 10  # (without the edge, it does not)


def test_a_gray_picture_is_no_hint_and_a_colour_one_is_taken_as_it_is():
    lightness = _two_regions()
    prior = np.full((*lightness.shape, 2), 7, np.float32)
    gray = _paint(lightness, [])
    assert find_hints(gray).empty
    assert np.array_equal(spread_hints(lightness, find_hints(gray), prior), prior)
    lab = np.dstack([lightness, np.full_like(lightness, 20), np.full_like(lightness, -15)])
    colour = (cv2.cvtColor(lab, cv2.COLOR_Lab2RGB).clip(0, 1) * 255).round().astype(np.uint8)
    hints = find_hints(colour)
    assert hints.full
    out = spread_hints(lightness, hints, prior)
    assert np.abs(out - [20, -15]).max() < 3


def test_hints_shrink_to_the_render_size_without_losing_thin_strokes():
    ab = np.zeros((64, 64, 2), np.float32)
    mask = np.zeros((64, 64), np.float32)
    ab[:, 10:12] = (40, 10)  # a 2 px vertical stroke
    mask[:, 10:12] = 1
    small = Hints(ab, mask, full=False).resized((16, 16))
    assert small.mask[:, 2].all()
    assert np.abs(small.ab[:, 2] - [40, 10]).max() < 1e-3  # not diluted by the gray around it


def test_frames_with_hints_colour_each_region_and_leave_the_rest_alone(tmp_path, colorizer):
    """`frames --hints`: strokes colour the image they are painted on; an image without a
    hints picture is what it was; a hints picture of another size is refused by name."""
    from typer.testing import CliRunner

    from filmcolor.cli import app
    from filmcolor.stills import colorize_folder

    src, hints, plain, out = (tmp_path / d for d in ("in", "hints", "plain", "out"))
    src.mkdir()
    hints.mkdir()
    lightness = np.tile(np.where(np.arange(96) < 48, 35.0, 75.0).astype(np.float32), (64, 1))
    gray = cv2.cvtColor(_paint(lightness, []), cv2.COLOR_RGB2GRAY)
    for name in ("a.png", "b.png", "c.png"):
        cv2.imwrite(str(src / name), gray)
    painted = _paint(lightness, [(30, 5, 40, 50, 30), (30, 55, 90, -30, 40)])
    cv2.imwrite(str(hints / "a.png"), painted[..., ::-1])  # RGB -> BGR
    cv2.imwrite(str(hints / "c.png"), painted[:32, :48, ::-1])  # another size
    result = colorize_folder(src, out, colorizer, hints=hints)
    assert [p.name for p in result.written] == ["a.png", "b.png"]
    assert [p.name for p, _ in result.skipped] == ["c.png"]
    assert "48x32" in result.skipped[0][1] and "96x64" in result.skipped[0][1]
    lab = cv2.cvtColor(
        cv2.imread(str(out / "a.png"))[..., ::-1] / np.float32(255), cv2.COLOR_RGB2Lab
    )
    assert np.abs(lab[:, :48, 1:] - [50, 30]).mean() < 5
    assert np.abs(lab[:, 48:, 1:] - [-30, 40]).mean() < 5
    assert np.abs(lab[..., 0] - lightness).max() < 2  # the image's own lightness
    colorize_folder(src, plain, colorizer)
    assert np.array_equal(cv2.imread(str(out / "b.png")), cv2.imread(str(plain / "b.png")))
    missing = CliRunner().invoke(
        app, ["frames", str(src), "-o", str(tmp_path / "x"), "--hints", str(tmp_path / "nope")]
    )
    assert missing.exit_code == 1 and "--hints: not a folder" in missing.stderr
