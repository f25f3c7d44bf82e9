"""Training data: finding images and their classes, screening them, and turning them into
(lightness, chrominance, class) samples.

Every random choice of a sample (crop, scale, flip) is drawn from a generator seeded by
(seed, epoch, index), so a batch is the same whichever process, worker or resumed run makes it.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from filmcolor.models.bins import NUM_BINS, bin_histogram
from filmcolor.models.color import ab_to_unit, normalize_l, rgb_to_lab

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
MAX_BAD_FRACTION = 0.05


class DataError(ValueError):
    """A problem with the training data that stops the run; the message is for the user."""


@dataclass(frozen=True)
class Item:
    path: Path
    label: int  # -1 when the data has no classes


@dataclass
class ImageSet:
    """A list of images with class labels (``classes`` is empty when there are none)."""

    items: list[Item]
    classes: list[str]


def scan_folder(root: Path) -> ImageSet:
    """Every image under ``root``; an image's class is its parent folder relative to ``root``.

    When every image sits directly in ``root`` there are no classes.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise DataError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {root}")
    folders = [p.parent.relative_to(root).as_posix() for p in paths]
    if all(f == "." for f in folders):
        return ImageSet([Item(p, -1) for p in paths], [])
    classes = sorted(set(folders))
    index = {c: i for i, c in enumerate(classes)}
    return ImageSet([Item(p, index[f]) for p, f in zip(paths, folders, strict=True)], classes)


def read_list(list_file: Path, root: Path, classes: Sequence[str] | None = None) -> ImageSet:
    """A Places-style list (``/a/abbey/00000001.jpg 0`` per line), paths relative to ``root``.

    Class names are the folders of the listed paths (``class-<n>`` for files at the top
    level), ordered by their label numbers.
    """
    list_file, root = Path(list_file), Path(root)
    if not list_file.is_file():
        raise DataError(f"list file not found: {list_file}")
    items, names = [], {}
    for n, line in enumerate(list_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        rel = parts[0].lstrip("/")
        try:
            label = int(parts[1]) if len(parts) > 1 else -1
        except ValueError:
            raise DataError(f"{list_file}:{n}: expected '<path> <class number>'") from None
        items.append(Item(root / rel, label))
        if label >= 0:
            folder = Path(rel).parent.as_posix()
            names.setdefault(label, folder if folder != "." else f"class-{label}")
    if not items:
        raise DataError(f"{list_file} lists no images")
    if classes is None:
        classes = [names.get(i, str(i)) for i in range(max(names) + 1)] if names else []
    return ImageSet(items, list(classes))


def split_validation(images: ImageSet, fraction: float, seed: int = 0) -> tuple[ImageSet, ImageSet]:
    """A fixed, seeded split by file: the same files go to validation on every run."""
    order = sorted(range(len(images.items)), key=lambda i: images.items[i].path.as_posix())
    random.Random(seed).shuffle(order)
    n_val = max(1, round(fraction * len(order))) if fraction > 0 else 0
    val = sorted(order[:n_val])
    train = sorted(order[n_val:])
    return (
        ImageSet([images.items[i] for i in train], images.classes),
        ImageSet([images.items[i] for i in val], images.classes),
    )


def load_rgb(path: Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 sRGB, EXIF orientation applied.

    Raises:
        OSError: the file is missing, corrupt or truncated.
    """
    with Image.open(path) as im:
        im.load()  # decodes everything now, so a truncated file fails here
        im = ImageOps.exif_transpose(im)
        if im.mode == "I;16" or im.mode == "I":
            arr = np.asarray(im, dtype=np.float32)
            arr = (arr / (65535.0 if arr.max() > 255 else 255.0) * 255).round().astype(np.uint8)
            return np.repeat(arr[..., None], 3, axis=2)
        return np.asarray(im.convert("RGB"))


def _small_lab(rgb: np.ndarray, size: int = 64) -> torch.Tensor:
    small = Image.fromarray(rgb).resize((size, size), Image.Resampling.BILINEAR)
    return rgb_to_lab(torch.from_numpy(np.array(small)).permute(2, 0, 1).float() / 255)


def color_spread(rgb: np.ndarray, size: int = 64) -> float:
    """The larger of the standard deviations of a* and b* over a small copy of the image."""
    ab = _small_lab(rgb, size)[1:]
    return float(ab.flatten(1).std(1).max())


class _PerFile(torch.utils.data.Dataset):
    """``fn(path)`` for each path, so a DataLoader's workers share a pass over files."""

    def __init__(self, paths: list[Path], fn: Callable):
        self.paths, self.fn = paths, fn  # fn: a module-level function (workers pickle it)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        return self.fn(self.paths[i])


def _histogram_one(path: Path) -> torch.Tensor:
    return bin_histogram(_small_lab(load_rgb(path))[None, 1:])


def ab_histogram(
    images: ImageSet, cache: Path, limit: int = 2000, seed: int = 0, workers: int = 0
) -> torch.Tensor:
    """Pixel counts per ab bin over (a seeded sample of at most ``limit``) training images,
    each seen at 64x64; cached as JSON in ``cache`` since the rebalancing weights depend on it.

    Returns:
        (313,) int64 counts.
    """
    if cache.is_file():
        return torch.tensor(json.loads(cache.read_text()), dtype=torch.int64)
    paths = [it.path for it in images.items]
    if len(paths) > limit:
        paths = random.Random(seed).sample(paths, limit)
    loader = torch.utils.data.DataLoader(
        _PerFile(paths, _histogram_one), batch_size=None, num_workers=workers
    )
    counts = torch.zeros(NUM_BINS, dtype=torch.int64)
    for h in loader:
        counts += h
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(counts.tolist()))
    os.replace(tmp, cache)
    return counts


def _screen_one(path: Path) -> tuple[str, float | None, str]:
    try:
        return str(path), color_spread(load_rgb(path)), ""
    except (OSError, ValueError, SyntaxError) as e:  # PIL raises all three for broken files
        return str(path), None, f"{type(e).__name__}: {e}"


@dataclass
class Screening:
    kept: ImageSet
    bad: dict[str, str]  # path -> reason
    low_color: list[str]


def screen(
    images: ImageSet,
    min_color_std: float,
    cache: Path | None = None,
    workers: int = 0,
    on_progress=None,
) -> Screening:
    """Drop unreadable images and images with little colour variance (as the paper did).

    Results are cached by path in ``cache`` (JSON) so a resumed run does not decode twice.

    Raises:
        DataError: more than 5% of the images are unreadable.
    """
    known: dict[str, list] = {}
    if cache is not None and cache.is_file():
        known = json.loads(cache.read_text())
    todo = [it.path for it in images.items if str(it.path) not in known]
    if todo:
        loader = torch.utils.data.DataLoader(
            _PerFile(todo, _screen_one), batch_size=None, num_workers=workers
        )
        for n, (path, spread, error) in enumerate(loader, 1):
            known[path] = [spread, error]
            if on_progress is not None:
                on_progress(n, len(todo))
        if cache is not None:
            tmp = cache.with_suffix(".tmp")
            tmp.write_text(json.dumps(known))
            os.replace(tmp, cache)
    kept, bad, low = [], {}, []
    for it in images.items:
        spread, error = known[str(it.path)]
        if spread is None:
            bad[str(it.path)] = error
        elif spread < min_color_std:
            low.append(str(it.path))
        else:
            kept.append(it)
    return Screening(ImageSet(kept, images.classes), bad, low)


def check_screening(*screenings: Screening) -> None:
    """Stop when more than 5% of all images are unreadable, or none is left.

    Raises:
        DataError: with the count and the first bad file.
    """
    bad = {k: v for s in screenings for k, v in s.bad.items()}
    total = sum(len(s.kept.items) + len(s.low_color) + len(s.bad) for s in screenings)
    if len(bad) > MAX_BAD_FRACTION * total:
        path, reason = next(iter(bad.items()))
        raise DataError(
            f"{len(bad)} of {total} images are unreadable (more than {MAX_BAD_FRACTION:.0%}); "
            f"first: {path}: {reason}"
        )
    for s in screenings:
        if not s.kept.items:
            raise DataError("no usable images left after screening")


@dataclass(frozen=True)
class Augment:
    """How a training sample is cut from its image.

    resize: the image is first rescaled to resize x resize (the paper's 256); 0 keeps its size.
    crop: the side of the square crop the network sees (the paper's 224).
    multiscale: instead of the fixed rescale, the short side is rescaled to a random size
        between ``crop`` and its own length (log-uniform), so large photos give both wide views
        and full-resolution detail.
    flip: mirror horizontally half the time.
    """

    resize: int = 256
    crop: int = 224
    multiscale: bool = False
    flip: bool = True


class ColorizationDataset(torch.utils.data.Dataset):
    """Samples ``(l, ab, label)``: L*/100 (1, crop, crop), a*b* in the head's [0, 1] space
    (2, crop, crop), and the class index (-1 for none).

    Indexed by ``(index, epoch)`` so the random crop is a function of both (see module doc);
    ``train=False`` gives the deterministic centre crop used for validation.
    """

    def __init__(
        self, images: ImageSet, augment: Augment, ab_range: float, seed: int = 0, train=True
    ):
        self.items = images.items
        self.augment = augment
        self.ab_range = ab_range
        self.seed = seed
        self.train = train

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, int]:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        item = self.items[index]
        rng = np.random.default_rng([self.seed, epoch, index])
        rgb = self._cut(Image.fromarray(load_rgb(item.path)), rng)
        x = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255
        lab = rgb_to_lab(x)  # (3, crop, crop)
        return normalize_l(lab[:1]), ab_to_unit(lab[1:], self.ab_range), item.label

    def _cut(self, im: Image.Image, rng: np.random.Generator) -> np.ndarray:
        a, crop = self.augment, self.augment.crop
        w, h = im.size
        if a.multiscale and self.train:
            short = min(w, h)
            target = math.exp(rng.uniform(math.log(crop), math.log(max(crop, short))))
            scale = target / short
            size = (max(crop, round(w * scale)), max(crop, round(h * scale)))
        elif a.multiscale or a.resize == 0:  # validation of a multiscale run: short side = crop
            scale = crop / min(w, h)
            size = (max(crop, round(w * scale)), max(crop, round(h * scale)))
        else:
            size = (max(crop, a.resize), max(crop, a.resize))
        if size != (w, h):
            im = im.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
        w, h = im.size
        if self.train:
            x0, y0 = int(rng.integers(0, w - crop + 1)), int(rng.integers(0, h - crop + 1))
        else:
            x0, y0 = (w - crop) // 2, (h - crop) // 2
        out = np.asarray(im)[y0 : y0 + crop, x0 : x0 + crop]
        if self.train and a.flip and rng.random() < 0.5:
            out = out[:, ::-1]
        return out


class BatchSampler(torch.utils.data.Sampler):
    """Batches of ``(index, epoch)`` keys, resumable at any step and split across ranks.

    Each epoch is a seeded permutation; global batch k of an epoch is its k-th slice of
    ``batch_size``, and rank r takes the r-th contiguous part of that slice. So one process with
    batch B and two with B/2 each see exactly the same images at every step.
    """

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        seed: int = 0,
        start_step: int = 0,
        total_steps: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ):
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} is not divisible by {world_size} processes")
        self.steps_per_epoch = num_items // batch_size
        if self.steps_per_epoch == 0:
            raise DataError(f"batch size {batch_size} is larger than the {num_items} images")
        self.num_items, self.batch_size, self.seed = num_items, batch_size, seed
        self.start_step, self.total_steps = start_step, total_steps
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return (self.total_steps or self.steps_per_epoch) - self.start_step

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        per_rank = self.batch_size // self.world_size
        step, perm_epoch, perm = self.start_step, None, None
        while self.total_steps is None or step < self.total_steps:
            epoch, k = divmod(step, self.steps_per_epoch)
            if epoch != perm_epoch:
                gen = torch.Generator().manual_seed(self.seed * 100003 + epoch)
                perm_epoch, perm = epoch, torch.randperm(self.num_items, generator=gen)
            lo = k * self.batch_size + self.rank * per_rank
            yield [(int(i), epoch) for i in perm[lo : lo + per_rank]]
            step += 1
