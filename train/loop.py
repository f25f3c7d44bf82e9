"""The training loop, as plain functions: ``main(cfg)`` = ``train(setup(cfg, ...))``, built on
``train_step`` and :func:`filmcolor.train.evaluate.evaluate`.

Single process: ``filmcolor train --data DIR``. Several GPUs or nodes: the same command under
``torchrun``; the environment it sets switches on DistributedDataParallel.
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from filmcolor.device import autocast, resolve_device, resolve_precision
from filmcolor.distributed import World
from filmcolor.models import ColorizationNet, preset
from filmcolor.models.bins import rebalancing_weights
from filmcolor.weights import RUN_WEIGHTS, load_model, read_metadata

from . import checkpoint as ckpt
from . import distributed, imagenet
from .config import DEFAULT_LR, TrainConfig, TrainingError
from .data import Data, ab_histogram, load_data
from .evaluate import evaluate
from .losses import Losses, bins_loss, classification_loss, colorization_loss
from .samples import Augment, BatchSampler, ColorizationDataset

MAX_NON_FINITE_IN_A_ROW = 5

Progress = Callable[[dict], None]


def build_model(cfg: TrainConfig, num_classes: int) -> ColorizationNet:
    """The network to train: the preset's (``--init imagenet``: with the ImageNet encoder), or
    the ``--init`` weights' with the run's overrides (classes, width, colour head); layers whose
    shape changed start fresh. A model with an encoder keeps the ImageNet classifier's classes,
    the targets of its distillation, and its encoder is frozen but for its last
    ``tune_stages`` stages (:func:`imagenet.set_trainable`)."""
    model = _initial_model(cfg, num_classes)
    if model.encoder is not None:
        imagenet.set_trainable(model, cfg.tune_stages)
    return model


def _initial_model(cfg: TrainConfig, num_classes: int) -> ColorizationNet:
    """:func:`build_model`'s network and weights, before any freezing."""
    overrides: dict = {}
    if cfg.width:
        overrides["width"] = cfg.width
    if cfg.color_head:
        overrides["color_head"] = cfg.color_head
    if not cfg.init or cfg.init == "imagenet":
        if preset(cfg.preset).encoder == "paper":
            overrides["num_classes"] = num_classes
        model = ColorizationNet(preset(cfg.preset, **overrides))
        if cfg.init == "imagenet":
            imagenet.init_from_imagenet(model)
        return model
    init, _ = load_model(cfg.init)
    if init.encoder is None:
        overrides["num_classes"] = num_classes
    model_cfg = dataclasses.replace(init.cfg, **overrides)
    if model_cfg == init.cfg:
        return init.train()
    model = ColorizationNet(model_cfg)
    ours = model.state_dict()
    model.load_state_dict(
        {k: v for k, v in init.state_dict().items() if k in ours and v.shape == ours[k].shape},
        strict=False,
    )
    return model.train()


def build_optimizer(cfg: TrainConfig, model: torch.nn.Module, total_steps: int):
    """The optimizer and its schedule: ADADELTA at a constant rate (the paper's), or AdamW /
    SGD with momentum under a linear warm-up and a cosine decay, over the parameters that
    require gradients; those of an encoder learn at ``encoder_lr`` times the rate."""
    lr = cfg.lr or DEFAULT_LR[cfg.optimizer]
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    rest = [p for n, p in named if not n.startswith("encoder.")]
    tuned = [p for n, p in named if n.startswith("encoder.")]
    params = [{"params": rest}] + [{"params": tuned, "lr": lr * cfg.encoder_lr}] * bool(tuned)
    if cfg.optimizer == "adadelta":
        opt = torch.optim.Adadelta(params, lr=lr)
        return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    if cfg.optimizer == "adam":
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    else:  # "sgd"; TrainConfig refuses any other name
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)
    warmup = min(500, total_steps // 20 + 1)

    def warmup_cosine(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total_steps))))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine)


Objective = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], Losses]


def make_objective(
    stage: str,
    net: ColorizationNet,
    alpha: float,
    bin_weights: torch.Tensor | None = None,
    teacher: imagenet.Teacher | None = None,
) -> Objective:
    """The training loss of a stage and colour head, as ``objective(model, l, ab, labels)``.

    Args:
        stage: "color" (the paper's joint loss) or "classify" (classification alone).
        net: the network (unwrapped), for its head and ab range.
        alpha: weight of the classification term in the colour stage.
        bin_weights: rebalancing weights, for the "bins" head.
        teacher: gives the class targets (soft, from the colour crop) in place of ``labels``.
    """

    def objective(model, l, ab, labels):
        if teacher is not None:
            labels = teacher(l, ab, net.cfg.ab_range)
        if stage == "classify":
            _, logits = model(l, classify_only=True)
            return classification_loss(logits, labels)
        head, logits = model(l, return_head=True)  # head at half resolution
        if net.cfg.color_head == "bins":
            return bins_loss(head, ab, logits, labels, alpha, bin_weights, net.cfg.ab_range)
        return colorization_loss(head, ab, logits, labels, alpha)

    return objective


def train_step(
    model: torch.nn.Module,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    objective: Objective,
    device: torch.device,
    dtype: torch.dtype,
) -> tuple[dict[str, torch.Tensor], bool]:
    """One optimisation step. Returns the losses and whether the step was applied (a
    non-finite loss is skipped, leaving the weights untouched)."""
    l, ab, labels = (t.to(device, non_blocking=True) for t in batch)
    if device.type == "cuda":
        l = l.contiguous(memory_format=torch.channels_last)
    with autocast(device, dtype):
        losses = objective(model, l, ab, labels)
    optimizer.zero_grad(set_to_none=True)
    finite = torch.isfinite(losses.total).float()
    if torch.distributed.is_initialized():  # every process must skip the same steps
        torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
    if bool(finite):
        losses.total.backward()
        optimizer.step()
    out = {"loss": losses.total.detach(), "color": losses.color.detach()}
    if losses.classification is not None:
        out["class"] = losses.classification.detach()
    return out, bool(finite)


@dataclass
class Run:
    """Everything a training run holds between its steps."""

    cfg: TrainConfig
    dir: Path
    dist: World
    device: torch.device
    dtype: torch.dtype
    data: Data
    model: ColorizationNet  # the network itself, for evaluation and checkpoints
    train_model: torch.nn.Module  # what the steps call: the model, or its DDP wrapper
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    objective: Objective
    loader: torch.utils.data.DataLoader
    val_loader: torch.utils.data.DataLoader
    start: int  # the step the run (re)starts at
    total: int  # the step it ends at
    provenance: dict
    emit: Progress
    prior_wall: float  # wall seconds spent by earlier sessions of a resumed run


def main(cfg: TrainConfig, on_progress: Progress | None = None, resume: bool = False) -> Path:
    """Train; returns the path of the final weights (RUN_DIR/model.safetensors).

    Args:
        cfg: the run's options.
        on_progress: receives dicts with ``kind`` in {"notice", "screen", "step", "eval"}.
        resume: continue the run in ``cfg.out`` from its last checkpoint.
    """
    device = resolve_device(cfg.device)
    dist = distributed.setup(device.type)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)

    def emit(event: dict) -> None:
        if dist.main and on_progress is not None:
            on_progress(event)

    weights = train(setup(cfg, resume, dist, device, emit))
    distributed.teardown(dist)
    return weights


def setup(
    cfg: TrainConfig,
    resume: bool,
    dist: World,
    device: torch.device,
    emit: Progress,
) -> Run:
    """Check the run folder, load the data, and build the model, optimizer and loaders; on
    ``resume``, restore them from the folder's last checkpoint."""
    if cfg.stage not in ("color", "classify"):
        raise TrainingError(f"unknown stage {cfg.stage!r}; choose color or classify")
    run_dir = Path(cfg.out)  # on resume, TrainConfig.from_run has read it
    if not resume and run_dir.exists() and any(run_dir.iterdir()):
        raise TrainingError(
            f"run folder {run_dir} already exists; use --resume {run_dir} to "
            "continue it or choose another --out"
        )
    if cfg.batch_size // dist.size < 2:
        raise TrainingError("BatchNorm needs at least 2 images per process: raise --batch-size")
    dist.barrier()  # every process has checked before the first one writes
    workers = cfg.workers if sys.platform != "win32" else 0
    if dist.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        if not (run_dir / "train_config.json").is_file():
            (run_dir / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2))
    data = _rank0_first(dist, lambda: load_data(cfg, run_dir, workers, emit))
    if cfg.stage == "classify" and not data.classes:
        raise TrainingError("--stage classify needs classes: put the images in class folders")

    torch.manual_seed(cfg.seed)
    model = build_model(cfg, len(data.classes)).to(device)
    if dist.enabled:  # before the optimizer takes the parameters
        model = distributed.sync_batchnorm(model, device.type)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    sampler_args = dict(num_items=len(data.train.items), batch_size=cfg.batch_size, seed=cfg.seed)
    steps_per_epoch = BatchSampler(**sampler_args).steps_per_epoch
    total = cfg.steps or max(1, round((cfg.epochs or 1) * steps_per_epoch))
    optimizer, scheduler = build_optimizer(cfg, model, total)

    start = 0
    if resume and (done := ckpt.checkpoints(run_dir)):
        start = done[-1]
        if start >= total:
            raise TrainingError(
                f"{run_dir} has already run its {total} steps; to train further, resume with "
                f"a larger --steps (e.g. --steps {total + total // 2})"
            )
        weights, _ = load_model(run_dir / f"ckpt-{start:07d}.safetensors")
        model.load_state_dict(weights.state_dict())
        state = ckpt.load_state(run_dir, start)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        ckpt.set_rng_state(state["rng"])
        emit({"kind": "notice", "message": f"resuming {run_dir} at step {start} of {total}"})
    model.train()

    classify = cfg.stage == "classify"
    train_model: torch.nn.Module = model
    if dist.enabled:
        ids = [device.index] if device.type == "cuda" else None
        # the classification stage leaves the colour networks without gradients
        train_model = DistributedDataParallel(
            model, device_ids=ids, find_unused_parameters=classify
        )
    bin_weights = None
    if model.cfg.color_head == "bins" and not classify:
        cache = run_dir / "ab-histogram.json"
        counts = _rank0_first(
            dist, lambda: ab_histogram(data.train, cache, seed=cfg.seed, workers=workers)
        )
        bin_weights = rebalancing_weights(counts, lam=cfg.rebalance).to(device)

    # a model with an encoder learns ImageNet's classes from the classifier's own predictions
    teacher = None
    if model.encoder is not None and cfg.alpha:
        teacher = imagenet.Teacher(device, model.encoder.variant)
    augment = Augment(cfg.resize, cfg.crop, cfg.multiscale, cfg.flip)
    ab_range = model.cfg.ab_range
    sampler = BatchSampler(
        **sampler_args,
        start_step=start,
        total_steps=total,
        rank=dist.rank,
        world_size=dist.size,
        weights=data.weights,
    )
    loader = torch.utils.data.DataLoader(
        ColorizationDataset(data.train, augment, ab_range, cfg.seed, composites=data.composites),
        batch_sampler=sampler,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if workers else None,
    )
    val_loader = torch.utils.data.DataLoader(
        ColorizationDataset(data.val, augment, ab_range, cfg.seed, train=False),
        batch_size=max(1, min(32, cfg.batch_size)),
        num_workers=min(workers, 2),
    )
    provenance = {
        "command": " ".join(sys.argv),
        "data": str(cfg.data),
        "preset": cfg.preset,
        "train_images": len(data.train.items),
        "host": platform.node(),
        "torch": torch.__version__,
        "commit": ckpt.git_commit(),
    }
    if model.encoder is not None:
        provenance |= imagenet.provenance(model.encoder.variant)
    return Run(
        cfg=cfg,
        dir=run_dir,
        dist=dist,
        device=device,
        dtype=resolve_precision(cfg.precision, device),
        data=data,
        model=model,
        train_model=train_model,
        optimizer=optimizer,
        scheduler=scheduler,
        objective=make_objective(cfg.stage, model, cfg.alpha, bin_weights, teacher),
        loader=loader,
        val_loader=val_loader,
        start=start,
        total=total,
        provenance=provenance,
        emit=emit,
        prior_wall=_prior_wall(run_dir),
    )


def train(run: Run) -> Path:
    """The loop: steps, progress every 10 steps, checkpoints and evaluations on schedule.

    Returns:
        The path of the final weights (RUN_DIR/model.safetensors).
    """
    cfg, emit = run.cfg, run.emit
    t0 = time.time()
    if run.start == 0:
        _evaluate_and_log(run, 0)
    bad_in_a_row, skipped = 0, 0
    step = run.start
    t_last, n_last = time.time(), 0
    for batch in run.loader:
        losses, applied = train_step(
            run.train_model, batch, run.optimizer, run.objective, run.device, run.dtype
        )
        if not applied:
            bad_in_a_row, skipped = bad_in_a_row + 1, skipped + 1
            emit({"kind": "notice", "message": f"step {step + 1}: non-finite loss, step skipped"})
            if bad_in_a_row >= MAX_NON_FINITE_IN_A_ROW:
                raise TrainingError(
                    f"{bad_in_a_row} non-finite losses in a row at step {step + 1}; stopped. "
                    f"The last good checkpoint is in {run.dir}"
                )
        else:
            bad_in_a_row = 0
            run.scheduler.step()
        step += 1
        n_last += cfg.batch_size
        if step % 10 == 0 or step == run.total:
            now = time.time()
            logged = {k: float(distributed.reduce_mean(v, run.dist)) for k, v in losses.items()}
            emit(
                {
                    "kind": "step",
                    "step": step,
                    "total": run.total,
                    "ips": n_last / (now - t_last),
                    "skipped": skipped,
                }
                | logged
            )
            t_last, n_last = now, 0
        if (step % cfg.checkpoint_every == 0 or step == run.total) and not bad_in_a_row:
            _checkpoint(run, step, run.prior_wall + time.time() - t0)  # never mid-failure
        if step % cfg.eval_every == 0 or step == run.total:
            _evaluate_and_log(run, step)
    return run.dir / RUN_WEIGHTS


def _checkpoint(run: Run, step: int, wall_s: float) -> None:
    if run.dist.main:
        ckpt.save_checkpoint(
            run.dir,
            step,
            run.model,
            run.optimizer,
            run.scheduler,
            run.data.classes,
            run.provenance | {"total_steps": run.total, "wall_s": wall_s},
            run.cfg.keep,
        )


def _evaluate_and_log(run: Run, step: int) -> None:
    """Evaluate on rank 0, append the figures to metrics.jsonl and report them."""
    if not run.dist.main:
        return
    classify = run.cfg.stage == "classify"
    grid = None if classify else run.dir / f"grid-{step:07d}.png"
    m = evaluate(run.model, run.val_loader, run.device, run.dtype, grid, classify_only=classify)
    record = {"step": step, "time": time.time()} | m
    with (run.dir / "metrics.jsonl").open("a") as f:
        f.write(json.dumps(record) + "\n")
    run.emit({"kind": "eval"} | record)


def _rank0_first(dist: World, work: Callable):
    """Run ``work`` on rank 0, then on the others, which find what rank 0 cached on disk."""
    result = dist.on_rank0(work)
    return result if dist.main else work()


def _prior_wall(run_dir: Path) -> float:
    """Wall time already spent by earlier sessions of a resumed run (from its last checkpoint)."""
    path = run_dir / RUN_WEIGHTS
    if not path.is_file():
        return 0.0
    return float(read_metadata(path)["provenance"].get("wall_s", 0.0))


__all__ = ["Run", "TrainConfig", "TrainingError", "evaluate", "main", "setup", "train"]
