"""The teacher-student perceptron study through the harness (Sorscher et al. 2022, Fig. 1-2): its tables.

Input: the run records of ``experiment=perceptron_theory`` / ``perceptron_probe`` (record directories), or the
``runs.csv`` that :func:`bench.theory.study_report.write_outputs` commits next to the report
(``results/perceptron/runs.csv``: one row per run, enough to redo every table without re-running the sweep).

Every function returns frames; nothing is written here (figures: :mod:`bench.theory.study_figures`, README:
:mod:`bench.theory.study_report`). The tables, one per claim of the paper:

1. :func:`classical_curve`: f = 1 learning curve vs the maximally stable perceptron (alpha * eps -> 0.5005);
2. :func:`easy_vs_hard`, :func:`crossovers`, :func:`winner_agreement`: keep easy vs keep hard at equal (alpha_tot, f);
3. :func:`frontiers`, :func:`frontier_ratios`: Pareto frontier over f vs random pruning;
4. :func:`error_vs_keep_at`, :func:`keep_optimum`: imperfect probe, a minimum keep fraction;
5. :func:`theory_gaps`, :func:`gap_summary`: replica theory vs simulation, cell by cell.

:func:`analyse` runs all of them. The frontier *shape* verdict is the collector's (``shape`` column of its fit
results, :mod:`bench.collect.shape`); :func:`shape_verdict` reads it and says "not assessed" when absent.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bench.collect import fit_curve, fit_frontiers, load_records, pareto_frontier
from bench.theory.replica import theory_error

#: Literature asymptote of the maximally stable perceptron, eps ~ C / alpha (Opper, Kinzel, Kleinz & Nehl 1990;
#: Engel & Van den Broeck 2001), as cited in bench/theory/replica.py.
ASYMPTOTE_C = 0.5005
CONTEXT = ("label_noise", "budget", "theta")
RULES = ("keep_hard", "keep_easy", "random")
#: columns of ``runs.csv`` (the committed, flat form of the records)
RUN_COLUMNS = [
    "sweep",
    "run_id",
    "theta",
    "rule",
    "metric",
    "strategy",
    "keep",
    "alpha_tot",
    "alpha_prune",
    "seed",
    "n_train",
    "test_error",
    "eps_theory",
    "wall_time_s",
]
NOT_ASSESSED = "not assessed"


# =========================================================================== loading
def _analysis_columns(df: pd.DataFrame) -> pd.DataFrame:
    """``alpha_tot``, ``alpha_prune``, ``theta`` (degrees, 0.1), ``eps_theory`` and ``rule`` from the record columns.

    ``rule``: ``full`` for keep = 1 (the same student whatever the metric), else ``random`` or the margin strategy.
    """
    df["alpha_tot"] = pd.to_numeric(df["extra.alpha_tot"], errors="coerce")
    df["alpha_prune"] = pd.to_numeric(df["extra.alpha_prune"], errors="coerce")
    df["theta"] = pd.to_numeric(df["extra.probe_angle_deg"], errors="coerce").round(1)
    df["eps_theory"] = pd.to_numeric(df.get("extra.eps_theory"), errors="coerce")
    full = np.isclose(df["keep"].astype(float), 1.0)
    df["rule"] = np.where(full, "full", np.where(df["metric"] == "random", "random", df["strategy"]))
    return df


def _load_record_dirs(paths: list[str]) -> pd.DataFrame:
    ok, failed = load_records(paths)
    if len(failed):
        warnings.warn(
            f"{len(failed)} failed/invalid record(s) ignored: {failed['reason'].value_counts().to_dict()}", stacklevel=2
        )
    return _analysis_columns(ok.loc[ok["dataset"] == "perceptron"].copy())


def load_runs_csv(path) -> pd.DataFrame:
    """A committed ``runs.csv`` back into the frame :func:`load_perceptron` returns (collector columns included).

    ``dataset``/``model`` are ``perceptron``; the input dimension N = n_train / alpha_prune (one per sweep) gives
    ``pool_size`` = round(alpha_tot * N), the collector's pool key; ``extra.*`` mirror the analysis columns.
    """
    df = pd.read_csv(path)
    missing = set(RUN_COLUMNS) - set(df.columns)
    if missing:
        raise ValueError(f"{path}: not a perceptron runs.csv (missing {sorted(missing)})")
    dim = (df["n_train"] / df["alpha_prune"]).groupby(df["sweep"], dropna=False).transform("median").round()
    df = df.assign(
        dataset="perceptron",
        model="perceptron",
        pool_size=(df["alpha_tot"] * dim).round().astype(int),
        **{
            "extra.alpha_tot": df["alpha_tot"],
            "extra.alpha_prune": df["alpha_prune"],
            "extra.probe_angle_deg": df["theta"],
            "extra.eps_theory": df["eps_theory"],
        },
    )
    return _analysis_columns(df)


def load_perceptron(paths) -> pd.DataFrame:
    """The ``ok`` perceptron runs under ``paths`` (record directories and/or ``runs.csv`` files) with analysis columns.

    Adds ``alpha_tot``, ``alpha_prune``, ``theta`` (probe angle, degrees, rounded to 0.1), ``eps_theory`` and
    ``rule`` (see :func:`_analysis_columns`). Paths that do not exist are skipped.
    """
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    paths = [p for p in paths if p.exists()]
    if not paths:
        raise FileNotFoundError("no record directory or runs.csv found")
    parts = [load_runs_csv(p) for p in paths if p.is_file()]
    dirs = [str(p) for p in paths if p.is_dir()]
    if dirs:
        parts.append(_load_record_dirs(dirs))
    return pd.concat(parts, ignore_index=True).reset_index(drop=True)


def _agg(g: pd.DataFrame, col: str = "test_error") -> dict:
    v = g[col].to_numpy(float)
    v = v[np.isfinite(v)]
    n = len(v)
    return {
        "mean": float(v.mean()) if n else math.nan,
        "sem": float(v.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan,
        "n": n,
    }


def cells(df: pd.DataFrame) -> pd.DataFrame:
    """Seed-aggregated cells: one row per (theta, rule, keep, alpha_tot) with sim mean/sem and theory mean."""
    rows = []
    for (th, rule, keep, at), g in df.groupby(["theta", "rule", "keep", "alpha_tot"], sort=True):
        a = _agg(g)
        t = g["eps_theory"].to_numpy(float)
        rows.append(
            {
                "theta": th,
                "rule": rule,
                "keep": keep,
                "alpha_tot": at,
                "alpha_prune": float(g["alpha_prune"].mean()),
                "sim": a["mean"],
                "sem": a["sem"],
                "n_seeds": a["n"],
                "theory": float(np.nanmean(t)) if np.isfinite(t).any() else math.nan,
            }
        )
    return pd.DataFrame(rows)


def _full_for_theta(df: pd.DataFrame, theta: float) -> pd.DataFrame:
    """The keep = 1 runs relabelled to probe angle ``theta`` (the unpruned student does not see the probe)."""
    full = df.loc[df["rule"] == "full"].copy()
    full["theta"] = theta
    return full.drop_duplicates(subset=["alpha_tot", "seed", "theta"])


# =========================================================================== claim 1
def classical_curve(df: pd.DataFrame, x_min: float = 2.0, n_boot: int = 200) -> tuple[pd.DataFrame, object]:
    """f = 1 learning curve vs the literature asymptote 0.5005/alpha, and its collector fit (alpha >= x_min)."""
    full = df.loc[df["rule"] == "full"].drop_duplicates(subset=["alpha_tot", "seed"])
    rows = []
    for at, g in full.groupby("alpha_tot"):
        a = _agg(g)
        th = float(np.nanmean(g["eps_theory"].to_numpy(float)))
        rows.append(
            {
                "alpha": at,
                "sim": a["mean"],
                "sem": a["sem"],
                "n_seeds": a["n"],
                "theory": th,
                "alpha_eps_sim": at * a["mean"],
                "alpha_eps_sem": at * a["sem"],
                "alpha_eps_theory": at * th,
                "asymptote": ASYMPTOTE_C / at,
                "gap_se": (a["mean"] - th) / a["sem"] if a["sem"] > 0 else math.nan,
            }
        )
    tab = pd.DataFrame(rows)
    sel = full.loc[full["alpha_tot"] >= x_min]
    fit = fit_curve(sel["alpha_tot"].to_numpy(float), sel["test_error"].to_numpy(float), n_boot=n_boot, seed=0)
    return tab, fit


# =========================================================================== claim 2
def easy_vs_hard(df: pd.DataFrame, theta: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """keep_easy vs keep_hard at equal (alpha_tot, f): the cell table, and :func:`crossovers` of it.

    ``z`` = (hard - easy) / s.e. of the difference (negative: keep hard better); ``winner`` is the sign of the
    difference of the seed means whatever |z|, ``significant`` marks |z| > 2.
    """
    c = cells(df.loc[df["theta"] == theta])
    h = c.loc[c["rule"] == "keep_hard"].set_index(["keep", "alpha_tot"])
    e = c.loc[c["rule"] == "keep_easy"].set_index(["keep", "alpha_tot"])
    idx = h.index.intersection(e.index)
    tab = pd.DataFrame(
        {
            "alpha_prune": h.loc[idx, "alpha_prune"],
            "hard": h.loc[idx, "sim"],
            "hard_sem": h.loc[idx, "sem"],
            "easy": e.loc[idx, "sim"],
            "easy_sem": e.loc[idx, "sem"],
            "hard_theory": h.loc[idx, "theory"],
            "easy_theory": e.loc[idx, "theory"],
        }
    ).reset_index()
    diff = tab["hard"] - tab["easy"]
    tab["z"] = diff / np.sqrt(tab["hard_sem"] ** 2 + tab["easy_sem"] ** 2)
    tab["winner"] = np.where(diff < 0, "hard", "easy")
    tab["winner_theory"] = np.where(tab["hard_theory"] < tab["easy_theory"], "hard", "easy")
    tab["significant"] = np.abs(tab["z"]) > 2
    return tab, crossovers(tab)


def _crossing(alpha_tot: np.ndarray, hard: np.ndarray, easy: np.ndarray) -> dict:
    """Where log(hard/easy) goes from > 0 to <= 0, log-interpolated in alpha_tot, with its bracket and a note."""
    r, la = np.log(hard / easy), np.log(alpha_tot)
    cross, lo, hi = math.nan, math.nan, math.nan
    for i in range(len(r) - 1):
        if r[i] > 0 >= r[i + 1]:  # easy better, then hard better
            cross = float(np.exp(la[i] + (la[i + 1] - la[i]) * r[i] / (r[i] - r[i + 1])))
            lo, hi = float(alpha_tot[i]), float(alpha_tot[i + 1])
    note = ""
    if np.isnan(cross) and len(r):
        note = (
            "hard wins everywhere"
            if (r <= 0).all()
            else "easy wins everywhere"
            if (r > 0).all()
            else "no single crossing"
        )
    return {
        "cross": cross,
        "bracket_lo": lo,
        "bracket_hi": hi,
        "note": note,
        "sign_changes": int(np.sum(np.diff(np.sign(r)) != 0)),
    }


def crossovers(tab: pd.DataFrame) -> pd.DataFrame:
    """Per keep fraction: the crossover alpha_tot of :func:`_crossing` for the simulation and the theory means."""
    rows = []
    for keep, g in tab.groupby("keep"):
        g = g.sort_values("alpha_tot")
        at = g["alpha_tot"].to_numpy(float)
        row = {"keep": keep}
        for label, hc, ec in (("sim", "hard", "easy"), ("theory", "hard_theory", "easy_theory")):
            c = _crossing(at, g[hc].to_numpy(float), g[ec].to_numpy(float))
            row.update({f"{k}_{label}": v for k, v in c.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def winner_agreement(tab: pd.DataFrame) -> dict:
    """How often simulation and theory name the same winner, split by whether the simulation resolves it (|z| > 2).

    A cell with |z| <= 2 has a simulated winner that the seeds do not resolve: agreement there is no evidence.
    """
    same = tab["winner"] == tab["winner_theory"]
    sig = tab["significant"].astype(bool)
    return {
        "cells": len(tab),
        "same": int(same.sum()),
        "resolved": int(sig.sum()),
        "same_resolved": int((same & sig).sum()),
        "unresolved": int((~sig).sum()),
        "same_unresolved": int((same & ~sig).sum()),
        "disagree": tab.loc[~same, ["alpha_tot", "keep", "z"]].to_dict("records"),
    }


# =========================================================================== claims 3 and 4
def frontier_data(df: pd.DataFrame, rules=("keep_hard", "random"), thetas=None) -> pd.DataFrame:
    """Rows of ``df`` for the given rules and probe angles, with the keep = 1 runs lent to each angle."""
    thetas = sorted(df["theta"].unique()) if thetas is None else thetas
    parts = []
    for th in thetas:
        d = df.loc[(df["theta"] == th) & df["rule"].isin(rules)]
        if d.empty:
            continue
        parts.append(d)
        parts.append(_full_for_theta(df, th))
    out = pd.concat(parts, ignore_index=True) if parts else df.iloc[:0]
    # keep=1 runs become part of the random group (metric random); margin groups borrow them (collector rule)
    return out.drop_duplicates(subset=["run_id", "theta"])


def _label_groups(t: pd.DataFrame) -> pd.DataFrame:
    """``group`` column (random or the strategy); drops the random group at theta != 0.

    At theta != 0 the random group holds only the lent keep = 1 runs (random pruning ignores the probe and was
    run at theta = 0 only): not a random-pruning frontier.
    """
    if t.empty:
        return t
    t.insert(0, "group", np.where(t["metric"] == "random", "random", t["strategy"]))
    return t.loc[~((t["group"] == "random") & (t["theta"] != 0.0))].reset_index(drop=True)


def frontiers(
    df: pd.DataFrame, x_min: float = 2.0, n_boot: int = 200, rules=("keep_hard", "random"), thetas=None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pareto frontiers over (keep, alpha_tot) of error vs alpha_prune, and their collector fits on x >= x_min.

    Returns ``(frontier, fits)``: the collector's ``pareto_frontier`` on all runs (for plots and ratios), and its
    ``fit_frontiers`` on the runs with alpha_prune >= x_min (nu with a bootstrap that re-selects the frontier, and
    the calibrated ``shape`` verdict when the collector provides it). Groups: (metric, strategy, theta).
    """
    d = frontier_data(df, rules, thetas)
    fr = pareto_frontier(d, context=CONTEXT)
    fits, _ = fit_frontiers(d.loc[d["alpha_prune"] >= x_min], context=CONTEXT, n_boot=n_boot, seed=0)
    return _label_groups(fr), _label_groups(fits)


def frontier_ratios(fr: pd.DataFrame, x_min: float = 2.0, theta: float = 0.0) -> pd.DataFrame:
    """random / keep_hard frontier error at every alpha_prune >= x_min where both have a best cell.

    Uses the best cell at each alpha_prune (``pareto_frontier`` rows, Pareto-optimal or not): beyond the
    keep_hard transition the keep_hard best cell stops improving once it reaches the error of the largest pool.
    """
    sel = fr.loc[(fr["theta"] == theta) & (fr["x"] >= x_min)]
    h = sel.loc[sel["group"] == "keep_hard"].set_index("x")
    r = sel.loc[sel["group"] == "random"].set_index("x")
    x = h.index.intersection(r.index).sort_values()
    out = pd.DataFrame(
        {
            "alpha_prune": x,
            "hard": h.loc[x, "mean"].to_numpy(),
            "hard_sem": h.loc[x, "sem"].to_numpy(),
            "hard_keep": h.loc[x, "keep"].to_numpy(),
            "hard_pool": h.loc[x, "pool_size"].to_numpy(),
            "hard_pareto": h.loc[x, "pareto"].to_numpy(),
            "random": r.loc[x, "mean"].to_numpy(),
            "random_sem": r.loc[x, "sem"].to_numpy(),
        }
    )
    out["ratio"] = out["random"] / out["hard"]
    out["ratio_se"] = out["ratio"] * np.sqrt(
        (out["hard_sem"] / out["hard"]) ** 2 + (out["random_sem"] / out["random"]) ** 2
    )
    return out


def shape_verdict(fits: pd.DataFrame, group: str, theta: float = 0.0) -> str:
    """The collector's calibrated ``shape`` verdict for one frontier fit, or "not assessed".

    SHAPE VERDICT HOOK: reads column ``shape`` of the collector's fit rows (``frontier_fits.csv``); when the
    collector does not provide it (older versions), the README says "not assessed" rather than a guess from AIC.
    """
    if fits.empty or "shape" not in fits.columns:
        return NOT_ASSESSED
    row = fits.loc[(fits["group"] == group) & (fits["theta"] == theta)]
    if row.empty or not isinstance(row["shape"].iloc[0], str) or not row["shape"].iloc[0]:
        return NOT_ASSESSED
    return row["shape"].iloc[0]


def _keep_hard_cells(df: pd.DataFrame, rule: str = "keep_hard") -> pd.DataFrame:
    return cells(pd.concat([df.loc[df["rule"] == rule]] + [_full_for_theta(df, th) for th in df["theta"].unique()]))


def error_vs_keep_at(df: pd.DataFrame, alpha_prune: float, rule: str = "keep_hard") -> pd.DataFrame:
    """keep_hard error against f at a fixed alpha_prune (cells with f * alpha_tot = alpha_prune), per theta."""
    c = _keep_hard_cells(df, rule)
    c = c.loc[np.isclose(c["alpha_prune"], alpha_prune)]
    return c.sort_values(["theta", "keep"]).reset_index(drop=True)


def keep_optimum(df: pd.DataFrame) -> pd.DataFrame:
    """Per (theta, alpha_prune) with >= 3 keep fractions: the best f (simulation and theory)."""
    rows = []
    for (th, ap), g in _keep_hard_cells(df).groupby(["theta", "alpha_prune"]):
        if len(g) < 3:
            continue
        b = g.loc[g["sim"].idxmin()]
        bt = g.loc[g["theory"].idxmin(), "keep"] if g["theory"].notna().any() else math.nan
        small = g.loc[g["keep"].idxmin()]
        rows.append(
            {
                "theta": th,
                "alpha_prune": ap,
                "keeps": ", ".join(f"{k:g}" for k in sorted(g["keep"])),
                "best_keep_sim": b["keep"],
                "best_sim": b["sim"],
                "best_sem": b["sem"],
                "best_keep_theory": bt,
                "smallest_keep_sim": small["sim"],
                "smallest_keep": small["keep"],
            }
        )
    return pd.DataFrame(rows)


# =========================================================================== claim 5
def theory_gaps(df: pd.DataFrame) -> pd.DataFrame:
    """Every cell with both a simulation (>= 2 seeds) and a converged theory value: gap and gap / s.e."""
    c = cells(df.loc[df["rule"] != "full"])
    full = cells(df.loc[df["rule"] == "full"].drop_duplicates(subset=["alpha_tot", "seed"]).assign(theta=0.0))
    c = pd.concat([c, full], ignore_index=True)
    c = c.loc[np.isfinite(c["theory"]) & (c["n_seeds"] >= 2)].copy()
    c["gap"] = c["sim"] - c["theory"]
    c["gap_se"] = c["gap"] / c["sem"].where(c["sem"] > 0)
    c["rel_gap"] = c["gap"] / c["theory"]
    return c.reset_index(drop=True)


def gap_summary(g: pd.DataFrame) -> dict:
    """Counts and extremes of :func:`theory_gaps` (``frac_lt2``: fraction of cells with |gap|/s.e. < 2)."""
    a = g["gap_se"].abs().dropna()
    return {
        "cells": len(g),
        "frac_lt2": float((a < 2).mean()),
        "frac_lt3": float((a < 3).mean()),
        "median_abs_se": float(a.median()),
        "mean_signed_se": float(g["gap_se"].mean()),
        "median_rel": float(g["rel_gap"].abs().median()),
        "worst_abs": g.loc[g["gap"].abs().idxmax()].to_dict(),
        "worst_se": g.loc[g["gap_se"].abs().idxmax()].to_dict(),
    }


# =========================================================================== everything
def analyse(paths, x_min: float = 2.0, n_boot: int = 200, alpha_fixed=(3.2, 6.4)) -> dict:
    """Every table of the README, as frames/dicts (no files written). ``paths``: record dirs and/or runs.csv."""
    df = load_perceptron(paths)
    alpha_fixed = [alpha_fixed] if np.isscalar(alpha_fixed) else list(alpha_fixed)
    res = {"df": df, "x_min": x_min, "alpha_fixed": alpha_fixed}
    res["classical"], res["classical_fit"] = classical_curve(df, x_min, n_boot)
    res["easy_hard"], res["crossover"] = easy_vs_hard(df, 0.0)
    res["agreement"] = winner_agreement(res["easy_hard"])
    res["frontier"], res["fits"] = frontiers(df, x_min, n_boot)
    res["ratios"] = frontier_ratios(res["frontier"], x_min)
    res["keep_opt"] = keep_optimum(df)
    res["ev_keep"] = pd.concat([error_vs_keep_at(df, a) for a in alpha_fixed], ignore_index=True)
    res["gaps"] = theory_gaps(df)
    res["gap_summary"] = gap_summary(res["gaps"]) if len(res["gaps"]) else {}
    return res


# =========================================================================== sweep planning
def theory_frontier(alpha_tots, keeps, theta: float = 0.0, rule: str = "keep_hard", x_min: float = 2.0) -> pd.DataFrame:
    """The keep_hard Pareto frontier a sweep over ``alpha_tots`` x ``keeps`` (plus f = 1) would show, by theory.

    Every cell's error is the replica prediction (infinite N) at alpha_prune = f * alpha_tot; the frontier is built
    like the collector's (best cell per alpha_prune, Pareto = strictly below every smaller alpha_prune). Use it to
    judge a grid before running it: the rows with ``pareto`` and ``alpha_prune >= x_min`` are the fitted points.
    """

    rows = []
    for at in alpha_tots:
        for f in sorted(set(keeps) | {1.0}):
            r = theory_error(f * at, f, rule if f < 1 else "random", theta)
            rows.append({"alpha_tot": at, "keep": f, "alpha_prune": round(f * at, 10), "eps": r["eps"]})
    c = pd.DataFrame(rows)
    best = c.loc[c.groupby("alpha_prune")["eps"].idxmin()].sort_values("alpha_prune").reset_index(drop=True)
    prev = np.concatenate([[np.inf], np.minimum.accumulate(best["eps"].to_numpy())[:-1]])
    best["pareto"] = best["eps"].to_numpy() < prev * (1 - 1e-6)
    best["fitted"] = best["pareto"] & (best["alpha_prune"] >= x_min)
    return best
