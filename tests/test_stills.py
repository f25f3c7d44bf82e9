"""`filmcolor frames` as a library: sizes, formats, bit depth, orientation, skipped files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
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
    assert not again.written and len(again.existing) == 4 and len(again.skipped) == 1


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


def scan_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Epson", "Perfection V850"  # scanner make, model
    exif[0x0132] = "2024:05:01 10:00:00"  # date
    exif[0x010E] = "Reel 3, frame 12"  # description
    return exif


def srgb_icc() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.mark.parametrize(
    ("name", "bits"),
    [("scan.jpg", 8), ("scan.png", 8), ("scan.webp", 8), ("deep.png", 16), ("deep.tif", 16)],
)
def test_scan_metadata_exif_icc_and_dpi_are_kept(tmp_path, colorizer, name, bits):
    import tifffile

    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    gray = shot_frames(1)[0]
    icc = srgb_icc()
    if name.endswith(".tif"):  # a scanner's 16-bit TIFF: tags in the first IFD, 2400 dpi
        tifffile.imwrite(
            src / name,
            gray.astype(np.uint16) * 257,
            resolution=(2400, 2400),
            resolutionunit="INCH",
            iccprofile=icc,
            description="Reel 3, frame 12",
            metadata=None,
            extratags=[(271, "s", 0, "Epson", True), (272, "s", 0, "Perfection V850", True)]
            + [(306, "s", 0, "2024:05:01 10:00:00", True)],
        )
    elif bits == 16:  # Pillow writes 16-bit gray PNG with its chunks
        Image.fromarray(gray.astype(np.uint16) * 257).save(
            src / name, exif=scan_exif(), icc_profile=icc, dpi=(2400, 2400)
        )
    else:
        Image.fromarray(gray).convert("RGB").save(
            src / name, exif=scan_exif(), icc_profile=icc, dpi=(2400, 2400), quality=95
        )
    colorize_folder(src, dst, colorizer)
    out = dst / name
    assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).dtype == (np.uint16 if bits > 8 else np.uint8)
    with Image.open(out) as im:
        exif = im.getexif()
        assert (exif.get(0x010F), exif.get(0x0110)) == ("Epson", "Perfection V850")
        assert (exif.get(0x0132), exif.get(0x010E)) == ("2024:05:01 10:00:00", "Reel 3, frame 12")
        assert im.info.get("icc_profile") == icc
        if not name.endswith(".webp"):  # WebP has no resolution field
            assert im.info["dpi"] == pytest.approx((2400, 2400), abs=0.5)  # not 1 dpi
    assert np.ptp(cv2.imread(str(out)).astype(int)[..., 2] - cv2.imread(str(out))[..., 0]) > 0
