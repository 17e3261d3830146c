"""Train a student on the kept examples and evaluate it on the full test split.

``train_student`` takes plain data (splits, pool, kept positions, model and train settings as dicts) and returns a
plain dict: final test error/accuracy/loss, the learning curve, optimiser steps and epochs actually run, and
throughput. Two budgets: ``epochs`` (the paper's protocol: a pruned run gets proportionally fewer steps) and
``steps`` (compute-matched: as many optimiser steps as the full pool gets in ``epochs`` epochs, or ``train.steps``).
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from typing import Any, Optional

import numpy as np
import pytorch_lightning as pl
import torch

from bench.data import Pool, Splits
from bench.models import create_model
from bench.train.data import TensorBatches, folder_loader
from bench.train.module import LitClassifier, NonFiniteLossError  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

TRAIN_DEFAULTS: dict[str, Any] = dict(
    epochs=10, budget="epochs", steps=None, batch_size=128, eval_batch_size=1024, optimizer="sgd", lr=0.05,
    lr_per_256=False, momentum=0.9, nesterov=True, weight_decay=5e-4, decay_norm_and_bias=False,
    schedule="cosine", warmup=0.0, milestones=[], gamma=0.1, label_smoothing=0.0, n_evals=None,
    accelerator="auto", precision="auto", channels_last="auto", num_workers=4, progress_bar=True,
    deterministic=False, num_threads=None,
)
BUDGETS = ("epochs", "steps")


def resolve_device(accelerator: str) -> torch.device:
    if accelerator == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if accelerator in ("gpu", "cuda"):
        if not torch.cuda.is_available():
            raise ValueError("train.accelerator=gpu but no CUDA device is visible; use auto or cpu")
        return torch.device("cuda")
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


def plan_steps(n_kept: int, pool_size: int, cfg: dict) -> tuple[int, int]:
    """(total optimiser steps, steps per epoch of the kept data) for the run's budget."""
    bs = int(cfg["batch_size"])
    spe = math.ceil(n_kept / bs)
    if cfg["budget"] == "epochs":
        return int(cfg["epochs"]) * spe, spe
    if cfg["budget"] == "steps":
        steps = cfg.get("steps") or int(cfg["epochs"]) * math.ceil(pool_size / bs)
        return int(steps), spe
    raise ValueError(f"unknown train.budget {cfg['budget']!r}; allowed: {', '.join(BUDGETS)}")


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
) -> dict:
    """Train ``model_cfg`` on ``pool`` positions ``kept``; return final test metrics, curve and cost figures."""
    cfg = {**TRAIN_DEFAULTS, **train_cfg}
    device = resolve_device(cfg["accelerator"])
    precision = resolve_precision(cfg["precision"], device)
    if cfg["num_threads"]:
        torch.set_num_threads(int(cfg["num_threads"]))
    pl.seed_everything(seed, workers=True, verbose=False)
    model_kwargs = {k: v for k, v in model_cfg.items() if k != "name"}
    model = create_model(model_cfg["name"], splits.num_classes, splits.model_input_shape, **model_kwargs)
    channels_last = cfg["channels_last"] if cfg["channels_last"] != "auto" else (
        device.type == "cuda" and len(splits.input_shape) == 3)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)

    n_kept = int(len(kept))
    total_steps, spe = plan_steps(n_kept, len(pool), cfg)
    lr = cfg["lr"] * (cfg["batch_size"] / 256.0 if cfg["lr_per_256"] else 1.0)
    kept_t = torch.from_numpy(np.asarray(kept, dtype=np.int64))
    kept_y = pool.y[kept_t]
    if splits.in_memory:
        ids = torch.from_numpy(pool.ids)[kept_t]
        x_train = splits.train_x[ids].to(device)
        train_batches = TensorBatches(x_train, kept_y.to(device), cfg["batch_size"], shuffle=True, seed=seed,
                                      augment_kind=splits.augment, mean=splits.mean, std=splits.std,
                                      channels_last=channels_last, resize=splits.resize)
        test_batches = TensorBatches(splits.test_x.to(device), splits.test_y.to(device), cfg["eval_batch_size"],
                                     shuffle=False, mean=splits.mean, std=splits.std, channels_last=channels_last,
                                     resize=splits.resize)
    else:
        train_batches = folder_loader(splits.train_set, pool.ids[kept], kept_y, cfg["batch_size"], True,
                                      cfg["num_workers"], seed)
        test_batches = folder_loader(splits.test_set, np.arange(len(splits.test_set)), splits.test_y,
                                     cfg["eval_batch_size"], False, cfg["num_workers"])

    n_evals = int(cfg["n_evals"] or cfg["epochs"])
    val_every = max(1, total_steps // max(1, n_evals))
    lit = LitClassifier(
        model, optimizer=cfg["optimizer"], lr=lr, momentum=cfg["momentum"], nesterov=cfg["nesterov"],
        weight_decay=cfg["weight_decay"], decay_norm_and_bias=cfg["decay_norm_and_bias"],
        schedule=cfg["schedule"], warmup=cfg["warmup"], milestones=tuple(cfg["milestones"] or ()),
        gamma=cfg["gamma"], label_smoothing=cfg["label_smoothing"], total_steps=total_steps, steps_per_epoch=spe,
        check_finite_every=1 if device.type == "cpu" else 25, channels_last=channels_last)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(num_workers|does not have many workers|LeafSpec).*")
        trainer = pl.Trainer(
            accelerator="gpu" if device.type == "cuda" else "cpu", devices=1, precision=precision,
            max_steps=total_steps, max_epochs=-1, val_check_interval=val_every, check_val_every_n_epoch=None,
            num_sanity_val_steps=0, logger=logger if logger is not None else False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            deterministic=bool(cfg["deterministic"]),
            callbacks=(callbacks or []) + ([StepProgress(total_steps, desc)] if cfg["progress_bar"] else []), log_every_n_steps=max(1, spe),
        )
        t0 = time.perf_counter()
        trainer.fit(lit, train_dataloaders=train_batches, val_dataloaders=test_batches)
        if not lit.curve or lit.curve[-1]["step"] != trainer.global_step:
            trainer.validate(lit, dataloaders=test_batches, verbose=False)
        wall = time.perf_counter() - t0
    final = lit.curve[-1]
    return {
        "test_error": final["test_error"], "test_accuracy": final["test_accuracy"], "test_loss": final["test_loss"],
        "curve": lit.curve, "steps": int(trainer.global_step), "epochs": trainer.global_step / spe,
        "steps_per_epoch": spe, "n_train": n_kept, "train_seconds": wall,
        "examples_per_second": trainer.global_step / spe * n_kept / max(wall, 1e-9),  # epochs run x kept examples
        "device": str(device), "precision": precision, "channels_last": bool(channels_last), "lr": lr,
        "model": lit.model,
    }
