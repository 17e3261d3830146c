"""Compute-aware scaling (Goyal et al., CVPR 2024, "Scaling laws for data filtering: data curation cannot be
compute agnostic"): repeated passes over a small kept set are worth less than fresh examples.

Model, for a kept set of ``S`` examples trained on ``e`` examples in all (``e = epochs x S``): the first pass
follows ``E = a * e^b`` (``b < 0``); every later pass ``j = 1, 2, ...`` multiplies the error by
``((j+1)/j)^(b_j)`` with a utility exponent that halves every ``tau`` passes, ``b_j = b * 0.5^(j / tau)``; a partial
pass ``k`` contributes ``(e / kS)^(b_k)``. So

    log E = log a + b * u(S, e; tau),
    u = log e                                                          (e <= S)
    u = log S + sum_{j=1}^{k-1} 0.5^(j/tau) log((j+1)/j) + 0.5^(k/tau) log(e / kS),   k = floor(e / S)

Given ``tau`` the model is linear in ``(log a, b)``: :func:`fit_compute_law` solves it in closed form on a grid of
``tau`` (log-spaced half-lives, as the paper's grid search) and keeps the least-squares best. ``tau`` large means
repeats are (almost) as good as fresh data; small means the kept set is used up after a few passes.

:func:`fit_compute_laws` fits every (dataset, model, metric, strategy, keep) group of the collector's runs
(``S = n_train``, ``e = examples_seen``, or ``epochs x n_train`` for records without it), with bootstrap intervals
on ``b`` and ``tau`` (runs resampled within each (S, e) cell). :func:`best_keep_at_budget` predicts, for a pool and
a compute budget, the keep fraction with the lowest predicted error; :func:`holdout_check` refits without one budget
and checks that prediction against the held-out runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from bench.collect.verdict import match_mask

__all__ = [
    "ComputeFit",
    "best_keep_at_budget",
    "examples_seen",
    "fit_compute_law",
    "fit_compute_laws",
    "holdout_check",
    "predict_error",
    "utility_term",
]

TAU_GRID = np.geomspace(0.1, 1000.0, 121)
KEYS = ("dataset", "model", "metric", "strategy", "keep")


@dataclass
class ComputeFit:
    """``E = a * exp(b * u(S, e; tau))`` with intervals; ``n_obs`` runs, ``n_cells`` distinct (S, e)."""

    a: float = math.nan
    log_a: float = math.nan  # log a (a itself overflows when one kept-set size leaves a and b confounded)
    b: float = math.nan
    tau: float = math.nan
    b_lo: float = math.nan
    b_hi: float = math.nan
    tau_lo: float = math.nan
    tau_hi: float = math.nan
    rss: float = math.nan
    n_obs: int = 0
    n_cells: int = 0
    status: str = "insufficient_data"

    def to_dict(self) -> dict:
        return asdict(self)


def utility_term(S, e, tau: float) -> np.ndarray:
    """``u(S, e; tau)`` of the module docstring, element-wise (``S``, ``e`` > 0).

    The decayed sum over full passes is a cumulative sum computed once per call (O(passes + runs)).
    """
    S, e = np.broadcast_arrays(np.asarray(S, float), np.asarray(e, float))
    k = np.floor(e / S).astype(int)
    kmax = int(k.max()) if k.size else 0
    j = np.arange(1, kmax + 1)
    decay = 0.5 ** (j / tau)  # d_j, j = 1..kmax
    full = np.concatenate([[0.0], np.cumsum(decay * np.log((j + 1) / j))])  # sum_{i<=m} d_i log((i+1)/i)
    out = np.log(np.where(k >= 1, S, e))
    done = np.clip(k - 1, 0, None)  # full passes after the first: 2..k
    out = out + np.where(k >= 2, full[done], 0.0)
    dk = np.where(k >= 1, 0.5 ** (np.maximum(k, 1) / tau), 0.0)
    partial = (k >= 1) & (e > k * S)
    return out + np.where(partial, dk * np.log(np.maximum(e, 1e-300) / np.maximum(k * S, 1e-300)), 0.0)


def predict_error(fit: ComputeFit | dict, S, e) -> np.ndarray:
    f = fit if isinstance(fit, dict) else fit.to_dict()
    log_a = f.get("log_a")
    log_a = math.log(f["a"]) if log_a is None or not np.isfinite(log_a) else log_a
    return np.exp(log_a + f["b"] * utility_term(S, e, f["tau"]))


def _utility_matrix(S: np.ndarray, e: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """``u`` for every (tau, run): shape (len(taus), len(S))."""
    return np.stack([utility_term(S, e, t) for t in taus])


def _best_tau(U: np.ndarray, ly: np.ndarray) -> tuple[int, float, float, float]:
    """Closed-form simple regression of ``ly`` on every row of ``U``; (row, log a, b, rss) of the best row."""
    um = U.mean(axis=1, keepdims=True)
    du, dy = U - um, ly - ly.mean()
    var = (du * du).sum(axis=1)
    b = np.where(var > 0, (du * dy).sum(axis=1) / np.where(var > 0, var, 1.0), 0.0)
    rss = ((dy - b[:, None] * du) ** 2).sum(axis=1)
    i = int(np.argmin(rss))
    return i, float(ly.mean() - b[i] * um[i, 0]), float(b[i]), float(rss[i])


def _clean_runs(S, e, y, budget=None) -> tuple:
    """Finite positive runs only; returns (S, e, y) or, given ``budget``, (S, e, y, budget)."""
    S, e, y = (np.asarray(v, float).ravel() for v in (S, e, y))
    ok = np.isfinite(S) & np.isfinite(e) & np.isfinite(y) & (S > 0) & (e > 0) & (y > 0)
    b = None if budget is None else np.asarray(budget, float)
    b = None if b is None else (b.ravel() if b.ndim == 1 else b)[ok]
    return S[ok], e[ok], y[ok], b


def _fit(U: np.ndarray, ly: np.ndarray, taus: np.ndarray, res: ComputeFit) -> ComputeFit:
    i, la, b, rss = _best_tau(U, ly)
    res.log_a, res.b, res.tau, res.rss = la, b, float(taus[i]), rss
    res.a = math.exp(la) if la < 700 else math.inf
    res.status = "poorly_determined" if la >= 700 else "tau_at_grid_edge" if i in (0, len(taus) - 1) else "ok"
    return res


def fit_compute_law(S, e, y, taus: np.ndarray = TAU_GRID) -> ComputeFit:
    """Least-squares ``(a, b, tau)`` on log errors; ``tau`` on a grid, ``(log a, b)`` in closed form per ``tau``."""
    S, e, y, _ = _clean_runs(S, e, y)
    res = ComputeFit(n_obs=len(y), n_cells=len(np.unique(_cell_keys(S, e), axis=0)))
    if res.n_cells < 4:  # one kept-set size at 4 budgets will do: (a S^b, b, tau) from how repeats lose value
        return res
    return _fit(_utility_matrix(S, e, taus), np.log(y), taus, res)


def _cell_keys(S: np.ndarray, e: np.ndarray, budget: np.ndarray | None = None) -> np.ndarray:
    """(S, budget) cells: the runs of one kept-set size and one step budget (``budget``, e.g. ``steps``) are
    replicates of one cell, however their examples seen differ (InfoBatch's pruned epochs, partial batches).
    Without a budget, e is binned to within 5%."""
    if budget is not None:
        return np.stack([S.round(6), np.asarray(budget, float).round(6)], axis=1)
    return np.stack([S.round(6), np.round(np.log(e) / np.log(1.05))], axis=1)


def _cell_members(S: np.ndarray, e: np.ndarray, budget: np.ndarray | None = None) -> list[np.ndarray]:
    keys = _cell_keys(S, e, budget)
    return [np.flatnonzero((keys == c).all(axis=1)) for c in np.unique(keys, axis=0)]


def bootstrap_compute_law(
    S, e, y, n_boot: int = 200, ci: float = 0.95, seed: int = 0, taus: np.ndarray = TAU_GRID, budget=None
) -> ComputeFit:
    """:func:`fit_compute_law` plus percentile intervals on ``b`` and ``tau``: runs resampled within each
    (S, budget) cell ``n_boot`` times (the utility matrix is computed once and re-indexed). ``status`` is "ok" only
    when the intervals identify the law (:data:`NOT_IDENTIFIED` otherwise, "no bootstrap" for
    ``n_boot <= 0`` and :data:`NO_REPLICATES` when no cell has two runs: an unchecked fit predicts nothing)."""
    S, e, y, budget = _clean_runs(S, e, y, budget)
    fit = fit_compute_law(S, e, y, taus)
    if fit.status == "insufficient_data":
        return fit
    if n_boot <= 0:  # before the bootstrap's cells: n_cells stays the fit's distinct (S, e)
        fit.status = "no bootstrap"
        return fit
    cells = _cell_members(S, e, budget)
    fit.n_cells = len(cells)
    U, ly = _utility_matrix(S, e, taus), np.log(y)

    def refit(idx: np.ndarray) -> tuple[float, float]:
        i, _, b, _ = _best_tau(U[:, idx], ly[idx])
        return b, taus[i]

    _bootstrap_intervals(fit, cells, refit, n_boot, seed, ci, taus)
    return fit


#: Every cell holds one run (one seed): resampling within cells returns the data unchanged, so the bootstrap would
#: give zero-width intervals that measure nothing. Such a fit is not "ok" and predicts nothing.
NO_REPLICATES = "no replicates"


def _bootstrap_intervals(fit, cells: list[np.ndarray], refit, n_boot: int, seed: int, ci: float, taus) -> None:
    """``fit``'s status and its percentile intervals on b and tau from ``n_boot`` resamples of the runs within each
    cell (``refit(idx) -> (b, tau)``): "no bootstrap" for ``n_boot <= 0``, :data:`NO_REPLICATES` when no cell has two
    runs (nothing to resample)."""
    if n_boot <= 0:
        fit.status = "no bootstrap"
        return
    if all(len(m) < 2 for m in cells):
        fit.status = NO_REPLICATES
        return
    rng = np.random.default_rng(seed)
    bs = [refit(np.concatenate([rng.choice(m, size=len(m), replace=True) for m in cells])) for _ in range(n_boot)]
    _set_intervals(fit, np.array(bs), ci, taus)


#: A compute fit is "ok" only when its bootstrap intervals are finite, b's is below 0 and tau's is inside the grid
#: (a tau interval that reaches a grid edge, or a b interval that reaches 0 or runs off, says the data do not
#: pin the law down): otherwise "not identified", and no prediction is drawn from it.
NOT_IDENTIFIED = "not identified"


def _set_intervals(fit, bs: np.ndarray, ci: float, taus: np.ndarray) -> None:
    q = [(1 - ci) / 2, 1 - (1 - ci) / 2]
    fit.b_lo, fit.b_hi = (float(v) for v in np.quantile(bs[:, 0], q))
    fit.tau_lo, fit.tau_hi = (float(v) for v in np.quantile(bs[:, 1], q))
    finite = all(np.isfinite(v) for v in (fit.b_lo, fit.b_hi, fit.tau_lo, fit.tau_hi, fit.log_a))
    inside = fit.b_hi < 0 and fit.tau_lo > taus[0] and fit.tau_hi < taus[-1]
    fit.status = "ok" if finite and inside and fit.status == "ok" else NOT_IDENTIFIED


def examples_seen(df: pd.DataFrame) -> pd.Series:
    """Examples the student trained on: the record's ``examples_seen``, else ``epochs x n_train``."""
    est = pd.to_numeric(df["epochs"], errors="coerce") * pd.to_numeric(df["n_train"], errors="coerce")
    if "examples_seen" in df:
        return pd.to_numeric(df["examples_seen"], errors="coerce").fillna(est)
    return est


def fit_compute_laws(
    df: pd.DataFrame, *, keys: Sequence[str] = KEYS, y: str = "test_error", n_boot: int = 200, seed: int = 0
) -> pd.DataFrame:
    """One row per group with at least 4 distinct (n_train, examples_seen) cells: the fit and its intervals."""
    if df.empty:
        return pd.DataFrame()
    d = df.assign(examples_seen=examples_seen(df))
    keys = [k for k in keys if k in d.columns]
    rows = []
    for key, g in d.groupby(keys, dropna=False, sort=True):
        budget = g["steps"] if "steps" in g and g["steps"].notna().all() else None
        fit = bootstrap_compute_law(g["n_train"], g["examples_seen"], g[y], n_boot=n_boot, seed=seed, budget=budget)
        if fit.status != "insufficient_data":
            rows.append({**dict(zip(keys, key if isinstance(key, tuple) else (key,))), **fit.to_dict()})
    return pd.DataFrame(rows)


def best_keep_at_budget(
    fits: pd.DataFrame,
    pool: float,
    budgets: Sequence[float],
    by: Sequence[str] = ("dataset", "model", "metric", "strategy"),
) -> pd.DataFrame:
    """Per group and compute budget (examples seen), the keep fraction whose fitted law predicts the lowest error."""
    rows = []
    by = [c for c in by if c in fits.columns]
    if "status" in fits:  # no prediction from a fit the data do not identify
        fits = fits.loc[fits["status"] == "ok"]
    for key, g in fits.groupby(by, dropna=False, sort=True):
        for c in budgets:
            pred = [(float(predict_error(r._asdict(), r.keep * pool, c)), r.keep) for r in g.itertuples(index=False)]
            err, keep = min(pred)
            rows.append(
                {
                    **dict(zip(by, key if isinstance(key, tuple) else (key,))),
                    "pool_size": pool,
                    "examples_seen": c,
                    "best_keep": keep,
                    "predicted_error": err,
                }
            )
    return pd.DataFrame(rows)


def holdout_check(
    df: pd.DataFrame,
    held_out: pd.Series,
    *,
    y: str = "test_error",
    by: Sequence[str] = ("dataset", "model", "metric", "strategy"),
    n_boot: int = 100,
) -> pd.DataFrame:
    """Fit on the runs not ``held_out`` (only identified fits predict); for each held-out (group, pool, optimiser steps) budget compare the
    predicted and the observed best keep. Columns: the group, ``pool_size``, ``steps``, ``examples_seen`` (mean),
    ``predicted_keep``, ``observed_keep``, the observed mean error at both and ``regret`` (observed error at the
    predicted keep minus the best observed error)."""
    d = df.assign(examples_seen=examples_seen(df))
    fits = fit_compute_laws(d.loc[~held_out], n_boot=n_boot, y=y)
    by = [c for c in by if c in d.columns]
    rows = []
    for key, g in d.loc[held_out].groupby(by + ["pool_size", "steps"], dropna=False, sort=True):
        k = dict(zip(by + ["pool_size", "steps"], key))
        means = g.groupby("keep")[y].mean()
        f = (
            fits.loc[match_mask(fits, {c: k[c] for c in by}) & fits["keep"].isin(means.index)] if len(fits) else fits
        )  # NaN keys match NaN
        f = f.loc[f["status"] == "ok"] if "status" in f else f
        if len(f) < 2:
            continue
        e = float(g["examples_seen"].mean())
        pk = float(best_keep_at_budget(f, float(k["pool_size"]), [e], by=by)["best_keep"].iloc[0])
        ok_ = float(means.idxmin())
        rows.append(
            {
                **k,
                "examples_seen": e,
                "predicted_keep": pk,
                "observed_keep": ok_,
                "error_at_predicted": float(means[pk]),
                "error_at_observed": float(means[ok_]),
                "regret": float(means[pk] - means[ok_]),
            }
        )
    return pd.DataFrame(rows)


# =========================================================================== one law per rule, a scale per keep
@dataclass
class RuleComputeFit:
    """``log E = log a_k + b * u(S_k, e; tau)``: one ``b`` and ``tau`` shared by a rule's keeps, one scale
    ``a_k`` per keep (``log_a_by_keep``). At one pool each keep has one kept-set size, so ``a`` and ``b`` are
    not separable within a keep; the per-keep scale absorbs ``a S_k^b`` and the budgets of every keep together
    pin down how fast repeated passes lose value (``b`` and ``tau``)."""

    b: float = math.nan
    tau: float = math.nan
    b_lo: float = math.nan
    b_hi: float = math.nan
    tau_lo: float = math.nan
    tau_hi: float = math.nan
    log_a: float = math.nan  # the first keep's scale (for the identification check)
    log_a_by_keep: dict = field(default_factory=dict)
    rss: float = math.nan
    n_obs: int = 0
    n_cells: int = 0
    n_keeps: int = 0
    status: str = "insufficient_data"

    def to_dict(self) -> dict:
        return asdict(self)


def _grouped_best_tau(U: np.ndarray, ly: np.ndarray, codes: np.ndarray, k: int):
    """Least squares of ``ly`` on every row of ``U`` with one intercept per group (``codes``): the regression on
    within-group deviations. Returns (row, intercepts, b, rss) of the best row."""
    G = np.zeros((len(ly), k))
    G[np.arange(len(ly)), codes] = 1.0
    cnt = np.maximum(G.sum(axis=0), 1.0)
    um, ym = (U @ G) / cnt, (ly @ G) / cnt
    du, dy = U - um[:, codes], ly - ym[codes]
    var = (du * du).sum(axis=1)
    b = np.where(var > 0, (du * dy).sum(axis=1) / np.where(var > 0, var, 1.0), 0.0)
    rss = ((dy - b[:, None] * du) ** 2).sum(axis=1)
    i = int(np.argmin(rss))
    return i, ym - b[i] * um[i], float(b[i]), float(rss[i])


def fit_rule_compute_law(
    S, e, y, keep, budget=None, *, n_boot: int = 200, ci: float = 0.95, seed: int = 0, taus: np.ndarray = TAU_GRID
) -> RuleComputeFit:
    """:class:`RuleComputeFit` by least squares on log errors (``tau`` on a grid, the rest in closed form), with
    percentile bootstrap intervals (runs resampled within each (keep, budget) cell). "ok" only when the intervals
    identify ``b`` and ``tau`` (:data:`NOT_IDENTIFIED` otherwise); needs at least 2 more cells than keeps."""
    keep = np.asarray(keep, float).ravel()
    S, e, y, kb = _clean_runs(S, e, y, np.stack([keep, np.asarray(budget if budget is not None else e, float)], 1))
    keeps, codes = np.unique(kb[:, 0], return_inverse=True)
    cells = _cell_members(kb[:, 0], e, kb[:, 1] if budget is not None else None)
    res = RuleComputeFit(n_obs=len(y), n_cells=len(cells), n_keeps=len(keeps))
    if res.n_cells < res.n_keeps + 2 or res.n_keeps == 0:
        return res
    U, ly = _utility_matrix(S, e, taus), np.log(y)
    i, la, b, rss = _grouped_best_tau(U, ly, codes, len(keeps))
    res.b, res.tau, res.rss, res.log_a = b, float(taus[i]), rss, float(la[0])
    res.log_a_by_keep = {float(k): float(v) for k, v in zip(keeps, la)}
    res.status = "tau_at_grid_edge" if i in (0, len(taus) - 1) else "ok"

    def refit(idx: np.ndarray) -> tuple[float, float]:
        j, _, bb, _ = _grouped_best_tau(U[:, idx], ly[idx], codes[idx], len(keeps))
        return bb, taus[j]

    _bootstrap_intervals(res, cells, refit, n_boot, seed, ci, taus)
    return res


def predict_rule_error(fit: RuleComputeFit | dict, keep: float, S, e) -> np.ndarray:
    """The rule law's error at ``keep`` (kept-set size ``S``) after ``e`` examples seen (NaN for an unfitted keep)."""
    f = fit if isinstance(fit, dict) else fit.to_dict()
    la = {float(k): v for k, v in f["log_a_by_keep"].items()}.get(float(keep), math.nan)
    return np.exp(la + f["b"] * utility_term(S, e, f["tau"]))
