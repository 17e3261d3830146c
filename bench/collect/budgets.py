"""Compute budgets at a fixed pool (``train.budget=steps`` at several ``train.steps``): which keep fraction is best
at each budget, observed and predicted by the compute-aware fits (``compute.py``), the prediction checked on the
largest budget held out of the fit, and every rule side by side at equal examples seen.

Under the steps budget every run of a budget trains on the same number of examples (steps x batch; InfoBatch runs
too: its pruned epochs are shorter, so it runs more of them), so a row of :func:`rules_at_budget` compares rules at
equal compute. Only (rule, pool) groups with at least two step budgets are analysed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from . import compute as cp
from .reference import is_full_reference
from .verdict import match_mask

RULE = ["dataset", "model", "metric", "strategy"]


def _steps_runs(ok: pd.DataFrame) -> pd.DataFrame:
    """Every steps-budget run: under a compute budget, not fitting the kept set in time is the effect measured, so
    no run is left out (flagged cells included)."""
    return ok.loc[ok["budget"] == "steps"]


def budget_cells(ok: pd.DataFrame) -> pd.DataFrame:
    """Mean test error (and s.e.) per (rule, pool, step budget, keep) of the steps-budget runs, with the mean
    examples seen; only (rule, pool) groups with at least two budgets."""
    need = {"budget", "steps", "pool_size", "keep", *RULE}
    if ok.empty or not need <= set(ok.columns):
        return pd.DataFrame()
    d = _steps_runs(ok)
    d = d.assign(examples_seen=cp.examples_seen(d))
    keys = RULE + ["pool_size", "steps", "keep"]
    cells = (
        d.groupby(keys, dropna=False)
        .agg(
            error=("test_error", "mean"),
            sem=("test_error", "sem"),
            seeds=("test_error", "size"),
            examples_seen=("examples_seen", "mean"),
        )
        .reset_index()
    )
    n_budgets = cells.groupby(RULE + ["pool_size"], dropna=False)["steps"].transform("nunique")
    return cells.loc[n_budgets >= 2].reset_index(drop=True)


def best_keep_by_budget(cells: pd.DataFrame, fits: pd.DataFrame) -> pd.DataFrame:
    """Per (rule, pool, budget): the observed best keep and its error, and the keep the rule's compute-aware fits
    predict at that many examples seen (empty where the rule has no fits)."""
    rows = []
    for key, g in cells.groupby(RULE + ["pool_size", "steps"], dropna=False, sort=True):
        best = g.loc[g["error"].idxmin()]
        row = {
            **dict(zip(RULE + ["pool_size", "steps"], key)),
            "examples_seen": float(g["examples_seen"].mean()),
            "keeps": len(g),
            "best_keep": float(best["keep"]),
            "best_error": float(best["error"]),
            "best_sem": float(best["sem"]),
            "predicted_keep": np.nan,
        }
        f = (
            fits.loc[match_mask(fits, dict(zip(RULE, key))) & fits["keep"].isin(g["keep"])]
            if fits is not None and not fits.empty
            else pd.DataFrame()
        )
        if len(f) >= 2:
            pred = cp.best_keep_at_budget(f, float(row["pool_size"]), [row["examples_seen"]], by=RULE)
            row["predicted_keep"] = float(pred["best_keep"].iloc[0])
        rows.append(row)
    return pd.DataFrame(rows)


def holdout_largest_budget(ok: pd.DataFrame) -> pd.DataFrame:
    """The compute-aware fits refitted without each rule's largest step budget, their best keep there against
    the observed one (``compute.holdout_check``)."""
    d = _steps_runs(ok) if "budget" in ok else ok.iloc[:0]
    if d.empty:
        return pd.DataFrame()
    largest = d.groupby(RULE + ["pool_size"], dropna=False)["steps"].transform("max")
    several = d.groupby(RULE + ["pool_size"], dropna=False)["steps"].transform("nunique") >= 3
    return cp.holdout_check(d.loc[several], (d["steps"] == largest).loc[several])


def rules_at_budget(best: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, model, pool, budget), one column per rule: its best error over keep (keep)."""
    if best.empty:
        return pd.DataFrame()
    b = best.assign(
        rule=best["metric"] + " " + best["strategy"],
        cell=[f"{e:.4f} (k={k:g})" for e, k in zip(best["best_error"], best["best_keep"])],
    )
    wide = b.pivot_table(
        index=["dataset", "model", "pool_size", "steps"], columns="rule", values="cell", aggfunc="first"
    )
    seen = b.groupby(["dataset", "model", "pool_size", "steps"])["examples_seen"].max()
    return wide.assign(examples_seen=seen).reset_index()


def answer_lines(best: pd.DataFrame) -> list[str]:
    """Per (dataset, model, pool): does the best keep move toward more data as the budget grows, rule by rule."""
    lines = []
    multi = best.loc[best["keeps"] >= 2]
    for (ds, model, pool), g in multi.groupby(["dataset", "model", "pool_size"], sort=True):
        parts = []
        for (metric, strategy), r in g.groupby(["metric", "strategy"], sort=True):
            r = r.sort_values("steps")
            ks = r["best_keep"].to_numpy()
            trend = (
                "moves toward more data" if ks[-1] > ks[0] else "moves toward less data" if ks[-1] < ks[0] else "stays"
            )
            parts.append(f"{metric} {strategy}: " + " → ".join(f"{k:g}" for k in ks) + f" ({trend})")
        e = g.groupby("steps")["examples_seen"].max().sort_index()
        lines.append(
            f"**dataset={ds}, model={model}, pool {int(pool):,}**: best keep fraction at compute budgets "
            f"of {int(e.iloc[0]):,} to {int(e.iloc[-1]):,} examples seen — " + "; ".join(parts) + "."
        )
    return lines


def plot_budgets(cells: pd.DataFrame, out_dir, formats: Sequence[str]) -> list[str]:
    """Per (dataset, model, pool): one panel per rule, test error against examples seen, a line per keep, with the
    full-data runs (metric none, keep 1) in black on every panel."""
    from matplotlib import colormaps

    from .plots import _figure, _loglog, _name, _save, _suptitle

    paths = []
    for (ds, model, pool), g in cells.groupby(["dataset", "model", "pool_size"], sort=True):
        is_full = is_full_reference(g)  # the full pool, unpruned: one predicate for every part of the collector
        full = g.loc[is_full].sort_values("examples_seen")
        rules = sorted(set(zip(g.loc[~is_full, "metric"], g.loc[~is_full, "strategy"])))
        keeps = sorted(set(g["keep"]) - {1.0}) or [1.0]
        fig, axes = _figure(len(rules), ncols=3, size=(3.9, 3.3))
        for ax, (m, s) in zip(axes, rules):
            for k, kg in g.loc[(g["metric"] == m) & (g["strategy"] == s)].groupby("keep"):
                kg = kg.sort_values("examples_seen")
                color = colormaps["viridis"](keeps.index(k) / max(len(keeps) - 1, 1)) if k in keeps else "C3"
                ax.errorbar(
                    kg["examples_seen"],
                    kg["error"],
                    yerr=kg["sem"],
                    fmt="o-",
                    ms=3,
                    lw=1,
                    color=color,
                    label=f"keep {k:g}",
                )
            if not full.empty:
                ax.plot(full["examples_seen"], full["error"], "k--", lw=1.4, label="full data")
            _loglog(ax)
            ax.grid(True, which="both", alpha=0.2)
            ax.set_title(f"{m} / {s}", fontsize=8)
            ax.set_xlabel("examples seen", fontsize=8)
        axes[0].set_ylabel("test error")
        axes[0].legend(fontsize=6, loc="lower left")
        _suptitle(fig, f"Test error against compute at a fixed pool: dataset={ds}, model={model}, pool={int(pool)}")
        paths += _save(
            fig, Path(out_dir), _name("budgets", {"dataset": ds, "model": model, "pool": int(pool)}), formats
        )
    return paths
