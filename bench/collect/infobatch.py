"""InfoBatch against full-data training on one pool, from run records: the table the InfoBatch paper's claim is
read from (no loss of accuracy with ~40% of the training cost saved, Qin et al. ICLR 2024).

Full data = the static full-pool reference (``bench.collect.reference.is_full_reference``); InfoBatch = pure
InfoBatch on the whole pool (strategy infobatch, metric none, keep 1). Every seed of each arm is used; the
difference is paired by seed where both arms ran it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bench.collect.reference import check_unique_seeds, is_full_pool, is_full_reference


def _arms(df: pd.DataFrame, pool_size: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(full-data runs, pure InfoBatch runs) on pools of ``pool_size``, by seed; one run per seed in each arm."""
    pool = df[df["pool_size"] == pool_size]
    full = pool.loc[is_full_reference(pool)]
    ib = pool.loc[(pool["strategy"] == "infobatch").to_numpy() & (pool["metric"] == "none").to_numpy()]
    ib = ib.loc[is_full_pool(ib["keep"])]
    for name, arm in (("full data", full), ("infobatch", ib)):
        check_unique_seeds(arm, {"arm": name, "pool_size": pool_size})
    return full.sort_values("seed"), ib.sort_values("seed")


def _mean_se(x: pd.Series) -> tuple[float, float]:
    x = x.astype(float)
    se = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else float("nan")
    return float(x.mean()), se


def _paired_difference(full: pd.DataFrame, ib: pd.DataFrame) -> tuple[int, float, float]:
    """(paired seeds, mean, standard error) of InfoBatch's test error minus full data's, seed by seed."""
    paired = full.merge(ib, on="seed", suffixes=("_full", "_ib"))
    if paired.empty:
        return 0, float("nan"), float("nan")
    d, se = _mean_se(paired["test_error_ib"] - paired["test_error_full"])
    return len(paired), d, se


def infobatch_rows(df: pd.DataFrame, pool_size: int) -> list[str]:
    """Markdown table rows for the two arms (and their seed-paired difference) on pools of ``pool_size``."""
    full, ib = _arms(df, pool_size)
    rows = [
        "| arm | seeds | test error: mean ± SE | examples seen (share of full data) | training s | run wall s |",
        "|---|---|---|---|---|---|",
    ]
    seen_full = float(full["examples_seen"].mean()) if len(full) else float("nan")
    for name, arm in (("full data", full), ("InfoBatch (ratio 0.5, delta 0.875)", ib)):
        if arm.empty:
            rows.append(f"| {name} | 0 | (not run yet) | | | |")
            continue
        m, se = _mean_se(arm["test_error"])
        seen = float(arm["examples_seen"].mean())
        train_s = arm["extra.train_seconds"].mean() if "extra.train_seconds" in arm else float("nan")
        rows.append(
            f"| {name} | {len(arm)} | {m:.4f} ± {se:.4f} | {seen:,.0f} ({seen / seen_full:.0%}) | "
            f"{train_s:,.0f} | {arm['wall_time_s'].mean():,.0f} |"
        )
    n, d, se = _paired_difference(full, ib)
    if n:
        rows.append(f"| InfoBatch - full data, paired by seed | {n} | {d:+.4f} ± {se:.4f} | | | |")
    return rows


def within_one_se(df: pd.DataFrame, pool_size: int) -> bool:
    """Whether InfoBatch's test error exceeds full data's by at most one standard error of their seed-paired
    difference (a lower error passes; False without at least two paired seeds)."""
    n, d, se = _paired_difference(*_arms(df, pool_size))
    return bool(n >= 2 and np.isfinite(se) and d <= se)
