"""`filmcolor keyframes`: one gray frame per shot, named by shot and frame, and the checks a
coloured keyframe passes before `colorize` uses it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import typer
from media import write_clip
from typer.testing import CliRunner

from filmcolor.cli import app
from filmcolor.config import ConfigError, KeyframesConfig
from filmcolor.keyframes import KeyframeError, check_luma, read_keyframes
from filmcolor.shotlist import read_shot_list
from filmcolor.shots import shots_from_cuts
from filmcolor.video.probe import probe

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    path = tmp_path_factory.mktemp("film") / "film.mkv"
    write_clip(path, n=30, cuts=(15,), codec="ffv1", pix_fmt="yuv420p")
    return path


def test_one_gray_frame_per_shot_named_by_shot_and_frame(tmp_path, film):
    out = tmp_path / "keys"
    result = invoke("keyframes", film, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "0001_000007.png",
        "0002_000022.png",
        "shots.csv",
    ]
    assert read_shot_list(out / "shots.csv").cuts == [15]
    img = cv2.imread(str(out / "0002_000022.png"), cv2.IMREAD_UNCHANGED)
    assert img.shape == (48, 64) and img.dtype == np.uint8  # gray, full size, 8-bit
    first = tmp_path / "first"
    result = invoke("keyframes", film, "-o", first, "--at", "first", "--shots", out / "shots.csv")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in first.iterdir()) == ["0001_000000.png", "0002_000015.png"]
    # The gray frames are the film's frames: painted over, they pass the luma check.
    info = probe(film)
    shots = shots_from_cuts([15], 30)
    for p in out.glob("*.png"):
        painted = cv2.imread(str(p))
        painted[10:30, 10:40] = (40, 60, 200)  # a red stroke (BGR): its light changes there
        cv2.imwrite(str(p), painted)
    keys = read_keyframes(out, shots, info)
    assert [(k.shot, k.frame) for k in keys] == [(0, 7), (1, 22)]
    check_luma(keys, info)
    # A frame coloured in full, its Y' kept (BT.601, as the film's matrix is unspecified),
    # passes however saturated it is.
    full = tmp_path / "full"
    full.mkdir()
    y = cv2.imread(str(first / "0001_000000.png"), cv2.IMREAD_UNCHANGED).astype(np.float32)
    cb, cr = -25.0, 35.0
    rgb = np.dstack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb])
    cv2.imwrite(str(full / "0001_000000.png"), np.clip(rgb, 0, 255).round()[..., ::-1])
    keys = read_keyframes(full, shots, info)
    assert keys[0].hints.full
    check_luma(keys, info)


def test_deeper_sources_give_16_bit_frames(tmp_path):
    film = tmp_path / "deep.mkv"
    write_clip(film, n=20, codec="ffv1", pix_fmt="yuv420p10le")
    out = tmp_path / "keys"
    assert invoke("keyframes", film, "-o", out).exit_code == 0
    (png,) = out.glob("*.png")
    assert png.name == "0001_000010.png"
    assert cv2.imread(str(png), cv2.IMREAD_UNCHANGED).dtype == np.uint16


def test_wrong_keyframes_are_refused_naming_the_file(tmp_path, film):
    info = probe(film)
    shots = shots_from_cuts([15], 30)
    keys = tmp_path / "keys"
    assert invoke("keyframes", film, "-o", keys).exit_code == 0
    good = cv2.imread(str(keys / "0001_000007.png"))
    good[..., 2] = np.clip(good[..., 2].astype(int) + 40, 0, 255)  # reddened: colour, not light

    def refused(name, img, *words):
        folder = tmp_path / name
        folder.mkdir()
        if isinstance(img, bytes):
            (folder / name).write_bytes(img)
        else:
            cv2.imwrite(str(folder / name), img)
        with pytest.raises(KeyframeError) as e:
            check_luma(read_keyframes(folder, shots, info), info)
        for word in (name, *words):
            assert word in str(e.value)

    other = cv2.imread(str(keys / "0002_000022.png"))
    other[..., 0] = np.clip(other[..., 0].astype(int) + 40, 0, 255)  # blued
    refused("0001_000003.png", other, "frame 3", "luma")  # another shot's picture
    refused("0001_000030.png", good, "past the end")
    refused("0002_000007.png", good, "not in shot 2")
    refused("0001_000008.png", cv2.resize(good, (32, 24)), "32x24", "64x48")
    refused("0001_000009.png", b"not a png", "")
    # A shifted copy of the right frame: its light is not the frame's.
    refused("0001_000007.png", np.roll(good, 9, axis=1), "frame 7", "luma")


def test_the_luma_check_decodes_only_the_keyframed_shots(tmp_path, film, monkeypatch):
    """With pass 1's shots (timed), each keyframe is checked from a seek to its shot's start:
    the right frame passes, another frame's picture under its name is refused, and the frames
    before the shot are not decoded."""
    import filmcolor.video.decode as decode

    info = probe(film)
    shots = shots_from_cuts([15], 30, [i / 25 for i in range(30)])
    keys = tmp_path / "keys"
    assert invoke("keyframes", film, "-o", keys).exit_code == 0
    other = cv2.imread(str(keys / "0001_000007.png"))  # shot 1's picture, painted
    other[10:30, 10:40] = (40, 60, 200)
    (keys / "0001_000007.png").unlink()
    painted = cv2.imread(str(keys / "0002_000022.png"))
    painted[10:30, 10:40] = (40, 60, 200)
    cv2.imwrite(str(keys / "0002_000022.png"), painted)
    decoded = []
    plain = decode.decode_video

    def counted(*args, **kwargs):
        for frame in plain(*args, **kwargs):
            decoded.append(frame)
            yield frame

    monkeypatch.setattr(decode, "decode_video", counted)
    check_luma(read_keyframes(keys, shots, info), info, shots=shots)
    assert 8 <= len(decoded) < 15  # frames 15..22 (and what the seek lands before)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    cv2.imwrite(str(wrong / "0002_000020.png"), other)
    with pytest.raises(KeyframeError, match="not frame 20"):
        check_luma(read_keyframes(wrong, shots, info), info, shots=shots)


def test_options_default_to_the_config_and_bad_values_are_one_line(tmp_path, film):
    command = typer.main.get_command(app).commands["keyframes"]
    defaults = {p.name: p.default for p in command.params if p.name not in ("help", "output")}
    defaults.pop("input")
    config = KeyframesConfig(film, tmp_path)
    assert defaults == {name: getattr(config, name) for name in defaults}
    with pytest.raises(ConfigError):
        KeyframesConfig(film, tmp_path, at="last")
    result = invoke("keyframes", film, "-o", tmp_path / "k", "--at", "last")
    assert result.exit_code == 1 and "--at" in result.stderr and "Traceback" not in result.stderr
