"""The commands as a user runs them: outputs, one-line errors, exit codes."""

from __future__ import annotations

import pickle

import pytest
from media import read_video, write_audio_only, write_clip
from typer.testing import CliRunner

from filmcolor.cli import app
from filmcolor.colorizer import Colorizer

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    path = tmp_path_factory.mktemp("film") / "film.mp4"
    write_clip(path, n=30, cuts=(15,), audio="aac")
    return path


def opts(tiny_model):
    return ["--model", tiny_model, "--precision", "fp32", "--render-size", "32"]


def test_colorize_writes_stem_color_mp4_beside_the_input(tmp_path, film, tiny_model):
    src = tmp_path / "my.film.v2.mp4"
    src.write_bytes(film.read_bytes())
    result = invoke("colorize", src, *opts(tiny_model))
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "my.film.v2_color.mp4"
    assert read_video(out)["y"].shape == (30, 48, 64)
    assert "30 frames" in result.stdout and "2 shots" in result.stdout


def assert_one_line_error(result, *words):
    assert result.exit_code not in (0, None)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in errors[0], errors[0]


def test_bad_inputs_are_one_line_errors(tmp_path, tiny_model):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    audio = tmp_path / "sound.m4a"
    write_audio_only(audio)
    for path, word in [
        (tmp_path / "missing.mp4", "not found"),
        (empty, "empty"),
        (text, "not a video"),
        (audio, "no video stream"),
    ]:
        assert_one_line_error(invoke("colorize", path, *opts(tiny_model)), str(path.name), word)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.mp4", "notes.mp4", "sound.m4a"]


def test_output_rules(tmp_path, film, tiny_model):
    taken = tmp_path / "taken.mp4"
    taken.write_bytes(b"precious")
    assert_one_line_error(invoke("colorize", film, "-o", taken, *opts(tiny_model)), "--overwrite")
    assert taken.read_bytes() == b"precious"
    assert_one_line_error(
        invoke("colorize", film, "-o", film, "--overwrite", *opts(tiny_model)), "input"
    )
    assert_one_line_error(
        invoke("colorize", film, "-o", tmp_path / "x.mp4", "--codec", "prores", *opts(tiny_model)),
        ".mov",
    )
    assert_one_line_error(
        invoke("colorize", film, "-o", tmp_path / "x.mp4", "--codec", "h263", *opts(tiny_model)),
        "--codec",
    )
    result = invoke("colorize", film, "-o", taken, "--overwrite", *opts(tiny_model))
    assert result.exit_code == 0, result.stderr
    assert read_video(taken)["y"].shape[0] == 30


def test_bad_model_style_and_shot_list_fail_before_any_output(tmp_path, film, tiny_model):
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"weights": 1}))
    out = tmp_path / "o.mp4"
    assert_one_line_error(invoke("colorize", film, "-o", out, "--model", evil), "pickle")
    assert_one_line_error(
        invoke("colorize", film, "-o", out, "--model", tmp_path / "no.safetensors"), "not found"
    )
    bad_ref = tmp_path / "ref.jpg"
    bad_ref.write_bytes(b"\xff\xd8 broken")
    assert_one_line_error(
        invoke("colorize", film, "-o", out, "--style", bad_ref, *opts(tiny_model)), "--style"
    )
    assert_one_line_error(
        invoke("colorize", film, "-o", out, "--style", tmp_path / "none.png", *opts(tiny_model)),
        "not found",
    )
    bad_csv = tmp_path / "s.csv"
    bad_csv.write_text("start\n")
    assert_one_line_error(
        invoke("colorize", film, "-o", out, "--shots", bad_csv, *opts(tiny_model)), "start_frame"
    )
    assert_one_line_error(invoke("colorize", film, "-o", out, "--device", "cuda"), "CUDA")
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if ".part" in p.name] == []


def test_ctrl_c_exits_130_and_leaves_nothing(tmp_path, film, tiny_model, monkeypatch):
    def interrupted(self, l, g):
        raise KeyboardInterrupt

    monkeypatch.setattr(Colorizer, "ab", interrupted)
    out = tmp_path / "o.mp4"
    result = invoke("colorize", film, "-o", out, *opts(tiny_model))
    assert result.exit_code == 130
    assert "interrupted" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["o.mp4.parts"]  # to resume from
    assert "run the same command again to resume" in " ".join(result.stderr.split())


def test_shots_command_prints_and_writes_the_list(tmp_path, film):
    csv = tmp_path / "shots.csv"
    result = invoke("shots", film, "--csv", csv)
    assert result.exit_code == 0, result.stderr
    assert "2 shots, 30 frames" in result.stdout
    assert csv.read_text().splitlines()[1:] == ["1,0,15,0.000,0.600,", "2,15,15,0.600,1.200,"]
    assert_one_line_error(invoke("shots", tmp_path / "none.mp4"), "not found")


def test_frames_command_summary_and_refusals(tmp_path, tiny_model):
    import cv2
    from media import shot_frames

    src = tmp_path / "scans"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), shot_frames(1)[0])
    (src / "b.png").write_bytes(b"junk")
    result = invoke("frames", src, "-o", tmp_path / "out", *opts(tiny_model))
    assert result.exit_code == 3, result.stderr  # partly done: b.png was not
    assert "1 image written" in result.stdout and "1 skipped" in result.stdout
    assert "b.png" in result.stderr
    assert (tmp_path / "out" / "a.png").is_file()
    assert_one_line_error(invoke("frames", src, "-o", src, *opts(tiny_model)), "originals")
    assert_one_line_error(invoke("frames", tmp_path / "nope", "-o", tmp_path / "o2"), "not found")
