"""Build the README's sample material from validation photos that may be redistributed.

Writes, from photos of the held-out validation list (so the default model never trained on them)
whose licence in the photo set's MANIFEST.csv is CC0-1.0 or public-domain:

- ``examples/sample.mp4``: a 7 s black-and-white clip, 640x360, 24 fps, libx264, four shots
  (a slow pan or zoom over one photo each, hard cuts between them), luma only, with an AAC track
  synthesised here (a soft chord per shot);
- ``examples/stills/*.jpg``: five other photos as gray JPEGs, 640 px on the long side;
- ``examples/README.md``: what the files are and where every photo comes from.

The outputs are committed: ``make demo`` reads them and nothing else.

    python examples/make_sample.py --photos /path/to/photos [--val-list train/lists/photos_val.txt]
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WIDTH, HEIGHT, FPS = 640, 360, 24
SHOT_FRAMES = 42  # 1.75 s; four shots = 7 s
SAMPLE_RATE = 48000
STILL_SIZE = 640  # long side of the stills
REDISTRIBUTABLE = ("CC0-1.0", "public-domain")


@dataclass(frozen=True)
class Shot:
    """One shot: a photo and a camera move, as (centre x, centre y, zoom) at start and end.

    Centres are fractions of the photo's size; zoom 1 shows the largest 16:9 window that fits.
    """

    photo: str
    start: tuple[float, float, float]
    end: tuple[float, float, float]
    chord: tuple[float, ...]  # Hz


SHOTS = (
    Shot(
        "gcompris_monuments-brandenburg-gate.jpg",
        (0.5, 0.45, 1.0),
        (0.5, 0.4, 1.35),
        (261.6, 329.6, 392.0),
    ),
    Shot(
        "gcompris_wanimals-giraffe.jpg", (0.38, 0.55, 1.2), (0.62, 0.55, 1.2), (220.0, 261.6, 329.6)
    ),
    Shot(
        "gcompris_erase-red-panda.jpg", (0.62, 0.45, 1.5), (0.55, 0.5, 1.05), (174.6, 220.0, 261.6)
    ),
    Shot(
        "gcompris_monuments-red-pyramid.jpg",
        (0.42, 0.5, 1.25),
        (0.58, 0.5, 1.25),
        (196.0, 246.9, 293.7),
    ),
)
STILLS = (
    "gcompris_erase-kingfisher.jpg",
    "gcompris_monuments-hawa-mahal.jpg",
    "gcompris_farm-dog.jpg",
    "gcompris_monuments-great-stupa.jpg",
    "gcompris_music-japan.jpg",
)


def read_manifest(photos: Path) -> dict[str, dict[str, str]]:
    """MANIFEST.csv rows by file name."""
    with open(photos / "MANIFEST.csv", newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f)}


def check_photos(names: list[str], manifest: dict, val_list: Path) -> None:
    """Refuse a photo that is not in the validation list or whose licence is not free enough."""
    val = {
        line.split()[0].lstrip("/") for line in val_list.read_text().splitlines() if line.strip()
    }
    for name in names:
        if name not in val:
            raise SystemExit(
                f"error: {name} is not in {val_list}; the model may have trained on it"
            )
        licence = manifest.get(name, {}).get("license")
        if licence not in REDISTRIBUTABLE:
            raise SystemExit(f"error: {name} has licence {licence!r}, not one of {REDISTRIBUTABLE}")


def luma(path: Path) -> np.ndarray:
    """A photo's BT.601 luma (H, W) uint8, as a black-and-white print of it."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"error: cannot read {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def shot_frames(gray: np.ndarray, shot: Shot, n: int) -> list[np.ndarray]:
    """``n`` frames (HEIGHT, WIDTH) of a smooth pan/zoom over ``gray``."""
    h, w = gray.shape
    base = min(w / WIDTH, h / HEIGHT)  # photo px per frame px at zoom 1
    # Downscale once with area filtering, so the per-frame warp never minifies much (no aliasing).
    pre = min(1.0, max(shot.start[2], shot.end[2]) / base)  # small px per photo px
    small = cv2.resize(gray, (round(w * pre), round(h * pre)), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(n):
        t = i / (n - 1)
        t = t * t * (3 - 2 * t)  # ease in and out
        cx, cy, zoom = (a + (b - a) * t for a, b in zip(shot.start, shot.end, strict=True))
        scale = zoom / (base * pre)  # frame px per small-image px
        half_w, half_h = WIDTH / 2 / scale, HEIGHT / 2 / scale
        x0 = min(max(cx * small.shape[1] - half_w, 0), small.shape[1] - 2 * half_w)
        y0 = min(max(cy * small.shape[0] - half_h, 0), small.shape[0] - 2 * half_h)
        m = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], np.float64)
        frames.append(
            cv2.warpAffine(
                small, m, (WIDTH, HEIGHT), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
            )
        )
    return frames


def chord(freqs: tuple[float, ...], seconds: float) -> np.ndarray:
    """A soft chord: sine partials with a slow attack and release; float32 mono."""
    t = np.arange(round(seconds * SAMPLE_RATE), dtype=np.float64) / SAMPLE_RATE
    wave = sum(np.sin(2 * np.pi * f * t) + 0.2 * np.sin(4 * np.pi * f * t) for f in freqs)
    envelope = np.minimum(1, np.minimum(t / 0.15, (seconds - t) / 0.4).clip(0))
    return (0.12 * wave * envelope / len(freqs)).astype(np.float32)


def write_clip(path: Path, photos: Path) -> None:
    """Encode the shots and their chords into ``path`` (written beside it, then renamed)."""
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    with av.open(str(tmp), "w") as out:
        vs = out.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        vs.codec_context.time_base = Fraction(1, FPS)
        vs.codec_context.options = {"crf": "20", "preset": "slow", "g": str(2 * FPS)}
        vs.codec_context.color_range = 1  # limited (TV) range, what players expect
        audio = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        audio.bit_rate = 64000
        n = 0
        for shot in SHOTS:
            for f in shot_frames(luma(photos / shot.photo), shot, SHOT_FRAMES):
                frame = av.VideoFrame.from_ndarray(f, format="gray").reformat(format="yuv420p")
                frame.pts, frame.time_base = n, Fraction(1, FPS)
                out.mux(vs.encode(frame))
                n += 1
        out.mux(vs.encode(None))
        sound = np.concatenate([chord(s.chord, SHOT_FRAMES / FPS) for s in SHOTS])
        for k in range(0, len(sound), 1024):
            af = av.AudioFrame.from_ndarray(sound[None, k : k + 1024], format="flt", layout="mono")
            af.sample_rate, af.pts = SAMPLE_RATE, k
            out.mux(audio.encode(af))
        out.mux(audio.encode(None))
    tmp.replace(path)


def write_stills(folder: Path, photos: Path) -> list[Path]:
    """Gray JPEGs of :data:`STILLS`, ``STILL_SIZE`` px on the long side."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in STILLS:
        gray = luma(photos / name)
        s = STILL_SIZE / max(gray.shape)
        if s < 1:
            size = (round(gray.shape[1] * s), round(gray.shape[0] * s))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        target = folder / name.removeprefix("gcompris_")
        cv2.imwrite(str(target), gray, [cv2.IMWRITE_JPEG_QUALITY, 90])
        written.append(target)
    return written


README = """\
# Examples

- `sample.mp4`: the README's sample film, 7 s, 640x360, 24 fps, black and white (luma only),
  four shots with hard cuts, and a synthesised AAC sound track (one soft chord per shot).
- `stills/`: five black-and-white photographs, 640 px on the long side.
- `make_sample.py`: builds both from the photo set (`python examples/make_sample.py --photos DIR`).
- `side_by_side.py`: the picture `make demo` writes: gray | colour for a frame of each shot of
  the clip and for each still.
- `check_roundtrip.py`: a 1,500-frame end-to-end check of the video pipeline (no trained model).

`make demo` colorizes `sample.mp4` and `stills/` with the shipped model and writes the results
to `demo_out/`.

## Where the pictures come from

Every picture is a photograph of the default model's held-out validation list
(`train/lists/photos_val.txt`), so the model never trained on it, and every one is in the
public domain or under CC0-1.0. They were taken from the Debian package `gcompris-qt-data`
(GCompris activity resources; per-image licences from the resource READMEs), converted to JPEG,
then to gray here. Details from the photo set's `MANIFEST.csv`:

| file here | photo set file | source package | original path | licence |
|---|---|---|---|---|
"""


def write_readme(path: Path, manifest: dict, stills: list[Path]) -> None:
    """``examples/README.md`` with one attribution row per photo used."""
    rows = [(f"sample.mp4, shot {i}", s.photo) for i, s in enumerate(SHOTS, 1)]
    rows += [(f"stills/{p.name}", name) for p, name in zip(stills, STILLS, strict=True)]
    lines = []
    for here, name in rows:
        m = manifest[name]
        lines.append(
            f"| {here} | {name} | {m['source_package']} | `{m['original_path']}` | {m['license']} |"
        )
    path.write_text(README + "\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, required=True, help="the photo set (MANIFEST.csv)")
    parser.add_argument(
        "--val-list", type=Path, default=REPO / "train" / "lists" / "photos_val.txt"
    )
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write to")
    args = parser.parse_args()
    manifest = read_manifest(args.photos)
    check_photos([s.photo for s in SHOTS] + list(STILLS), manifest, args.val_list)
    args.out.mkdir(parents=True, exist_ok=True)
    write_clip(args.out / "sample.mp4", args.photos)
    stills = write_stills(args.out / "stills", args.photos)
    write_readme(args.out / "README.md", manifest, stills)
    size = (args.out / "sample.mp4").stat().st_size
    print(f"wrote {args.out / 'sample.mp4'} ({size / 1e6:.2f} MB), {len(stills)} stills, README.md")


if __name__ == "__main__":
    main()
