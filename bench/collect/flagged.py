"""Runs that did not fit their kept set, judged cell by cell: never a seed dropped on its own outcome.

A run's final error on its own kept set (``train_error``) above ``max_train_error`` says the student did not fit
its training data. Dropping such runs one seed at a time selects on an outcome that tracks test error (the seeds
that trained badly are the ones with high test error), so the collector never does. Instead a whole **cell** (one
dataset, model, metric, strategy, keep, pool size and context, all its seeds) is flagged when the **median**
training error of its seeds is above the threshold; a flagged cell leaves the scaling analyses (learning-curve and
frontier fits, gains, verdicts) with all its seeds, an unflagged cell stays with all its seeds, whatever one seed
did. Compute-budget analyses keep every run: under a budget, not fitting the data in time is the effect measured.
The report gives the answer with and without the flagged cells.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["CELL_KEYS", "MAX_TRAIN_ERROR", "flag_cells"]

#: The collector's default threshold on a run's final error on its own kept set.
MAX_TRAIN_ERROR = 0.05
CELL_KEYS: tuple[str, ...] = ("dataset", "model", "metric", "strategy", "keep", "pool_size")


def flag_cells(ok: pd.DataFrame, max_train_error: float | None, context: Sequence[str] = ()) -> pd.DataFrame:
    """Copy of ``ok`` with ``undertrained`` (this run's train error is above ``max_train_error``: information
    only), ``cell_train_error`` (the median train error of the run's cell) and ``flagged_cell`` (that median is
    above ``max_train_error``: the whole cell leaves the scaling analyses). Runs without ``train_error`` count as
    fitted; ``max_train_error=None`` flags nothing."""
    out = ok.copy()
    te = pd.to_numeric(out["train_error"], errors="coerce") if "train_error" in out else pd.Series(np.nan, out.index)
    if max_train_error is None or out.empty:
        out["undertrained"] = False
        out["cell_train_error"] = np.nan
        out["flagged_cell"] = False
        return out
    out["undertrained"] = (te > max_train_error).fillna(False).astype(bool)
    keys = [c for c in (*CELL_KEYS, *context) if c in out.columns]
    med = te.groupby([out[c] for c in keys], dropna=False).transform("median") if keys else te
    out["cell_train_error"] = med
    out["flagged_cell"] = (med > max_train_error).fillna(False).astype(bool)
    return out


def flagged_cells_table(ok: pd.DataFrame, context: Sequence[str] = ()) -> pd.DataFrame:
    """One row per flagged cell: its keys, seeds, median and per-seed train errors and mean test error."""
    if "flagged_cell" not in ok or not ok["flagged_cell"].any():
        return pd.DataFrame()
    f = ok.loc[ok["flagged_cell"]]
    keys = [c for c in (*CELL_KEYS, *context, "steps") if c in f.columns]
    rows = []
    for key, g in f.groupby(keys, dropna=False, sort=True):
        rows.append(
            {
                **dict(zip(keys, key if isinstance(key, tuple) else (key,))),
                "seeds": len(g),
                "median_train_error": float(g["cell_train_error"].iloc[0]),
                "train_errors": ", ".join(f"{v:.3f}" for v in g["train_error"]),
                "mean_test_error": float(g["test_error"].mean()),
            }
        )
    return pd.DataFrame(rows)
