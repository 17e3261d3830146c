"""Hydra callbacks: validate every job of a sweep before the first one trains; collect at the end of a multirun."""

from __future__ import annotations

import logging
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


class ValidateSweep(Callback):
    """Compose and validate every job's config at multirun start, so a bad value fails the sweep before any job
    trains (not halfway through)."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        from hydra import compose

        from bench.run import ConfigError, to_plain, validate_config

        try:
            jobs = sweep_job_overrides(config)
        except Exception as e:  # an exotic sweeper (optuna...): each job validates itself
            log.debug("not pre-validating the sweep: %s", e)
            return
        for job in jobs:
            try:
                cfg = compose(config_name="config", overrides=job)
                validate_config(to_plain(cfg))
            except ConfigError as e:
                # Hydra turns callback exceptions into warnings; SystemExit stops the sweep for real.
                print(f"Error: {e}\n  in sweep job: {' '.join(job)}\nNo job of this sweep was run.", file=sys.stderr)
                raise SystemExit(2) from None
            except Exception as e:
                log.debug("could not pre-validate job %s: %s", job, e)


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
        out = collect([str(results_dir)], command="hydra multirun (collect=true)")
        log.info("collected %s -> %s", results_dir, out.get("out_dir") if isinstance(out, dict) else out)
