"""What a newcomer trips on (issue 21): exit codes scripts can rely on, a single photo, the
help text, the progress labels, and messages that show Python instead of the option."""

from __future__ import annotations

import cv2
import pytest
from media import shot_frames, write_clip
from typer.testing import CliRunner

from filmcolor.cli import app
from filmcolor.cli.render import EXIT_PARTLY
from filmcolor.segments import FORMAT, why_different


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def opts(tiny_model):
    return ["--model", tiny_model, "--precision", "fp32", "--render-size", "32"]


def gray_jpeg(path):
    cv2.imwrite(str(path), shot_frames(1, size=(96, 64))[0])


def test_frames_exits_0_all_done_3_partly_1_nothing(tmp_path, opts):
    src = tmp_path / "scans"
    src.mkdir()
    gray_jpeg(src / "a.jpg")
    done = invoke("frames", src, "-o", tmp_path / "out", *opts)
    assert done.exit_code == 0, done.output
    again = invoke("frames", src, "-o", tmp_path / "out", *opts)  # already there: done
    assert again.exit_code == 0 and "1 already there" in again.stdout, again.output
    (src / "b.jpg").write_bytes((src / "a.jpg").read_bytes()[:200])  # damaged: skipped
    partly = invoke("frames", src, "-o", tmp_path / "out2", *opts)
    assert partly.exit_code == EXIT_PARTLY == 3, partly.output
    assert "1 image written" in partly.stdout and "1 skipped" in partly.stdout
    (src / "a.jpg").unlink()
    nothing = invoke("frames", src, "-o", tmp_path / "out3", *opts)
    assert nothing.exit_code == 1, nothing.output


def test_colorize_on_folders_exits_3_when_one_film_failed(tmp_path, opts):
    films = tmp_path / "films"
    films.mkdir()
    write_clip(films / "a.mp4", n=6)
    (films / "broken.mp4").write_text("not a film\n" * 100)
    result = invoke("colorize", films, "-o", tmp_path / "colour", *opts)
    assert result.exit_code == EXIT_PARTLY, result.output
    assert "1 colorized, 0 already there, 1 failed" in result.stdout
    (films / "broken.mp4").unlink()
    again = invoke("colorize", films, "-o", tmp_path / "colour", *opts)
    assert again.exit_code == 0 and "1 already there" in again.stdout, again.output


def test_frames_takes_one_photo_and_colorize_points_to_it(tmp_path, opts):
    photo = tmp_path / "photo.jpg"
    gray_jpeg(photo)
    result = invoke("frames", photo, "-o", tmp_path / "out", *opts)
    assert result.exit_code == 0, result.output
    out = cv2.imread(str(tmp_path / "out" / "photo.jpg"))
    assert out.shape == (64, 96, 3)
    refused = invoke("colorize", photo, *opts)
    assert refused.exit_code == 1
    assert f"filmcolor frames {photo} -o" in refused.stderr  # the command that does it
    film = tmp_path / "film.mp4"
    write_clip(film, n=4)
    wrong = invoke("frames", film, "-o", tmp_path / "out", *opts)
    assert wrong.exit_code == 1 and f"filmcolor colorize {film}" in wrong.stderr


def test_a_tiff_scan_keeps_its_software_tag_without_tifffile_warning(tmp_path, opts, caplog):
    import tifffile
    from PIL import Image

    src = tmp_path / "scans"
    src.mkdir()
    Image.fromarray(shot_frames(1, size=(96, 64))[0]).save(
        src / "scan.tif", tiffinfo={305: "EPSON Scan", 271: "EPSON"}
    )
    result = invoke("frames", src, "-o", tmp_path / "out", *opts)
    assert result.exit_code == 0, result.output
    assert "extratag" not in result.output + caplog.text  # "not writing extratag 305" before
    with tifffile.TiffFile(tmp_path / "out" / "scan.tif") as tif:
        assert tif.pages[0].tags[305].value == "EPSON Scan"


def test_help_shows_arguments_and_defaults_as_a_user_reads_them():
    for command in ("colorize", "frames", "preview", "shots", "keyframes"):
        text = invoke(command, "--help").stdout
        usage = text.splitlines()[0]
        assert "{" not in usage and "list[" not in text, (command, usage)
    text = " ".join(invoke("colorize", "--help").stdout.split())
    assert "colorize [OPTIONS] videos... " in text
    assert "--temperature <float> Annealed-mean temperature" in text
    assert "[default: the one saved with the model]" in text
    assert "Short side (px) the network runs at, 32 or more; 0 = full size" in text


def test_progress_labels_read_as_words(tmp_path, opts):
    film = tmp_path / "film.mp4"
    write_clip(film, n=30, cuts=(15,))
    result = invoke("colorize", film, *opts)
    assert result.exit_code == 0, result.output
    assert "finding shots, 2 found: 30/30" in result.stderr, result.stderr
    assert "finding shots: 2:" not in result.stderr
    sheet = invoke("preview", film, *opts)
    assert sheet.exit_code == 0, sheet.output
    assert "picking frames, shot 2/2" in sheet.stderr, sheet.stderr


def test_a_changed_option_names_what_was_not_given():
    old = {"format": FORMAT, "input": "x", "options": {"model": "m", "crf": None}}
    new = {"format": FORMAT, "input": "x", "options": {"model": "m", "crf": 20}}
    assert why_different(old, new) == "--crf changed (not given -> 20)"  # was (None -> 20)


def test_a_render_size_below_32_is_refused_before_any_work(tmp_path, opts):
    src = tmp_path / "scans"
    src.mkdir()
    gray_jpeg(src / "a.jpg")
    result = invoke("frames", src, "-o", tmp_path / "out", *opts, "--render-size", "8")
    assert result.exit_code == 1 and "--render-size 8 is too small" in result.stderr
    assert not (tmp_path / "out").exists()
