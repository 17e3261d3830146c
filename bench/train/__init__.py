"""Train a student on the kept examples and evaluate it on the full test split.

``train_student`` takes plain data (splits, pool, kept positions, model and train settings as dicts) and returns a
plain dict: final test error/accuracy/loss, the learning curve, optimiser steps and epochs actually run, and
throughput. Two budgets: ``epochs`` (the paper's protocol: a pruned run gets proportionally fewer steps) and
``steps`` (compute-matched: as many optimiser steps as the full pool gets in ``epochs`` epochs, or ``train.steps``).
Under both, ``min_steps`` is a floor: total optimiser steps = max(the budget's steps, ``min_steps``), so a run on a few
hundred examples still trains to fit them (the Hydra default, conf/train/default.yaml, sets it; the plain-API default
here is 0: no floor). After training, one eval-mode pass over the kept examples (no augmentation) gives
``train_error`` / ``train_loss``. Compute: ``examples_seen`` (every trained batch's size, summed), ``repetitions``
(examples_seen / kept examples) and ``train_flops`` (``bench.train.cost``: FLOPs per example x examples_seen).
With ``infobatch`` settings the kept set is pruned dynamically as well (``bench.train.dynamic``).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
import warnings
from typing import Any, Optional

import numpy as np
import pytorch_lightning as pl
import torch

from bench.checkpoint import active_guard
from bench.data import Pool, Splits
from bench.defaults import group_defaults
from bench.models import auto_channels_last, create_model, data_init_positions, init_from_data, needs_data_init
from bench.train.cost import flops_per_example
from bench.train.data import TensorBatches, folder_loader, normalise
from bench.train.distributed import World, current_world, lightning_strategy, log_curve, spawn
from bench.train.dynamic import DynamicRun, infobatch_run
from bench.train.module import LitClassifier, NonFiniteLossError  # noqa: F401  (re-exported)
from bench.train.recipe import recipe_batch_size, tta_logits
from bench.train.resume import Checkpointer, RunCheckpoint, resume_path

log = logging.getLogger(__name__)

# Settings only a recipe that wants them sets (conf/train/airbench.yaml): "off" here, their one home. They are kept
# out of conf/train/default.yaml on purpose, so the run ids of every other run (which hash the resolved config) keep.
RECIPE_OFF: dict[str, Any] = dict(
    min_batches=None,
    drop_last=False,
    augment=None,
    bias_lr_scale=64.0,
    lr_start_factor=0.2,
    lr_end_factor=0.07,
    lookahead_every=0,
    lookahead_decay=0.95,
    lookahead_power=3.0,
    tta=0,
)
# conf/train/default.yaml is the one source of the rest: Hydra composes it, library callers get the same values here.
TRAIN_DEFAULTS: dict[str, Any] = {**group_defaults("train"), **RECIPE_OFF}
# The train settings the optimiser and schedule builders read beyond LitClassifier's own arguments.
RECIPE_KEYS = ("batch_size", "bias_lr_scale", "lr_start_factor", "lr_end_factor") + tuple(
    f"lookahead_{k}" for k in ("every", "decay", "power")
)
BUDGETS = ("epochs", "steps")


def resolve_device(accelerator: str, local_rank: Optional[int] = None) -> torch.device:
    """The training device; ``local_rank`` (one of several processes on a node): that process's GPU."""
    if accelerator == "auto":
        accelerator = "cuda" if torch.cuda.is_available() else "cpu"
    if accelerator in ("gpu", "cuda"):
        if not torch.cuda.is_available():
            raise ValueError("train.accelerator=gpu but no CUDA device is visible; use auto or cpu")
        if local_rank is None:
            return torch.device("cuda")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    if accelerator == "cpu":
        return torch.device("cpu")
    raise ValueError(f"unknown train.accelerator {accelerator!r}; allowed: auto, cpu, gpu")


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> bf16 mixed precision on GPUs that support it, fp16 mixed on older GPUs, fp32 on the CPU."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def steps_per_epoch(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Batches in one pass over ``n`` examples: the last partial one dropped (``drop_last``, airbench) or kept."""
    return max(1, n // batch_size) if drop_last else math.ceil(n / batch_size)


def epoch_steps(epochs: float, spe: int) -> int:
    """Optimiser steps in ``epochs`` (fractional: airbench's 9.9) passes of ``spe`` steps, rounded up."""
    return math.ceil(round(float(epochs) * spe, 6))


def budget_steps(n_kept: int, pool_size: int, cfg: dict) -> tuple[int, int]:
    """(optimiser steps the budget alone gives, steps per epoch of the kept data), before the ``min_steps`` floor."""
    bs, drop = int(cfg["batch_size"]), bool(cfg.get("drop_last"))
    spe = steps_per_epoch(n_kept, bs, drop)
    if cfg["budget"] == "epochs":
        return epoch_steps(cfg["epochs"], spe), spe
    if cfg["budget"] == "steps":
        steps = cfg.get("steps") or epoch_steps(cfg["epochs"], steps_per_epoch(pool_size, bs, drop))
        return int(steps), spe
    raise ValueError(f"unknown train.budget {cfg['budget']!r}; allowed: {', '.join(BUDGETS)}")


def plan_steps(n_kept: int, pool_size: int, cfg: dict) -> tuple[int, int]:
    """(total optimiser steps, steps per epoch of the kept data): max(the budget's steps, ``min_steps``)."""
    steps, spe = budget_steps(n_kept, pool_size, cfg)
    return max(steps, int(cfg.get("min_steps") or 0)), spe


class StepProgress(pl.Callback):
    """One tqdm bar per run over the optimiser steps, with the latest test error (quiet in logs: 1 s refresh)."""

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc, self.bar = total, desc, None

    def on_train_start(self, trainer, pl_module) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.total, desc=self.desc, mininterval=1.0, leave=False, dynamic_ncols=True)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def on_validation_end(self, trainer, pl_module) -> None:
        if self.bar is not None and pl_module.curve:
            self.bar.set_postfix(test_error=f"{pl_module.curve[-1]['test_error']:.4f}", refresh=False)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _batches(
    splits: Splits,
    pool: Pool,
    kept: np.ndarray,
    cfg: dict,
    device: torch.device,
    channels_last: bool,
    seed: int,
    planned: bool = False,
    shard: tuple[int, int] = (0, 1),
) -> tuple[Any, Any, Any]:
    """(shuffled augmented train batches, test batches, kept-set eval batches without augmentation). ``planned``:
    the folder train loader follows dynamic-pruning plans (the device-resident batches can do both). ``shard``
    (rank, world): the train and test batches are this rank's shards; the kept-set batches stay whole."""
    kept_t = torch.from_numpy(np.asarray(kept, dtype=np.int64))
    if splits.in_memory:
        return _memory_batches(splits, pool, kept_t, cfg, device, channels_last, seed, shard)
    if cfg.get("augment") or cfg.get("drop_last"):
        raise ValueError(
            f"train.augment={cfg.get('augment')} / train.drop_last={cfg.get('drop_last')} (airbench's recipe) need a "
            f"dataset held in memory; {splits.name} is read from folders: use its own augmentation"
        )
    return _folder_batches(splits, pool, kept, pool.y[kept_t], cfg, seed, planned, shard)


def _memory_batches(
    splits: Splits,
    pool: Pool,
    kept_t: torch.Tensor,
    cfg: dict,
    device: torch.device,
    channels_last: bool,
    seed: int,
    shard: tuple[int, int],
) -> tuple[Any, Any, Any]:
    """``_batches`` of a split held in memory: device-resident tensors, augmented on the device."""
    ids = torch.from_numpy(pool.ids)[kept_t]
    x_train, y_train = splits.train_x[ids].to(device), pool.y[kept_t].to(device)
    common = dict(mean=splits.mean, std=splits.std, channels_last=channels_last, resize=splits.resize)
    train = TensorBatches(
        x_train,
        y_train,
        cfg["batch_size"],
        shuffle=True,
        seed=seed,
        augment_kind=cfg.get("augment") or splits.augment,
        shard=shard,
        drop_last=bool(cfg.get("drop_last")),
        **common,
    )
    test_x, test_y = splits.test_x.to(device), splits.test_y.to(device)
    test = TensorBatches(test_x, test_y, cfg["eval_batch_size"], shuffle=False, shard=shard, **common)
    kept_eval = TensorBatches(x_train, y_train, cfg["eval_batch_size"], shuffle=False, **common)
    return train, test, kept_eval


def _folder_batches(
    splits: Splits,
    pool: Pool,
    kept: np.ndarray,
    kept_y: torch.Tensor,
    cfg: dict,
    seed: int,
    planned: bool,
    shard: tuple[int, int],
) -> tuple[Any, Any, Any]:
    """``_batches`` of a split read from image folders: DataLoaders with the dataset's own augmentation."""
    ids, workers = pool.ids[kept], cfg["num_workers"]
    train = folder_loader(
        splits.train_set, ids, kept_y, cfg["batch_size"], True, workers, seed, planned=planned, shard=shard
    )
    test_ids = np.arange(len(splits.test_set))
    test = folder_loader(splits.test_set, test_ids, splits.test_y, cfg["eval_batch_size"], False, workers, shard=shard)
    view = eval_view(splits.train_set, splits.test_set)
    kept_eval = folder_loader(view, ids, kept_y, cfg["eval_batch_size"], False, workers)
    return train, test, kept_eval


def eval_view(train_set: Any, test_set: Any) -> Any:
    """The train folder read with the test split's transform (no augmentation): a shallow copy, files shared."""
    view = copy.copy(train_set)
    for attr in ("transform", "transforms"):
        if hasattr(test_set, attr):
            setattr(view, attr, getattr(test_set, attr))
    return view


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    batches: Any,
    device: torch.device,
    precision: str = "32-true",
    channels_last: bool = False,
    tta: int = 0,
) -> tuple[float, float]:
    """(error, mean cross-entropy) of ``model`` in eval mode over ``batches`` of (x, y, ...), with airbench's
    test-time augmentation of level ``tta`` (``bench.train.recipe.tta_logits``); the model's mode and device are
    restored afterwards."""
    was_training, param = model.training, next(model.parameters(), None)
    home = param.device if param is not None else device
    model.to(device).eval()
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, errors, count
    for batch in batches:
        x, y = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
        if channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            logits = tta_logits(model, x, tta).float()
        loss = torch.nn.functional.cross_entropy(logits, y, reduction="sum")
        sums += torch.stack(
            [
                loss.double(),
                (logits.argmax(1) != y).sum().double(),
                torch.tensor(float(y.numel()), dtype=torch.float64, device=device),
            ]
        )
    model.train(was_training).to(home)
    loss_sum, errors, count = sums.tolist()
    return errors / max(count, 1.0), loss_sum / max(count, 1.0)


def _build_model(splits: Splits, model_cfg: dict, cfg: dict, device: torch.device) -> tuple[torch.nn.Module, bool]:
    model_kwargs = {k: v for k, v in model_cfg.items() if k != "name"}
    model = create_model(model_cfg["name"], splits.num_classes, splits.model_input_shape, **model_kwargs)
    channels_last = (
        cfg["channels_last"]
        if cfg["channels_last"] != "auto"
        else auto_channels_last(model, device.type, splits.input_shape)
    )
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, bool(channels_last)


def train_student(
    splits: Splits,
    pool: Pool,
    kept: np.ndarray,
    model_cfg: dict,
    train_cfg: dict,
    seed: int,
    logger: Any = None,
    callbacks: Optional[list] = None,
    desc: str = "train",
    checkpoint: Optional[RunCheckpoint] = None,
    infobatch: Optional[dict] = None,
) -> dict:
    """Train ``model_cfg`` on ``pool`` positions ``kept``; return final test metrics, the final error and loss on
    the kept set (``train_error`` / ``train_loss``), curve, step counts (``min_steps`` floor included), the examples
    trained on (``examples_seen``), the training FLOPs estimate and cost.

    ``checkpoint``: write mid-run checkpoints there and resume from the newest intact one (``extra.checkpoint`` in
    the output says how many were written, their cost, and the step the run resumed from).
    ``infobatch``: ``{"ratio": r, "delta": d}`` prunes dynamically (InfoBatch, ``bench.train.dynamic``) on top of
    ``kept``; ``extra.infobatch`` then holds the examples trained in each data epoch.
    ``train.devices`` x ``train.num_nodes`` > 1: data-parallel training (``bench.train.distributed``); a job that
    was not launched as one of the processes starts them here, and the ``logger`` gets the curve at the end."""
    cfg = {**TRAIN_DEFAULTS, **train_cfg}
    world = current_world(cfg)
    if world.size > 1 and infobatch is not None:
        raise ValueError(
            "prune.strategy=infobatch runs on one device (its per-example scores are not shared "
            "across processes yet); set train.devices=1 train.num_nodes=1"
        )
    args = (splits, pool, kept, model_cfg, cfg, seed, callbacks, desc, checkpoint, infobatch)
    if world.launch == "spawn":
        out = spawn(_train_process, args, world.size)
        log_curve(logger, out["curve"])
        return out
    return _train_process(*args, logger=logger)


def _process_setup(cfg: dict, world: World, seed: int, n_kept: int) -> tuple[torch.device, str, dict]:
    """This process's device, precision, threads and seed, and ``cfg`` with the recipe's batch for ``n_kept``."""
    device = resolve_device(cfg["accelerator"], world.local_rank if world.size > 1 else None)
    precision = resolve_precision(cfg["precision"], device)
    if cfg["num_threads"]:
        torch.set_num_threads(int(cfg["num_threads"]))
    pl.seed_everything(seed, workers=True, verbose=False)
    batch = recipe_batch_size(cfg["batch_size"], n_kept, cfg.get("min_batches"), world.size)
    return device, precision, {**cfg, "batch_size": batch}


def _train_process(
    splits: Splits,
    pool: Pool,
    kept: np.ndarray,
    model_cfg: dict,
    cfg: dict,
    seed: int,
    callbacks: Optional[list],
    desc: str,
    checkpoint: Optional[RunCheckpoint],
    infobatch: Optional[dict],
    logger: Any = None,
) -> dict:
    """``train_student`` in this process: the only one, or one rank of a DDP world."""
    world = current_world(cfg)
    n_kept = int(len(kept))
    device, precision, cfg = _process_setup(cfg, world, seed, n_kept)
    model, channels_last = _build_model(splits, model_cfg, cfg, device)
    n_init = init_from_kept(model, splits, pool, kept, seed)
    flops = flops_per_example(model, splits.model_input_shape, splits.num_classes)
    own_steps, spe = budget_steps(n_kept, len(pool), cfg)
    total_steps, _ = plan_steps(n_kept, len(pool), cfg)
    lr = cfg["lr"] * (cfg["batch_size"] / 256.0 if cfg["lr_per_256"] else 1.0)
    train_batches, test_batches, kept_batches = _batches(
        splits, pool, kept, cfg, device, channels_last, seed, planned=infobatch is not None, shard=world.shard
    )
    dyn = None
    if infobatch is not None:
        dyn = infobatch_run(train_batches, n_kept, cfg, total_steps, spe, infobatch, seed, device)
        train_batches, total_steps = dyn.stream, dyn.total_steps
    lit = _lit(model, cfg, lr, total_steps, spe, device, channels_last, dyn)
    if checkpoint is not None:
        checkpoint.meta.update(total_steps=total_steps, steps_per_epoch=spe, n_kept=n_kept)
    main_logger = logger if world.is_main else None
    batches = (train_batches, test_batches)
    fit_args = (lit, cfg, device, precision, total_steps, spe, batches, main_logger, callbacks, desc, checkpoint)
    steps, wall, ck = _fit(*fit_args, dyn, world)
    train_error, train_loss = evaluate(lit.model, kept_batches, device, precision, channels_last)
    final, tta = _final_metrics(lit), int(cfg.get("tta") or 0)
    tta_info = None
    if tta:
        final, tta_info = _tta_metrics(lit, splits, cfg, device, precision, channels_last, final, tta)
    return {
        **final,
        "train_error": train_error,
        "train_loss": train_loss,
        "curve": lit.curve,
        "steps": steps,
        "epochs": lit.epochs_done if dyn else steps / spe,
        "steps_per_epoch": spe,
        "n_train": n_kept,
        "min_steps": int(cfg["min_steps"] or 0),
        "budget_steps": own_steps,
        "steps_floor_applied": total_steps > own_steps,
        "train_seconds": wall,
        **_compute(lit.examples_seen, n_kept, flops, wall),
        "device": str(device),
        "precision": precision,
        "channels_last": channels_last,
        "lr": lr,
        "model": lit.model.cpu() if world.launch == "spawned" else lit.model,
        "extra": _extra(cfg, world, lit, dyn, ck, n_init, tta_info),
    }


def _extra(
    cfg: dict, world: World, lit: LitClassifier, dyn: Optional[DynamicRun], ck: Optional[dict], n_init: int, tta_info
) -> dict:
    """The record's ``extra``: only what applies to this run (checkpoints, InfoBatch, DDP, recipe batch, data init,
    test-time augmentation)."""
    return {
        **({"checkpoint": ck} if ck else {}),
        **({"infobatch": dyn.summary(lit)} if dyn else {}),
        **({"world_size": world.size, "launch": world.launch} if world.size > 1 else {}),
        **({"batch_size": int(cfg["batch_size"])} if cfg.get("min_batches") else {}),
        **({"data_init_images": n_init} if n_init else {}),
        **({"tta": tta_info} if tta_info else {}),
    }


def init_from_kept(model: torch.nn.Module, splits: Splits, pool: Pool, kept: np.ndarray, seed: int) -> int:
    """A data-dependent init (airbench's whitening layer): the model reads up to 5,000 kept training images
    (normalised, not augmented; which ones depends on ``seed`` alone) before the first step. The number read, or 0
    for models without one."""
    if not needs_data_init(model):
        return 0
    sel = np.asarray(kept, dtype=np.int64)[data_init_positions(len(kept), seed)]
    ids = np.asarray(pool.ids, dtype=np.int64)[sel]
    if splits.in_memory:
        x = normalise(splits.train_x[torch.from_numpy(ids)], splits.mean, splits.std)
    else:
        view = eval_view(splits.train_set, splits.test_set)
        x = torch.stack([view[int(i)][0] for i in ids])
    init_from_data(model, x.float())
    return int(len(ids))


def _tta_metrics(
    lit: LitClassifier,
    splits: Splits,
    cfg: dict,
    device: torch.device,
    precision: str,
    channels_last: bool,
    final: dict,
    level: int,
) -> tuple[dict, dict]:
    """The final test metrics with test-time augmentation of ``level`` (the whole test split on every process), and
    what the record states about them: the level and the metrics without it (the curve's last point)."""
    if splits.in_memory:
        common = dict(mean=splits.mean, std=splits.std, channels_last=channels_last, resize=splits.resize)
        batches = TensorBatches(
            splits.test_x.to(device), splits.test_y.to(device), cfg["eval_batch_size"], shuffle=False, **common
        )
    else:
        ids = np.arange(len(splits.test_set))
        batches = folder_loader(splits.test_set, ids, splits.test_y, cfg["eval_batch_size"], False, cfg["num_workers"])
    error, loss = evaluate(lit.model, batches, device, precision, channels_last, tta=level)
    info = {"level": level, **{f"{k}_without_tta": v for k, v in final.items()}}
    return {"test_error": error, "test_accuracy": 1.0 - error, "test_loss": loss}, info


def _lit(
    model: torch.nn.Module,
    cfg: dict,
    lr: float,
    total_steps: int,
    spe: int,
    device: torch.device,
    channels_last: bool,
    dyn: Optional[DynamicRun],
) -> LitClassifier:
    return LitClassifier(
        model,
        optimizer=cfg["optimizer"],
        lr=lr,
        momentum=cfg["momentum"],
        nesterov=cfg["nesterov"],
        weight_decay=cfg["weight_decay"],
        decay_norm_and_bias=cfg["decay_norm_and_bias"],
        schedule=cfg["schedule"],
        warmup=cfg["warmup"],
        milestones=tuple(cfg["milestones"] or ()),
        gamma=cfg["gamma"],
        label_smoothing=cfg["label_smoothing"],
        total_steps=total_steps,
        steps_per_epoch=spe,
        check_finite_every=1 if device.type == "cpu" else 25,
        channels_last=channels_last,
        infobatch=dyn.infobatch if dyn else None,
        schedule_epochs=dyn.epochs if dyn else None,
        recipe={k: cfg[k] for k in RECIPE_KEYS if k in cfg},
    )


def _final_metrics(lit: LitClassifier) -> dict:
    final = lit.curve[-1]
    return {k: final[k] for k in ("test_error", "test_accuracy", "test_loss")}


def _compute(examples_seen: int, n_kept: int, flops: Optional[float], wall: float) -> dict:
    """The run's compute: examples trained on, passes over the kept set, FLOPs estimate, throughput."""
    return {
        "examples_seen": int(examples_seen),
        "repetitions": examples_seen / max(n_kept, 1),
        "flops_per_example": flops,
        "train_flops": None if flops is None else flops * examples_seen,
        "examples_per_second": examples_seen / max(wall, 1e-9),
    }


def _fit(
    lit: LitClassifier,
    cfg: dict,
    device: torch.device,
    precision: str,
    total_steps: int,
    spe: int,
    batches: tuple,
    logger: Any,
    callbacks: Optional[list],
    desc: str,
    checkpoint: Optional[RunCheckpoint] = None,
    dyn: Optional[DynamicRun] = None,
    world: World = World(),
) -> tuple[int, float, Optional[dict]]:
    """Run the Lightning loop for ``total_steps`` with ``n_evals`` test evaluations, resuming from ``checkpoint``'s
    newest intact file; (steps run, training seconds, checkpoint stats or None). ``dyn``: an InfoBatch run, one
    Lightning epoch that ends with its stream (epochs budget) or at ``total_steps`` (steps budget)."""
    train_batches, test_batches = batches
    n_evals = int(cfg["n_evals"] or cfg["epochs"])
    val_every = max(1, total_steps // max(1, n_evals))
    progress = [StepProgress(total_steps, desc)] if cfg["progress_bar"] and world.is_main else []
    stateful = {"infobatch": dyn.infobatch} if dyn is not None else None
    ckpt = (
        Checkpointer(checkpoint, train_batches, spe, total_steps, val_every, stateful=stateful)
        if checkpoint is not None
        else None
    )
    resume = resume_path(checkpoint)
    if resume is not None:
        log.warning(
            "run %s: resuming from its checkpoint at step %d of %d (%s)", desc, resume[1], total_steps, resume[0]
        )
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=".*(num_workers|does not have many workers|LeafSpec|dataloader is not resumable|sync_dist=True).*",
        )  # logged values are global
        callbacks = (callbacks or []) + progress + ([ckpt] if ckpt else [])
        trainer = _trainer(cfg, device, precision, total_steps, spe, val_every, logger, callbacks, world, dyn)
        t0 = time.perf_counter()
        guard = active_guard() if ckpt is not None else None  # without checkpoints a signal acts at once
        with guard.training() if guard is not None else contextlib.nullcontext():
            trainer.fit(
                lit,
                train_dataloaders=train_batches,
                val_dataloaders=test_batches,
                ckpt_path=str(resume[0]) if resume else None,
                weights_only=False,
            )
        if not lit.curve or lit.curve[-1]["step"] != trainer.global_step:
            trainer.validate(lit, dataloaders=test_batches, verbose=False)
        wall = (ckpt.prior_train_seconds if ckpt is not None else 0.0) + time.perf_counter() - t0
    stats = (
        None
        if ckpt is None
        else {
            "saved": ckpt.saved,
            "save_seconds": round(ckpt.save_seconds, 4),
            "resumed_from_step": resume[1] if resume else None,
        }
    )
    return int(trainer.global_step), wall, stats


def _trainer(
    cfg: dict,
    device: torch.device,
    precision: str,
    total_steps: int,
    spe: int,
    val_every: int,
    logger: Any,
    callbacks: list,
    world: World,
    dyn: Optional[DynamicRun],
) -> pl.Trainer:
    """The Lightning trainer of one run: ``total_steps`` (or, for InfoBatch under the epochs budget, one Lightning
    epoch that ends with its stream), a test evaluation every ``val_every`` steps, DDP when ``world`` has more than
    one process, no Lightning checkpoints or progress bar (ours do both)."""
    until_stream_ends = dyn is not None and dyn.epochs is not None
    strategy, plugins = lightning_strategy(cfg, device, world) if world.size > 1 else ("auto", _cluster_plugins())
    return pl.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu",
        precision=precision,
        strategy=strategy,
        devices=int(cfg["devices"]) if world.size > 1 else 1,
        num_nodes=int(cfg["num_nodes"]),
        use_distributed_sampler=False,  # the batches are sharded already (bench.train.data)
        max_steps=-1 if until_stream_ends else total_steps,
        max_epochs=1 if dyn is not None else -1,
        val_check_interval=val_every,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        logger=logger if logger is not None else False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=bool(cfg["deterministic"]),
        callbacks=callbacks,
        log_every_n_steps=max(1, spe),
        plugins=plugins,
    )


def _cluster_plugins() -> list:
    """Under SLURM, Lightning must not requeue the job itself (submitit does, and our checkpoints resume it)."""
    from lightning_fabric.plugins.environments import SLURMEnvironment

    return [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else []
