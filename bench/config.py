"""Config validation: every check of a resolved config that runs before any data is built or any model trains.

``validate_config(cfg)`` raises ConfigError naming the bad value and the allowed ones; the allowed names come from
the registries (datasets, models, metrics, strategies, optimisers, schedules), so a new entry is allowed as soon as
it is registered. Cheap: builds no data, trains nothing.
"""

from __future__ import annotations

from pathlib import Path

from bench.checkpoint import parse_every
from bench.data import DATASETS
from bench.errors import ConfigError
from bench.metrics import METRICS
from bench.models import MODELS
from bench.prune import DYNAMIC_STRATEGIES, SELECTIONS
from bench.train import BUDGETS
from bench.train.data import AUGMENTS
from bench.train.distributed import validate_distributed, world_size
from bench.train.infobatch import validate_infobatch
from bench.train.optim import OPTIMIZERS, SCHEDULES
from bench.train.recipe import recipe_batch_size, validate_recipe

LOGGERS = ("wandb", "csv", "none")
WANDB_MODES = ("offline", "online", "disabled")


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


def validate_config(cfg: dict) -> None:
    """Raise ConfigError naming the bad value and the allowed ones; cheap (builds no data, trains nothing)."""
    ds, model, metric, prune, train = (cfg.get(k) or {} for k in ("dataset", "model", "metric", "prune", "train"))
    for group, registry, sub in (("dataset", DATASETS, ds), ("model", MODELS, model), ("metric", METRICS, metric)):
        name = sub.get("name")
        _check(name in registry, f"unknown {group} {name!r}; allowed: {', '.join(registry.names())}")
    _validate_prune(prune, metric)
    _validate_dataset(ds)
    _validate_train(train)
    _validate_checkpoint_settings(train)
    _validate_devices(train, prune)
    lg = cfg.get("logger") or {}
    _check(lg.get("name") in LOGGERS, f"unknown logger {lg.get('name')!r}; allowed: {', '.join(LOGGERS)}")
    if lg.get("name") == "wandb":
        _check(lg.get("mode") in WANDB_MODES, f"logger.mode={lg.get('mode')!r}; allowed: {', '.join(WANDB_MODES)}")
    seed = cfg.get("seed")
    _check(isinstance(seed, int) and not isinstance(seed, bool), f"seed={seed!r} is not allowed: an integer")
    _validate_combinations(ds, model, metric)
    if prune.get("strategy") in DYNAMIC_STRATEGIES:
        _validate_dynamic(prune, ds, model, train)


def _validate_prune(prune: dict, metric: dict) -> None:
    """A known strategy, and a keep fraction in (0, 1] (exactly 1 with metric=none)."""
    strategy = prune.get("strategy")
    allowed = (*SELECTIONS.names(), *DYNAMIC_STRATEGIES)
    _check(strategy in allowed, f"unknown prune.strategy {strategy!r}; allowed: {', '.join(allowed)}")
    keep = prune.get("keep")
    _check(
        isinstance(keep, (int, float)) and not isinstance(keep, bool) and 0.0 < keep <= 1.0,
        f"prune.keep={keep!r} is not allowed: it must lie in (0, 1]",
    )
    _check(
        metric.get("name") != "none" or keep == 1.0,
        f"metric=none trains on the full pool, so prune.keep must be 1.0 (got {keep}); choose a metric to prune",
    )


def _validate_dataset(ds: dict) -> None:
    """Pool size, label noise and augmentation."""
    pool_size = ds.get("pool_size")
    _check(
        pool_size is None or (isinstance(pool_size, int) and not isinstance(pool_size, bool) and pool_size > 0),
        f"dataset.pool_size={pool_size!r} is not allowed: a positive integer or null (all)",
    )
    noise = ds.get("label_noise", 0.0)
    _check(
        isinstance(noise, (int, float)) and 0.0 <= noise < 1.0,
        f"dataset.label_noise={noise!r} is not allowed: it must lie in [0, 1)",
    )
    if "augment" in ds:
        _check(ds["augment"] in AUGMENTS, f"dataset.augment={ds['augment']!r}; allowed: {', '.join(AUGMENTS)}")


def _validate_train(train: dict) -> None:
    """The budget, the recipe, batch size, steps and their floor, optimiser, schedule, accelerator and lr."""
    budget = train.get("budget")
    _check(budget in BUDGETS, f"unknown train.budget {budget!r}; allowed: {', '.join(BUDGETS)}")
    validate_recipe(train)  # epochs (fractional allowed) and airbench's recipe settings
    v = train.get("batch_size")
    _check(isinstance(v, int) and v >= 1, f"train.batch_size={v!r} is not allowed: a positive integer")
    steps = train.get("steps")
    _check(
        steps is None or (isinstance(steps, int) and steps >= 1),
        f"train.steps={steps!r} is not allowed: a positive integer or null",
    )
    min_steps = train.get("min_steps")
    _check(
        min_steps is None or (isinstance(min_steps, int) and not isinstance(min_steps, bool) and min_steps >= 0),
        f"train.min_steps={min_steps!r} is not allowed: a non-negative integer (a floor on the optimiser steps; "
        f"0 or null = no floor)",
    )
    for key, allowed in (
        ("optimizer", OPTIMIZERS.names()),
        ("schedule", SCHEDULES.names()),
        ("accelerator", ("auto", "cpu", "gpu", "cuda")),
    ):
        _check(train.get(key) in allowed, f"unknown train.{key} {train.get(key)!r}; allowed: {', '.join(allowed)}")
    _check(isinstance(train.get("lr"), (int, float)) and train["lr"] > 0, f"train.lr={train.get('lr')!r} must be > 0")


def _validate_combinations(ds: dict, model: dict, metric: dict) -> None:
    """The perceptron's dataset, student and margin metric go together; a model checkpoint must exist."""
    is_perceptron = (ds.get("name") == "perceptron", model.get("name") == "perceptron")
    _check(
        is_perceptron[0] == is_perceptron[1],
        f"dataset={ds.get('name')} with model={model.get('name')} is not allowed: the teacher-student perceptron "
        f"needs dataset=perceptron together with model=perceptron",
    )
    _check(
        metric.get("name") != "margin" or is_perceptron[0],
        f"metric=margin needs dataset=perceptron (it prunes by the probe's margin); got dataset={ds.get('name')}",
    )
    ckpt = model.get("checkpoint")
    _check(not ckpt or Path(ckpt).is_file(), f"model.checkpoint={ckpt} does not exist")


def _validate_dynamic(prune: dict, ds: dict, model: dict, train: dict) -> None:
    """``prune.strategy=infobatch``: a static strategy for the kept set, ratio in [0, 1), delta in (0, 1], a trained
    student, and (when the pool size is known here) a kept set of at least one batch."""
    static = prune.get("static", "keep_hard")
    _check(
        static in SELECTIONS,
        f"prune.static={static!r} is not allowed under prune.strategy=infobatch: the static "
        f"selection of the kept set; allowed: {', '.join(SELECTIONS.names())}",
    )
    _check(
        model.get("name") != "perceptron",
        "prune.strategy=infobatch needs a student trained by gradient steps; model=perceptron is solved in closed form",
    )
    pool = ds.get("pool_size") or (ds.get("n_train") if ds.get("name") == "mnist1d" else None)
    bs = train.get("batch_size")
    n_kept = int(round(prune["keep"] * pool)) if isinstance(pool, int) and pool > 0 else bs
    bs = recipe_batch_size(bs, n_kept, train.get("min_batches"))
    try:
        validate_infobatch(prune.get("ratio", 0.5), prune.get("delta", 0.875), n_kept, bs)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def check_dynamic_kept(cfg: dict, n_kept: int) -> None:
    """After selection, before training: a dynamic strategy needs a kept set of at least one batch (the batch the
    run will use: a recipe with ``min_batches`` shrinks it for small kept sets)."""
    train = cfg["train"]
    prune, bs = cfg["prune"], recipe_batch_size(train["batch_size"], n_kept, train.get("min_batches"))
    if prune["strategy"] in DYNAMIC_STRATEGIES and n_kept < bs:
        raise ConfigError(
            f"InfoBatch on a kept set of {n_kept} examples is smaller than one batch "
            f"(train.batch_size={bs}); keep more examples (prune.keep, dataset.pool_size) or use a "
            f"smaller batch"
        )


def _validate_devices(train: dict, prune: dict) -> None:
    """``train.devices`` / ``num_nodes`` / ``strategy``: several processes need an evenly split batch, and
    InfoBatch runs on one device."""
    problem = validate_distributed(train)
    _check(problem is None, problem or "")
    _check(
        world_size(train) == 1 or prune.get("strategy") not in DYNAMIC_STRATEGIES,
        f"prune.strategy={prune.get('strategy')} runs on one device (its per-example scores are not shared "
        f"across processes yet); got train.devices={train.get('devices')} train.num_nodes={train.get('num_nodes')}"
        f", set both to 1",
    )


def _validate_checkpoint_settings(train: dict) -> None:
    try:
        parse_every(train.get("checkpoint_every"))
    except ValueError as e:
        raise ConfigError(str(e)) from None
    keep = train.get("keep_checkpoints", False)
    _check(isinstance(keep, bool), f"train.keep_checkpoints={keep!r} is not allowed: true or false")
