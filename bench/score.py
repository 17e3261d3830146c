"""Compute (or fetch) a metric's scores without training students, and export them.

    python -m bench.score metric=el2n dataset.pool_size=4000 export=scores/el2n.csv
    python -m bench.score -m metric=el2n,forgetting,memorization seed=0,1,2      # fill the score store for a sweep

Same configs as ``bench.run``; scores land in the shared score store (``paths.scores_dir``), so a later sweep
reuses them. ``export`` (optional) writes ``id,label,noisy,score`` rows (id = index in the full train split) as CSV,
or a .npy of the scores in pool order.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import numpy as np

log = logging.getLogger("bench.score")


def export_scores(path: str | Path, ids: np.ndarray, labels: np.ndarray, noisy: np.ndarray, scores: np.ndarray) -> Path:
    """Write scores atomically: CSV (id, label, noisy, score) or .npy (scores in pool order)."""
    from bench.scores import _npy_bytes, atomic_write_bytes

    path = Path(path)
    if path.suffix == ".npy":
        atomic_write_bytes(path, _npy_bytes(np.asarray(scores)))
    elif path.suffix == ".csv":
        rows = ["id,label,noisy,score"] + [
            f"{i},{y},{int(n)},{s!r}"
            for i, y, n, s in zip(ids.tolist(), labels.tolist(), noisy.tolist(), scores.tolist())
        ]
        atomic_write_bytes(path, ("\n".join(rows) + "\n").encode())
    else:
        raise ValueError(f"export={path} is not allowed: use a .csv or .npy file name")
    return path


def score_from_config(cfg: dict) -> dict:
    """Validate, score, optionally export; return a summary dict."""
    from bench.config import validate_config
    from bench.data.source import with_data_source
    from bench.errors import ConfigError
    from bench.prune import score_stats
    from bench.run import score_stage

    validate_config(cfg)
    cfg = with_data_source(cfg)  # the files' fingerprint is part of the score key, as in bench.run
    export = cfg.get("export")
    if export and Path(export).suffix not in (".csv", ".npy"):
        raise ConfigError(f"export={export} is not allowed: use a .csv or .npy file name")
    if cfg["metric"]["name"] == "none":
        raise ConfigError("metric=none has no scores; choose a metric")
    from bench.checkpoint import PreemptionGuard

    with PreemptionGuard():  # a signal saves the probe ensembles' progress, then stops (SLURM requeues)
        scored = score_stage(cfg)
    summary = {
        "metric": cfg["metric"]["name"],
        "pool_size": len(scored.pool),
        "computed_now": scored.computed_now,
        "seconds": round(scored.seconds, 3),
        "stats": score_stats(scored.scores),
        "export": None,
    }
    if export:
        path = export_scores(export, scored.pool.ids, scored.pool.y.numpy(), scored.pool.noisy, scored.scores)
        summary["export"] = str(Path(path).absolute())
    log.info(
        "%s scores for a pool of %d (%s, %.1f s)%s",
        summary["metric"],
        summary["pool_size"],
        "computed" if scored.computed_now else "from the store",
        scored.seconds,
        f" -> {summary['export']}" if export else "",
    )
    return summary


def main_from_config(cfg: Any) -> Optional[float]:
    from bench.console import quiet_lightning, report_setting_errors
    from bench.run import plain_config

    quiet_lightning()
    report_setting_errors(score_from_config)(report_setting_errors(plain_config)(cfg))
    return None


if __name__ == "__main__":
    import hydra

    hydra.main(version_base="1.3", config_path="../conf", config_name="config")(main_from_config)()
