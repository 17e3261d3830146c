"""Learning curves, Pareto frontiers, droppable fractions and class-balance summaries.

All functions take the tidy ``ok`` frame of :func:`bench.collect.table.load_records`
(one row per successful run) and return new frames; nothing is modified in place.

The x-variable
    Curves are functions of ``x``: ``n_train`` (examples actually trained on) by
    default, ``alpha_prune`` for ``dataset == "perceptron"`` (read from
    ``extra.alpha_prune``).  Every function accepts ``x=``: ``None`` (that
    default rule), a column name used for all datasets, or a ``{dataset: column}``
    mapping (unlisted datasets fall back to the default rule).  Output frames carry
    ``x_var`` (the column used) and ``x`` (its value).

Context keys
    Runs that differ in ``label_noise`` or ``budget`` (``epochs`` vs ``steps``)
    are never averaged together: those columns (``context=``) are appended to
    every grouping.  Add any other setting that a sweep varies and that must not
    be pooled, e.g. ``context=("label_noise", "budget", "probe_angle_deg")`` for a
    perceptron probe-angle sweep (names resolve to ``extra.<name>`` too).  Pass
    ``context=()`` to disable.

Full-data runs
    A static ``keep == 1`` run trains on the whole pool whatever metric and
    strategy are named beside it: the full-data reference
    (:func:`bench.collect.reference.is_full_reference`).  A static rule's frontier
    takes its keep-1 cell from every reference run of that (dataset, model, pool
    size, context), and the droppable fraction its reference; runs recorded under
    another (metric, strategy) are marked ``borrowed_full``.  A dynamic rule
    (InfoBatch) takes the keep-1 runs of the same dynamic strategy (pure
    InfoBatch), never the static reference.  Two runs of one seed in one cell
    raise :class:`bench.collect.reference.DuplicateRunsError`.
"""

from __future__ import annotations

import json
import math
import warnings
import zlib
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from bench.collect.fit import CurveFit, fit_curve, hierarchical_resampler
from bench.collect.power import power_gate
from bench.collect.reference import (
    DYNAMIC_STRATEGIES,
    check_unique_seeds,
    is_full_pool,
    matching,
    reference_frame,
)
from bench.collect.shape import NOT_DETERMINABLE
from bench.collect.table import resolve_column

__all__ = [
    "CURVE_KEYS",
    "CONTEXT_KEYS",
    "FRONTIER_KEYS",
    "add_x",
    "class_balance",
    "default_x",
    "droppable_fraction",
    "error_vs_keep",
    "fit_frontiers",
    "fit_learning_curves",
    "learning_curves",
    "pareto_frontier",
    "resolve_context",
]

CURVE_KEYS: tuple[str, ...] = ("dataset", "model", "metric", "strategy", "keep")
FRONTIER_KEYS: tuple[str, ...] = ("dataset", "model", "metric", "strategy")
CONTEXT_KEYS: tuple[str, ...] = ("label_noise", "budget", "step_budget", "test_key")
XSpec = str | Mapping[str, str] | None

_FULL = 1.0
_KEEP_TOL = 1e-9


# =========================================================================== basics
def default_x(dataset: object) -> str:
    """``alpha_prune`` for perceptron theory runs, ``n_train`` otherwise."""
    return "alpha_prune" if str(dataset) == "perceptron" else "n_train"


def add_x(df: pd.DataFrame, x: XSpec = None) -> pd.DataFrame:
    """Copy of ``df`` with ``x_var`` / ``x`` columns.

    Under the default rule, perceptron runs without ``alpha_prune`` fall back to
    ``n_train`` (warned); an explicitly requested column that does not exist raises
    ``KeyError``.  Rows without a finite positive x are dropped (warned).
    """
    out = df.copy()
    if out.empty:
        out["x_var"] = pd.Series(dtype=object)
        out["x"] = pd.Series(dtype=float)
        return out
    datasets = out["dataset"] if "dataset" in out else pd.Series([None] * len(out), index=out.index)

    def pick(ds):
        if isinstance(x, str):
            return x
        if isinstance(x, Mapping) and ds in x:
            return x[ds]
        return default_x(ds)

    out["x_var"] = [pick(ds) for ds in datasets]
    explicit = isinstance(x, str) or isinstance(x, Mapping)
    vals = pd.Series(np.nan, index=out.index, dtype=float)
    for var, idx in out.groupby("x_var").groups.items():
        try:
            col = resolve_column(out, var)
        except KeyError:
            if explicit or var == "n_train":
                raise
            col = None
        v = pd.to_numeric(out.loc[idx, col], errors="coerce").astype(float) if col else pd.Series(np.nan, index=idx)
        missing = idx[~np.isfinite(v.to_numpy())]
        if len(missing) and not explicit and var != "n_train":
            # Default rule only: fall back to n_train rather than dropping the runs.
            warnings.warn(f"{len(missing)} run(s) lack {var!r}; using n_train as x for them", stacklevel=2)
            out.loc[missing, "x_var"] = "n_train"
            v.loc[missing] = pd.to_numeric(out.loc[missing, "n_train"], errors="coerce")
        vals.loc[idx] = v
    out["x"] = vals
    bad = ~(np.isfinite(out["x"]) & (out["x"] > 0))
    if bad.any():
        warnings.warn(
            f"{int(bad.sum())} run(s) without a finite positive x "
            f"({', '.join(sorted(set(out.loc[bad, 'x_var'])))}) left out of curves",
            stacklevel=2,
        )
        out = out.loc[~bad]
    return out


def resolve_context(df: pd.DataFrame, context: Sequence[str]) -> list[str]:
    """Context columns present in ``df`` (``name`` or ``extra.name``), in order."""
    out = []
    for c in context:
        for col in (c, f"extra.{c}"):
            if col in df.columns and col not in out:
                out.append(col)
                break
    return out


_ctx = resolve_context


def _groups(df: pd.DataFrame, cols: Sequence[str]) -> Iterator[tuple[dict, pd.DataFrame]]:
    cols = list(cols)
    if df.empty:
        return
    if not cols:
        yield {}, df
        return
    for key, g in df.groupby(cols, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        yield dict(zip(cols, key)), g


def _agg(g: pd.DataFrame, y: str) -> dict:
    v = g[y].to_numpy(dtype=float)
    n = int(np.isfinite(v).sum())
    std = float(np.nanstd(v, ddof=1)) if n > 1 else math.nan
    return {
        "mean": float(np.nanmean(v)) if n else math.nan,
        "std": std,
        "sem": std / math.sqrt(n) if n > 1 else math.nan,
        "count": n,
    }


#: Fits and shape verdicts use the power-law region only: sizes whose mean error is at most this fraction of
#: chance error (1 - 1/classes). Near chance every learning curve flattens (the "small-data region" of
#: Hestness et al. 2017), which is neither a power law nor pruning bending the curve.
SMALL_DATA_FRAC = 0.3


def chance_cap(g: pd.DataFrame, frac: float | None) -> float | None:
    """``frac`` x chance error of the group's classification task (None when unknown or frac is None)."""
    if frac is None or "n_classes" not in g:
        return None
    k = pd.to_numeric(g["n_classes"], errors="coerce").median()
    return frac * (1.0 - 1.0 / k) if np.isfinite(k) and k >= 2 else None


def _rng_seed(seed: int, key: dict) -> list[int]:
    return [int(seed), zlib.crc32(repr(sorted(key.items(), key=lambda kv: kv[0])).encode())]


def _is_full(keep: pd.Series) -> np.ndarray:
    return is_full_pool(keep)


# =========================================================================== learning curves
def learning_curves(
    df: pd.DataFrame,
    *,
    x: XSpec = None,
    y: str = "test_error",
    keys: Sequence[str] = CURVE_KEYS,
    context: Sequence[str] = CONTEXT_KEYS,
) -> pd.DataFrame:
    """Seed-aggregated curves: one row per (keys, context, x_var, pool_size, x).

    Columns: the keys, ``x_var``, ``pool_size``, ``x``, ``n_train`` (mean), ``mean``,
    ``std``, ``sem``, ``count`` (seeds with a finite ``y``), ``seeds`` and, when the
    records carry it, ``theory`` (mean ``extra.eps_theory``).
    """
    d = add_x(df, x)
    gk = list(keys) + _ctx(d, context) + ["x_var"]
    theory = "extra.eps_theory" if "extra.eps_theory" in d.columns else None
    rows = []
    for key, g in _groups(d, gk + ["pool_size", "x"]):
        row = {
            **key,
            "n_train": float(g["n_train"].mean()),
            **_agg(g, y),
            "seeds": ",".join(str(int(s)) if pd.notna(s) else "?" for s in sorted(g["seed"])),
        }
        if theory:
            t = pd.to_numeric(g[theory], errors="coerce")
            row["theory"] = float(t.mean()) if t.notna().any() else math.nan
        rows.append(row)
    cols = gk + ["pool_size", "x", "n_train", "mean", "std", "sem", "count", "seeds"] + (["theory"] if theory else [])
    return pd.DataFrame(rows, columns=cols)


def _fit_row(kind: str, key: dict, fit: CurveFit, y: str) -> dict:
    return {"kind": kind, **key, "y": y, **fit.to_dict()}


def fit_learning_curves(
    df: pd.DataFrame,
    *,
    x: XSpec = None,
    y: str = "test_error",
    keys: Sequence[str] = CURVE_KEYS,
    context: Sequence[str] = CONTEXT_KEYS,
    n_boot: int = 200,
    seed: int = 0,
    small_data_frac: float | None = SMALL_DATA_FRAC,
    **fit_kw,
) -> tuple[pd.DataFrame, dict[tuple, CurveFit]]:
    """Fit every learning curve (fixed keep, x varying through the pool size).

    Each curve is fitted on its seed-level observations with :func:`fit_curve`
    (bootstrap over x and seeds), in its power-law region: sizes whose mean error
    exceeds ``small_data_frac`` x chance error are left out (noted; ``None``
    keeps all).  Returns ``(fits, objects)``: ``fits`` has one row
    per curve with ``kind == "curve"``; ``objects`` maps the tuple of group-key
    values to the :class:`CurveFit`.
    """
    d = add_x(df, x)
    gk = list(keys) + _ctx(d, context) + ["x_var"]
    rows, objs = [], {}
    for key, g in _groups(d, gk):
        fit = fit_curve(
            g["x"].to_numpy(float),
            g[y].to_numpy(float),
            n_boot=n_boot,
            seed=np.random.default_rng(_rng_seed(seed, key)),
            y_max=chance_cap(g, small_data_frac),
            **fit_kw,
        )
        rows.append(_fit_row("curve", key, fit, y))
        objs[tuple(key.values())] = fit
    return pd.DataFrame(rows), objs


# =========================================================================== frontier
def _full_candidates(d: pd.DataFrame, key: dict, ctx: list[str]) -> pd.DataFrame:
    """The keep-1 runs a group's frontier takes at its largest n: the full-data reference (static selection of
    the full pool, :func:`bench.collect.reference.is_full_reference`) for a static rule; for a dynamic rule
    (InfoBatch) the same dynamic strategy on the full pool (e.g. pure InfoBatch)."""
    share = [c for c in ["dataset", "model", *ctx, "x_var"] if c in d.columns]
    if key.get("strategy") in DYNAMIC_STRATEGIES:
        return matching(d.loc[(d["strategy"] == key["strategy"]) & is_full_pool(d["keep"])], share, key)
    return reference_frame(d, share, key)


def _frontier_observations(d: pd.DataFrame, by: list[str], ctx: list[str]) -> Iterator[tuple[dict, pd.DataFrame]]:
    """Seed-level candidate rows per frontier group: its pruned runs plus its full-pool cell (one predicate:
    :func:`_full_candidates`); full-pool runs recorded under another (metric, strategy) are ``borrowed_full``."""
    for key, g in _groups(d, by + ctx + ["x_var"]):
        full = _full_candidates(d, key, ctx)
        full = full.loc[full["pool_size"].isin(set(g["pool_size"]))]
        mine = np.ones(len(full), bool)
        for c in by:
            v = key[c]
            mine &= (full[c].isna() if pd.isna(v) else full[c] == v).to_numpy()
        borrowed = full.assign(borrowed_full=~mine)
        for c in by:
            borrowed[c] = key[c]
        own = g.loc[~is_full_pool(g["keep"])].assign(borrowed_full=False)
        parts = [p for p in (own, borrowed) if not p.empty]
        if parts:
            yield key, pd.concat(parts, ignore_index=True)


def _cells(g: pd.DataFrame, y: str) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Per (x, keep, pool_size) cell: the table of cells and the seed-level y arrays.

    The table has a ``seed_values`` column: ``{seed: y}`` of the cell's runs (for paired comparisons).
    """
    cells, arrays = [], []
    for ck, cg in _groups(g, ["x", "keep", "pool_size"]):
        check_unique_seeds(cg, ck)
        fin = cg.loc[np.isfinite(cg[y].to_numpy(float))]
        if fin.empty:
            continue
        seeds = {int(s) if pd.notna(s) else -1 - i: float(v) for i, (s, v) in enumerate(zip(fin["seed"], fin[y]))}
        cells.append({**ck, **_agg(cg, y), "borrowed_full": bool(cg["borrowed_full"].any()), "seed_values": seeds})
        arrays.append(fin[y].to_numpy(float))
    return pd.DataFrame(cells), arrays


#: Two frontier errors closer than this (relative) are ties: a point must beat every smaller x by more.
TIE_RTOL = 1e-9


def _select_frontier(cx: np.ndarray, cmean: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each distinct x the argmin cell; and whether that minimum is Pareto-optimal.

    Returns (distinct x, index of best cell per x, pareto mask). A point is Pareto optimal when its error
    is below every best error at smaller x by more than a floating-point tie (``TIE_RTOL``): a point
    "better" by 1e-14 is a tie, not a frontier point.
    """
    ux = np.unique(cx)
    best = np.empty(len(ux), dtype=int)
    for i, u in enumerate(ux):
        idx = np.flatnonzero(cx == u)
        best[i] = idx[np.argmin(cmean[idx])]
    bmean = cmean[best]
    prev_min = np.concatenate([[np.inf], np.minimum.accumulate(bmean)[:-1]])
    tol = TIE_RTOL * np.maximum(np.abs(np.where(np.isfinite(prev_min), prev_min, 0.0)), 1e-12)
    return ux, best, bmean < prev_min - tol


def pareto_frontier(
    df: pd.DataFrame,
    *,
    x: XSpec = None,
    y: str = "test_error",
    by: Sequence[str] = FRONTIER_KEYS,
    context: Sequence[str] = CONTEXT_KEYS,
) -> pd.DataFrame:
    """Best achievable error per x over keep fractions and pool sizes.

    For each group (``by`` + context) and each distinct x, the (keep, pool_size)
    cell with the lowest seed-mean error.  ``pareto`` marks points whose error is
    strictly lower than the best error at every smaller x (the frontier proper:
    no smaller training set does at least as well).  ``n_candidates`` counts the
    cells compared at that x.  The minimum of noisy means is biased low when
    many cells compete; see ``count``/``sem``.  ``seed_errors`` is the chosen
    cell's ``{seed: error}`` as JSON (for comparisons paired by seed).
    """
    d = add_x(df, x)
    ctx = _ctx(d, context)
    cols = (
        list(by)
        + ctx
        + [
            "x_var",
            "x",
            "mean",
            "std",
            "sem",
            "count",
            "keep",
            "pool_size",
            "borrowed_full",
            "n_candidates",
            "pareto",
            "seed_errors",
            "static_strategy",
        ]
    )
    rows = []
    for key, g in _frontier_observations(d, list(by), ctx):
        cells, _ = _cells(g, y)
        if cells.empty:
            continue
        own = g.loc[~g["borrowed_full"]]
        static = own["static_strategy"].dropna() if "static_strategy" in own else pd.Series(dtype=object)
        static = static.iloc[0] if len(static) else key.get("strategy")
        ux, best, pareto = _select_frontier(cells["x"].to_numpy(float), cells["mean"].to_numpy(float))
        for u, b, p in zip(ux, best, pareto):
            c = cells.iloc[b]
            rows.append(
                {
                    **key,
                    "x": float(u),
                    "mean": c["mean"],
                    "std": c["std"],
                    "sem": c["sem"],
                    "count": int(c["count"]),
                    "keep": c["keep"],
                    "pool_size": c["pool_size"],
                    "borrowed_full": bool(c["borrowed_full"]),
                    "n_candidates": int((cells["x"] == u).sum()),
                    "pareto": bool(p),
                    "seed_errors": json.dumps({str(k): v for k, v in sorted(c["seed_values"].items())}),
                    "static_strategy": static,
                }
            )
    return pd.DataFrame(rows, columns=cols)


def _frontier_obs(cx: np.ndarray, cmean: np.ndarray, arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Seed-level (x, y) of the Pareto cells selected from the cell means."""
    ux, best, pareto = _select_frontier(cx, cmean)
    chosen = best[pareto]
    xs = np.concatenate([np.full(len(arrays[b]), cx[b]) for b in chosen]) if len(chosen) else np.array([])
    ys = np.concatenate([arrays[b] for b in chosen]) if len(chosen) else np.array([])
    return xs, ys


def _frontier_resampler(cx: np.ndarray, arrays: list[np.ndarray]):
    """Bootstrap replicate: resample seeds in every cell, re-select the frontier, resample its points."""

    def draw(rng: np.random.Generator):
        res = [a[rng.integers(0, len(a), size=len(a))] for a in arrays]
        px, py = _frontier_obs(cx, np.array([r.mean() for r in res]), res)
        if len(np.unique(px)) < 3:
            return None
        return hierarchical_resampler(px, py, min_distinct=4)(rng)

    return draw


def _no_pruned_frontier(fit: CurveFit, cells: pd.DataFrame, cx: np.ndarray, cmean: np.ndarray) -> None:
    """A rule with pruned cells none of which is on its frontier has the full pool's curve as its frontier: its
    shape verdict would be the full-data curve's, so it gets none ("not determinable", said why)."""
    pruned = ~is_full_pool(cells["keep"])
    if not pruned.any():
        return  # the full-data curve itself (or pure InfoBatch): its own frontier
    _, best, pareto = _select_frontier(cx, cmean)
    if pruned[best[pareto]].any():
        return
    fit.shape, fit.p_power, fit.p_exp = NOT_DETERMINABLE, math.nan, math.nan
    fit.shape_reason = (
        "no pruned cell is on this rule's frontier: it is the full-data curve, whose shape is not this rule's"
    )


def _gate(fit: CurveFit) -> None:
    why = power_gate(fit.shape, fit.noise_sd, fit.x_min, fit.x_max)
    if why:
        fit.shape, fit.shape_reason = NOT_DETERMINABLE, why + (f"; {fit.shape_reason}" if fit.shape_reason else "")


def fit_frontiers(
    df: pd.DataFrame,
    *,
    x: XSpec = None,
    y: str = "test_error",
    by: Sequence[str] = FRONTIER_KEYS,
    context: Sequence[str] = CONTEXT_KEYS,
    n_boot: int = 200,
    seed: int = 0,
    small_data_frac: float | None = SMALL_DATA_FRAC,
    power_gate: bool = True,
    **fit_kw,
) -> tuple[pd.DataFrame, dict[tuple, CurveFit]]:
    """Fit the Pareto frontier (its ``pareto`` points) of every group.

    The fit and the shape verdict use the seed-level errors of the chosen cells
    (so the seeds measure the noise); cells whose mean error exceeds
    ``small_data_frac`` x chance error are not candidates (power-law region).  The bootstrap re-does the whole selection:
    seeds are resampled inside every (keep, pool_size) cell, the frontier is
    re-selected from the resampled means, and then the frontier points (with
    their resampled seeds) are case-resampled before refitting.  Rows have
    ``kind == "frontier"`` and ``keep`` = NaN.  With ``power_gate``, a "power law" or
    "bends below" verdict whose calibrated power on Pareto frontiers at the curve's seed noise
    is below 80%, or whose noise or span lies outside the calibration
    (:func:`bench.collect.power.power_gate`), becomes "not determinable", said why.
    """
    d = add_x(df, x)
    ctx = _ctx(d, context)
    rows, objs = [], {}
    for key, g in _frontier_observations(d, list(by), ctx):
        cells, arrays = _cells(g, y)
        if cells.empty:
            continue
        cap = chance_cap(g, small_data_frac)
        if cap is not None:  # the frontier of the power-law region: cells near chance are not candidates
            near = cells["mean"].to_numpy(float) > cap
            cells, arrays = cells.loc[~near].reset_index(drop=True), [a for a, n in zip(arrays, near) if not n]
            if cells.empty:
                continue
        cx, cmean = cells["x"].to_numpy(float), cells["mean"].to_numpy(float)
        fx, fy = _frontier_obs(cx, cmean, arrays)
        resampler = _frontier_resampler(cx, arrays)
        fit = fit_curve(
            fx,
            fy,
            n_boot=n_boot,
            resampler=resampler,
            seed=np.random.default_rng(_rng_seed(seed, key)),
            y_max=cap,
            **fit_kw,
        )
        _no_pruned_frontier(fit, cells, cx, cmean)
        if power_gate:
            _gate(fit)
        k = {**key}
        k = {c: k[c] for c in by} | {"keep": math.nan} | {c: k[c] for c in ctx} | {"x_var": k["x_var"]}
        rows.append(_fit_row("frontier", k, fit, y))
        objs[tuple(key.values())] = fit
    return pd.DataFrame(rows), objs


# =========================================================================== keep sweeps
def error_vs_keep(
    df: pd.DataFrame,
    *,
    y: str = "test_error",
    keys: Sequence[str] = ("dataset", "model", "metric", "strategy", "pool_size"),
    context: Sequence[str] = CONTEXT_KEYS,
) -> pd.DataFrame:
    """Seed-aggregated error per keep fraction at fixed pool size (and ``n_train``)."""
    ctx = _ctx(df, context)
    gk = list(keys) + ctx
    rows = []
    for key, g in _groups(df, gk + ["keep"]):
        rows.append({**key, "n_train": float(g["n_train"].mean()), **_agg(g, y)})
    return pd.DataFrame(rows, columns=gk + ["keep", "n_train", "mean", "std", "sem", "count"])


def droppable_fraction(
    df: pd.DataFrame,
    tolerance: float = 0.005,
    *,
    y: str = "test_error",
    keys: Sequence[str] = ("dataset", "model", "metric", "strategy", "pool_size"),
    context: Sequence[str] = CONTEXT_KEYS,
) -> pd.DataFrame:
    """Smallest keep whose error stays within ``tolerance`` of the full-data run.

    Per group (``keys`` + context) the reference is the seed-mean error of the
    full-data reference (static selection, ``keep == 1``:
    :func:`bench.collect.reference.is_full_reference`) of the same dataset/model/pool
    size/context, whatever metric it is recorded under (``ref_source``); a dynamic
    strategy's keep-1 runs (pure InfoBatch) are never the reference.  Walking down from the
    largest keep < 1, ``min_keep`` is the last keep before the first one whose mean
    error exceeds ``ref_error + tolerance`` (so every tested keep >= ``min_keep``
    is within tolerance); ``droppable_fraction = 1 - min_keep``.  ``tolerance`` is
    absolute (0.005 = 0.5 percentage points of error).  ``note`` warns when the
    comparison is below the seed-noise level or rests on single seeds.
    """
    ctx = _ctx(df, context)
    gk = list(keys) + ctx
    share = [c for c in ("dataset", "model", "pool_size") if c in df.columns] + ctx
    cols = gk + [
        "ref_error",
        "ref_sem",
        "ref_count",
        "ref_source",
        "keeps_tested",
        "min_keep",
        "error_at_min_keep",
        "sem_at_min_keep",
        "droppable_fraction",
        "tolerance",
        "note",
    ]
    rows = []
    for key, g in _groups(df, gk):
        notes = []
        sel = reference_frame(df, share, key)
        check_unique_seeds(sel, {c: key.get(c) for c in share})
        ref, src = (_agg(sel, y), "full-data reference (static, keep=1)") if len(sel) else (None, "none")
        ek = error_vs_keep(g, y=y, keys=[k for k in keys if k != "keep"], context=ctx)
        ek = ek.loc[~_is_full(ek["keep"])].sort_values("keep", ascending=False)
        tested = ", ".join(f"{k:g}" for k in sorted(set(g["keep"].dropna())))
        row = {**key, "ref_source": src, "keeps_tested": tested, "tolerance": tolerance}
        if ref is None:
            rows.append({**row, "note": "no full-data reference run (static selection, keep=1)"})
            continue
        row.update(ref_error=ref["mean"], ref_sem=ref["sem"], ref_count=ref["count"])
        min_keep, at = _FULL, {"mean": ref["mean"], "sem": ref["sem"], "count": ref["count"]}
        for _, r in ek.iterrows():
            if r["mean"] <= ref["mean"] + tolerance:
                min_keep, at = float(r["keep"]), r
            else:
                break
        if ek.empty:
            notes.append("no keep < 1 tested")
        if ref["count"] < 2 or at["count"] < 2:
            notes.append("single seed at reference or min_keep: no noise estimate")
        else:
            se = 2.0 * math.sqrt(ref["sem"] ** 2 + at["sem"] ** 2)
            if se > tolerance:
                notes.append(f"tolerance {tolerance:g} below noise level (2 SE of difference = {se:.3g})")
        row.update(
            min_keep=min_keep,
            error_at_min_keep=at["mean"],
            sem_at_min_keep=at["sem"],
            droppable_fraction=1.0 - min_keep,
            note="; ".join(notes),
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)


def class_balance(
    df: pd.DataFrame,
    *,
    keys: Sequence[str] = ("dataset", "metric", "strategy", "keep"),
) -> pd.DataFrame:
    """Class-balance summary per metric x keep (pooled over pool sizes, models and seeds).

    ``class_imbalance_*``: total-variation distance between kept and pool class
    frequencies; ``class_min_ratio_mean``: mean over runs of min_c p_kept/p_pool;
    ``noisy_kept_frac_mean``: fraction of kept examples with a corrupted label.
    """
    cols = list(keys) + [
        "class_imbalance_mean",
        "class_imbalance_std",
        "class_imbalance_max",
        "class_min_ratio_mean",
        "noisy_kept_frac_mean",
        "count",
    ]
    rows = []
    for key, g in _groups(df, keys):
        ci = g["class_imbalance"].to_numpy(float)
        ci = ci[np.isfinite(ci)]
        rows.append(
            {
                **key,
                "class_imbalance_mean": float(ci.mean()) if len(ci) else math.nan,
                "class_imbalance_std": float(ci.std(ddof=1)) if len(ci) > 1 else math.nan,
                "class_imbalance_max": float(ci.max()) if len(ci) else math.nan,
                "class_min_ratio_mean": float(g["class_min_ratio"].mean()),
                "noisy_kept_frac_mean": float(g["noisy_kept_frac"].mean()),
                "count": int(len(ci)),
            }
        )
    return pd.DataFrame(rows, columns=cols)
