"""The trainer: data discovery and screening, the paper's loss routing, exact resume, torchrun."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from filmcolor.models import ColorizationNet, preset
from filmcolor.train import loop
from filmcolor.train.data import (
    ColorStats,
    DataError,
    folder_weights,
    hue_weights,
    read_list,
    scan_folder,
    screen,
    split_validation,
)
from filmcolor.train.loop import TrainConfig, TrainingError, main
from filmcolor.train.losses import colorization_loss
from filmcolor.train.samples import BatchSampler, compose_sky_ground


def _photo(path: Path, hue: int, seed: int, size=(48, 40)) -> None:
    """A colourful synthetic image: random texture over a strong hue-dependent tint."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 120, (size[1], size[0], 3))
    img[..., hue % 3] += 120
    img[: size[1] // 2, :, (hue + 1) % 3] += 100
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(path)


@pytest.fixture
def photos(tmp_path) -> Path:
    root = tmp_path / "photos"
    for c, name in enumerate(["beach", "forest"]):
        for i in range(12):
            _photo(root / name / f"{i:02d}.jpg", c, seed=c * 100 + i)
    return root


def _cfg(photos: Path, out: Path, **kw) -> TrainConfig:
    base = dict(
        data=str(photos),
        out=str(out),
        preset="compact",
        width=0.125,
        batch_size=4,
        steps=6,
        resize=40,
        crop=32,
        workers=0,
        precision="fp32",
        eval_every=100,
        checkpoint_every=3,
        val_fraction=0.15,
        optimizer="adam",
    )
    return TrainConfig(**(base | kw))


def test_classes_come_from_folders_and_places_lists(photos, tmp_path):
    images = scan_folder(photos)
    assert images.classes == ["beach", "forest"] and len(images.items) == 24
    assert {it.label for it in images.items if it.path.parent.name == "forest"} == {1}
    listing = tmp_path / "list.txt"
    listing.write_text("/forest/00.jpg 1\n/beach/03.jpg 0\n")
    listed = read_list(listing, photos)
    assert listed.classes == ["beach", "forest"]
    assert [(it.path.name, it.label) for it in listed.items] == [("00.jpg", 1), ("03.jpg", 0)]


def test_flat_folder_has_no_classes(tmp_path):
    for i in range(3):
        _photo(tmp_path / f"{i}.png", i, i)
    assert scan_folder(tmp_path).classes == []


def test_validation_split_is_fixed_and_disjoint(photos):
    a_train, a_val = split_validation(scan_folder(photos), 0.25, seed=3)
    b_train, b_val = split_validation(scan_folder(photos), 0.25, seed=3)
    assert [it.path for it in a_val.items] == [it.path for it in b_val.items]
    assert len(a_val.items) == 6
    assert not {it.path for it in a_val.items} & {it.path for it in a_train.items}


def test_screening_drops_gray_and_names_broken_files(photos):
    Image.fromarray(np.full((40, 48, 3), 128, np.uint8)).save(photos / "beach" / "gray.png")
    (photos / "forest" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    result = screen(scan_folder(photos), min_color_std=6.0)
    assert [Path(p).name for p in result.low_color] == ["gray.png"]
    assert [Path(p).name for p in result.bad] == ["broken.jpg"]
    assert len(result.kept.items) == 24


def test_chroma_screening_keeps_an_even_lawn_but_drops_gray(photos):
    """An evenly green lawn has almost no a*b* spread: the paper's rule drops it, the chroma
    rule keeps it because its colour is strong; a gray image goes under both rules."""
    Image.fromarray(np.full((40, 48, 3), 128, np.uint8)).save(photos / "beach" / "gray.png")
    lawn = np.full((40, 48, 3), (70, 140, 40), np.uint8)
    Image.fromarray(lawn).save(photos / "beach" / "lawn.png")
    spread = screen(scan_folder(photos), 6.0, rule="spread")
    chroma = screen(scan_folder(photos), 6.0, rule="chroma")
    assert sorted(Path(p).name for p in spread.low_color) == ["gray.png", "lawn.png"]
    assert [Path(p).name for p in chroma.low_color] == ["gray.png"]
    lawn = chroma.stats[[it.path.name for it in chroma.kept.items].index("lawn.png")]
    assert lawn.a < -20 and lawn.b > 20  # green: negative a*, positive b*


def test_hue_balance_evens_out_the_mean_hues():
    """Nine warm images and one blue: balance 1 gives the blue one half of the draws."""
    warm, blue = ColorStats(10, 30, 20, 30), ColorStats(10, 30, 0, -30)
    weights = hue_weights([warm] * 9 + [blue], balance=1.0)
    assert float(weights[9] / weights.sum()) == pytest.approx(0.5)
    uniform = hue_weights([warm] * 9 + [blue], balance=0.0)
    assert torch.equal(uniform, torch.ones(10, dtype=torch.float64))
    draws = BatchSampler(10, 10, seed=1, total_steps=40, weights=weights)
    share = sum(i == 9 for batch in draws for i, _ in batch) / 400
    assert 0.4 < share < 0.6


def test_folder_weights_multiply_the_draws_of_a_folder(photos):
    images = scan_folder(photos)
    weights = folder_weights(images, photos, {"forest": 3.0}, None)
    forest = [it.path.parent.name == "forest" for it in images.items]
    assert all(float(w) == (3.0 if f else 1.0) for w, f in zip(weights, forest, strict=True))
    with pytest.raises(DataError, match="no training image in lake"):
        folder_weights(images, photos, {"lake": 2.0}, None)


def test_composite_puts_the_sky_above_the_ground():
    sky = np.zeros((64, 80, 3), np.uint8)
    sky[..., 2] = 255  # blue
    ground = np.zeros((70, 90, 3), np.uint8)
    ground[..., 1] = 255  # green
    a = compose_sky_ground(sky, ground, 48, np.random.default_rng(5))
    b = compose_sky_ground(sky, ground, 48, np.random.default_rng(5))
    assert a.shape == (48, 48, 3) and np.array_equal(a, b)  # seeded
    assert (a[:8, :, 2] == 255).all() and (a[:8, :, 1] == 0).all()  # top rows: sky
    assert (a[-8:, :, 1] == 255).all() and (a[-8:, :, 2] == 0).all()  # bottom rows: ground


def test_truncated_image_counts_as_bad(photos):
    good = (photos / "beach" / "00.jpg").read_bytes()
    (photos / "beach" / "trunc.jpg").write_bytes(good[: len(good) // 2])
    assert [Path(p).name for p in screen(scan_folder(photos), 6.0).bad] == ["trunc.jpg"]


def test_too_many_bad_images_stop_the_run(photos, tmp_path):
    for i in range(3):
        (photos / "beach" / f"bad{i}.jpg").write_bytes(b"garbage")
    with pytest.raises(DataError, match="unreadable"):
        main(_cfg(photos, tmp_path / "run"))


def test_class_loss_reaches_only_low_global_and_classifier():
    model = ColorizationNet(preset("compact", width=0.125, num_classes=3)).train()
    l, ab = torch.rand(2, 1, 32, 32), torch.rand(2, 2, 32, 32)
    head, logits = model(l, return_head=True)
    losses = colorization_loss(head, ab, logits, torch.tensor([0, 2]), alpha=1.0)
    losses.classification.backward()
    touched = {n.split(".")[0] for n, p in model.named_parameters() if p.grad is not None}
    assert touched == {"low", "global_conv", "global_fc", "classifier"}
    model.zero_grad(set_to_none=True)
    head, logits = model(l, return_head=True)
    colorization_loss(head, ab, logits, torch.tensor([0, 2]), alpha=0.0).color.backward()
    reached = {n.split(".")[0] for n, p in model.named_parameters() if p.grad is not None}
    assert reached == {"low", "mid", "global_conv", "global_fc", "global_out", "fusion",
                       "colorization"}  # fmt: skip


def test_batches_split_across_ranks_are_the_single_process_batches():
    one = list(BatchSampler(20, 4, seed=1, total_steps=12))
    halves = [list(BatchSampler(20, 4, seed=1, total_steps=12, rank=r, world_size=2))
              for r in range(2)]  # fmt: skip
    assert [a + b for a, b in zip(*halves, strict=True)] == one
    assert {i for i, _ in one[0] + one[1] + one[2] + one[3] + one[4]} == set(range(20))
    assert list(BatchSampler(20, 4, seed=1, start_step=7, total_steps=12)) == one[7:]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model.safetensors"))


@pytest.mark.slow  # a training run of its own: tens of seconds
def test_resume_is_bit_identical(photos, tmp_path, monkeypatch):
    main(_cfg(photos, tmp_path / "straight"))

    real, calls = loop.train_step, {"n": 0}

    def interrupted(*args, **kwargs):  # Ctrl-C during step 4, after the step-3 checkpoint
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "train_step", interrupted)
    cfg = _cfg(photos, tmp_path / "resumed")
    with pytest.raises(KeyboardInterrupt):
        main(cfg)
    monkeypatch.setattr(loop, "train_step", real)
    main(cfg, resume=True)
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.slow  # a training run of its own: tens of seconds
def test_run_writes_metrics_grid_and_a_loadable_model(photos, tmp_path):
    run = tmp_path / "run"
    main(_cfg(photos, run, eval_every=3))
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 3, 6]
    for key in ("ab_mse", "psnr", "colourfulness", "auc", "class_accuracy"):
        assert key in records[-1]
    grid = Image.open(run / "grid-0000006.png")
    assert grid.size == (3 * 32, 4 * 32)  # 4 validation images: gray | predicted | truth
    from filmcolor.weights import load_model

    model, meta = load_model(run / "model.safetensors")
    assert meta["class_names"] == ["beach", "forest"] and meta["provenance"]["step"] == 6
    assert sorted(p.name for p in run.glob("ckpt-*")) == [
        "ckpt-0000003.safetensors", "ckpt-0000003.state.pt",
        "ckpt-0000006.safetensors", "ckpt-0000006.state.pt",
    ]  # fmt: skip


def test_existing_run_folder_is_not_overwritten(photos, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(TrainingError, match="--resume"):
        main(_cfg(photos, tmp_path / "run"))
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"


def test_non_finite_losses_are_skipped_then_stop_the_run(photos, tmp_path, monkeypatch):
    real = loop.colorization_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        losses = real(*args, **kwargs)
        # call 1 is the step-0 evaluation; then one stray NaN at step 1, and from step 4 on
        if calls["n"] == 2 or calls["n"] >= 5:
            losses.total = losses.total * float("nan")
        return losses

    monkeypatch.setattr(loop, "colorization_loss", poisoned)
    run = tmp_path / "run"
    with pytest.raises(TrainingError, match="5 non-finite losses in a row"):
        main(_cfg(photos, run, steps=20, checkpoint_every=3))
    # The stray NaN was skipped; the last good checkpoint (step 3) is kept, nothing after it.
    assert [p.name for p in sorted(run.glob("ckpt-*.state.pt"))] == ["ckpt-0000003.state.pt"]
    assert all(torch.isfinite(t).all() for t in _weights(run).values())


@pytest.mark.slow
def test_torchrun_two_processes_match_one(photos, tmp_path):
    """Per-rank batch B/2 on 2 processes (gloo, global BatchNorm) == batch B on one.

    Rounding differs between the two (sums are split across processes), and training amplifies
    it: about 40x per step for this tiny network, through BatchNorm on nearly constant channels.
    So the check is after two steps, with SGD: ADADELTA and Adam divide each gradient by its own
    running size, which lifts rounding noise in near-zero gradients to full update size.
    """
    args = dict(batch_size=16, steps=2, optimizer="sgd", val_fraction=0.1)
    main(_cfg(photos, tmp_path / "single", **args))
    torchrun = Path(sys.executable).parent / "torchrun"
    cli_args = [
        "--data", str(photos), "--out", str(tmp_path / "ddp"), "--preset", "compact",
        "--width", "0.125", "--batch-size", "16", "--steps", "2", "--resize", "40",
        "--crop", "32", "--workers", "0", "--precision", "fp32", "--eval-every", "100",
        "--checkpoint-every", "3", "--val-fraction", "0.1", "--optimizer", "sgd",
    ]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "filmcolor.cli"]
    done = subprocess.run([*cmd, "train", *cli_args], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[:3000]
    a, b = _weights(tmp_path / "single"), _weights(tmp_path / "ddp")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-4, rtol=1e-4, msg=lambda m, k=k: f"{k}: {m}")


@pytest.mark.slow  # a training run of its own: tens of seconds
def test_bins_head_trains_with_rebalancing_weights_cached(photos, tmp_path):
    run = tmp_path / "run"
    main(_cfg(photos, run, preset="compact-attention", eval_every=6))
    counts = json.loads((run / "ab-histogram.json").read_text())
    assert len(counts) == 313 and sum(counts) == 20 * 64 * 64  # 20 training images at 64x64
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["step"] == 6 and 0 < record["auc"] <= 1
    from filmcolor.weights import load_model

    model, _ = load_model(run / "model.safetensors")
    assert model.cfg.color_head == "bins" and model.cfg.attention


def test_classify_stage_trains_only_the_classification_path(photos, tmp_path):
    run = tmp_path / "run"
    main(_cfg(photos, run, stage="classify", eval_every=6, optimizer="sgd"))
    torch.manual_seed(0)  # the trainer's seed: the same initial weights
    before = ColorizationNet(preset("compact", width=0.125, num_classes=2)).state_dict()
    after = _weights(run)
    for name, tensor in after.items():
        changed = not torch.equal(tensor, before[name])
        if name.split(".")[0] in ("mid", "fusion", "colorization", "global_out"):
            assert not changed, name  # untouched: no colour loss in this stage
    assert not torch.equal(after["low.0.0.weight"], before["low.0.0.weight"])
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert "class_accuracy" in record and "ab_mse" not in record


def test_classify_stage_needs_classes(tmp_path):
    for i in range(12):
        _photo(tmp_path / "flat" / f"{i}.jpg", i, i)
    with pytest.raises(TrainingError, match="needs classes"):
        main(_cfg(tmp_path / "flat", tmp_path / "run", stage="classify"))


def test_init_weights_take_the_runs_colour_head_and_classes(tmp_path):
    """--init with --color-head bins: the shared layers come from the file, the head is new."""
    from filmcolor.weights import save_model

    source = ColorizationNet(preset("compact", num_classes=7))
    path = tmp_path / "regression.safetensors"
    save_model(path, source)
    model = loop.build_model(TrainConfig(init=str(path), color_head="bins"), num_classes=32)
    assert model.cfg.color_head == "bins" and model.cfg.num_classes == 32
    ours, theirs = model.state_dict(), source.state_dict()
    shared = [k for k in theirs if k in ours and ours[k].shape == theirs[k].shape]
    assert len(shared) > len(theirs) - 6  # all but the colour head's and classifier's last layer
    assert all(torch.equal(ours[k], theirs[k]) for k in shared)
    same = loop.build_model(TrainConfig(init=str(path)), num_classes=7)
    assert same.cfg == source.cfg


def test_composite_grounds_must_use_the_training_classes(photos, tmp_path):
    """A composite takes its ground's class: one past the classifier is a clear error."""
    sky, ground = tmp_path / "sky.txt", tmp_path / "ground.txt"
    sky.write_text("/beach/00.jpg 0\n")
    ground.write_text("/forest/01.jpg 1\n/forest/02.jpg 5\n")
    cfg = _cfg(photos, tmp_path / "run", composite=0.5, sky_list=str(sky), ground_list=str(ground))
    with pytest.raises(DataError, match="02.jpg has class 5, but the training list has 2"):
        main(cfg)
