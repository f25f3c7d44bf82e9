"""A before/after picture of the demo: gray | colour for a frame of each shot and each still.

The shots of the gray clip are found with filmcolor's own cut detector; the middle frame of each
shot is shown beside the same frame of the colorized clip. Stills are paired by their relative
path in the two folders.

    python examples/side_by_side.py --clip examples/sample.mp4 --colour demo_out/sample_color.mp4 \
        --stills examples/stills --colour-stills demo_out/stills -o demo_out/side_by_side.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from filmcolor.images import find_images, read_image
from filmcolor.shots import analyse
from filmcolor.video.decode import decode_video
from filmcolor.video.probe import probe

HEIGHT = 200  # px of every picture in the sheet
LABEL = 22  # px of the caption above each pair
GAP = 6
PAIRS_PER_ROW = 2


def middle_frames(gray_clip: Path) -> list[int]:
    """The middle frame index of every shot of a clip."""
    shots = analyse(probe(gray_clip), None).shots
    return [(s.start + s.end - 1) // 2 for s in shots]


def frames_at(clip: Path, indices: list[int]) -> dict[int, np.ndarray]:
    """Decoded frames at ``indices``, as BGR uint8."""
    wanted, found = set(indices), {}
    for i, frame in enumerate(decode_video(clip)):
        if i in wanted:
            found[i] = frame.to_ndarray(format="bgr24")
        if len(found) == len(wanted):
            break
    return found


def bgr(img: np.ndarray) -> np.ndarray:
    """Any image from :func:`filmcolor.images.read_image` as 8-bit BGR."""
    if img.dtype == np.uint16:
        img = (img / 257).round().astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return img[..., :3]


def pair(caption: str, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Gray and colour side by side, ``HEIGHT`` px high, with a caption above."""
    h, w = before.shape[:2]
    size = (round(w * HEIGHT / h), HEIGHT)
    cells = [cv2.resize(bgr(x), size, interpolation=cv2.INTER_AREA) for x in (before, after)]
    body = np.concatenate((cells[0], np.full((HEIGHT, GAP, 3), 255, np.uint8), cells[1]), axis=1)
    head = np.full((LABEL, body.shape[1], 3), 255, np.uint8)
    cv2.putText(
        head, caption, (2, LABEL - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA
    )
    return np.concatenate((head, body), axis=0)


def sheet(pairs: list[np.ndarray]) -> np.ndarray:
    """Pairs in rows of ``PAIRS_PER_ROW``, on white."""
    width = max(p.shape[1] for p in pairs)
    cell = [
        np.pad(p, ((0, GAP), (0, width - p.shape[1] + 3 * GAP), (0, 0)), constant_values=255)
        for p in pairs
    ]
    blank = np.full_like(cell[0], 255)
    rows = []
    for k in range(0, len(cell), PAIRS_PER_ROW):
        row = cell[k : k + PAIRS_PER_ROW]
        row += [blank] * (PAIRS_PER_ROW - len(row))
        rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, required=True, help="the gray clip")
    parser.add_argument("--colour", type=Path, required=True, help="the colorized clip")
    parser.add_argument("--stills", type=Path, required=True, help="the gray stills folder")
    parser.add_argument("--colour-stills", type=Path, required=True, help="the colorized stills")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the PNG to write")
    args = parser.parse_args()

    pairs = []
    indices = middle_frames(args.clip)
    before, after = frames_at(args.clip, indices), frames_at(args.colour, indices)
    for k, i in enumerate(indices, 1):
        if i not in before or i not in after:
            raise SystemExit(f"error: frame {i} is missing from {args.clip} or {args.colour}")
        pairs.append(
            pair(f"{args.clip.name}, shot {k} (frame {i}): gray | colour", before[i], after[i])
        )
    for path in find_images(args.stills):
        rel = path.relative_to(args.stills)
        done = args.colour_stills / rel
        if not done.is_file():
            raise SystemExit(f"error: {done} is missing; run `filmcolor frames` first")
        pairs.append(pair(f"{rel.as_posix()}: gray | colour", read_image(path), read_image(done)))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.output), sheet(pairs)):
        raise SystemExit(f"error: cannot write {args.output}")
    print(f"wrote {args.output} ({len(indices)} shots, {len(pairs) - len(indices)} stills)")


if __name__ == "__main__":
    main()
