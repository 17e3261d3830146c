"""Where a study stands, from its records alone: runs recorded per rule against the plan, and the seed means of a
reference rule (random pruning, the full pool) per pool and keep, for a README written while the study runs."""

from __future__ import annotations

import pandas as pd

__all__ = ["progress_table", "seed_table", "unplanned"]


def progress_table(ok: pd.DataFrame, planned: dict[tuple[str, str], int]) -> pd.DataFrame:
    """One row per (metric, strategy) planned or recorded: ``recorded`` and ``planned`` run counts."""
    counts = ok.groupby(["metric", "strategy"]).size().to_dict() if len(ok) else {}
    keys = sorted(set(planned) | set(counts))
    rows = [
        {"metric": m, "strategy": s, "recorded": int(counts.get((m, s), 0)), "planned": planned.get((m, s), 0)}
        for m, s in keys
    ]
    return pd.DataFrame(rows, columns=["metric", "strategy", "recorded", "planned"])


def unplanned(progress: pd.DataFrame) -> list[str]:
    """The ``metric:strategy`` rules with records but no planned runs: a plan that names a rule otherwise than its
    records do (the records hold ``metric.name``, e.g. ``el2n``, not the config file ``el2n_airbench``)."""
    rows = progress.loc[(progress["planned"] == 0) & (progress["recorded"] > 0)]
    return [f"{r.metric}:{r.strategy}" for r in rows.itertuples()]


def seed_table(ok: pd.DataFrame, metric: str, strategy: str | None = None) -> pd.DataFrame:
    """Per (pool, keep) of ``metric`` (and ``strategy``): kept examples, steps x batch, epochs, the test error of
    every seed and their mean."""
    d = ok.loc[(ok["metric"] == metric) & ((ok["strategy"] == strategy) if strategy else True)]
    rows = []
    for (pool, keep), g in d.groupby(["pool_size", "keep"], sort=True):
        g = g.sort_values("seed")
        batch = g["extra.batch_size"].iloc[0] if "extra.batch_size" in g else float("nan")
        rows.append(
            {
                "pool": int(pool),
                "keep": keep,
                "kept": int(g["n_train"].iloc[0]),
                "steps x batch": f"{int(g['steps'].iloc[0])} x {batch:.0f}",
                "epochs": round(float(g["epochs"].iloc[0]), 2),
                "test error by seed": " / ".join(f"{e:.3f}" for e in g["test_error"]),
                "seeds": len(g),
                "mean": round(float(g["test_error"].mean()), 4),
            }
        )
    return pd.DataFrame(rows)
