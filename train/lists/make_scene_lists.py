"""Write the fixed lists of the default model v2 over both data folders, photos/ and scenes/.

    python train/lists/make_scene_lists.py /path/to/data      # holds photos/ and scenes/

Paths in the lists are relative to that data folder (``/scenes/0ad_alpine-dirt.jpg 12``).

- ``scenes_val.txt``: at least 150 images of scenes/, stratified by source package and kind.
- ``nature_val.txt``: real photographs of nature (leaves, grass, flowers, sky, water) from both
  folders, picked by eye (``NATURE`` below); none is a composite's background.
- ``mixed_tune.txt``: a small list for choosing settings (temperature, crops, ...).
- ``mixed_train.txt``: everything else of both folders, less ``photos_val.txt`` (kept unchanged
  so old and new models compare).
- ``sky_train.txt`` and ``ground_train.txt``: the skies and ground textures of the training
  list, for the trainer's sky-over-ground composites.

Images are held out by *original*: crops of one source file, Tux Paint composites and their
background photo, and near-duplicates (a 64-bit difference hash within 6 bits) form one group,
and a group lies wholly in one list.

Classes for the paper's classification loss are colour schemes: k-means (K = ``K``) over each
image's a*b* histogram, so the global network learns to predict the palette of the scene.
"""

from __future__ import annotations

import csv
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.color import rgb2lab

HERE = Path(__file__).resolve().parent
SEED = 2016
K = 32
N_SCENES_VAL = 160
N_TUNE = 64
HASH_BITS = 6
GROUND = re.compile(
    r"grass|dirt|sand|soil|snow|mud|gravel|ground|terrain|meadow|field|farm|crop|forest|moss|"
    r"rock|desert|steppe|savanna|tundra|beach|pebble|leaves|leaf|shrub|heath|marsh|clover"
)
# Real photographs of nature, held out for the nature measure (checked by eye).
NATURE = [
    # scenes/: photographs and photographic skies
    "scenes/palapeli_european-honey-bee.jpg",
    "scenes/palapeli_panther-chameleon-female.jpg",
    "scenes/stellarium_ocean1.jpg",
    "scenes/stellarium_ocean7.jpg",
    "scenes/stellarium_ocean9.jpg",
    "scenes/stellarium_guereins1.jpg",
    "scenes/tuxpaint_cliff.jpg",
    "scenes/tuxpaint_corn-maze.jpg",
    "scenes/tuxpaint_mossy-log.jpg",
    "scenes/tuxpaint_ocean-waves.jpg",
    "scenes/tuxpaint_redwoods-above.jpg",
    "scenes/tuxpaint_sun-behind-leaves.jpg",
    "scenes/tuxpaint_trees-above.jpg",
    "scenes/tuxpaint_sheep.jpg",
    "scenes/ufoai_landsc001.jpg",
    "scenes/ufoai_landsc005.jpg",
    "scenes/0ad_cumulus-front.jpg",
    "scenes/0ad_stormy-top.jpg",
    "scenes/0ad_sunny-front.jpg",
    "scenes/stk_sky.jpg",
    "scenes/triggerrally_cloudy3.jpg",
    # photos/: none of them a Tux Paint background
    "photos/plasma_eveningglow.jpg",
    "photos/plasma_summer-1am.jpg",
    "photos/sklearn_flower.jpg",
    "photos/gcompris_clickgame-sea1.jpg",
    "photos/gcompris_erase-heron.jpg",
    "photos/gcompris_erase-gosling.jpg",
    "photos/gcompris_erase-northern-harrier.jpg",
    "photos/gcompris_erase-spoonbills.jpg",
    "photos/gcompris_wanimals-moose.jpg",
    "photos/gcompris_wanimals-bison.jpg",
]


def read_manifest(root: Path, folder: str) -> list[dict]:
    with open(root / folder / "MANIFEST.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["rel"] = f"{folder}/{r['file']}"
        r.setdefault("kind", "photo")
        r["kind"] = r["kind"] or "photo"
    return rows


def thumbnail(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR))


def dhash(rgb: np.ndarray) -> int:
    gray = np.asarray(Image.fromarray(rgb).convert("L").resize((9, 8), Image.Resampling.BILINEAR))
    bits = (gray[:, 1:] > gray[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def ab_histogram(rgb: np.ndarray, bins: int = 8, lim: float = 80.0) -> np.ndarray:
    """A normalised, square-rooted 8x8 histogram of a*b* in [-80, 80] (Hellinger space)."""
    ab = rgb2lab(rgb)[..., 1:].reshape(-1, 2).clip(-lim, lim - 1e-3)
    h, _, _ = np.histogram2d(ab[:, 0], ab[:, 1], bins=bins, range=[[-lim, lim], [-lim, lim]])
    return np.sqrt(h.flatten() / h.sum())


def kmeans(x: np.ndarray, k: int, seed: int, iters: int = 50) -> np.ndarray:
    """Labels of plain Lloyd k-means with k-means++ seeding."""
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d = np.min([((x - c) ** 2).sum(1) for c in centres], axis=0)
        centres.append(x[rng.choice(len(x), p=d / d.sum())])
    c = np.stack(centres)
    for _ in range(iters):
        labels = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
        c = np.stack([x[labels == j].mean(0) if (labels == j).any() else c[j] for j in range(k)])
    return ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)


class Groups:
    """Union-find over file names."""

    def __init__(self, names: list[str]):
        self.parent = {n: n for n in names}

    def find(self, n: str) -> str:
        while self.parent[n] != n:
            self.parent[n] = self.parent[self.parent[n]]
            n = self.parent[n]
        return n

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def main(root: Path) -> None:
    rows = read_manifest(root, "photos") + read_manifest(root, "scenes")
    by_rel = {r["rel"]: r for r in rows}
    names = [r["rel"] for r in rows]
    thumbs = {n: thumbnail(root / n) for n in names}
    groups = Groups(names)
    by_original = defaultdict(list)
    for r in rows:
        by_original[re.sub(r"\s*\[crop[^\]]*\]$", "", r["original_path"])].append(r["rel"])
        if m := re.search(r"composited onto (\S+)", r["original_path"]):
            groups.union(r["rel"], f"photos/{m.group(1)}")
    for same in by_original.values():
        for other in same[1:]:
            groups.union(same[0], other)
    hashes = np.array([dhash(thumbs[n]) for n in names], dtype=np.uint64)
    for i, h in enumerate(hashes):
        x = hashes[i + 1 :] ^ h
        close = np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(1) <= HASH_BITS
        for j in np.nonzero(close)[0]:
            groups.union(names[i], names[i + 1 + j])
    members = defaultdict(list)
    for n in names:
        members[groups.find(n)].append(n)

    def whole_groups(picked: set[str]) -> set[str]:
        return {m for n in picked for m in members[groups.find(n)]}

    photos_val = {f"photos{line.split()[0]}" for line in (HERE / "photos_val.txt").open()}
    nature = whole_groups(set(NATURE))
    taken = whole_groups(photos_val) | nature
    if clash := whole_groups(photos_val) & nature:
        raise SystemExit(f"nature photos share a group with photos_val.txt: {sorted(clash)}")

    rng = random.Random(SEED)
    strata = defaultdict(list)  # (source, kind) -> group roots of scenes/ not yet taken
    for root_name, ms in sorted(members.items()):
        first = by_rel[sorted(ms)[0]]
        if first["rel"].startswith("scenes/") and not set(ms) & taken:
            strata[(first["source_package"], first["kind"])].append(root_name)
    n_scenes = sum(len(members[g]) for gs in strata.values() for g in gs)
    scenes_val: set[str] = set()
    for key in sorted(strata):
        gs = strata[key]
        rng.shuffle(gs)
        share = round(N_SCENES_VAL * sum(len(members[g]) for g in gs) / n_scenes)
        for g in gs[: max(1, share) if len(gs) >= 3 else 0]:
            scenes_val |= set(members[g])
    taken |= scenes_val
    rest = sorted({groups.find(n) for n in names if n not in taken})
    rng.shuffle(rest)
    tune: set[str] = set()
    for g in rest:
        if len(tune) >= N_TUNE:
            break
        tune |= set(members[g])
    train = sorted(n for n in names if n not in taken and n not in tune)

    x = np.stack([ab_histogram(thumbs[n]) for n in names])
    label = dict(zip(names, kmeans(x, K, SEED).tolist(), strict=True))
    lists = {
        "mixed_train.txt": train,
        "scenes_val.txt": sorted(scenes_val),
        "nature_val.txt": sorted(nature),
        "mixed_tune.txt": sorted(tune),
        "sky_train.txt": [n for n in train if by_rel[n]["kind"] == "sky"],
        "ground_train.txt": [
            n
            for n in train
            if by_rel[n]["kind"] == "texture"
            and GROUND.search(n.lower() + " " + by_rel[n]["original_path"].lower())
        ],
    }
    for name, files in lists.items():
        (HERE / name).write_text("".join(f"/{f} {label[f]}\n" for f in files))
        kinds = defaultdict(int)
        for f in files:
            kinds[by_rel[f]["kind"]] += 1
        print(f"{name}: {len(files)} images ({dict(sorted(kinds.items()))})")
    print(f"classes: {K} colour schemes (k-means of a*b* histograms, seed {SEED})")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
