"""Training samples: an image cut, flipped or composed into ``(lightness, chrominance, class)``,
and the batches of sample keys that every process and resumed run draws alike.

Every random choice of a sample (crop, scale, flip, composite) is drawn from a generator seeded
by (seed, epoch, index), so a batch is the same whichever process, worker or resumed run makes
it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from PIL import Image

from filmcolor.images import read_rgb
from filmcolor.models.color import ab_to_unit, normalize_l, rgb_to_lab

from .data import Composites, DataError, ImageSet


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


def compose_sky_ground(
    sky: np.ndarray, ground: np.ndarray, size: int, rng: np.random.Generator
) -> np.ndarray:
    """A (size, size, 3) scene: ``sky`` above ``ground``, split at a random horizon.

    The horizon lies between 25% and 65% of the height and tilts by up to 4 degrees; the ground
    is seen in perspective (its far edge narrower) and the join is feathered over 2 px.
    """
    sky = _random_square(sky, size, rng)
    h, w = ground.shape[:2]
    side = min(h, w)
    y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    ground = cv2.resize(ground[y0 : y0 + side, x0 : x0 + side], (2 * size, 2 * size))
    narrow = rng.uniform(0.2, 0.45) * 2 * size  # how much the far edge shrinks, each side
    src = np.float32([[0, 0], [2 * size, 0], [2 * size, 2 * size], [0, 2 * size]])
    dst = np.float32([[narrow, 0], [2 * size - narrow, 0], [2 * size, 2 * size], [0, 2 * size]])
    ground = cv2.warpPerspective(
        ground, cv2.getPerspectiveTransform(src, dst), (2 * size, 2 * size),
        flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT,
    )  # fmt: skip
    ground = cv2.resize(ground[:, size // 2 : size // 2 + size], (size, size), cv2.INTER_AREA)
    horizon = rng.uniform(0.25, 0.65) * size
    tilt = math.tan(math.radians(rng.uniform(-4, 4)))
    x, y = np.meshgrid(np.arange(size), np.arange(size))
    line = horizon + tilt * (x - size / 2)
    alpha = np.clip((y - line) / 2 + 0.5, 0, 1)[..., None]  # 0 sky .. 1 ground
    return (sky * (1 - alpha) + ground * alpha).round().astype(np.uint8)


def _random_square(rgb: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    h, w = rgb.shape[:2]
    side = int(rng.integers(min(h, w) // 2, min(h, w) + 1))
    y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    return cv2.resize(rgb[y0 : y0 + side, x0 : x0 + side], (size, size), cv2.INTER_AREA)


class ColorizationDataset(torch.utils.data.Dataset):
    """Samples ``(l, ab, label)``: L*/100 (1, crop, crop), a*b* in the head's [0, 1] space
    (2, crop, crop), and the class index (-1 for none).

    Indexed by ``(index, epoch)`` so the random crop is a function of both (see module doc);
    ``train=False`` gives the deterministic centre crop used for validation.
    """

    def __init__(
        self,
        images: ImageSet,
        augment: Augment,
        ab_range: float,
        seed: int = 0,
        train: bool = True,
        composites: Composites | None = None,
    ):
        self.items = images.items
        self.augment = augment
        self.ab_range = ab_range
        self.seed = seed
        self.train = train
        self.composites = composites if train else None

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, int]:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        item = self.items[index]
        rng = np.random.default_rng([self.seed, epoch, index])
        c = self.composites
        if c is not None and rng.random() < c.probability:
            sky = c.skies[int(rng.integers(len(c.skies)))]
            item = c.grounds[int(rng.integers(len(c.grounds)))]
            rgb = compose_sky_ground(
                read_rgb(sky.path), read_rgb(item.path), self.augment.crop, rng
            )
        else:
            rgb = self._cut(Image.fromarray(read_rgb(item.path)), rng)
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

    Each epoch is a seeded permutation (or, given ``weights``, as many seeded draws by weight);
    global batch k of an epoch is its k-th slice of ``batch_size``, and rank r takes the r-th
    contiguous part of that slice. So one process with batch B and two with B/2 each see
    exactly the same images at every step.
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
        weights: torch.Tensor | None = None,
    ):
        if batch_size % world_size:
            raise DataError(f"batch size {batch_size} is not divisible by {world_size} processes")
        self.steps_per_epoch = num_items // batch_size
        if self.steps_per_epoch == 0:
            raise DataError(f"batch size {batch_size} is larger than the {num_items} images")
        self.num_items, self.batch_size, self.seed = num_items, batch_size, seed
        self.start_step, self.total_steps = start_step, total_steps
        self.rank, self.world_size = rank, world_size
        self.weights = weights

    def __len__(self) -> int:
        return (self.total_steps or self.steps_per_epoch) - self.start_step

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        per_rank = self.batch_size // self.world_size
        step, perm_epoch, perm = self.start_step, None, None
        while self.total_steps is None or step < self.total_steps:
            epoch, k = divmod(step, self.steps_per_epoch)
            if epoch != perm_epoch:
                gen = torch.Generator().manual_seed(self.seed * 100003 + epoch)
                if self.weights is None:
                    perm = torch.randperm(self.num_items, generator=gen)
                else:  # as many draws as images, by weight, with replacement
                    perm = torch.multinomial(self.weights, self.num_items, True, generator=gen)
                perm_epoch = epoch
            lo = k * self.batch_size + self.rank * per_rank
            yield [(int(i), epoch) for i in perm[lo : lo + per_rank]]
            step += 1
