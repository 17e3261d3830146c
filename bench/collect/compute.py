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
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .verdict import match_mask

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


def _clean_runs(S, e, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    S, e, y = (np.asarray(v, float).ravel() for v in (S, e, y))
    ok = np.isfinite(S) & np.isfinite(e) & np.isfinite(y) & (S > 0) & (e > 0) & (y > 0)
    return S[ok], e[ok], y[ok]


def _fit(U: np.ndarray, ly: np.ndarray, taus: np.ndarray, res: ComputeFit) -> ComputeFit:
    i, la, b, rss = _best_tau(U, ly)
    res.log_a, res.b, res.tau, res.rss = la, b, float(taus[i]), rss
    res.a = math.exp(la) if la < 700 else math.inf
    res.status = "poorly_determined" if la >= 700 else "tau_at_grid_edge" if i in (0, len(taus) - 1) else "ok"
    return res


def fit_compute_law(S, e, y, taus: np.ndarray = TAU_GRID) -> ComputeFit:
    """Least-squares ``(a, b, tau)`` on log errors; ``tau`` on a grid, ``(log a, b)`` in closed form per ``tau``."""
    S, e, y = _clean_runs(S, e, y)
    res = ComputeFit(n_obs=len(y), n_cells=len(np.unique(_cell_keys(S, e), axis=0)))
    if res.n_cells < 4:  # one kept-set size at 4 budgets will do: (a S^b, b, tau) from how repeats lose value
        return res
    return _fit(_utility_matrix(S, e, taus), np.log(y), taus, res)


def _cell_keys(S: np.ndarray, e: np.ndarray) -> np.ndarray:
    """(S, e) cells, e to within 5%: runs of one budget whose examples seen differ a little (InfoBatch's pruned
    epochs, partial batches) are replicates of one cell."""
    return np.stack([S.round(6), np.round(np.log(e) / np.log(1.05))], axis=1)


def _cell_members(S: np.ndarray, e: np.ndarray) -> list[np.ndarray]:
    keys = _cell_keys(S, e)
    return [np.flatnonzero((keys == c).all(axis=1)) for c in np.unique(keys, axis=0)]


def bootstrap_compute_law(
    S, e, y, n_boot: int = 200, ci: float = 0.95, seed: int = 0, taus: np.ndarray = TAU_GRID
) -> ComputeFit:
    """:func:`fit_compute_law` plus percentile intervals on ``b`` and ``tau``: runs resampled within each (S, e)
    cell ``n_boot`` times (the utility matrix is computed once and re-indexed)."""
    S, e, y = _clean_runs(S, e, y)
    fit = fit_compute_law(S, e, y, taus)
    if fit.status == "insufficient_data" or n_boot <= 0:
        return fit
    U, ly, rng = _utility_matrix(S, e, taus), np.log(y), np.random.default_rng(seed)
    cells = _cell_members(S, e)
    bs = []
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(m, size=len(m), replace=True) for m in cells])
        i, _, b, _ = _best_tau(U[:, idx], ly[idx])
        bs.append((b, taus[i]))
    bs = np.array(bs)
    q = [(1 - ci) / 2, 1 - (1 - ci) / 2]
    fit.b_lo, fit.b_hi = (float(v) for v in np.quantile(bs[:, 0], q))
    fit.tau_lo, fit.tau_hi = (float(v) for v in np.quantile(bs[:, 1], q))
    return fit


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
        fit = bootstrap_compute_law(g["n_train"], g["examples_seen"], g[y], n_boot=n_boot, seed=seed)
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
) -> pd.DataFrame:
    """Fit on the runs not ``held_out``; for each held-out (group, pool, optimiser steps) budget compare the
    predicted and the observed best keep. Columns: the group, ``pool_size``, ``steps``, ``examples_seen`` (mean),
    ``predicted_keep``, ``observed_keep``, the observed mean error at both and ``regret`` (observed error at the
    predicted keep minus the best observed error)."""
    d = df.assign(examples_seen=examples_seen(df))
    fits = fit_compute_laws(d.loc[~held_out], n_boot=0, y=y)
    by = [c for c in by if c in d.columns]
    rows = []
    for key, g in d.loc[held_out].groupby(by + ["pool_size", "steps"], dropna=False, sort=True):
        k = dict(zip(by + ["pool_size", "steps"], key))
        means = g.groupby("keep")[y].mean()
        f = (
            fits.loc[match_mask(fits, {c: k[c] for c in by}) & fits["keep"].isin(means.index)] if len(fits) else fits
        )  # NaN keys match NaN
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
