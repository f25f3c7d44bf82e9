"""`colorize --keyframes`: a coloured frame's colour carried through its shot, checked before
any work, other shots untouched, resume aware of what changed."""

from __future__ import annotations

import json
import signal
import subprocess

import av
import cv2
import numpy as np
import pytest
from media import read_video, write_clip
from test_segments import child_env, cli, kill_once_a_part_is_saved
from typer.testing import CliRunner

from filmcolor.cli import app
from filmcolor.config import ColorizeConfig
from filmcolor.parts import PartsWriter
from filmcolor.pipeline import colorize_video
from filmcolor.segments import parts_folder, saved
from filmcolor.shotlist import write_csv
from filmcolor.shots import shots_from_cuts

W, H, STEP = 64, 48, 2  # frame size; the camera pans STEP px a frame


def scene(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A colour scene panned STEP px a frame: (n, H, W) gray (full range) and (n, H, W, 3) RGB
    whose BT.601 luma is that gray (so a frame of it is a keyframe of the gray film)."""
    rng = np.random.default_rng(seed)
    big = W + STEP * n
    y = cv2.GaussianBlur(rng.random((H, big)).astype(np.float32), (0, 0), 2.5)
    y = 70 + 110 * (y - y.min()) / (y.max() - y.min())
    chroma = rng.uniform(-30, 30, (H // 12 + 1, big // 12 + 1, 2)).astype(np.float32)
    cb, cr = cv2.split(cv2.resize(chroma, (big, H), interpolation=cv2.INTER_NEAREST))
    rgb = np.dstack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb])
    rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    gray = np.rint(y).astype(np.uint8)
    grays = np.stack([gray[:, t * STEP : t * STEP + W] for t in range(n)])
    colours = np.stack([rgb[:, t * STEP : t * STEP + W] for t in range(n)])
    return grays, colours


def decoded_rgb(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def ab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[..., 1:]


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    """Two shots of 20 frames (two scenes), the gray film losslessly, and its colour truth."""
    folder = tmp_path_factory.mktemp("keyfilm")
    g1, c1 = scene(20, 1)
    g2, c2 = scene(20, 2)
    path = folder / "film.mkv"
    write_clip(path, np.concatenate([g1, g2]), codec="ffv1", pix_fmt="yuv420p")
    write_csv(SHOTS_CSV(path), shots_from_cuts([20], 40))  # the detector need not find it
    return path, np.concatenate([c1, c2])


def SHOTS_CSV(path):  # noqa: N802
    return path.with_suffix(".csv")


def keyframe_folder(tmp_path, truth, frames: dict[str, int]):
    """A --keyframes folder: name -> the truth's frame written under it (RGB -> BGR)."""
    folder = tmp_path / "keys"
    folder.mkdir(exist_ok=True)
    for name, n in frames.items():
        cv2.imwrite(str(folder / name), truth[n][..., ::-1])
    return folder


def run(film, out, tiny_model, **options) -> None:
    cfg = ColorizeConfig(
        film, out, model=tiny_model, precision="fp32", device="cpu", render_size=32,
        codec="ffv1", batch_size=4, shots=SHOTS_CSV(film), **options,
    )  # fmt: skip
    colorize_video(cfg)


def test_a_keyframes_colour_reaches_the_shots_last_frame_and_other_shots_are_unchanged(
    tmp_path, film, tiny_model
):
    path, truth = film
    keys = keyframe_folder(tmp_path, truth, {"0002_000030.png": 30})  # shot 2, its middle
    plain, keyed = tmp_path / "plain.mkv", tmp_path / "keyed.mkv"
    run(path, plain, tiny_model)
    run(path, keyed, tiny_model, keyframes=keys)
    a, b = decoded_rgb(plain), decoded_rgb(keyed)
    assert np.array_equal(a[:20], b[:20])  # shot 1 has no keyframe: bit for bit the same
    # The shot's last frame (carried forward) and first (backward), where the keyframe shows
    # the same things (the pan moves 18 px either way); a*b* error in Lab units, of a render
    # at 32 px and 4:2:0 chroma.
    for t, seen in ((39, np.s_[:, 4:40]), (20, np.s_[:, 24:60])):
        err_keyed = np.abs(ab(b[t]) - ab(truth[t]))[seen].mean()
        err_plain = np.abs(ab(a[t]) - ab(truth[t]))[seen].mean()
        assert err_keyed < 0.35 * err_plain and err_keyed < 8, (t, err_keyed, err_plain)
    assert np.array_equal(read_video(keyed)["y"], read_video(plain)["y"])  # the film's luma


def test_wrong_keyframes_are_one_line_errors_and_nothing_is_written(tmp_path, film, tiny_model):
    path, truth = film
    runner = CliRunner()
    args = ["--model", tiny_model, "--precision", "fp32", "--render-size", "32"]
    args += ["--shots", SHOTS_CSV(path)]
    cases = {
        "0001_000003.png": (truth[15], "is not frame 3"),  # another frame of the shot
        "0001_000050.png": (truth[5], "past the end"),
        "0001_000004.png": (truth[4][:24, :32], "32x24"),
        "0001_000006.png": (None, "not an image that can be read"),
    }
    for name, (img, words) in cases.items():
        folder = tmp_path / name.removesuffix(".png")
        folder.mkdir()
        if img is None:
            (folder / name).write_bytes(b"not a png")
        else:
            cv2.imwrite(str(folder / name), img[..., ::-1])
        out = tmp_path / f"{folder.name}.mkv"
        result = runner.invoke(
            app,
            ["colorize", str(path), "-o", str(out), "--keyframes", str(folder)]
            + [str(a) for a in args],
        )
        assert result.exit_code == 1, result.stdout
        errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and name in errors[0] and words in errors[0], result.stderr
        assert "Traceback" not in result.stderr
        assert not out.exists() and not parts_folder(out).exists()


def test_a_changed_keyframe_redoes_the_segment_it_touches(tmp_path, film, tiny_model, monkeypatch):
    path, truth = film
    keys = keyframe_folder(tmp_path, truth, {"0001_000010.png": 10, "0002_000030.png": 30})
    out = tmp_path / "out.mkv"
    real = PartsWriter.write_frame

    def stop_in_shot_2(self, frame, pts):  # Ctrl-C once the first segment is saved
        if self.frames >= 25:  # (film frame number of the next frame)
            raise KeyboardInterrupt
        real(self, frame, pts)

    monkeypatch.setattr(PartsWriter, "write_frame", stop_in_shot_2)
    with pytest.raises(KeyboardInterrupt):
        run(path, out, tiny_model, keyframes=keys, segment_frames=20)
    monkeypatch.undo()
    assert saved(out) == (1, 2)
    # Shot 1's keyframe changes (a bluer sky): its segment is redone, and the manifest says so.
    bluer = truth[10].astype(int)
    bluer[..., 2] = np.clip(bluer[..., 2] + 12, 0, 255)
    bluer[..., 0] = np.clip(bluer[..., 0] - 6, 0, 255)  # about the same light
    cv2.imwrite(str(keys / "0001_000010.png"), bluer.astype(np.uint8)[..., ::-1])
    said = []
    cfg = ColorizeConfig(
        path, out, model=tiny_model, precision="fp32", device="cpu", render_size=32,
        codec="ffv1", batch_size=4, keyframes=keys, segment_frames=20, shots=SHOTS_CSV(path),
    )  # fmt: skip
    manifest = parts_folder(out) / "manifest.json"
    seen = {}

    def warn(message):
        said.append(message)
        if manifest.exists():
            seen.update(json.loads(manifest.read_text()))

    colorize_video(cfg, on_warning=warn)
    assert any("0001_000010.png" in m and "segment(s) 1" in m for m in said), said
    assert seen.get("keyframes_changed") == ["0001_000010.png"]
    fresh = tmp_path / "fresh.mkv"
    run(path, fresh, tiny_model, keyframes=keys, segment_frames=20)
    assert np.array_equal(decoded_rgb(out), decoded_rgb(fresh))


@pytest.mark.slow  # a subprocess killed mid-film, then another run
def test_sigkill_then_resume_with_keyframes_gives_the_uninterrupted_film(
    tmp_path, film, tiny_model
):
    path, truth = film
    keys = keyframe_folder(tmp_path, truth, {"0001_000010.png": 10, "0002_000030.png": 30})
    args = ["--model", tiny_model, "--precision", "fp32", "--device", "cpu", "--render-size",
            "32", "--codec", "ffv1", "--batch-size", "4", "--segment-frames", "20",
            "--keyframes", keys, "--shots", SHOTS_CSV(path)]  # fmt: skip
    whole, resumed = tmp_path / "whole.mkv", tmp_path / "resumed.mkv"
    ran = subprocess.run(
        cli("colorize", path, "-o", whole, *args), env=child_env(), capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    assert kill_once_a_part_is_saved(path, resumed, *args) == -signal.SIGKILL
    assert saved(resumed) == (1, 2) and not resumed.exists()
    again = subprocess.run(
        cli("colorize", path, "-o", resumed, *args), env=child_env(), capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert "20 of 40 frames are saved" in again.stderr
    assert np.array_equal(decoded_rgb(whole), decoded_rgb(resumed))


def test_preview_marks_keyframed_shots_and_shows_them_as_rendered(tmp_path, film, tiny_model):
    from filmcolor.preview import preview_video

    path, truth = film
    keys = keyframe_folder(tmp_path, truth, {"0002_000030.png": 30})

    def sheet(name, **options):
        cfg = ColorizeConfig(
            path, tmp_path / "unused.mkv", model=tiny_model, precision="fp32", device="cpu",
            render_size=32, shots=SHOTS_CSV(path), **options,
        )  # fmt: skip
        result = preview_video(cfg, tmp_path / f"{name}.png")
        page = result.pages[0]
        img = cv2.imread(str(page.path))[..., ::-1]
        tiles = {k: img[y : y + h, x : x + w] for k, (x, y, w, h) in page.boxes.items()}
        return result, tiles

    plain, before = sheet("plain")
    keyed, after = sheet("keyed", keyframes=keys)
    assert keyed.keyframed == {1: ["0002_000030.png"]} and not plain.keyframed
    assert np.array_equal(before[0], after[0])  # shot 1: as without keyframes
    h, w = after[1].shape[:2]
    want = ab(cv2.resize(truth[30], (w, h), interpolation=cv2.INTER_AREA))
    err_keyed = np.abs(ab(after[1]) - want).mean()
    err_plain = np.abs(ab(before[1]) - want).mean()
    assert err_keyed < 0.35 * err_plain, (err_keyed, err_plain)  # the keyframe, as rendered


def test_a_keyframe_column_in_the_shot_list_counts_like_the_folder(tmp_path, film, tiny_model):
    path, truth = film
    keys = keyframe_folder(tmp_path, truth, {"0002_000030.png": 30})
    by_folder, by_column = tmp_path / "folder.mkv", tmp_path / "column.mkv"
    run(path, by_folder, tiny_model, keyframes=keys)
    listed = tmp_path / "listed.csv"  # the shot list with a keyframe column, relative paths
    listed.write_text("start_frame,keyframe\n0,\n20,keys/0002_000030.png\n")
    cfg = ColorizeConfig(
        path, by_column, model=tiny_model, precision="fp32", device="cpu", render_size=32,
        codec="ffv1", batch_size=4, shots=listed,
    )  # fmt: skip
    colorize_video(cfg)
    assert np.array_equal(decoded_rgb(by_folder), decoded_rgb(by_column))
