"""The README's keyframes example: colour a shot of the sample clip the way you want it.

    python examples/keyframes_demo.py --photos /path/to/photos [--out out/keyframes_demo]

1. ``filmcolor keyframes examples/sample.mp4 -o OUT/keys``: one gray frame per shot.
2. Colour two of them as a user would, from the photos the clip was made of (it was made
   from colour stills, see ``examples/make_sample.py``): shot 1 in full (its colour original),
   shot 2 with a few strokes of colour painted on the gray frame. Shots 3 and 4 stay gray
   (ignored: coloured automatically).
3. ``filmcolor colorize examples/sample.mp4 --keyframes OUT/keys`` and, beside it, plain
   ``filmcolor colorize``.
4. ``examples/keyframes_strokes.jpg``: for shot 2, the gray keyframe, the strokes, and the
   shot's first, middle and last frames, automatic above and with the strokes below;
   ``examples/keyframes_full.jpg``: the same for shot 1 with its full colour keyframe.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_sample import SHOT_FRAMES, SHOTS, shot_frames  # noqa: E402

STROKES = (  # shot 2 (two giraffes among trees): (x0, y0, x1, y1) in frame pixels, 7 px wide
    (325, 75, 350, 170),  # the left giraffe's neck
    (455, 40, 480, 140),  # the right one's
    (350, 215, 430, 230),  # their bodies
    (490, 190, 570, 210),
    (60, 100, 140, 160),  # the foliage
    (220, 120, 300, 150),
    (40, 345, 300, 350),  # the ground
    (540, 8, 620, 8),  # the sky
)


def colour_frame(photo: Path, shot, index: int) -> np.ndarray:
    """Frame ``index`` of ``shot`` in colour, (H, W, 3) uint8 RGB: each channel moved as
    make_sample.py moved the luma (the warp is linear, so its Y' is the clip's frame)."""
    bgr = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    channels = [shot_frames(bgr[..., c], shot, SHOT_FRAMES)[index] for c in (2, 1, 0)]
    return np.dstack(channels)


def frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def filmcolor(*args) -> None:
    exe = Path(sys.executable).parent / "filmcolor"
    subprocess.run([str(exe), *map(str, args)], check=True)


def row(images: list[np.ndarray], height: int = 150) -> np.ndarray:
    scaled = [
        cv2.resize(im, (round(im.shape[1] * height / im.shape[0]), height), cv2.INTER_AREA)
        for im in images
    ]
    gap = np.full((height, 6, 3), 255, np.uint8)
    out = [scaled[0]]
    for im in scaled[1:]:
        out += [gap, im]
    return np.concatenate(out, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", required=True, type=Path)
    parser.add_argument("--out", default=HERE.parent / "out" / "keyframes_demo", type=Path)
    args = parser.parse_args()
    sample, out = HERE / "sample.mp4", args.out
    keys = out / "keys"
    out.mkdir(parents=True, exist_ok=True)
    filmcolor("keyframes", sample, "-o", keys)
    pictures = {p.name.split("_")[0]: p for p in keys.glob("*.png")}  # "0001" -> the file
    # Shot 1 in full: its colour original.
    first = pictures["0001"]
    middle = int(first.stem.split("_")[1])
    full = colour_frame(args.photos / SHOTS[0].photo, SHOTS[0], middle)
    cv2.imwrite(str(first), full[..., ::-1])
    # Shot 2 with strokes: the gray frame, and the original's colour along a few lines.
    second = pictures["0002"]
    index = int(second.stem.split("_")[1]) - SHOT_FRAMES
    gray = cv2.imread(str(second), cv2.IMREAD_COLOR)[..., ::-1]
    truth = colour_frame(args.photos / SHOTS[1].photo, SHOTS[1], index)
    mask = np.zeros(gray.shape[:2], np.uint8)
    for x0, y0, x1, y1 in STROKES:
        cv2.line(mask, (x0, y0), (x1, y1), 255, 7)
    painted = np.where(mask[..., None] > 0, truth, gray)
    cv2.imwrite(str(second), painted[..., ::-1])

    auto, keyed = out / "automatic.mp4", out / "keyframes.mp4"
    filmcolor("colorize", sample, "-o", auto, "--overwrite")
    filmcolor("colorize", sample, "-o", keyed, "--keyframes", keys, "--overwrite")
    a, b = frames(auto), frames(keyed)
    for name, shot, key, shown in (
        ("strokes", 1, painted, [gray, painted]),
        (
            "full",
            0,
            full,
            [cv2.cvtColor(cv2.cvtColor(full, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB), full],
        ),
    ):
        start = shot * SHOT_FRAMES
        picks = (start, start + SHOT_FRAMES // 2, start + SHOT_FRAMES - 1)
        sheet = np.concatenate(
            [
                row([*shown, *(a[t] for t in picks)]),
                np.full((6, row([*shown, *(a[t] for t in picks)]).shape[1], 3), 255, np.uint8),
                row([*shown, *(b[t] for t in picks)]),
            ]
        )
        target = HERE / f"keyframes_{name}.jpg"
        cv2.imwrite(str(target), sheet[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
        print(f"wrote {target} (keyframe {key.shape[1]}x{key.shape[0]})")


if __name__ == "__main__":
    main()
