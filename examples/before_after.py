"""The README's before/after picture: gray | each model | the original, one row per photograph.

Each photograph is turned gray (its L*) and colorized exactly as ``filmcolor frames`` does.

    python examples/before_after.py ../shared/data/photos/gcompris_categ-dam3.jpg ... \
        --model old.safetensors --model filmcolor/weights/default.safetensors \
        --label "old default" --label "new default" -o examples/before_after.jpg
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from filmcolor.colorizer import Colorizer
from filmcolor.images import read_rgb
from filmcolor.models.color import rgb_to_gray8
from filmcolor.stills import colorize_image

HEIGHT = 220  # px of every picture
LABEL = 24  # px of the column captions
GAP = 4


def fit(img: np.ndarray) -> np.ndarray:
    """``img`` (BGR or gray) scaled to HEIGHT px high, as BGR."""
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    width = round(img.shape[1] * HEIGHT / img.shape[0])
    return cv2.resize(img, (width, HEIGHT), interpolation=cv2.INTER_AREA)


def caption(text: str, width: int) -> np.ndarray:
    bar = np.full((LABEL, width, 3), 255, np.uint8)
    cv2.putText(
        bar, text, (4, LABEL - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA
    )
    return bar


def sheet(rows: list[list[np.ndarray]], labels: list[str]) -> np.ndarray:
    """Rows of pictures; each column as wide as its widest picture, captioned on top."""
    widths = [max(row[c].shape[1] for row in rows) for c in range(len(labels))]

    def line(cells: list[np.ndarray]) -> np.ndarray:
        parts = []
        for cell, w in zip(cells, widths, strict=True):
            pad = np.full((cell.shape[0], w - cell.shape[1] + GAP, 3), 255, np.uint8)
            parts += [cell, pad]
        return np.concatenate(parts, axis=1)

    top = line([caption(text, w) for text, w in zip(labels, widths, strict=True)])
    body = [np.pad(line(row), ((0, GAP), (0, 0), (0, 0)), constant_values=255) for row in rows]
    return np.concatenate([top, *body], axis=0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="+", type=Path, help="colour photographs")
    parser.add_argument("--model", action="append", default=[], help="repeat: one column each")
    parser.add_argument("--label", action="append", default=[], help="caption of each --model")
    parser.add_argument("-o", "--out", type=Path, default=Path("before_after.jpg"))
    args = parser.parse_args(argv)
    models = args.model or [None]  # None: the shipped default
    labels = args.label or [Path(m).stem if m else "filmcolor" for m in models]
    if len(labels) != len(models):
        parser.error("give one --label per --model")
    colorizers = [Colorizer.load(Path(m) if m else None) for m in models]
    rows = []
    for path in args.photos:
        rgb = read_rgb(path)
        gray = rgb_to_gray8(torch.tensor(rgb).permute(2, 0, 1) / 255).numpy()
        colour = [colorize_image(c, gray) for c in colorizers]  # BGR
        rows.append([fit(gray), *map(fit, colour), fit(rgb[..., ::-1])])
    picture = sheet(rows, ["gray input", *labels, "original"])
    options = [cv2.IMWRITE_JPEG_QUALITY, 88] if args.out.suffix.lower() in {".jpg", ".jpeg"} else []
    cv2.imwrite(str(args.out), picture, options)
    print(f"{args.out}: {len(rows)} photographs, {picture.shape[1]}x{picture.shape[0]}")


if __name__ == "__main__":
    main()
