"""The full-data reference, one predicate for every part of the collector.

A run trains on the whole pool, unpruned, when its selection is static (not a dynamic strategy such as InfoBatch,
which prunes during training) and it keeps every example (``keep == 1``). Whatever metric and strategy are named
beside it, such runs are the same experiment: the frontier, the droppable fraction, the gains over random, the
compute budgets and the plot panels all take their full-data reference from :func:`is_full_reference` and nothing
else. Pure InfoBatch on the full pool (metric ``none``, strategy ``infobatch``, keep 1) is a rule, not the
reference.

A cell (one setting, several seeds) must hold one run per seed: :func:`check_unique_seeds` raises
:class:`DuplicateRunsError` naming the cell and the runs, instead of letting one seed's run overwrite another's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "DYNAMIC_STRATEGIES",
    "DuplicateRunsError",
    "check_unique_seeds",
    "is_full_reference",
    "is_full_pool",
    "matching",
    "reference_frame",
]

#: Strategies that prune during training (bench/train/dynamic.py); a keep-1 run under them is not the full data.
DYNAMIC_STRATEGIES = ("infobatch",)
_KEEP_TOL = 1e-9


class DuplicateRunsError(ValueError):
    """Two runs of one cell share a seed: the collector would have to pick one, so it stops and names them."""


def is_full_pool(keep: pd.Series) -> np.ndarray:
    """``keep == 1`` (to within float noise)."""
    return np.isclose(pd.to_numeric(keep, errors="coerce").to_numpy(dtype=float), 1.0, atol=_KEEP_TOL, rtol=0)


def is_full_reference(df: pd.DataFrame) -> np.ndarray:
    """Rows that are the full-data reference: static selection (not a dynamic strategy) of the full pool."""
    if df.empty:
        return np.zeros(0, bool)
    static = ~df["strategy"].isin(DYNAMIC_STRATEGIES).to_numpy() if "strategy" in df else np.ones(len(df), bool)
    return static & is_full_pool(df["keep"])


def check_unique_seeds(cell: pd.DataFrame, where: dict) -> None:
    """Raise :class:`DuplicateRunsError` when two runs of ``cell`` share a seed (``where`` names the cell)."""
    if "seed" not in cell or cell.empty:
        return
    seeds = cell["seed"].dropna()
    dup = seeds[seeds.duplicated(keep=False)]
    if dup.empty:
        return
    ids = cell.loc[dup.index, "run_id"].astype(str).tolist() if "run_id" in cell else []
    key = ", ".join(f"{k}={v}" for k, v in where.items())
    raise DuplicateRunsError(
        f"cell {key} has {len(dup)} runs for seed(s) {sorted({int(s) for s in dup})}"
        + (f" (runs {', '.join(ids[:6])}{' ...' if len(ids) > 6 else ''})" if ids else "")
        + ": one run per seed is allowed. A full-pool static run is the same experiment whatever metric/strategy"
        " is named beside it; collect such records separately or remove the duplicates."
    )


def reference_frame(df: pd.DataFrame, share: Sequence[str], key: dict) -> pd.DataFrame:
    """The full-data reference runs of ``df`` matching ``key`` on the ``share`` columns (NaN matches NaN)."""
    return matching(df.loc[is_full_reference(df)], share, key)


def matching(df: pd.DataFrame, share: Sequence[str], key: dict) -> pd.DataFrame:
    """Rows of ``df`` equal to ``key`` on the ``share`` columns both have (NaN matches NaN)."""
    sel = df
    for c in share:
        if c not in sel.columns or c not in key:
            continue
        v = key[c]
        sel = sel.loc[sel[c].isna()] if pd.isna(v) else sel.loc[sel[c] == v]
    return sel
