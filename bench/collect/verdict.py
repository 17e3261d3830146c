"""The answer a sweep was run for: does a pruning rule beat random pruning, and does it bend the curve?

Inputs are the collector's frontier table (:func:`bench.collect.frontier.pareto_frontier`: the best
(keep, pool) cell of every (metric, strategy) at each number of kept examples ``x``, with the cell's
``{seed: error}``) and its frontier fits (:func:`bench.collect.frontier.fit_frontiers`: exponent, interval,
calibrated shape verdict).

* :func:`gains_vs_baseline`: at every ``x`` where both exist, the gain of a rule's best cell over the
  baseline's (random pruning's) best cell, ``gain = error_baseline - error_rule`` (positive: the rule is
  better), with a t interval **paired by seed** when the two cells share at least 2 seeds (same seed = same
  pool draw), else Welch's unpaired interval. Both sides are minima over keep fractions, so both carry the
  same small optimistic selection bias.
* :func:`verdict_table`: one row per (metric, strategy) and context: the x range, the frontier's exponent
  with its interval and fit status, the shape verdict with its p-values, the gain at the largest x where
  either side prunes (at the pool's full size both train on the same data), and at how many shared x the
  gain's interval lies above / below zero.
* :func:`answer_lines`: plain sentences that lead the report.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from bench.collect.pooled import pooled_gain_tests, simultaneous_interval
from bench.collect.reference import DYNAMIC_STRATEGIES

__all__ = ["answer_lines", "gains_vs_baseline", "paired_gain", "verdict_table"]

_GROUP = ("dataset", "model", "metric", "strategy")
#: Metrics that are references, not pruning rules: ``none`` is the full-data (keep = 1) learning curve. Under a
#: dynamic strategy (InfoBatch prunes during training) they are rules like any other.
REFERENCE_METRICS = ("none",)


def _is_rule(df: pd.DataFrame, baseline: str) -> np.ndarray:
    """Rows that are pruning rules: not the static baseline, not a static reference."""
    dynamic = df["strategy"].isin(DYNAMIC_STRATEGIES)
    return (~df["metric"].isin([baseline, *REFERENCE_METRICS]) | dynamic).to_numpy()


def _is_baseline(df: pd.DataFrame, baseline: str) -> np.ndarray:
    return ((df["metric"] == baseline) & ~df["strategy"].isin(DYNAMIC_STRATEGIES)).to_numpy()


def _seed_errors(v) -> dict[int, float]:
    if isinstance(v, dict):
        return {int(k): float(e) for k, e in v.items()}
    if isinstance(v, str) and v:
        return {int(k): float(e) for k, e in json.loads(v).items()}
    return {}


def paired_gain(base: dict[int, float], rule: dict[int, float], ci: float = 0.95) -> dict:
    """Gain ``mean(base) - mean(rule)`` with a ``ci`` interval: paired by shared seeds, else Welch.

    Returns ``gain``, ``gain_lo``, ``gain_hi``, ``gain_se``, ``n_pairs`` (0 when unpaired) and ``paired``.
    """
    common = sorted(set(base) & set(rule))
    q = 0.5 + ci / 2
    if len(common) >= 2:
        d = np.array([base[s] - rule[s] for s in common])
        se = float(d.std(ddof=1) / math.sqrt(len(d)))
        t = stats.t.ppf(q, len(d) - 1)
        return {
            "gain": float(d.mean()),
            "gain_lo": float(d.mean() - t * se),
            "gain_hi": float(d.mean() + t * se),
            "gain_se": se,
            "n_pairs": len(d),
            "paired": True,
        }
    b, r = np.array(list(base.values())), np.array(list(rule.values()))
    out = {
        "gain": float(b.mean() - r.mean()) if len(b) and len(r) else math.nan,
        "gain_lo": math.nan,
        "gain_hi": math.nan,
        "gain_se": math.nan,
        "n_pairs": 0,
        "paired": False,
    }
    if len(b) >= 2 and len(r) >= 2:
        vb, vr = b.var(ddof=1) / len(b), r.var(ddof=1) / len(r)
        se = math.sqrt(vb + vr)
        dof = (vb + vr) ** 2 / max(vb**2 / (len(b) - 1) + vr**2 / (len(r) - 1), 1e-300)
        t = stats.t.ppf(q, dof)
        out.update(gain_lo=out["gain"] - t * se, gain_hi=out["gain"] + t * se, gain_se=se)
    return out


def _baseline_rows(frontier: pd.DataFrame, baseline: str, share: list[str]) -> dict[tuple, pd.DataFrame]:
    base = frontier.loc[_is_baseline(frontier, baseline)]
    return {k if isinstance(k, tuple) else (k,): g for k, g in base.groupby(share, dropna=False)}


def gains_vs_baseline(
    frontier: pd.DataFrame, baseline: str = "random", *, ci: float = 0.95, context: Sequence[str] = ()
) -> pd.DataFrame:
    """Gain of every non-baseline frontier point over the baseline's frontier point at the same x.

    The baseline is the baseline metric under the rule's static selection when it exists (random pruning under
    keep_hard and under keep_easy are different random subsets; an InfoBatch rule's kept set is picked by its
    ``static_strategy``, keep_hard by default), else another static strategy of the baseline metric (named in
    ``baseline_strategy``).
    """
    if frontier.empty or "metric" not in frontier:
        return pd.DataFrame()
    ctx = [c for c in context if c in frontier.columns]
    share = ["dataset", "model", *ctx, "x_var", "x"]
    bases = _baseline_rows(frontier, baseline, share)
    rows = []
    rules = frontier.loc[_is_rule(frontier, baseline)]
    for _, r in rules.iterrows():
        cand = bases.get(tuple(r[c] for c in share))
        if cand is None or cand.empty:
            continue
        same = cand.loc[cand["strategy"] == _static_strategy(r)]
        b = (same if len(same) else cand.sort_values("strategy")).iloc[0]
        be, re_ = _seed_errors(b["seed_errors"]), _seed_errors(r["seed_errors"])
        g = paired_gain(be, re_, ci)
        common = [s for s in sorted(set(be) & set(re_)) if be[s] > 0 and re_[s] > 0]
        diffs = {str(s): math.log(be[s]) - math.log(re_[s]) for s in common}  # relative gain, for pooled tests
        rows.append(
            {
                **{c: r[c] for c in (*_GROUP, *ctx, "x_var", "x")},
                "keep": r["keep"],
                "pool_size": r["pool_size"],
                "error": r["mean"],
                "error_sem": r["sem"],
                "baseline_strategy": b["strategy"],
                "baseline_keep": b["keep"],
                "baseline_error": b["mean"],
                **g,
                "ci_level": ci,
                "seed_log_diffs": json.dumps(diffs),
            }
        )
    return pd.DataFrame(rows)


def _static_strategy(r) -> str:
    """The static selection behind a frontier row: its strategy, or for a dynamic rule its ``static_strategy``."""
    if r["strategy"] not in DYNAMIC_STRATEGIES:
        return r["strategy"]
    s = r.get("static_strategy")
    return s if isinstance(s, str) and s and s not in DYNAMIC_STRATEGIES else "keep_hard"


def pruned_gains(gains: pd.DataFrame) -> pd.DataFrame:
    """Gain rows where at least one side prunes (both at keep 1 is the same full pool: no comparison)."""
    p = gains.loc[(gains["keep"] < 1) | (gains["baseline_keep"] < 1)]
    return p if len(p) else gains


def _gain_summary(gains: pd.DataFrame) -> dict:
    """The gain at the largest n where pruning is in play, and at how many n it is clearly +/-."""
    if gains.empty:
        return {
            "gain_x": math.nan,
            "gain_keep": math.nan,
            "gain_error": math.nan,
            "gain_baseline_error": math.nan,
            "gain": math.nan,
            "gain_lo": math.nan,
            "gain_hi": math.nan,
            "gain_n_pairs": 0,
            "n_shared_x": 0,
            "n_better": 0,
            "n_worse": 0,
        }
    last = pruned_gains(gains).sort_values("x").iloc[-1]
    return {
        "gain_x": last["x"],
        "gain_keep": last["keep"],
        "gain_error": last["error"],
        "gain_baseline_error": last["baseline_error"],
        "gain": last["gain"],
        "gain_lo": last["gain_lo"],
        "gain_hi": last["gain_hi"],
        "gain_n_pairs": last["n_pairs"],
        "n_shared_x": len(gains),
        "n_better": int((gains["gain_lo"] > 0).sum()),
        "n_worse": int((gains["gain_hi"] < 0).sum()),
    }


def verdict_table(
    frontier: pd.DataFrame, fits: pd.DataFrame, gains: pd.DataFrame, *, context: Sequence[str] = ()
) -> pd.DataFrame:
    """One row per frontier (metric, strategy, context): exponent, shape verdict and gain over the baseline."""
    if frontier.empty:
        return pd.DataFrame()
    ctx = [c for c in context if c in frontier.columns]
    keys = [*_GROUP, *ctx, "x_var"]
    ff = fits.loc[fits["kind"] == "frontier"] if "kind" in fits else fits
    rows = []
    for key, g in frontier.groupby(keys, dropna=False, sort=True):
        k = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        fit = _match(ff, k)
        gg = _match_all(gains, k) if not gains.empty else gains
        row = {
            **k,
            "x_min": g["x"].min(),
            "x_max": g["x"].max(),
            "n_x": len(g),
            "best_error_at_x_max": g.sort_values("x")["mean"].iloc[-1],
        }
        fit_cols = {"fit_x_min": "x_min", "fit_x_max": "x_max", "fit_points": "n_points"}
        for c, src in fit_cols.items():
            row[c] = fit[src] if fit is not None and src in fit else math.nan
        for c in ("nu", "nu_lo", "nu_hi", "fit_status", "shape", "p_power", "p_exp", "shape_reason"):
            row[c] = fit[c] if fit is not None and c in fit else (math.nan if c != "shape" else "")
        rows.append({**row, **_gain_summary(gg)})
    out = pd.DataFrame(rows)
    return _with_pooled_tests(out, gains, [*("dataset", "model"), *ctx, "x_var"])


_POOLED_COLS = ("pooled_gain", "pooled_se", "pooled_df", "pooled_n", "pooled_s2", "p", "p_holm")
_POOLED_COLS += ("pooled_lo", "pooled_hi", "mde", "beats", "n_rules")


def _with_pooled_tests(verdicts: pd.DataFrame, gains: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    """Add the pooled, multiplicity-corrected test of each rule (:mod:`bench.collect.pooled`) and the best-rule
    interval at the largest n, simultaneous over the rules of its group."""
    if verdicts.empty or gains.empty or "seed_log_diffs" not in gains:
        return verdicts
    group = [c for c in group if c in gains.columns]
    tests = pooled_gain_tests(gains, group, ["metric", "strategy"])
    keys = [*group, "metric", "strategy"]
    tests = tests[keys + [c for c in _POOLED_COLS if c in tests.columns]].rename(columns={"p": "p_pooled"})
    out = verdicts.merge(tests, on=keys, how="left")
    lo, hi = [], []
    for r in out.itertuples(index=False):
        k = int(r.gain_n_pairs) if pd.notna(getattr(r, "gain_n_pairs", np.nan)) else 0
        s2, df, nr = getattr(r, "pooled_s2", np.nan), getattr(r, "pooled_df", 0), getattr(r, "n_rules", 0)
        # the shared variance is of log errors: at one n an absolute gain's sd is about that times the error there
        sd_scale = r.gain_baseline_error if pd.notna(r.gain_baseline_error) else np.nan
        a, b = simultaneous_interval(
            r.gain, s2 * sd_scale**2, k, int(df) if pd.notna(df) else 0, int(nr) if pd.notna(nr) else 0
        )
        lo.append(a)
        hi.append(b)
    return out.assign(gain_sim_lo=lo, gain_sim_hi=hi)


def match_mask(df: pd.DataFrame, key: dict) -> np.ndarray:
    """Rows of ``df`` equal to ``key`` on every key column it has (NaN matches NaN)."""
    m = np.ones(len(df), bool)
    for c, v in key.items():
        if c not in df.columns:
            continue
        col = df[c]
        m &= (col.isna() if pd.isna(v) else (col == v)).to_numpy()
    return m


def _match(df: pd.DataFrame, key: dict):
    sel = df.loc[match_mask(df, key)] if not df.empty else df
    return sel.iloc[0] if len(sel) else None


def _match_all(df: pd.DataFrame, key: dict) -> pd.DataFrame:
    return df.loc[match_mask(df, key)]


def _fmt_gain(r) -> str:
    if pd.isna(r["gain_lo"]):
        return f"{r['gain']:+.4f} (no interval)"
    return f"{r['gain']:+.4f} [{r['gain_lo']:+.4f}, {r['gain_hi']:+.4f}]"


def answer_lines(
    verdicts: pd.DataFrame,
    gains: pd.DataFrame,
    baseline: str = "random",
    context: Sequence[str] = (),
    *,
    shape: bool = True,
) -> list[str]:
    """Plain-language answers, one per (dataset, model, context) group (``shape=False``: the gains only)."""
    if verdicts.empty:
        return ["No frontier could be formed: nothing to compare."]
    out = []
    gkeys = [c for c in ("dataset", "model", *context, "x_var") if c in verdicts.columns]
    shown = [c for c in gkeys if c in ("dataset", "model") or verdicts[c].nunique(dropna=False) > 1]
    for key, v in verdicts.groupby(gkeys, dropna=False, sort=True):
        k = dict(zip(gkeys, key if isinstance(key, tuple) else (key,)))
        where = ", ".join(f"{c}={k[c]}" for c in shown if c != "x_var" and pd.notna(k[c]))
        g = _match_all(gains, k) if not gains.empty else gains
        out.append(f"**{where}**: " + _group_answer(v, g, baseline, shape))
    return out


def _gain_answer(v: pd.DataFrame, rules: pd.DataFrame, pruned: pd.DataFrame, baseline: str) -> list[str]:
    """The best rule at the largest n (interval simultaneous over the rules, as it was selected on these seeds)
    and how many rules beat the baseline under the pooled, Holm-corrected test."""
    xmax = pruned["x"].max()
    top = pruned.loc[pruned["x"] == xmax].sort_values("error").iloc[0]
    tv = _match(v, {c: top[c] for c in ("metric", "strategy")})
    lo = tv["gain_sim_lo"] if tv is not None and "gain_sim_lo" in tv else math.nan
    hi = tv["gain_sim_hi"] if tv is not None and "gain_sim_hi" in tv else math.nan
    n_rules = int(tv["n_rules"]) if tv is not None and pd.notna(tv.get("n_rules")) else len(rules)
    sig = "better than" if lo > 0 else "worse than" if hi < 0 else "not distinguishable from"
    ival = f"[{lo:+.4f}, {hi:+.4f}]" if pd.notna(lo) else "(no interval)"
    out = [
        f"at the largest n where pruning is in play (n = {xmax:g}), the lowest error is {top['metric']} "
        f"{top['strategy']} (keep {top['keep']:g}, error {top['error']:.4f}), {sig} {baseline}: gain "
        f"{top['gain']:+.4f} {ival}, an interval simultaneous over the {n_rules} rules since this one was picked "
        "as the best on the same seeds."
    ]
    if "beats" not in rules:
        return out + [
            f"{int((rules['n_better'] > 0).sum())} of {len(rules)} rules beat {baseline} at some n "
            "(per-n intervals, uncorrected: exploratory)."
        ]
    tested = rules.loc[rules["beats"].isin(["better", "worse", "no difference shown"])]
    n_b, n_w = int((tested["beats"] == "better").sum()), int((tested["beats"] == "worse").sum())
    mde = tested["mde"].median()
    out.append(
        f"Over the n where each is in play, {n_b} of {len(tested)} rules beat {baseline} and {n_w} are worse "
        f"(mean relative gain over n, log-error variance shared across n, Holm-corrected across the {len(tested)} "
        f"rules); the smallest mean relative gain this design detects with 80% power is about {100 * mde:.1f}%. "
        "Per-n intervals are exploratory."
    )
    return out


def _group_answer(v: pd.DataFrame, gains: pd.DataFrame, baseline: str, shape: bool = True) -> str:
    parts = []
    base = v.loc[_is_baseline(v, baseline)]
    base_shape = base["shape"].iloc[0] if len(base) else "absent"
    rules = v.loc[_is_rule(v, baseline)]
    if gains.empty or rules.empty:
        parts.append(f"no rule to compare with {baseline} pruning.")
    else:
        parts += _gain_answer(v, rules, pruned_gains(gains), baseline)
    if not shape:
        return " ".join(parts)
    bends = rules.loc[rules["shape"] == "bends below"]
    parts.append(
        f"{baseline}'s frontier: {base_shape}; "
        + (
            "frontiers that bend below a power law: "
            + ", ".join(f"{r.metric} {r.strategy}" for r in bends.itertuples())
            if len(bends)
            else "no rule's frontier bends below a power law"
        )
        + "."
    )
    return " ".join(parts)
