"""Input checks before any work: colour input, damaged JPEGs, enormous frames, a full disk."""

from __future__ import annotations

import errno
import struct
import zlib

import av
import cv2
import numpy as np
import pytest
from media import shot_frames, write_clip
from typer.testing import CliRunner

from filmcolor.checks import AlreadyColourError, TooLargeError
from filmcolor.cli import app
from filmcolor.pipeline import ColorizeConfig, colorize_video
from filmcolor.stills import colorize_folder


def run(src, out, colorizer, **kw):
    return colorize_video(ColorizeConfig(src, out, **kw), colorizer=colorizer)


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def one_error_line(result) -> str:
    assert result.exit_code not in (0, None)
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def toned(gray: np.ndarray, tone=(1.0, 0.85, 0.65)) -> np.ndarray:
    """A gray picture printed in one hue (sepia by default), as RGB."""
    return np.dstack([gray * t for t in tone]).clip(0, 255).astype(np.uint8)


def write_rgb_clip(path, rgb_frames):
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = rgb_frames.shape[2], rgb_frames.shape[1], "yuv444p"
        for i, f in enumerate(rgb_frames):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv444p")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))


def test_colour_film_is_refused_unless_forced_and_a_toned_film_is_not(tmp_path, colorizer):
    colour = tmp_path / "colour.mkv"
    write_clip(colour, n=8, codec="ffv1", pix_fmt="yuv444p", rgb=True)
    with pytest.raises(AlreadyColourError, match="--force"):
        run(colour, tmp_path / "o.mkv", colorizer)
    assert not (tmp_path / "o.mkv").exists()
    assert run(colour, tmp_path / "o.mkv", colorizer, force=True).frames == 8
    for name, tone in [("sepia", (1.0, 0.85, 0.65)), ("cyanotype", (0.55, 0.8, 1.0))]:
        src = tmp_path / f"{name}.mp4"
        write_rgb_clip(src, np.stack([toned(f.astype(np.float32), tone) for f in shot_frames(8)]))
        assert run(src, tmp_path / f"{name}_color.mp4", colorizer).frames == 8


def test_colour_photo_is_skipped_unless_forced_and_a_sepia_print_is_not(tmp_path, colorizer):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    gray = shot_frames(1)[0].astype(np.float32)
    cv2.imwrite(str(src / "sepia.png"), toned(gray)[..., ::-1])
    photo = np.zeros((48, 64, 3), np.uint8)
    photo[:24], photo[24:] = (210, 140, 90), (110, 170, 210)  # BGR: blue sky over sand
    cv2.imwrite(str(src / "holiday.png"), photo)
    result = colorize_folder(src, dst, colorizer)
    assert [p.name for p in result.written] == ["sepia.png"]
    assert [(p.name, "already in colour" in why) for p, why in result.skipped] == [
        ("holiday.png", True)
    ]
    result = colorize_folder(src, dst, colorizer, force=True)
    assert [p.name for p in result.written] == ["holiday.png"]


def damaged_jpegs(folder):
    """good.jpg, cut.jpg (truncated) and noise.jpg (entropy-coded data overwritten)."""
    gray = shot_frames(1, size=(96, 64))[0]
    cv2.imwrite(str(folder / "good.jpg"), gray, [cv2.IMWRITE_JPEG_QUALITY, 90])
    data = (folder / "good.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(data[: len(data) * 6 // 10])
    noisy = bytearray(data)
    sos = noisy.find(b"\xff\xda")
    for i in range(sos + 40, sos + 80):
        noisy[i] = 0xFF if i % 7 == 0 else 0x13
    (folder / "noise.jpg").write_bytes(bytes(noisy))


def test_damaged_jpegs_are_skipped_and_named_unless_allowed(tmp_path, colorizer):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    damaged_jpegs(src)
    result = colorize_folder(src, dst, colorizer)
    assert [p.name for p in result.written] == ["good.jpg"]
    assert sorted(p.name for p, _ in result.skipped) == ["cut.jpg", "noise.jpg"]
    assert all("damaged" in why and str(p) in why for p, why in result.skipped)
    again = colorize_folder(src, tmp_path / "out2", colorizer, allow_damaged=True)
    assert len(again.written) == 3
    assert sorted(p.name for p, _ in again.damaged) == ["cut.jpg", "noise.jpg"]


def test_frames_names_damaged_files_in_its_summary(tmp_path, tiny_model):
    src = tmp_path / "in"
    src.mkdir()
    damaged_jpegs(src)
    opts = ["--model", tiny_model, "--precision", "fp32", "--render-size", "32"]
    result = invoke("frames", src, "-o", tmp_path / "out", *opts)
    assert result.exit_code == 3, result.output  # partly done: two were not colorized
    assert "1 image written" in result.stdout and "2 skipped" in result.stdout
    assert "cut.jpg" in result.stderr and "noise.jpg" in result.stderr
    assert "Corrupt JPEG" not in result.stderr  # not libjpeg's own nameless message
    result = invoke("frames", src, "-o", tmp_path / "out2", "--allow-damaged", *opts)
    assert "3 images written" in result.stdout


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height``, with one tiny compressed row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_enormous_frames_are_refused_before_they_are_allocated(tmp_path, colorizer, tiny_model):
    # a raw video whose header says 16000x16000 (FFmpeg itself refuses to open 60000x60000)
    y4m = tmp_path / "huge.y4m"
    y4m.write_bytes(b"YUV4MPEG2 W16000 H16000 F25:1 Ip A1:1 Cmono\nFRAME\n" + bytes(4096))
    with pytest.raises(TooLargeError, match="16000x16000"):
        run(y4m, tmp_path / "o.mp4", colorizer)
    line = one_error_line(invoke("colorize", y4m, "-o", tmp_path / "o.mp4", "--model", tiny_model))
    assert "16000x16000" in line and "--max-pixels" in line
    src = tmp_path / "in"
    src.mkdir()
    (src / "huge.png").write_bytes(png_claiming(60000, 60000))
    cv2.imwrite(str(src / "small.png"), shot_frames(1)[0])
    result = colorize_folder(src, tmp_path / "out", colorizer)
    assert [p.name for p in result.written] == ["small.png"]
    assert "60000x60000" in result.skipped[0][1]
    result = colorize_folder(src, tmp_path / "out2", colorizer, max_pixels=1000)
    assert len(result.skipped) == 2  # 64x48 = 3072 pixels is over a limit of 1000 too


def test_a_full_disk_ends_in_one_line_and_leaves_nothing(tmp_path, tiny_model, monkeypatch):
    import filmcolor.video.writer as vio

    src = tmp_path / "in" / "film.mp4"
    src.parent.mkdir()
    write_clip(src, n=12)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    real = vio.VideoWriter._mux
    muxed = [0]

    def mux(self, packets):
        for p in packets:
            muxed[0] += 1
            if muxed[0] > 3:
                raise OSError(errno.ENOSPC, "No space left on device", str(self.tmp))
            real(self, [p])

    monkeypatch.setattr(vio.VideoWriter, "_mux", mux)
    opts = ["--model", tiny_model, "--precision", "fp32", "--render-size", "32"]
    line = one_error_line(invoke("colorize", src, "-o", out_dir / "film.mp4", *opts))
    assert "disk full" in line and str(out_dir) in line
    assert not (out_dir / "film.mp4").exists()  # nothing under the final name
    assert [p for p in out_dir.rglob("*") if ".part" in p.name and p.is_file()] == []
