"""Write the fixed train/validation lists of the default model's photo set.

    python train/lists/make_photo_lists.py /path/to/photos

Validation: 48 real photographs (no Tux Paint composites, and no photo that a composite uses
as its background, so nothing of a validation image is ever trained on). The rest trains.
Pseudo-classes (for the classification loss) are the photo's source package, small sources
merged into "misc". Lines follow the Places list format: ``/<file> <class number>``.
"""

from __future__ import annotations

import csv
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLASSES = ["gcompris", "tuxpaint", "opencv", "lomiri", "plasma", "stellarium", "misc"]
N_VAL = 48


def pseudo_class(source_package: str) -> int:
    for i, name in enumerate(CLASSES[:-1]):
        if source_package.startswith(name.replace("gcompris", "gcompris-qt")):
            return i
    return CLASSES.index("misc")


def main(photos: Path) -> None:
    with open(photos / "MANIFEST.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    backgrounds = {
        m.group(1) for r in rows if (m := re.search(r"composited onto (\S+)", r["original_path"]))
    }
    candidates = sorted(
        r["file"]
        for r in rows
        if not r["file"].startswith("tuxpaint_") and r["file"] not in backgrounds
    )
    val = set(random.Random(2016).sample(candidates, N_VAL))
    label = {r["file"]: pseudo_class(r["source_package"]) for r in rows}
    for name, keep in (("photos_val.txt", True), ("photos_train.txt", False)):
        lines = [f"/{f} {label[f]}" for f in sorted(label) if (f in val) == keep]
        (HERE / name).write_text("\n".join(lines) + "\n")
        print(f"{name}: {len(lines)} images")
    print("classes:", ", ".join(f"{i}={c}" for i, c in enumerate(CLASSES)))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
