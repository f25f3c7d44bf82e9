"""`filmcolor frames` as a library: sizes, formats, bit depth, orientation, skipped files."""

from __future__ import annotations

import cv2
import numpy as np
from media import shot_frames
from PIL import Image

from filmcolor.images import read_image
from filmcolor.stills import colorize_folder


def test_folder_is_mirrored_with_sizes_formats_and_depth(tmp_path, colorizer):
    src, dst = tmp_path / "in", tmp_path / "out"
    (src / "reel1" / "deep").mkdir(parents=True)
    gray = shot_frames(1)[0]
    cv2.imwrite(str(src / "a.png"), gray)
    cv2.imwrite(str(src / "reel1" / "b.jpg"), cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
    cv2.imwrite(str(src / "reel1" / "deep" / "c.tif"), gray.astype(np.uint16) * 257)
    cv2.imwrite(
        str(src / "reel1" / "deep" / "d.png"), np.dstack([gray] * 3).astype(np.uint16) * 257
    )
    (src / "broken.png").write_bytes(b"not a png")
    (src / "notes.txt").write_text("ignored")
    result = colorize_folder(src, dst, colorizer)
    assert sorted(p.relative_to(dst).as_posix() for p in result.written) == [
        "a.png",
        "reel1/b.jpg",
        "reel1/deep/c.tif",
        "reel1/deep/d.png",
    ]
    assert [p.name for p, _ in result.skipped] == ["broken.png"]
    for rel, dtype in [
        ("a.png", np.uint8),
        ("reel1/deep/c.tif", np.uint16),
        ("reel1/deep/d.png", np.uint16),
    ]:
        out = cv2.imread(str(dst / rel), cv2.IMREAD_UNCHANGED)
        assert out.shape == (48, 64, 3) and out.dtype == dtype, rel
    out = cv2.imread(str(dst / "a.png"))
    assert np.abs(cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).astype(int) - gray).mean() < 3  # same light
    assert np.ptp(out.astype(int)[..., 2] - out[..., 0]) > 0  # and some colour
    again = colorize_folder(src, dst, colorizer)  # existing outputs are not replaced
    assert not again.written and len(again.skipped) == 5


def test_exif_orientation_is_applied(tmp_path, colorizer):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    gray = shot_frames(1)[0]
    gray[:8, :8] = 255  # a mark in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display = 90 degrees clockwise
    Image.fromarray(gray).save(src / "r.jpg", exif=exif, quality=98)
    upright = np.asarray(Image.open(src / "r.jpg").transpose(Image.Transpose.ROTATE_270))
    assert (read_image(src / "r.jpg") == upright).all()
    colorize_folder(src, dst, colorizer)
    out = cv2.imread(str(dst / "r.jpg"), cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION)
    assert out.shape == (64, 48)
    assert out[:8, -8:].mean() > 200  # the mark is now top-right, as a viewer shows it
