"""Training data: finding images and their classes, splitting and screening them, and the
sampling weights; :func:`load_data` does all of it for a run. Samples are cut in
:mod:`.samples`."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from filmcolor.errors import UserError
from filmcolor.files import atomic_output
from filmcolor.images import IMAGE_SUFFIXES, read_rgb
from filmcolor.models.bins import NUM_BINS, bin_histogram
from filmcolor.models.color import rgb_to_lab

from .config import SCREEN_RULE, TrainConfig

MAX_BAD_FRACTION = 0.05


class DataError(UserError):
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


def _small_lab(rgb: np.ndarray, size: int = 64) -> torch.Tensor:
    small = Image.fromarray(rgb).resize((size, size), Image.Resampling.BILINEAR)
    return rgb_to_lab(torch.from_numpy(np.array(small)).permute(2, 0, 1).float() / 255)


@dataclass(frozen=True)
class ColorStats:
    """How much colour an image has, measured on a 64x64 copy.

    spread: the larger of the standard deviations of a* and b*.
    chroma: the mean of |a*b*| over the pixels.
    a, b: the mean a* and b* (their angle is the image's mean hue).
    """

    spread: float
    chroma: float
    a: float
    b: float

    def is_gray(self, rule: str, min_std: float, min_chroma: float) -> bool:
        """Whether screening drops the image.

        ``"spread"`` is the paper's rule: a*b* spread under ``min_std``. ``"chroma"`` also asks
        for a mean chroma under ``min_chroma``, so an evenly coloured lawn or beach, whose
        spread is small but whose colour is strong, is kept.
        """
        if rule == "spread":
            return self.spread < min_std
        if rule == "chroma":
            return self.spread < min_std and self.chroma < min_chroma
        raise DataError(f"unknown screening rule {rule!r}; choose chroma or spread")


def color_stats(rgb: np.ndarray, size: int = 64) -> ColorStats:
    ab = _small_lab(rgb, size)[1:].flatten(1)  # (2, size * size)
    return ColorStats(
        spread=float(ab.std(1).max()),
        chroma=float(ab.norm(dim=0).mean()),
        a=float(ab[0].mean()),
        b=float(ab[1].mean()),
    )


def hue_weights(stats: Sequence[ColorStats], balance: float, sectors: int = 8) -> torch.Tensor:
    """Sampling weights that even out the images' mean hues.

    Each image falls in one of ``sectors`` hue sectors of its mean a*b* (or a neutral bin when
    that mean has chroma under 5); its weight is ``count(bin) ** -balance``. 0 samples
    uniformly, 1 gives every bin the same share.
    """
    bins = []
    for s in stats:
        if math.hypot(s.a, s.b) < 5:
            bins.append(sectors)
        else:
            bins.append(int((math.atan2(s.b, s.a) % (2 * math.pi)) / (2 * math.pi) * sectors))
    counts = np.bincount(bins, minlength=sectors + 1)
    return torch.tensor([float(counts[k]) ** -balance for k in bins], dtype=torch.float64)


class _PerFile(torch.utils.data.Dataset):
    """``fn(path)`` for each path, so a DataLoader's workers share a pass over files."""

    def __init__(self, paths: list[Path], fn: Callable):
        self.paths, self.fn = paths, fn  # fn: a module-level function (workers pickle it)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        return self.fn(self.paths[i])


def _histogram_one(path: Path) -> torch.Tensor:
    return bin_histogram(_small_lab(read_rgb(path))[None, 1:])


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
    with atomic_output(cache) as tmp:
        tmp.write_text(json.dumps(counts.tolist()))
    return counts


def folder_weights(
    images: ImageSet, root: Path, factors: dict[str, float], weights: torch.Tensor | None
) -> torch.Tensor:
    """Sampling weights multiplied by ``factors[folder]`` for the images in each named
    sub-folder of ``root`` (e.g. ``{"photos": 2.5}`` draws photographs 2.5 times as often).

    Raises:
        DataError: a named folder holds none of the images.
    """
    out = torch.ones(len(images.items), dtype=torch.float64) if weights is None else weights.clone()
    for folder, factor in factors.items():
        inside = [
            i for i, it in enumerate(images.items) if (Path(root) / folder) in it.path.parents
        ]
        if not inside:
            raise DataError(f"--folder-weight {folder}={factor:g}: no training image in {folder}")
        out[inside] *= factor
    return out


def _screen_one(path: Path) -> tuple[str, list[float] | None, str]:
    try:
        stats = color_stats(read_rgb(path))
        return str(path), [stats.spread, stats.chroma, stats.a, stats.b], ""
    except (OSError, ValueError, SyntaxError) as e:  # PIL raises all three for broken files
        return str(path), None, f"{type(e).__name__}: {e}"


@dataclass
class Screening:
    kept: ImageSet
    bad: dict[str, str]  # path -> reason
    low_color: list[str]
    stats: list[ColorStats]  # of the kept images, in their order


def screen(
    images: ImageSet,
    min_color_std: float,
    cache: Path | None = None,
    workers: int = 0,
    on_progress=None,
    rule: str = SCREEN_RULE,
    min_chroma: float = 10.0,
) -> Screening:
    """Drop unreadable images and gray ones (see :meth:`ColorStats.is_gray` for the rules).

    Results are cached by path in ``cache`` (JSON) so a resumed run does not decode twice.

    Raises:
        DataError: more than 5% of the images are unreadable.
    """
    known: dict[str, list] = {}
    if cache is not None and cache.is_file():
        known = json.loads(cache.read_text())
        known = {k: v for k, v in known.items() if v[0] is None or isinstance(v[0], list)}
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
            with atomic_output(cache) as tmp:
                tmp.write_text(json.dumps(known))
    kept, bad, low, stats = [], {}, [], []
    for it in images.items:
        values, error = known[str(it.path)]
        if values is None:
            bad[str(it.path)] = error
        elif (s := ColorStats(*values)).is_gray(rule, min_color_std, min_chroma):
            low.append(str(it.path))
        else:
            kept.append(it)
            stats.append(s)
    return Screening(ImageSet(kept, images.classes), bad, low, stats)


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
class Composites:
    """Scenes made on the fly: a sky above a ground texture, so that textures and skies, which
    have colour but no layout, also teach where sky and ground go.

    probability: the share of training samples that are composites.
    skies, grounds: the images they are made of; a composite takes its ground's class.
    """

    probability: float
    skies: list[Item]
    grounds: list[Item]


@dataclass
class Data:
    train: ImageSet
    val: ImageSet
    classes: list[str]
    weights: torch.Tensor | None  # sampling weights of the training images
    composites: Composites | None


MIN_VALIDATION = 20  # fewer validation images than this make noisy metrics: a warning


def load_data(cfg: TrainConfig, run_dir: Path, workers: int, emit: Callable[[dict], None]) -> Data:
    """Find, split and screen the images; classes come from folders (or the list file)."""
    if cfg.data is None:
        raise DataError("--data is required")
    if cfg.composite and not (cfg.sky_list and cfg.ground_list):  # before any image is read
        raise DataError("--composite needs --sky-list and --ground-list")
    root = Path(cfg.data)
    images = read_list(Path(cfg.train_list), root) if cfg.train_list else scan_folder(root)
    if cfg.val_list:
        val = read_list(Path(cfg.val_list), Path(cfg.val_data or root), images.classes)
    elif cfg.val_data:
        val = scan_folder(Path(cfg.val_data))
        if images.classes and val.classes != images.classes:
            index = {c: i for i, c in enumerate(images.classes)}
            val = ImageSet(
                [Item(it.path, index.get(val.classes[it.label], -1)) for it in val.items],
                images.classes,
            )
    else:
        images, val = split_validation(images, cfg.val_fraction, cfg.seed)
    held_out = {it.path.resolve() for it in val.items}
    images = ImageSet(
        [it for it in images.items if it.path.resolve() not in held_out], images.classes
    )
    classes = images.classes if cfg.classify else []
    if not classes and cfg.classify:
        emit(
            {
                "kind": "notice",
                "message": "all images sit in one folder: no classes, so the "
                "classification loss is off",
            }
        )

    composites = None  # read before screening, so a bad list fails at once
    if cfg.composite:
        composites = Composites(
            cfg.composite,
            read_list(Path(cfg.sky_list), root).items,
            read_list(Path(cfg.ground_list), root).items,
        )
        beyond = [it for it in composites.grounds if it.label >= len(classes)]
        if classes and beyond:  # a composite takes its ground's class
            raise DataError(
                f"{cfg.ground_list}: {beyond[0].path.name} has class {beyond[0].label}, but the "
                f"training list has {len(classes)} classes (0-{len(classes) - 1})"
            )
        if any(it.path.resolve() in held_out for it in composites.skies + composites.grounds):
            raise DataError("a sky or ground image of the composites is in the validation set")

    def screened(images: ImageSet, name: str, rule: str) -> Screening:
        s = screen(
            images,
            cfg.min_color_std,
            run_dir / f"screen-{name}.json",
            workers,
            lambda n, total: emit({"kind": "screen", "set": name, "done": n, "total": total}),
            rule=rule,
            min_chroma=cfg.min_chroma,
        )
        for path, reason in s.bad.items():
            emit({"kind": "notice", "message": f"skipping unreadable image {path}: {reason}"})
        emit(
            {
                "kind": "notice",
                "message": f"{name}: {len(s.kept.items)} images kept, {len(s.low_color)} dropped "
                f"as gray ({gray_rule(rule)}), {len(s.bad)} unreadable",
            }
        )
        return s

    def gray_rule(rule: str) -> str:
        chroma = f" and mean chroma < {cfg.min_chroma:g}" if rule == "chroma" else ""
        return f"a*b* std < {cfg.min_color_std:g}{chroma}"

    # Validation keeps every image that has colour, whatever the training rule, so that runs
    # with different rules are measured on the same images.
    train, val = screened(images, "train", cfg.screen_rule), screened(val, "val", "chroma")
    check_screening(train, val)
    if len(val.kept.items) < MIN_VALIDATION:
        emit(
            {
                "kind": "notice",
                "message": f"warning: only {len(val.kept.items)} validation images; below "
                f"{MIN_VALIDATION} the metrics are mostly noise (raise --val-fraction or give "
                "--val-data)",
            }
        )
    weights = hue_weights(train.stats, cfg.hue_balance) if cfg.hue_balance else None
    if cfg.folder_weights:
        weights = folder_weights(train.kept, root, cfg.folder_weights, weights)
    return Data(train.kept, val.kept, classes, weights, composites)
