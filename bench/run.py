"""Entry point: ``python -m bench.run [-m] key=value ...`` (Hydra).

One job = one run of the pipeline: data -> score -> select -> train -> record. Everything below ``main`` takes a
plain dict (``run_pipeline(cfg)``), so it can be called and tested without Hydra.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

log = logging.getLogger("bench.run")

LOGGERS = ("wandb", "csv", "none")
WANDB_MODES = ("offline", "online", "disabled")


class ConfigError(ValueError):
    """A bad setting, found before any training."""


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


def validate_config(cfg: dict) -> None:
    """Raise ConfigError naming the bad value and the allowed ones; cheap (builds no data, trains nothing)."""
    from bench.data import DATASETS
    from bench.metrics import METRICS
    from bench.models import MODELS
    from bench.prune import DYNAMIC_STRATEGIES, STRATEGIES
    from bench.train import BUDGETS
    from bench.train.data import AUGMENTS

    ds, model, metric, prune, train = (cfg.get(k) or {} for k in ("dataset", "model", "metric", "prune", "train"))
    for group, registry, sub in (("dataset", DATASETS, ds), ("model", MODELS, model), ("metric", METRICS, metric)):
        name = sub.get("name")
        _check(name in registry, f"unknown {group} {name!r}; allowed: {', '.join(registry.names())}")
    strategy = prune.get("strategy")
    allowed = STRATEGIES + DYNAMIC_STRATEGIES
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
    budget = train.get("budget")
    _check(budget in BUDGETS, f"unknown train.budget {budget!r}; allowed: {', '.join(BUDGETS)}")
    for key in ("epochs", "batch_size"):
        v = train.get(key)
        _check(isinstance(v, int) and v >= 1, f"train.{key}={v!r} is not allowed: a positive integer")
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
        ("optimizer", ("sgd", "adamw", "adam")),
        ("schedule", ("constant", "cosine", "linear", "multistep")),
        ("accelerator", ("auto", "cpu", "gpu", "cuda")),
    ):
        _check(train.get(key) in allowed, f"unknown train.{key} {train.get(key)!r}; allowed: {', '.join(allowed)}")
    _check(isinstance(train.get("lr"), (int, float)) and train["lr"] > 0, f"train.lr={train.get('lr')!r} must be > 0")
    _validate_checkpoint_settings(train)
    _validate_devices(train, prune)
    lg = cfg.get("logger") or {}
    _check(lg.get("name") in LOGGERS, f"unknown logger {lg.get('name')!r}; allowed: {', '.join(LOGGERS)}")
    if lg.get("name") == "wandb":
        _check(lg.get("mode") in WANDB_MODES, f"logger.mode={lg.get('mode')!r}; allowed: {', '.join(WANDB_MODES)}")
    seed = cfg.get("seed")
    _check(isinstance(seed, int) and not isinstance(seed, bool), f"seed={seed!r} is not allowed: an integer")
    _validate_combinations(ds, model, metric)
    if strategy in DYNAMIC_STRATEGIES:
        _validate_dynamic(prune, ds, model, train)


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
    from bench.prune import STRATEGIES
    from bench.train.infobatch import validate_infobatch

    static = prune.get("static", "keep_hard")
    _check(
        static in STRATEGIES,
        f"prune.static={static!r} is not allowed under prune.strategy=infobatch: the static "
        f"selection of the kept set; allowed: {', '.join(STRATEGIES)}",
    )
    _check(
        model.get("name") != "perceptron",
        "prune.strategy=infobatch needs a student trained by gradient steps; model=perceptron is solved in closed form",
    )
    pool = ds.get("pool_size") or (ds.get("n_train") if ds.get("name") == "mnist1d" else None)
    bs = train.get("batch_size")
    n_kept = int(round(prune["keep"] * pool)) if isinstance(pool, int) and pool > 0 else bs
    try:
        validate_infobatch(prune.get("ratio", 0.5), prune.get("delta", 0.875), n_kept, bs)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def check_dynamic_kept(cfg: dict, n_kept: int) -> None:
    """After selection, before training: a dynamic strategy needs a kept set of at least one batch."""
    from bench.prune import DYNAMIC_STRATEGIES

    prune, bs = cfg["prune"], int(cfg["train"]["batch_size"])
    if prune["strategy"] in DYNAMIC_STRATEGIES and n_kept < bs:
        raise ConfigError(
            f"InfoBatch on a kept set of {n_kept} examples is smaller than one batch "
            f"(train.batch_size={bs}); keep more examples (prune.keep, dataset.pool_size) or use a "
            f"smaller batch"
        )


def _validate_devices(train: dict, prune: dict) -> None:
    """``train.devices`` / ``num_nodes`` / ``strategy``: several processes need an evenly split batch, and
    InfoBatch runs on one device."""
    from bench.prune import DYNAMIC_STRATEGIES
    from bench.train.distributed import validate_distributed, world_size

    problem = validate_distributed(train)
    _check(problem is None, problem or "")
    _check(
        world_size(train) == 1 or prune.get("strategy") not in DYNAMIC_STRATEGIES,
        f"prune.strategy={prune.get('strategy')} runs on one device (its per-example scores are not shared "
        f"across processes yet); got train.devices={train.get('devices')} train.num_nodes={train.get('num_nodes')}"
        f", set both to 1",
    )


def _validate_checkpoint_settings(train: dict) -> None:
    from bench.checkpoint import parse_every

    try:
        parse_every(train.get("checkpoint_every"))
    except ValueError as e:
        raise ConfigError(str(e)) from None
    keep = train.get("keep_checkpoints", False)
    _check(isinstance(keep, bool), f"train.keep_checkpoints={keep!r} is not allowed: true or false")


def run_checkpoint(cfg: dict, rid: str):
    """Where run ``rid`` keeps its mid-run checkpoints and how often it writes them (``train.checkpoint_every``)."""
    from bench.checkpoint import parse_every
    from bench.train.resume import RunCheckpoint

    paths = cfg["paths"]
    root = Path(paths.get("checkpoints_dir") or Path(paths["root"]) / "checkpoints") / rid
    return RunCheckpoint(
        root=root, every=parse_every(cfg["train"].get("checkpoint_every", "10min")), meta={"run_id": rid}
    )


# The dataset settings that define each dataset's test split (mnist1d generates train and test in one draw, so its
# n_train changes the test examples too). Unlisted datasets are identified by name and test size.
TEST_SPLIT_SETTINGS = {
    "mnist1d": (("n_train", 20000), ("n_test", 4000), ("data_seed", 42)),
    "digits": (("test_fraction", 0.25), ("split_seed", 0)),
    "perceptron": (("dim", 200), ("n_test", 10000), ("seed", 0)),
    "imagenet": (("val_dir", "val"), ("image_size", 224), ("test_resize", 256)),
}


def describe_test_split(ds: dict, n_test: int) -> str:
    """A short stable string naming the test split a run is evaluated on (root-independent): the dataset name, its
    test size and the settings that define its test examples, e.g. ``mnist1d:n4000:n_train=20000,...``."""
    settings = ",".join(f"{k}={ds.get(k, default)}" for k, default in TEST_SPLIT_SETTINGS.get(ds["name"], ()))
    return f"{ds['name']}:n{int(n_test)}" + (f":{settings}" if settings else "")


def _dataset_kwargs(ds: dict) -> dict:
    return {k: v for k, v in ds.items() if k not in ("name", "pool_size", "label_noise")}


def build_logger(cfg: dict, rid: str, sweep: Optional[str]):
    """A Lightning logger for this job (or None), and a function that closes it."""
    lg = cfg.get("logger") or {"name": "none"}
    paths = cfg["paths"]
    if lg["name"] == "none":
        return None
    if lg["name"] == "csv":
        from pytorch_lightning.loggers import CSVLogger

        return CSVLogger(save_dir=str(Path(paths["root"]) / "csv"), name=sweep or "runs", version=rid)
    import wandb
    from pytorch_lightning.loggers import WandbLogger

    mode = os.environ.get("WANDB_MODE") or lg.get("mode", "offline")
    Path(paths["wandb_dir"]).mkdir(parents=True, exist_ok=True)
    # wandb's own console messages (run banners, history, sync hints) only with logger.verbose=true; its files are
    # written either way
    quiet = {} if lg.get("verbose") else {"silent": True, "quiet": True, "show_info": False, "show_warnings": False}
    wandb_id, resumed = wandb_run_id(cfg, rid)
    logger = WandbLogger(
        project=lg.get("project", "data-pruning"),
        entity=lg.get("entity"),
        group=lg.get("group") or sweep,
        name=rid,
        save_dir=str(paths["wandb_dir"]),
        mode=mode,
        job_type="train",
        tags=list(lg.get("tags") or []),
        config=cfg,
        reinit="finish_previous",
        settings=wandb.Settings(**quiet),
        id=wandb_id,
        resume="allow" if resumed else None,
    )
    logger._wandb_init.pop("anonymous", None)  # Lightning passes it; wandb warns that it has no effect
    return logger


def wandb_run_id(cfg: dict, rid: str) -> tuple[str, bool]:
    """(wandb run id, whether it continues an interrupted run). A run that will resume from a mid-run checkpoint
    logs into the wandb run it started (its id is kept next to the checkpoints, and goes with them); any other
    start gets a new id."""
    import secrets

    from bench.scores import atomic_write_bytes

    ck = run_checkpoint(cfg, rid)
    path = ck.root / "wandb_id"
    if path.is_file() and ck.files.latest(expect={"run_id": rid}) is not None:
        return path.read_text().strip(), True
    new = secrets.token_hex(6)
    ck.root.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, new.encode())
    return new, False


def close_logger(logger: Any, summary: dict) -> None:
    """Write the final metrics into the wandb run's summary and finish it (one wandb run per job)."""
    if logger is None:
        return
    try:
        from pytorch_lightning.loggers import WandbLogger

        if isinstance(logger, WandbLogger):
            import wandb

            run = logger.experiment
            for k, v in summary.items():
                run.summary[k] = v
            wandb.finish()
        else:
            logger.finalize("success")
    except Exception as e:  # logging must never lose a result
        log.warning("closing the logger failed: %s", e)


@dataclass
class Scored:
    """The data and score stages of one job: splits, pool, scores (None for metric=none) and their provenance."""

    splits: Any
    pool: Any
    scores: Optional[np.ndarray]
    spec: dict
    computed_now: bool
    seconds: float
    info: Optional[dict] = None  # what the metric reported about its scores (ScoreContext.info)


def score_stage(cfg: dict) -> Scored:
    """Build the dataset and the pool, and get the metric's scores through the shared score store."""
    from bench.checkpoint import parse_every
    from bench.console import sweep_bar_shown
    from bench.data import build_dataset, make_pool
    from bench.metrics import ScoreContext, compute_scores, metric_defaults
    from bench.results import NON_RESULT_KEYS, result_settings
    from bench.scores import ScoreStore
    from bench.train import resolve_device

    ds, metric = cfg["dataset"], cfg["metric"]
    seed = int(cfg["seed"])
    splits = build_dataset(ds["name"], **_dataset_kwargs(ds))
    pool = make_pool(splits, ds.get("pool_size"), seed, float(ds.get("label_noise") or 0.0))
    probe_model = dict(metric.get("model") or cfg["model"])
    params = {k: v for k, v in metric.items() if k not in ("name", "model")}
    # the cache key holds the settings in force, code defaults included, so a changed default recomputes
    key_params = {
        k: v for k, v in {**metric_defaults(metric["name"]), **params}.items() if k not in NON_RESULT_KEYS["metric"]
    }
    device = resolve_device(cfg["train"].get("accelerator", "auto"))
    ctx = ScoreContext(
        splits=splits,
        pool=pool,
        params=params,
        seed=seed,
        device=device,
        model=probe_model,
        progress=bool(cfg["train"].get("progress_bar", True)) and not sweep_bar_shown(),
    )
    spec = {
        "dataset": result_settings(cfg)["dataset"],
        "pool": pool.fingerprint(),
        "metric": metric["name"],
        "params": key_params,
        "model": probe_model,
        "seed": seed,
    }
    store = ScoreStore(cfg["paths"]["scores_dir"])
    ctx.checkpoint = store.partial(spec, parse_every(cfg["train"].get("checkpoint_every", "10min")))
    t0 = time.perf_counter()
    scores, computed = compute_scores(metric["name"], ctx, store, spec)
    return Scored(splits, pool, scores, spec, computed, time.perf_counter() - t0, ctx.info)


def new_record(cfg: dict, rid: str, sweep: Optional[str], scored: Scored, kept: np.ndarray) -> dict:
    """The record of a run before training: what was run, on which data, with which kept set; results are None."""
    from bench.prune import class_histogram, score_stats
    from bench.results import library_versions
    from bench.scores import stable_hash

    ds, metric, prune, train = cfg["dataset"], cfg["metric"], cfg["prune"], cfg["train"]
    splits, pool, scores = scored.splits, scored.pool, scored.scores
    labels = pool.y.numpy()
    n_test = int(splits.test_y.numel())
    return {
        "run_id": rid,
        "status": None,
        "reason": None,
        "sweep": sweep,
        "dataset": ds["name"],
        "pool_size": len(pool),
        "metric": metric["name"],
        "strategy": prune["strategy"],
        "keep": float(prune["keep"]),
        "n_train": int(kept.size),
        "model": cfg["model"]["name"],
        "seed": int(cfg["seed"]),
        "budget": train["budget"],
        "epochs": None,
        "steps": None,
        "min_steps": int(train.get("min_steps") or 0),
        "steps_floor_applied": None,
        "label_noise": float(ds.get("label_noise") or 0.0),
        "noisy_in_pool": int(pool.noisy.sum()),
        "noisy_kept": int(pool.noisy[kept].sum()),
        "test_error": None,
        "test_accuracy": None,
        "test_loss": None,
        "train_error": None,
        "train_loss": None,
        "examples_seen": None,
        "repetitions": None,
        "train_flops": None,
        "n_test": n_test,
        "test_key": describe_test_split(ds, n_test),
        "curve": [],
        "class_hist_kept": class_histogram(labels[kept], splits.num_classes),
        "class_hist_pool": class_histogram(labels, splits.num_classes),
        "kept_score_stats": score_stats(None if scores is None else scores[kept]),
        "pool_score_stats": score_stats(scores),
        "score_key": None if scores is None else stable_hash(scored.spec, 24),
        "scores_computed_now": scored.computed_now,
        "score_seconds": scored.seconds,
        "wall_time_s": None,
        "versions": library_versions(),
        "config": cfg,
        "extra": {},
    }


def train_stage(cfg: dict, splits: Any, pool: Any, kept: np.ndarray, logger: Any, rid: str) -> dict:
    """Train the run's student on the kept examples (the max-margin solver for the perceptron); its output dict."""
    metric, prune, seed = cfg["metric"], cfg["prune"], int(cfg["seed"])
    if cfg["model"]["name"] == "perceptron":
        from bench.train.perceptron import train_perceptron

        rule = (
            "random"
            if metric["name"] == "random"
            else (
                prune["strategy"]
                if metric["name"] == "margin" and prune["strategy"] in ("keep_hard", "keep_easy")
                else None
            )
        )
        return train_perceptron(splits, pool, kept, cfg["model"], cfg["train"], seed, rule=rule, keep=prune["keep"])
    from bench.console import sweep_bar_shown
    from bench.train import train_student

    train = {**cfg["train"], "progress_bar": False} if sweep_bar_shown() else cfg["train"]  # one bar: the sweep's
    dynamic = (
        {"ratio": prune.get("ratio", 0.5), "delta": prune.get("delta", 0.875)}
        if prune["strategy"] == "infobatch"
        else None
    )
    return train_student(
        splits,
        pool,
        kept,
        cfg["model"],
        train,
        seed,
        logger=logger,
        desc=rid,
        checkpoint=run_checkpoint(cfg, rid),
        infobatch=dynamic,
    )


def run_pipeline(cfg: dict, sweep: Optional[str] = None) -> dict:
    """Run one job from a resolved config dict; return its record (also written to ``paths.results_dir``).

    Bad settings raise ConfigError/DatasetError before any training. A run that fails in training (NaN loss...)
    returns and writes a ``failed`` record with the reason. An interrupted run resumes from its newest mid-run
    checkpoint (``train.checkpoint_every``); SIGUSR1/SIGUSR2/SIGTERM save one and stop the job (see bench.checkpoint).
    """
    from bench.checkpoint import PreemptionGuard
    from bench.console import run_line
    from bench.results import is_done, read_record, record_path, run_id

    validate_config(cfg)
    rid = run_id(cfg)
    results_dir = Path(cfg["paths"]["results_dir"])
    sweep = cfg.get("sweep") or sweep
    if is_done(results_dir, rid) and not cfg.get("force"):
        rec = read_record(record_path(results_dir, rid))
        rec["skipped"] = True
        run_line(rec, note="already done; skipped (force=true re-runs)")
        return rec

    t_start = time.perf_counter()
    with PreemptionGuard():
        scored = score_stage(cfg)
        kept = select_stage(cfg, scored)
        check_dynamic_kept(cfg, int(kept.size))
        record = new_record(cfg, rid, sweep, scored, kept)
        if scored.info:  # e.g. memorization's held-out models per example: the resolution of its scores
            record["extra"]["metric_info"] = scored.info
        prune = cfg["prune"]
        if prune["strategy"] == "stratified" and scored.scores is not None:  # the CCS cut-off in force (beta=auto)
            from bench.prune import resolve_beta

            record["extra"]["prune_beta"] = resolve_beta(prune.get("beta", 0.0), prune["keep"])
        if cfg.get("dry_run"):
            record.update(status="dry_run", wall_time_s=time.perf_counter() - t_start)
            log.info(
                "dry run %s: pool %d, kept %d; nothing trained, no record written", rid, len(scored.pool), kept.size
            )
            return record
        return train_and_record(cfg, rid, sweep, record, scored, kept, t_start)


def select_stage(cfg: dict, scored: Scored) -> np.ndarray:
    """The kept pool positions: all of them for metric=none, else ``prune.strategy`` on the scores (under a dynamic
    strategy, ``prune.static``: InfoBatch then prunes the kept set during training)."""
    from bench.prune import select, static_strategy

    prune, pool = cfg["prune"], scored.pool
    if scored.scores is None:
        return np.arange(len(pool))
    return select(
        scored.scores,
        pool.y.numpy(),
        prune["keep"],
        static_strategy(prune),
        int(cfg["seed"]),
        within=prune.get("within", "hard"),
        beta=prune.get("beta", 0.0),
        n_bins=prune.get("n_bins", 50),
    )


def train_and_record(
    cfg: dict, rid: str, sweep: Optional[str], record: dict, scored: Scored, kept: np.ndarray, t_start: float
) -> dict:
    """Train, fill in and write ``record`` (ok or failed); then drop the run's checkpoints (unless
    ``train.keep_checkpoints``) and print the run's line."""
    from bench.console import run_line
    from bench.results import write_record
    from bench.train.distributed import process_rank

    if process_rank() != 0:  # one of several processes a launcher started: rank 0 logs and writes the record
        return _train_other_rank(cfg, rid, record, scored, kept)
    logger = build_logger(cfg, rid, sweep)
    try:
        out = train_stage(cfg, scored.splits, scored.pool, kept, logger, rid)
        record.update(
            status="ok",
            curve=out["curve"],
            epochs=out["epochs"],
            steps=out["steps"],
            steps_floor_applied=bool(out.get("steps_floor_applied", False)),
            **{
                k: out.get(k)
                for k in (
                    "test_error",
                    "test_accuracy",
                    "test_loss",
                    "train_error",
                    "train_loss",
                    "examples_seen",
                    "repetitions",
                    "train_flops",
                )
            },
        )
        record["extra"].update(
            {
                k: out[k]
                for k in (
                    "train_seconds",
                    "examples_per_second",
                    "device",
                    "precision",
                    "channels_last",
                    "steps_per_epoch",
                    "budget_steps",
                    "lr",
                    "flops_per_example",
                )
                if k in out
            }
        )
        record["extra"].update(out.get("extra", {}))
        if "infobatch" in record["extra"]:
            from bench.prune import static_strategy

            record["extra"]["infobatch"]["static"] = static_strategy(cfg["prune"]) if record["keep"] < 1 else None
    except Exception as e:  # a failed run is recorded; the sweep goes on
        log.error("run %s failed: %s\n%s", rid, e, traceback.format_exc())
        record.update(status="failed", reason=f"{type(e).__name__}: {e}")
    finally:
        record["wall_time_s"] = time.perf_counter() - t_start
        close_logger(
            logger,
            {
                k: record[k]
                for k in ("status", "test_error", "test_accuracy", "test_loss", "n_train", "noisy_kept", "run_id")
            },
        )
    path = write_record(Path(cfg["paths"]["results_dir"]), record)
    record["record_path"] = str(path)
    if record["status"] == "ok" and not cfg["train"].get("keep_checkpoints", False):
        run_checkpoint(cfg, rid).files.clear()  # a failed run (a killed training process) can resume from them
    log.debug("run %s %s -> %s", rid, record["status"], path)
    run_line(record)
    return record


def _train_other_rank(cfg: dict, rid: str, record: dict, scored: Scored, kept: np.ndarray) -> dict:
    """A DDP rank other than 0 (torchrun, SLURM tasks): it trains its shard and writes nothing."""
    from bench.train.distributed import process_rank

    out = train_stage(cfg, scored.splits, scored.pool, kept, None, rid)
    record.update(status="ok", test_error=out["test_error"], rank=process_rank())
    return record


def _sweep_name() -> Optional[str]:
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
        if hc.mode == RunMode.MULTIRUN:
            return Path(hc.sweep.dir).name
    except Exception:
        pass
    return None


def to_plain(cfg: Any) -> dict:
    """A resolved plain dict of a DictConfig, with relative paths made absolute from the launch directory."""
    from omegaconf import OmegaConf

    out = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    out.pop("hydra", None)
    for key, val in list(out.get("paths", {}).items()):
        out["paths"][key] = str(Path(val).expanduser().absolute())
    return out


def plain_config(cfg: Any) -> dict:
    """``to_plain`` for an entry point: a missing mandatory value (``???``) becomes a ConfigError naming it."""
    from omegaconf.errors import MissingMandatoryValue

    try:
        return to_plain(cfg)
    except MissingMandatoryValue as e:
        key = getattr(e, "full_key", None) or str(e)
        raise ConfigError(f"{key} is required but not set: pass {key}=<value> on the command line") from None


def main_from_config(cfg: Any) -> Optional[float]:
    from bench.console import quiet_lightning, report_setting_errors

    quiet_lightning()
    rec = report_setting_errors(run_pipeline)(report_setting_errors(plain_config)(cfg), sweep=_sweep_name())
    return rec.get("test_error")


def _hydra_main() -> None:
    import hydra

    conf = str(Path(__file__).resolve().parent.parent / "conf")
    hydra.main(version_base="1.3", config_path=conf, config_name="config")(main_from_config)()


if __name__ == "__main__":
    # run the importable module's entry point, so that its exception classes are the ones the rest of bench knows
    from bench.run import _hydra_main as _main

    _main()
