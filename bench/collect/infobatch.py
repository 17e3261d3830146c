"""InfoBatch against full-data training on one pool, from run records: the table the InfoBatch paper's claim is
read from (no loss of accuracy with ~40% of the training cost saved, Qin et al. ICLR 2024).

Full data = the static full-pool reference (``bench.collect.reference``: metric none, keep 1); InfoBatch = pure
InfoBatch on the whole pool (strategy infobatch, metric none, keep 1). Every seed of each arm is used; the
difference is paired by seed where both arms ran it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def _arm(df: pd.DataFrame, pool_size: int, strategy: str) -> pd.DataFrame:
    rows = df[(df["pool_size"] == pool_size) & (df["keep"] == 1.0) & (df["metric"] == "none")]
    return rows[rows["strategy"] == strategy].sort_values("seed")


def _mean_se(x: pd.Series) -> tuple[float, float]:
    x = x.astype(float)
    se = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else float("nan")
    return float(x.mean()), se


def infobatch_rows(df: pd.DataFrame, pool_size: int) -> list[str]:
    """Markdown table rows for the two arms (and their seed-paired difference) on pools of ``pool_size``."""
    full, ib = _arm(df, pool_size, "keep_hard"), _arm(df, pool_size, "infobatch")
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
    paired = full.merge(ib, on="seed", suffixes=("_full", "_ib"))
    if len(paired):
        d, se = _mean_se(paired["test_error_ib"] - paired["test_error_full"])
        rows.append(f"| InfoBatch - full data, paired by seed | {len(paired)} | {d:+.4f} ± {se:.4f} | | | |")
    return rows


def within_one_se(df: pd.DataFrame, pool_size: int) -> bool:
    """Whether InfoBatch's test error exceeds full data's by at most one standard error of their seed-paired
    difference (a lower error passes; False without at least two paired seeds)."""
    full, ib = _arm(df, pool_size, "keep_hard"), _arm(df, pool_size, "infobatch")
    paired = full.merge(ib, on="seed", suffixes=("_full", "_ib"))
    if len(paired) < 2:
        return False
    d, se = _mean_se(paired["test_error_ib"] - paired["test_error_full"])
    return bool(np.isfinite(se) and d <= se)
