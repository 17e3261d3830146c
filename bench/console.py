"""What a sweep prints: one line per finished run, a sweep-level progress bar, and one-line setting errors.

``run_line(record)`` prints ``<run id>  <metric> <strategy> keep=<keep> n_train=<n> test_error=<e> <seconds>s``
(through the sweep bar when one is shown, so the bar stays at the bottom). ``SweepProgress`` is the bar over the
jobs of a multirun that runs in this process (Hydra's basic launcher). ``report_setting_errors`` turns a bad setting
(ConfigError, DatasetError, MetricError, SelectionError) into one message without a traceback, exit status 2;
``HYDRA_FULL_ERROR=1`` lets the exception through, traceback and all.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, Optional

from bench.errors import SETTING_ERRORS

_BAR: list[Any] = []  # the sweep bar in force in this process, if any


def quiet_lightning() -> None:
    """Lightning's banners (devices found, distributed set-up, tips, checkpoint notes) only as warnings."""

    for name in (
        "pytorch_lightning.utilities.rank_zero",
        "pytorch_lightning.accelerators.cuda",
        "lightning_fabric.utilities.seed",
        "pytorch_lightning.trainer.connectors.signal_connector",
        "pytorch_lightning.trainer.connectors.checkpoint_connector",
        "lightning_fabric.utilities.rank_zero",
        "lightning_fabric.utilities.distributed",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)


def emit(line: str) -> None:
    """Print ``line`` on stdout, above the sweep bar when one is shown."""
    if _BAR:
        _BAR[0].write(line, file=sys.stdout)
    else:
        print(line, flush=True)


def run_line(record: dict, note: Optional[str] = None) -> str:
    """The one line a finished (or skipped) run prints; returns it."""
    err = record.get("test_error")
    keep = record.get("keep")
    parts = [
        str(record.get("run_id")),
        str(record.get("metric")),
        str(record.get("strategy")),
        f"keep={keep:g}" if isinstance(keep, (int, float)) else f"keep={keep}",
        f"n_train={record.get('n_train')}",
        f"test_error={err:.4f}" if isinstance(err, (int, float)) else "test_error=-",
    ]
    if note:
        parts.append(note)
    else:
        parts.append(f"{float(record.get('wall_time_s') or 0.0):.1f}s")
        if record.get("status") != "ok":
            parts.append(f"{str(record.get('status')).upper()}: {record.get('reason')}")
        resumed = (record.get("extra") or {}).get("checkpoint", {}).get("resumed_from_step")
        if resumed is not None:
            parts.append(f"(resumed from step {resumed})")
    line = "  ".join(parts)
    emit(line)
    return line


def sweep_bar_shown() -> bool:
    return bool(_BAR)


class SweepProgress:
    """A tqdm bar over a multirun's jobs; ``start(n)`` / ``advance()`` / ``close()``."""

    @staticmethod
    def start(n_jobs: int, desc: str = "sweep") -> None:
        from tqdm.auto import tqdm

        SweepProgress.close()
        _BAR.append(
            tqdm(
                total=n_jobs,
                desc=desc,
                unit="run",
                dynamic_ncols=True,
                file=sys.stderr,
                mininterval=0.5 if sys.stderr.isatty() else 30.0,
            )
        )

    @staticmethod
    def advance() -> None:
        if _BAR:
            _BAR[0].update(1)
            if _BAR[0].n >= _BAR[0].total:  # done: close before what follows the sweep (the collector) prints
                SweepProgress.close()

    @staticmethod
    def close() -> None:
        while _BAR:
            _BAR.pop().close()


def setting_errors() -> tuple[type, ...]:
    """The exception types that mean 'a bad setting' (reported in one line, no traceback)."""
    return SETTING_ERRORS


def report_setting_errors(fn: Callable) -> Callable:
    """Wrap an entry point: a bad setting prints ``Error: <message>`` on stderr and exits with status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except setting_errors() as e:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            SweepProgress.close()
            print(f"Error: {e}  (HYDRA_FULL_ERROR=1 shows the traceback)", file=sys.stderr, flush=True)
            raise SystemExit(2) from None

    return wrapper
