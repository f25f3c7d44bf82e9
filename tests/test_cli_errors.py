"""Mistakes a user makes on the command line end in one line naming the fix, never a traceback."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from media import shot_frames, write_clip
from typer.testing import CliRunner

from filmcolor.cli import app, render
from filmcolor.train import config as train_config


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def one_error_line(result) -> str:
    assert result.exit_code not in (0, None)
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error:"), result.stderr
    return errors[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("files")
    write_clip(root / "film.mp4", n=8)
    cv2.imwrite(str(root / "photo.jpg"), shot_frames(1)[0])
    return root


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--detector", "fancy"], ["'fancy'", "content, adaptive"]),
        (["-o", "{root}/out.xyz"], [".xyz", ".mp4, .mkv"]),
        (["-o", "{root}/out"], ["suffix", ".mp4"]),
        (["--device", "gpu"], ["'gpu'", "auto, cpu, cuda"]),
        (["--crf", "99"], ["--crf 99", "0-51"]),
        (["--codec", "ffv1", "-o", "{root}/o.mkv", "--crf", "20"], ["--crf", "ffv1"]),
        (["--model", "{root}"], ["model.safetensors"]),
        (["--render-size", "8"], ["--render-size 8", "32 pixels or more"]),
    ],
)
def test_colorize_option_mistakes(files, tiny_model, args, words):
    args = [a.format(root=files) for a in args]
    base = ["--precision", "fp32", "--render-size", "32"]
    model = [] if "--model" in args else ["--model", tiny_model]
    line = one_error_line(invoke("colorize", files / "film.mp4", *model, *base, *args))
    for word in words:
        assert word in line, line
    assert sorted(p.name for p in files.iterdir()) == ["film.mp4", "photo.jpg"]


def test_a_run_folder_is_a_model(files, tiny_model, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.safetensors").write_bytes(tiny_model.read_bytes())
    opts = ["--precision", "fp32", "--render-size", "32"]
    result = invoke("colorize", files / "film.mp4", "-o", tmp_path / "o.mp4", "--model", run, *opts)
    assert result.exit_code == 0, result.output
    assert "(8 frames, 1 shot, 0 audio/subtitle packets)" in result.stdout  # plurals


def test_the_wrong_command_points_to_the_right_one(files):
    line = one_error_line(invoke("colorize", files / "photo.jpg"))
    assert "still image" in line and "filmcolor frames" in line
    line = one_error_line(invoke("frames", files / "film.mp4", "-o", files / "x"))
    assert "filmcolor colorize" in line


@pytest.mark.parametrize("temperature", ["0", "-1", "nan"])
def test_a_temperature_that_is_not_positive_is_one_line(tmp_path, temperature):
    (tmp_path / "in").mkdir()
    line = one_error_line(
        invoke("frames", tmp_path / "in", "-o", tmp_path / "out", "--temperature", temperature)
    )
    assert "--temperature must be a positive number" in line
    assert not (tmp_path / "out").exists()


def test_misspelt_preset_fails_before_any_image_is_screened(tmp_path, monkeypatch):
    import filmcolor.train.data as data

    monkeypatch.setattr(data, "screen", lambda *a, **k: pytest.fail("screened"))
    line = one_error_line(invoke("train", "--data", tmp_path, "--preset", "compcat"))
    assert "'compcat'" in line and "compact" in line
    line = one_error_line(invoke("train", "--data", tmp_path, "--screen", "chromma"))
    assert "'chromma'" in line and "chroma, spread" in line
    line = one_error_line(invoke("train", "--data", tmp_path, "--composite", "0.2"))
    assert "--sky-list and --ground-list" in line


def test_default_workers_fit_the_cores(monkeypatch):
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    for cores, workers in [(1, 0), (2, 1), (8, 7), (64, 8)]:
        monkeypatch.setattr(train_config.os, "cpu_count", lambda cores=cores: cores)
        assert train_config.default_workers() == workers
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")  # torchrun, 8 processes on 16 cores
    monkeypatch.setattr(train_config.os, "cpu_count", lambda: 16)
    assert train_config.default_workers() == 1


def test_small_validation_warns_and_a_finished_run_says_how_to_go_on(tmp_path):
    from PIL import Image

    from filmcolor.train.loop import TrainConfig, main

    rng = np.random.default_rng(0)
    for i in range(12):
        img = rng.integers(0, 120, (40, 48, 3))
        img[..., i % 3] += 120
        (tmp_path / "data" / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img.astype(np.uint8)).save(tmp_path / "data" / "ab"[i % 2] / f"{i}.png")
    run = tmp_path / "run"
    cfg = TrainConfig(
        data=str(tmp_path / "data"), out=str(run), preset="compact", width=0.125, batch_size=4,
        steps=2, resize=40, crop=32, workers=0, precision="fp32", eval_every=100,
        checkpoint_every=2, val_fraction=0.2, optimizer="adam",
    )  # fmt: skip
    notices = []
    main(cfg, lambda e: notices.append(e.get("message", "")))
    assert any("validation images" in m and "20" in m for m in notices)
    line = one_error_line(invoke("train", "--resume", run))
    assert "--steps" in line


def test_progress_in_a_log_file_is_a_plain_line_every_few_seconds():
    import io

    from rich.console import Console

    out = io.StringIO()
    log = render.PlainProgress(Console(file=out, force_terminal=False, width=40), every=5)
    now = [0.0]
    log.clock = lambda: now[0]
    for frame in range(0, 1001, 10):  # 100 frames a second for 10 s
        now[0] = frame / 100
        log.update("colorize", "colorizing shot 3/12", frame, 1000)
    lines = out.getvalue().splitlines()
    assert lines == [
        "colorizing shot 3/12: 0/1000",
        "colorizing shot 3/12: 500/1000, 100.0 fps, ETA 0:00:05",
        "colorizing shot 3/12: 1000/1000, 100.0 fps",
    ]  # not cut at 40 columns, no bar, no escape codes


def test_info_piped_prints_every_preset_name_whole():
    result = CliRunner().invoke(app, ["info"], terminal_width=60)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for name in ("paper", "compact", "attention", "compact-attention"):
        assert any(line.startswith(f"preset {name}: width") for line in lines), name
    assert "…" not in result.stdout


def test_short_options_and_help_that_states_defaults_and_scales():
    assert invoke("-V").stdout.startswith("filmcolor ")
    for command in ("colorize", "shots"):
        text = " ".join(invoke(command, "-h").stdout.split())
        assert "27 for content" in text and "3 for adaptive" in text, command
    text = " ".join(invoke("train", "-h").stdout.split())
    assert "[default: 1/300]" in text and "0.0033" not in text


@pytest.mark.parametrize("value", ["nan", "inf", "2", "-0.1"])
def test_a_float_option_outside_its_range_names_the_range(files, value):
    """Click's own float range called ``nan`` "more than 0.95"; ours says what is wanted."""
    result = CliRunner().invoke(app, ["colorize", str(files / "film.mp4"), "--temporal", value])
    assert result.exit_code == 2
    assert f"{value} is not a number from 0.0 to 0.95" in result.output
