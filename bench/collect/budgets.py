"""Compute budgets at a fixed pool (``train.budget=steps`` at several ``train.steps``): which keep fraction is best
at each budget among a rule's keeps **and its full pool**, observed and predicted by the rule's compute law (one b
and tau across its keeps, a scale per keep: ``compute.fit_rule_compute_law``), the prediction checked on the largest
budget held out of the fit against the trivial predictors (largest pruned keep, full pool), and every rule side by
side at equal optimiser steps.

A steps budget fixes the optimiser steps of every run of a budget (InfoBatch's pruned epochs are shorter, so it runs
more of them); the examples seen are steps x batch less the partial last batch of each epoch, so small kept sets see
a little less (``examples_seen_ratio``: the smallest over the largest examples seen among a budget's cells). Every
run is kept (a flagged cell too: not fitting the kept set within the budget is the effect measured). Only
(rule, pool) groups with at least two step budgets are analysed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bench.collect import compute as cp
from bench.collect.reference import DYNAMIC_STRATEGIES, check_unique_seeds, is_full_pool, is_full_reference, matching
from bench.collect.verdict import match_mask

RULE = ["dataset", "model", "metric", "strategy"]


def _steps_runs(ok: pd.DataFrame) -> pd.DataFrame:
    """Every steps-budget run: under a compute budget, not fitting the kept set in time is the effect measured, so
    no run is left out (flagged cells included)."""
    return ok.loc[ok["budget"] == "steps"]


def budget_cells(ok: pd.DataFrame) -> pd.DataFrame:
    """Mean test error (and s.e.) per (rule, pool, step budget, keep) of every steps-budget run, with the mean and
    the range of examples seen (a steps budget fixes optimiser steps; partial last batches make small kept sets
    see a little less); only (rule, pool) groups with at least two budgets. Two runs of one seed in a cell raise
    :class:`bench.collect.reference.DuplicateRunsError` (the full-pool reference across all its metric names)."""
    need = {"budget", "steps", "pool_size", "keep", *RULE}
    if ok.empty or not need <= set(ok.columns):
        return pd.DataFrame()
    d = _steps_runs(ok)
    d = d.assign(examples_seen=cp.examples_seen(d))
    ref = d.loc[is_full_reference(d)]
    for key, g in ref.groupby(["dataset", "model", "pool_size", "steps"], dropna=False):
        check_unique_seeds(g, dict(zip(["dataset", "model", "pool_size", "steps"], key)) | {"keep": 1.0})
    keys = RULE + ["pool_size", "steps", "keep"]
    for key, g in d.groupby(keys, dropna=False):
        check_unique_seeds(g, dict(zip(keys, key)))
    cells = (
        d.groupby(keys, dropna=False)
        .agg(
            error=("test_error", "mean"),
            sem=("test_error", "sem"),
            seeds=("test_error", "size"),
            examples_seen=("examples_seen", "mean"),
            examples_seen_min=("examples_seen", "min"),
            examples_seen_max=("examples_seen", "max"),
        )
        .reset_index()
    )
    n_budgets = cells.groupby(RULE + ["pool_size"], dropna=False)["steps"].transform("nunique")
    return cells.loc[n_budgets >= 2].reset_index(drop=True)


def _full_pool_of(frame: pd.DataFrame, rule: dict) -> pd.DataFrame:
    """The keep-1 rows a rule chooses among beside its own keeps: the full-data reference (static selection of the
    full pool, whatever metric it is recorded under) for a static rule; for a dynamic rule (InfoBatch) the same
    dynamic strategy on the full pool (pure InfoBatch)."""
    if rule["strategy"] in DYNAMIC_STRATEGIES:
        full = frame.loc[(frame["strategy"] == rule["strategy"]) & is_full_pool(frame["keep"])]
    else:
        full = frame.loc[is_full_reference(frame)]
    return matching(full, ["dataset", "model"], rule)


def candidates(frame: pd.DataFrame, rule: dict) -> pd.DataFrame:
    """A rule's own pruned rows (keep < 1) and its full-pool rows (:func:`_full_pool_of`), labelled as the rule."""
    own = matching(frame, RULE, rule)
    own = own.loc[~is_full_pool(own["keep"])]
    full = _full_pool_of(frame, rule).assign(**{c: rule[c] for c in RULE})
    return pd.concat([own, full], ignore_index=True)


def _rules(frame: pd.DataFrame) -> list[dict]:
    """Every (dataset, model, metric, strategy) with a pruned run (the full pool alone is a reference, not a rule;
    pure InfoBatch, keep 1 only, is a rule)."""
    pruned = frame.loc[~is_full_reference(frame)]
    return [dict(zip(RULE, k)) for k in pruned[RULE].drop_duplicates().itertuples(index=False)]


def fit_rule_laws(ok: pd.DataFrame, *, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """One compute law per (rule, pool) over the rule's keeps and its full pool (``compute.fit_rule_compute_law``:
    shared b and tau, a scale per keep), on every steps-budget run."""
    d = _steps_runs(ok) if "budget" in ok else ok.iloc[:0]
    if d.empty:
        return pd.DataFrame()
    d = d.assign(examples_seen=cp.examples_seen(d))
    rows = []
    for rule in _rules(d):
        for pool, g in candidates(d, rule).groupby("pool_size", sort=True):
            f = cp.fit_rule_compute_law(
                g["n_train"], g["examples_seen"], g["test_error"], g["keep"], g["steps"], n_boot=n_boot, seed=seed
            )
            if f.status == "insufficient_data":
                continue
            row = {**rule, "pool_size": pool, **f.to_dict()}
            row["log_a_by_keep"] = json.dumps({f"{k:g}": round(v, 6) for k, v in f.log_a_by_keep.items()})
            rows.append(row)
    return pd.DataFrame(rows)


def _predicted_keep(fit_row, pool: float, seen: pd.Series) -> float:
    """The keep whose rule law predicts the lowest error at each keep's examples seen; NaN unless the fit is ok."""
    if fit_row is None or fit_row["status"] != "ok":
        return np.nan
    f = {**fit_row, "log_a_by_keep": {float(k): v for k, v in json.loads(fit_row["log_a_by_keep"]).items()}}
    pred = {k: float(cp.predict_rule_error(f, k, k * pool, e)) for k, e in seen.items()}
    pred = {k: v for k, v in pred.items() if np.isfinite(v)}
    return min(pred, key=pred.get) if len(pred) == len(seen) else np.nan


def _fit_row(fits: pd.DataFrame, rule: dict, pool: float):
    if fits is None or fits.empty:
        return None
    f = fits.loc[match_mask(fits, {**rule, "pool_size": pool})]
    return f.iloc[0] if len(f) else None


def best_keep_by_budget(cells: pd.DataFrame, fits: pd.DataFrame) -> pd.DataFrame:
    """Per (rule, pool, budget): the observed best keep among the rule's keeps **and its full pool**, its error,
    the errors of the trivial choices (the largest pruned keep, the full pool), and the keep the rule's law
    (:func:`fit_rule_laws`) predicts, where that law is identified (``fit_status`` "ok"; else no prediction)."""
    rows = []
    for rule in _rules(cells):
        cand = candidates(cells, rule)
        for (pool, steps), g in cand.groupby(["pool_size", "steps"], sort=True):
            best = g.loc[g["error"].idxmin()]
            fit = _fit_row(fits, rule, pool)
            rows.append(
                {
                    **rule,
                    "pool_size": pool,
                    "steps": steps,
                    "examples_seen": float(g["examples_seen"].mean()),
                    "examples_seen_ratio": float(g["examples_seen_min"].min() / g["examples_seen_max"].max()),
                    "keeps": len(g),
                    "best_keep": float(best["keep"]),
                    "best_error": float(best["error"]),
                    "best_sem": float(best["sem"]),
                    **_trivial_errors(g),
                    "fit_status": fit["status"] if fit is not None else "no fit",
                    "predicted_keep": _predicted_keep(fit, float(pool), g.set_index("keep")["examples_seen"]),
                }
            )
    return pd.DataFrame(rows)


def _trivial_errors(g: pd.DataFrame) -> dict:
    """Mean error of the largest pruned keep and of the full pool among one budget's cells (NaN when absent)."""
    pruned = g.loc[~is_full_pool(g["keep"])]
    full = g.loc[is_full_pool(g["keep"])]
    return {
        "largest_keep": float(pruned["keep"].max()) if len(pruned) else np.nan,
        "error_largest_keep": float(pruned.loc[pruned["keep"].idxmax(), "error"]) if len(pruned) else np.nan,
        "error_full_pool": float(full["error"].iloc[0]) if len(full) else np.nan,
    }


def holdout_largest_budget(ok: pd.DataFrame, *, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """Each rule's law refitted without its largest step budget (rules with at least 3): the keep it predicts
    there against the observed best, and the regret (observed error at the chosen keep minus the best observed
    error) of the fit and of the trivial predictors "largest pruned keep" and "full pool". ``fit_beats_trivial``
    says whether the fit's regret is below both; a fit that is not identified predicts nothing."""
    d = _steps_runs(ok) if "budget" in ok else ok.iloc[:0]
    if d.empty:
        return pd.DataFrame()
    d = d.assign(examples_seen=cp.examples_seen(d))
    rows = []
    for rule in _rules(d):
        for pool, g in candidates(d, rule).groupby("pool_size", sort=True):
            if g["steps"].nunique() < 3 or g["keep"].nunique() < 2:
                continue
            held = g["steps"] == g["steps"].max()
            fit = cp.fit_rule_compute_law(
                *(g.loc[~held, c] for c in ("n_train", "examples_seen", "test_error", "keep", "steps")),
                n_boot=n_boot,
                seed=seed,
            )
            rows.append(_holdout_row(rule, pool, g.loc[held], fit))
    return pd.DataFrame(rows)


def _holdout_row(rule: dict, pool: float, held: pd.DataFrame, fit) -> dict:
    means = held.groupby("keep")["test_error"].mean()
    seen = held.groupby("keep")["examples_seen"].mean()
    f = fit.to_dict()
    f["log_a_by_keep"] = json.dumps(f["log_a_by_keep"])
    pk = _predicted_keep(f, float(pool), seen)
    best = float(means.idxmin())
    pruned = [k for k in means.index if k < 1]
    regret = {
        "fit": float(means[pk] - means[best]) if np.isfinite(pk) else np.nan,
        "largest_keep": float(means[max(pruned)] - means[best]) if pruned else np.nan,
        "full_pool": float(means[1.0] - means[best]) if 1.0 in means.index else np.nan,
    }
    trivial = min(v for k, v in regret.items() if k != "fit" and np.isfinite(v)) if pruned else np.nan
    beats = (
        f"no prediction (fit {fit.status})"
        if not np.isfinite(pk)
        else "yes"
        if regret["fit"] < trivial
        else "no (ties)"
        if regret["fit"] == trivial
        else "no"
    )
    return {
        **rule,
        "pool_size": pool,
        "steps": int(held["steps"].iloc[0]),
        "examples_seen": float(held["examples_seen"].mean()),
        "fit_status": fit.status,
        "b": fit.b,
        "b_lo": fit.b_lo,
        "b_hi": fit.b_hi,
        "tau": fit.tau,
        "tau_lo": fit.tau_lo,
        "tau_hi": fit.tau_hi,
        "predicted_keep": pk,
        "observed_keep": best,
        "error_at_observed": float(means[best]),
        "regret_fit": regret["fit"],
        "regret_largest_keep": regret["largest_keep"],
        "regret_full_pool": regret["full_pool"],
        "fit_beats_trivial": beats,
    }


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

    from bench.collect.plots import _figure, _loglog, _name, _save, _suptitle

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
