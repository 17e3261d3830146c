"""Gains over random with the multiplicity handled: one pooled test per rule, corrected across rules.

Per-n intervals (``gains.csv``) are exploratory: a rule has about 20 n, and "an interval above 0 at some n" happens
for roughly 40% of rules with no effect at all. A Bonferroni correction over those n finds nothing at 3 seeds (a t
quantile near 20), so the test here pools the information across n instead:

* the statistic is the rule's **mean relative gain over the n where it is in play** (either side prunes), each n
  weighted equally: ``G = mean_n mean_s d(n, s)``, ``d = log error(random) - log error(rule)`` for seed ``s``
  (paired by seed; 0.05 = about 5% lower error). Errors span orders of magnitude across n, so absolute gains have
  no common variance; relative ones do, roughly (seed noise scales with the error);
* the seed-to-seed variance of ``d`` is **shared across n** (one pooled variance, ``df = sum_n (k_n - 1)``), so
  ``se(G) = sqrt(s2 * sum_n 1/k_n) / N``. This treats the n as independent given the shared variance (each pool
  size is its own subsample and training run); a positive correlation of one seed's gains across n would make the
  interval too narrow, which the report says;
* the rules of a group (dataset, model, context) are one family: two-sided p-values, **Holm**-corrected across the
  R rules. A rule "beats random" when its adjusted p is below ``alpha`` and ``G > 0``;
* the **smallest mean gain the design could detect** with ``power`` (80%) at the Bonferroni level ``alpha / R``:
  ``(t_{1-alpha/2R} + t_{power}) * se(G)``;
* the rule named **best** in the answer was selected on these same seeds (lowest error at the largest n), so its
  gain there gets an interval **simultaneous over the R rules** (Bonferroni, shared variance): it covers whichever
  rule was picked (its log-scale half-width times the baseline's error there, the delta method).

Both sides of every gain are minima over keep fractions (frontier cells), which biases both a little low.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "holm",
    "interval_and_mde",
    "pooled_gain",
    "pooled_gain_tests",
    "pooled_p",
    "seed_diffs",
    "simultaneous_interval",
]


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN stays NaN and does not count in the family)."""
    p = np.asarray(p, float)
    out = np.full(len(p), np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    order = idx[np.argsort(p[idx])]
    m, running = len(order), 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[j]))
        out[j] = running
    return out


def seed_diffs(cells: pd.DataFrame) -> list[np.ndarray]:
    """The per-seed differences of every cell (its JSON ``seed_log_diffs``) that has at least 2 seeds."""
    out = []
    for v in cells["seed_log_diffs"]:
        d = np.array(list(json.loads(v).values()), float) if isinstance(v, str) and v else np.array([])
        if len(d) >= 2:
            out.append(d)
    return out


def pooled_p(pg: dict) -> float:
    """Two-sided t p-value of a :func:`pooled_gain` result against 0 (NaN without df or spread)."""
    se, df = pg["pooled_se"], pg["pooled_df"]
    t = pg["pooled_gain"] / se if df and se > 0 else math.nan
    return 2 * stats.t.sf(abs(t), df) if np.isfinite(t) else math.nan


def interval_and_mde(pg: dict, alpha: float, power: float) -> tuple[float, float, float]:
    """(lo, hi, mde) of a :func:`pooled_gain` result: its (1 - alpha) t interval and the smallest mean gain detected
    with ``power`` at level ``alpha`` (NaN without df)."""
    df, se, gain = pg["pooled_df"], pg["pooled_se"], pg["pooled_gain"]
    if not df:
        return math.nan, math.nan, math.nan
    tq = stats.t.ppf(1 - alpha / 2, df)
    return gain - tq * se, gain + tq * se, (tq + stats.t.ppf(power, df)) * se


def pooled_gain(diffs: list[np.ndarray]) -> dict:
    """Mean gain over n (each n equally), its standard error under a variance shared across n, and the df."""
    if not diffs:
        return {"pooled_gain": math.nan, "pooled_se": math.nan, "pooled_df": 0, "pooled_n": 0}
    ss = sum(float(((d - d.mean()) ** 2).sum()) for d in diffs)
    df = sum(len(d) - 1 for d in diffs)
    s2 = ss / df
    n = len(diffs)
    se = math.sqrt(s2 * sum(1.0 / len(d) for d in diffs)) / n
    return {
        "pooled_gain": float(np.mean([d.mean() for d in diffs])),
        "pooled_se": se,
        "pooled_df": int(df),
        "pooled_n": n,
        "pooled_s2": s2,
    }


def simultaneous_interval(gain: float, s2: float, k: int, df: int, n_rules: int, alpha: float = 0.05) -> tuple:
    """A (1 - alpha) interval for one n's gain (``k`` paired seeds) simultaneous over ``n_rules`` (Bonferroni),
    with the variance ``s2`` shared across n."""
    if not (np.isfinite(s2) and k >= 1 and df >= 1):
        return math.nan, math.nan
    t = stats.t.ppf(1 - alpha / (2 * max(n_rules, 1)), df)
    h = t * math.sqrt(s2 / k)
    return gain - h, gain + h


def pooled_gain_tests(
    gains: pd.DataFrame, group: Sequence[str], rule: Sequence[str], *, alpha: float = 0.05, power: float = 0.8
) -> pd.DataFrame:
    """One row per rule: pooled mean gain over the n where it is in play (``in_play`` rows of ``gains``), its
    se, df, p, Holm-adjusted p across the rules of its ``group``, ``beats`` (better / worse / no difference) and
    ``mde`` (smallest mean gain detectable with ``power`` at level alpha / R)."""
    rows = []
    for gkey, g in gains.groupby(list(group), dropna=False, sort=True):
        fam = []
        for rkey, r in g.groupby(list(rule), dropna=False, sort=True):
            inplay = r.loc[(r["keep"] < 1) | (r["baseline_keep"] < 1)]
            pg = pooled_gain(seed_diffs(inplay))
            p = pooled_p(pg)
            key = dict(zip(group, gkey if isinstance(gkey, tuple) else (gkey,)))
            fam.append({**key, **dict(zip(rule, rkey if isinstance(rkey, tuple) else (rkey,))), **pg, "p": p})
        r_count = sum(np.isfinite(f["p"]) for f in fam)
        for f, padj in zip(fam, holm([f["p"] for f in fam])):
            lo, hi, mde = interval_and_mde(f, alpha / max(r_count, 1), power)
            beats = (
                "untested"
                if not np.isfinite(padj)
                else "better"
                if padj < alpha and f["pooled_gain"] > 0
                else "worse"
                if padj < alpha
                else "no difference shown"
            )
            rows.append(
                {**f, "p_holm": padj, "pooled_lo": lo, "pooled_hi": hi, "mde": mde, "beats": beats, "n_rules": r_count}
            )
    return pd.DataFrame(rows)
