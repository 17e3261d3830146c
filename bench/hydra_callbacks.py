"""Hydra callbacks: validate every job of a sweep before the first one trains; collect at the end of a multirun."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

log = logging.getLogger("bench.run")


def sweep_job_overrides(config: Any) -> list[list[str]]:
    """The override lists of every job of the multirun, as Hydra's basic sweeper expands them."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    params = config.hydra.sweeper.get("params") or {}  # sweeps declared in config (experiment presets)
    declared = [f"{k}={v}" for k, v in params.items()]
    overrides = parser.parse_overrides(declared + list(config.hydra.overrides.task))
    batches = BasicSweeper.split_arguments(overrides, max_batch_size=None)
    return [list(job) for batch in batches for job in batch]


CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def compose_jobs(jobs: list[list[str]]):
    """Yield (job overrides, composed config) for every job.

    Composing is slow (~0.1 s), so jobs that differ only in plain values (``prune.keep=0.5``, ``seed=1``) share
    one composition per combination of config-group choices, and their values are set with OmegaConf. A job
    with an override of another kind (``+key``, ``~key``, an unknown key) is composed in full.
    """
    from hydra import compose
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf, open_dict

    parser = OverridesParser.create()
    cache: dict[tuple, object] = {}
    parsed_cache: dict[str, object] = {}  # parsing is slow and sweeps repeat the same "key=value" strings
    for job in jobs:
        parsed = [parsed_cache.get(o) or parsed_cache.setdefault(o, parser.parse_override(o)) for o in job]
        simple = all(not (o.is_add() or o.is_delete() or o.is_force_add()) for o in parsed)
        groups = tuple(
            s for s, o in zip(job, parsed) if "/" in o.key_or_group or (CONF_DIR / o.key_or_group).is_dir() or o.package
        )
        values = [o for s, o in zip(job, parsed) if s not in groups]
        cfg = None
        if simple:
            if groups not in cache:
                cache[groups] = compose(config_name="config", overrides=list(groups))
            cfg = OmegaConf.create(OmegaConf.to_container(cache[groups]))
            for o in values:
                if OmegaConf.select(cfg, o.key_or_group, default="__missing__") == "__missing__":
                    cfg = None  # not a plain existing key: let Hydra decide
                    break
                with open_dict(cfg):
                    OmegaConf.update(cfg, o.key_or_group, o.value(), merge=False)
        if cfg is None:
            cfg = compose(config_name="config", overrides=job)
        yield job, cfg


class ValidateSweep(Callback):
    """Compose and validate every job's config at multirun start, so a bad value fails the sweep before any job
    trains (not halfway through)."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        from bench.config import validate_config
        from bench.errors import ConfigError
        from bench.run import to_plain

        try:
            jobs = sweep_job_overrides(config)
        except Exception as e:  # an exotic sweeper (optuna...): each job validates itself
            log.debug("not pre-validating the sweep: %s", e)
            return
        try:
            for job, cfg in compose_jobs(jobs):
                try:
                    validate_config(to_plain(cfg))
                except ConfigError as e:
                    # Hydra turns callback exceptions into warnings; SystemExit stops the sweep for real.
                    print(
                        f"Error: {e}\n  in sweep job: {' '.join(job)}\nNo job of this sweep was run.", file=sys.stderr
                    )
                    raise SystemExit(2) from None
        except SystemExit:
            raise
        except Exception as e:  # composition errors are Hydra's to report, job by job
            log.debug("could not pre-validate the sweep: %s", e)


class CollectAtEnd(Callback):
    """At the end of a multirun with ``collect=true``, run the collector on the sweep's records directory."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        if not config.get("collect"):
            return
        results_dir = Path(str(config.paths.results_dir)).absolute()
        try:
            from bench.collect.report import collect
        except ImportError as e:
            log.warning("collector unavailable: %s", e)
            return
        overrides = " ".join(config.hydra.overrides.task)
        wandb_on = config.get("logger", {}).get("name") == "wandb"
        out = collect(
            [str(results_dir)],
            command=f"python -m bench.run -m {overrides} (collect=true)",
            log_wandb=config.logger.get("project", True) if wandb_on else False,
        )
        log.info("collected %s -> %s", results_dir, out.get("out_dir") if isinstance(out, dict) else out)


class SweepConsole(Callback):
    """A quiet multirun console: one header line, one line per finished run (printed by the job), and a sweep-level
    progress bar when the jobs run in this process (Hydra's basic launcher); the launchers' per-job override lines
    are silenced."""

    LAUNCHER_LOGGERS = (
        "hydra._internal.core_plugins.basic_launcher",
        "hydra_plugins.hydra_joblib_launcher._core",
        "hydra_plugins.hydra_submitit_launcher.submitit_launcher",
    )

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        import logging as _logging

        from bench.console import SweepProgress, emit

        for name in self.LAUNCHER_LOGGERS:
            _logging.getLogger(name).setLevel(_logging.WARNING)
        if not (config.get("logger") or {}).get("verbose"):  # wandb's banners, here and in the collector's run
            os.environ.setdefault("WANDB_SILENT", "true")
        try:
            n_jobs = len(sweep_job_overrides(config))
        except Exception:  # an exotic sweeper: no count, no bar
            return
        launcher = str(config.hydra.launcher.get("_target_", ""))
        emit(f"sweep: {n_jobs} runs, records in {Path(str(config.paths.results_dir)).absolute()}")
        if launcher.endswith("BasicLauncher"):
            SweepProgress.start(n_jobs, desc=str(config.get("sweep") or "sweep"))

    def on_job_end(self, config: Any, job_return: Any, **kwargs: Any) -> None:
        from bench.console import SweepProgress

        SweepProgress.advance()

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        from bench.console import SweepProgress

        SweepProgress.close()
