"""The paper's crossover: keep-easy beats keep-hard with little data, keep-hard beats keep-easy with much.

Sorscher et al. (2022, Fig. 1 and 3) predict that the better strategy flips with the amount of data: from a small
pool keep the easy examples, from a large one the hard ones. The test, per metric and group (dataset, model,
context):

* at a pool size ``P`` and every keep < 1 where both strategies ran, the seed-paired difference
  ``d = log error(keep_hard) - log error(keep_easy)`` (positive: keep-easy is better; the same seed is the same pool
  draw and the same scores, so the two strategies differ only in which end of the ranking they keep);
* at ``P``, the mean of ``d`` over the keeps, each keep equally, with one seed variance shared across the keeps
  (:func:`bench.collect.pooled.pooled_gain`) and a two-sided t p-value;
* the two ends are the test: the smallest and the largest pool, for every metric of the group, one family
  (metrics x 2 ends), **Holm**-corrected. A metric **crosses over** when keep-easy is better at the smallest pool and
  keep-hard is better at the largest, both after the correction; their intervals are simultaneous over the family
  (Bonferroni) and ``mde`` is the smallest mean ``|d|`` the design detects with 80% power at that level;
* the pools in between are in the table with plain 95% intervals, uncorrected: exploratory.

The ends, the statistic and the family are fixed before any result is seen; no seed or keep is chosen by outcome.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bench.collect.pooled import holm, interval_and_mde, pooled_gain, pooled_p, seed_diffs

__all__ = ["EASY", "HARD", "crossover_lines", "crossover_table", "strategy_differences"]

EASY, HARD = "keep_easy", "keep_hard"
_KEYS = ("dataset", "model")


def _seed_errors(g: pd.DataFrame) -> dict[int, float]:
    fin = g.loc[np.isfinite(g["test_error"]) & (g["test_error"] > 0)]
    return {int(s): float(e) for s, e in zip(fin["seed"], fin["test_error"])}


def strategy_differences(runs: pd.DataFrame, context: Sequence[str] = ()) -> pd.DataFrame:
    """One row per (dataset, model, context, metric, pool_size, keep < 1) where both keep_easy and keep_hard ran:
    ``seed_log_diffs`` (JSON ``{seed: log err(hard) - log err(easy)}`` over the seeds both have) and their mean."""
    keys = [*_KEYS, *context, "metric", "pool_size", "keep"]
    d = runs.loc[runs["strategy"].isin([EASY, HARD]) & (runs["keep"] < 1)]
    rows = []
    for key, g in d.groupby(keys, dropna=False, sort=True):
        easy, hard = _seed_errors(g.loc[g["strategy"] == EASY]), _seed_errors(g.loc[g["strategy"] == HARD])
        shared = sorted(set(easy) & set(hard))
        if not shared:
            continue
        diffs = {s: math.log(hard[s]) - math.log(easy[s]) for s in shared}
        rows.append(
            {
                **dict(zip(keys, key)),
                "seeds": len(shared),
                "mean_diff": float(np.mean(list(diffs.values()))),
                "seed_log_diffs": json.dumps(diffs),
            }
        )
    return pd.DataFrame(rows, columns=[*keys, "seeds", "mean_diff", "seed_log_diffs"])


def _pool_row(key: dict, pool: float, end: str, cells: pd.DataFrame) -> dict:
    pg = pooled_gain(seed_diffs(cells))
    return {**key, "pool_size": pool, "end": end, "keeps": len(cells), **pg, "p": pooled_p(pg)}


def _favours(diff: float, p: float, alpha: float) -> str:
    if not np.isfinite(p):
        return "untested"
    if p >= alpha:
        return "neither shown"
    return EASY if diff > 0 else HARD


def _finish_family(rows: list[dict], alpha: float, power: float) -> None:
    """Holm over the ends of one group; simultaneous intervals and mde for the ends, plain 95% for the rest."""
    ends = [r for r in rows if r["end"]]
    m = sum(np.isfinite(r["p"]) for r in ends)
    for r, padj in zip(ends, holm([r["p"] for r in ends])):
        r["p_holm"], r["family"] = padj, m
    for r in rows:
        r["lo"], r["hi"], r["mde"] = interval_and_mde(r, alpha / max(m, 1) if r["end"] else alpha, power)
        p = r.get("p_holm", math.nan) if r["end"] else r["p"]
        r["favours"] = _favours(r["pooled_gain"], p, alpha)


def crossover_table(
    runs: pd.DataFrame, context: Sequence[str] = (), *, alpha: float = 0.05, power: float = 0.8
) -> pd.DataFrame:
    """Per group, metric and pool: the mean log-error difference of keep_hard over keep_easy (``pooled_gain``,
    positive = keep_easy better), its se, df, p, interval (``lo``/``hi``), ``favours``; the smallest and largest
    pool (``end``) carry ``p_holm`` over the group's family and ``mde``."""
    diffs = strategy_differences(runs, context)
    group = [*_KEYS, *context]
    out = []
    for gkey, g in diffs.groupby(group, dropna=False, sort=True):
        pools = sorted(g["pool_size"].unique())
        rows = []
        for metric, gm in g.groupby("metric", sort=True):
            key = {**dict(zip(group, gkey if isinstance(gkey, tuple) else (gkey,))), "metric": metric}
            for pool in pools:
                end = "smallest" if pool == pools[0] else "largest" if pool == pools[-1] else ""
                rows.append(_pool_row(key, pool, end if len(pools) > 1 else "", gm.loc[gm["pool_size"] == pool]))
        _finish_family(rows, alpha, power)
        out += rows
    return pd.DataFrame(out)


def _names(t: pd.DataFrame, end: str, side: str) -> list[str]:
    return sorted(t.loc[(t["end"] == end) & (t["favours"] == side), "metric"])


def _listed(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``; ``no metric`` for no name (never ``none``, which is a metric's name)."""
    if not names:
        return "no metric"
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def crossover_lines(table: pd.DataFrame, context: Sequence[str] = ()) -> list[str]:
    """One sentence per group: how many metrics cross over, and which strategy each end favours."""
    if table.empty or "p_holm" not in table:
        return []
    lines = []
    gkeys = [*_KEYS, *context]
    shown = [c for c in gkeys if c in _KEYS or table[c].nunique(dropna=False) > 1]  # as the collector's answer
    for gkey, t in table.groupby(gkeys, dropna=False, sort=True):
        ends = t.loc[t["end"] != ""]
        if ends.empty:
            continue
        small, large = ends["pool_size"].min(), ends["pool_size"].max()
        crossing = sorted(set(_names(t, "smallest", EASY)) & set(_names(t, "largest", HARD)))
        k = dict(zip(gkeys, gkey if isinstance(gkey, tuple) else (gkey,)))
        head = ", ".join(f"{c}={k[c]}" for c in shown if pd.notna(k[c]))
        if int(ends["family"].iloc[0]) == 0:
            lines.append(
                f"**{head}, the crossover**: not tested. At neither the smallest pool, {small:g}, nor the largest, "
                f"{large:g}, does any metric have keep_easy and keep_hard runs on 2 or more shared seeds."
            )
            continue
        lines.append(
            f"**{head}, the crossover** (keep_easy better than keep_hard at the smallest pool, {small:g}, and "
            f"keep_hard better at the largest, {large:g}; the mean log-error difference over keeps < 1, paired by "
            f"seed, Holm-corrected over {int(ends['family'].iloc[0])} tests): shown for {len(crossing)} of "
            f"{t['metric'].nunique()} metrics{f' ({_listed(crossing)})' if crossing else ''}. At pool {small:g} keep_easy is better for "
            f"{_listed(_names(t, 'smallest', EASY))}, and keep_hard for {_listed(_names(t, 'smallest', HARD))}; at "
            f"pool {large:g} keep_hard is better for {_listed(_names(t, 'largest', HARD))}, and keep_easy for "
            f"{_listed(_names(t, 'largest', EASY))}. The smallest mean difference this design detects with 80% "
            f"power is about {ends['mde'].median():.1%} (median over the tests)."
        )
    return lines
