"""Entry point: ``python -m bench.run [-m] key=value ...`` (Hydra).

One job = one run of the pipeline: data -> score -> select -> train -> record. Everything below ``main`` takes a
plain dict (``run_pipeline(cfg)``), so it can be called and tested without Hydra.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf
from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue

from bench.checkpoint import PreemptionGuard, parse_every
from bench.console import quiet_lightning, report_setting_errors, run_line, sweep_bar_shown
from bench.errors import ConfigError
from bench.prune import class_histogram, resolve_beta, score_stats, select, static_strategy
from bench.results import (
    NON_RESULT_KEYS,
    canonical_config,
    is_done,
    library_versions,
    read_record,
    record_path,
    result_settings,
    run_id,
    write_record,
)
from bench.scores import ScoreStore, atomic_write_bytes, stable_hash

# Deliberately lazy (inside the stages): bench.config, bench.data, bench.metrics, bench.train and wandb load torch and
# Lightning (~5 s), which `--help` and a sweep rejected for a bad setting should not pay.

log = logging.getLogger("bench.run")


def run_checkpoint(cfg: dict, rid: str):
    """Where run ``rid`` keeps its mid-run checkpoints and how often it writes them (``train.checkpoint_every``)."""
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
    key = f"{ds['name']}:n{int(n_test)}" + (f":{settings}" if settings else "")
    return key + (f":source={ds['source']}" if ds.get("source") else "")  # the files' fingerprint (bench.data.source)


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


def score_spec(cfg: dict, pool: Any) -> dict:
    """What a pool's scores depend on (the score store's key is its hash): the result-relevant dataset settings, the
    pool's ids and labels, the metric with its code defaults in force (a changed default recomputes), the probe
    model and the seed."""
    from bench.metrics import metric_defaults

    metric = cfg["metric"]
    params = {k: v for k, v in metric.items() if k not in ("name", "model")}
    key_params = {
        k: v for k, v in {**metric_defaults(metric["name"]), **params}.items() if k not in NON_RESULT_KEYS["metric"]
    }
    return {
        "dataset": result_settings(cfg)["dataset"],
        "pool": pool.fingerprint(),
        "metric": metric["name"],
        "params": key_params,
        "model": dict(metric.get("model") or cfg["model"]),
        "seed": int(cfg["seed"]),
    }


def build_pool(cfg: dict) -> tuple[Any, Any]:
    """The dataset's splits and this run's pool (seeded, class-stratified, with its label noise)."""
    from bench.data import build_dataset, make_pool

    ds = cfg["dataset"]
    splits = build_dataset(ds["name"], **_dataset_kwargs(ds))
    return splits, make_pool(splits, ds.get("pool_size"), int(cfg["seed"]), float(ds.get("label_noise") or 0.0))


def score_stage(cfg: dict) -> Scored:
    """Build the dataset and the pool, and get the metric's scores through the shared score store."""
    from bench.metrics import ScoreContext, compute_scores
    from bench.train import resolve_device

    metric = cfg["metric"]
    splits, pool = build_pool(cfg)
    spec = score_spec(cfg, pool)
    ctx = ScoreContext(
        splits=splits,
        pool=pool,
        params={k: v for k, v in metric.items() if k not in ("name", "model")},
        seed=int(cfg["seed"]),
        device=resolve_device(cfg["train"].get("accelerator", "auto")),
        model=spec["model"],
        progress=bool(cfg["train"].get("progress_bar", True)) and not sweep_bar_shown(),
    )
    store = ScoreStore(cfg["paths"]["scores_dir"])
    ctx.checkpoint = store.partial(spec, parse_every(cfg["train"].get("checkpoint_every", "10min")))
    t0 = time.perf_counter()
    scores, computed = compute_scores(metric["name"], ctx, store, spec)
    return Scored(splits, pool, scores, spec, computed, time.perf_counter() - t0, ctx.info)


def new_record(cfg: dict, rid: str, sweep: Optional[str], scored: Scored, kept: np.ndarray) -> dict:
    """The record of a run before training: what was run, on which data, with which kept set; results are None."""

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

    A static strategy at prune.keep=1 runs as metric=none (``bench.results.canonical_config``): one run id and one
    record for the full-data reference whatever metric and strategy the job named. Bad settings raise
    ConfigError/DatasetError before any training. A run that fails in training (NaN loss...)
    returns and writes a ``failed`` record with the reason. An interrupted run resumes from its newest mid-run
    checkpoint (``train.checkpoint_every``); SIGUSR1/SIGUSR2/SIGTERM save one and stop the job (see bench.checkpoint).
    """

    from bench.config import check_dynamic_kept, validate_config
    from bench.data.source import with_data_source

    validate_config(cfg)
    cfg, requested = canonical_config(cfg), cfg
    if cfg is not requested:
        log.debug("prune.keep=1 with a static strategy trains on the full pool: run as metric=none (one run id)")
    cfg = with_data_source(cfg)  # datasets read from files: their content hash enters the run id (dataset.source)
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


_RECORD_KEYS = (
    "test_error",
    "test_accuracy",
    "test_loss",
    "train_error",
    "train_loss",
    "examples_seen",
    "repetitions",
    "train_flops",
)
_EXTRA_KEYS = (
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


def _fill_ok(record: dict, out: dict, cfg: dict) -> None:
    """A finished training's results into its record: the figures at the top level, the rest under ``extra``."""
    record.update(
        status="ok",
        curve=out["curve"],
        epochs=out["epochs"],
        steps=out["steps"],
        steps_floor_applied=bool(out.get("steps_floor_applied", False)),
        **{k: out.get(k) for k in _RECORD_KEYS},
    )
    record["extra"].update({k: out[k] for k in _EXTRA_KEYS if k in out})
    record["extra"].update(out.get("extra", {}))
    if "infobatch" in record["extra"]:
        record["extra"]["infobatch"]["static"] = static_strategy(cfg["prune"]) if record["keep"] < 1 else None


def train_and_record(
    cfg: dict, rid: str, sweep: Optional[str], record: dict, scored: Scored, kept: np.ndarray, t_start: float
) -> dict:
    """Train, fill in and write ``record`` (ok or failed); then drop the run's checkpoints (unless
    ``train.keep_checkpoints``) and print the run's line."""
    from bench.train.distributed import process_rank

    if process_rank() != 0:  # one of several processes a launcher started: rank 0 logs and writes the record
        return _train_other_rank(cfg, rid, record, scored, kept)
    logger = build_logger(cfg, rid, sweep)
    try:
        out = train_stage(cfg, scored.splits, scored.pool, kept, logger, rid)
        _fill_ok(record, out, cfg)
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
        hc = HydraConfig.get()
        if hc.mode == RunMode.MULTIRUN:
            return Path(hc.sweep.dir).name
    except Exception:
        pass
    return None


def to_plain(cfg: Any) -> dict:
    """A resolved plain dict of a DictConfig, with relative paths made absolute from the launch directory."""

    out = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    out.pop("hydra", None)
    for key, val in list(out.get("paths", {}).items()):
        out["paths"][key] = str(Path(val).expanduser().absolute())
    return out


def plain_config(cfg: Any) -> dict:
    """``to_plain`` for an entry point: a missing mandatory value (``???``) becomes a ConfigError naming it."""

    try:
        return to_plain(cfg)
    except MissingMandatoryValue as e:
        key = getattr(e, "full_key", None) or str(e)
        raise ConfigError(f"{key} is required but not set: pass {key}=<value> on the command line") from None
    except InterpolationResolutionError as e:  # e.g. a preset's point=<name> that its table does not have
        key = getattr(e, "full_key", None) or "a setting"
        raise ConfigError(f"{key} cannot be resolved: {str(e).splitlines()[0]}") from None


def main_from_config(cfg: Any) -> Optional[float]:

    quiet_lightning()
    rec = report_setting_errors(run_pipeline)(report_setting_errors(plain_config)(cfg), sweep=_sweep_name())
    return rec.get("test_error")


def _hydra_main() -> None:

    conf = str(Path(__file__).resolve().parent.parent / "conf")
    hydra.main(version_base="1.3", config_path=conf, config_name="config")(main_from_config)()


if __name__ == "__main__":
    _hydra_main()
