"""Figures, tables and README for the teacher-student perceptron runs (Sorscher et al. 2022, Fig. 1-2).

Reads the run records written by

    BENCH_HOME=outputs OMP_NUM_THREADS=1 python -m bench.run -m experiment=perceptron_theory
    BENCH_HOME=outputs OMP_NUM_THREADS=1 python -m bench.run -m experiment=perceptron_probe

through the collector (``bench.collect.load_records``, ``pareto_frontier``, ``fit_frontiers``, ``fit_curve``) and
writes ``results/perceptron/``: five figures (PNG + SVG), CSV tables and ``README.md``. Nothing is re-trained; the
only new computation is the replica-theory *line* drawn through the figures (``bench.theory.replica``, cheap); every
number quoted in the tables comes from the records (``test_error`` = simulated arccos(R)/pi, ``extra.eps_theory`` =
the replica prediction stored by the run).

Scaling fits are restricted to ``alpha_prune >= --x-min`` (default 2): below that the error saturates towards 1/2
(no pure power law fits there, and scaling laws are statements about the large-data regime).

    python scripts/perceptron_figures.py [--theory-dir DIR] [--probe-dir DIR] [--out results/perceptron]
        [--x-min 2] [--n-boot 200] [--wall perceptron_theory=SECONDS --wall perceptron_probe=SECONDS]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.collect import fit_curve, fit_frontiers, load_records, pareto_frontier  # noqa: E402

#: Literature asymptote of the maximally stable perceptron, eps ~ C / alpha (Opper, Kinzel, Kleinz & Nehl 1990;
#: Engel & Van den Broeck 2001), as cited in bench/theory/replica.py.
ASYMPTOTE_C = 0.5005
CONTEXT = ("label_noise", "budget", "theta")
RULES = ("keep_hard", "keep_easy", "random")


# =========================================================================== loading
def load_perceptron(paths) -> pd.DataFrame:
    """The ``ok`` perceptron records under ``paths`` with analysis columns.

    Adds ``alpha_tot``, ``alpha_prune``, ``theta`` (probe angle, degrees, rounded to 0.1), ``eps_theory`` and
    ``rule``: ``full`` for keep = 1 (the same student whatever the metric), else ``random`` or the margin strategy.
    """
    paths = [str(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths) if Path(p).exists()]
    if not paths:
        raise FileNotFoundError("no record directory found")
    ok, failed = load_records(paths)
    if len(failed):
        warnings.warn(f"{len(failed)} failed/invalid record(s) ignored: {failed['reason'].value_counts().to_dict()}")
    df = ok.loc[ok["dataset"] == "perceptron"].copy()
    df["alpha_tot"] = pd.to_numeric(df["extra.alpha_tot"], errors="coerce")
    df["alpha_prune"] = pd.to_numeric(df["extra.alpha_prune"], errors="coerce")
    df["theta"] = pd.to_numeric(df["extra.probe_angle_deg"], errors="coerce").round(1)
    df["eps_theory"] = pd.to_numeric(df.get("extra.eps_theory"), errors="coerce")
    full = np.isclose(df["keep"].astype(float), 1.0)
    df["rule"] = np.where(full, "full", np.where(df["metric"] == "random", "random", df["strategy"]))
    return df.reset_index(drop=True)


def _agg(g: pd.DataFrame, col: str = "test_error") -> dict:
    v = g[col].to_numpy(float)
    v = v[np.isfinite(v)]
    n = len(v)
    return {"mean": float(v.mean()) if n else math.nan,
            "sem": float(v.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan, "n": n}


def cells(df: pd.DataFrame) -> pd.DataFrame:
    """Seed-aggregated cells: one row per (theta, rule, keep, alpha_tot) with sim mean/sem and theory mean."""
    rows = []
    for (th, rule, keep, at), g in df.groupby(["theta", "rule", "keep", "alpha_tot"], sort=True):
        a = _agg(g)
        t = g["eps_theory"].to_numpy(float)
        rows.append({"theta": th, "rule": rule, "keep": keep, "alpha_tot": at,
                     "alpha_prune": float(g["alpha_prune"].mean()), "sim": a["mean"], "sem": a["sem"],
                     "n_seeds": a["n"], "theory": float(np.nanmean(t)) if np.isfinite(t).any() else math.nan})
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
        rows.append({"alpha": at, "sim": a["mean"], "sem": a["sem"], "n_seeds": a["n"], "theory": th,
                     "alpha_eps_sim": at * a["mean"], "alpha_eps_sem": at * a["sem"], "alpha_eps_theory": at * th,
                     "asymptote": ASYMPTOTE_C / at, "gap_se": (a["mean"] - th) / a["sem"] if a["sem"] > 0 else math.nan})
    tab = pd.DataFrame(rows)
    sel = full.loc[full["alpha_tot"] >= x_min]
    fit = fit_curve(sel["alpha_tot"].to_numpy(float), sel["test_error"].to_numpy(float), n_boot=n_boot, seed=0)
    return tab, fit


# =========================================================================== claim 2
def easy_vs_hard(df: pd.DataFrame, theta: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """keep_easy vs keep_hard at equal (alpha_tot, f): a table, and the crossover alpha_tot per f.

    The crossover is where log(eps_hard / eps_easy) changes sign, interpolated linearly in log alpha_tot between
    the bracketing grid points (simulation means, and the same for the theory values stored in the records).
    """
    c = cells(df.loc[df["theta"] == theta])
    h = c.loc[c["rule"] == "keep_hard"].set_index(["keep", "alpha_tot"])
    e = c.loc[c["rule"] == "keep_easy"].set_index(["keep", "alpha_tot"])
    idx = h.index.intersection(e.index)
    tab = pd.DataFrame({"alpha_prune": h.loc[idx, "alpha_prune"], "hard": h.loc[idx, "sim"],
                        "hard_sem": h.loc[idx, "sem"], "easy": e.loc[idx, "sim"], "easy_sem": e.loc[idx, "sem"],
                        "hard_theory": h.loc[idx, "theory"], "easy_theory": e.loc[idx, "theory"]}).reset_index()
    diff = tab["hard"] - tab["easy"]
    se = np.sqrt(tab["hard_sem"] ** 2 + tab["easy_sem"] ** 2)
    tab["z"] = diff / se
    tab["winner"] = np.where(diff < 0, "hard", "easy")
    tab["winner_theory"] = np.where(tab["hard_theory"] < tab["easy_theory"], "hard", "easy")
    tab["significant"] = np.abs(tab["z"]) > 2
    rows = []
    for keep, g in tab.groupby("keep"):
        g = g.sort_values("alpha_tot")
        row = {"keep": keep}
        for label, hc, ec in (("sim", "hard", "easy"), ("theory", "hard_theory", "easy_theory")):
            r = np.log(g[hc].to_numpy(float) / g[ec].to_numpy(float))
            la = np.log(g["alpha_tot"].to_numpy(float))
            cross, lo, hi = math.nan, math.nan, math.nan
            for i in range(len(r) - 1):
                if r[i] > 0 >= r[i + 1]:  # easy better, then hard better
                    cross = float(np.exp(la[i] + (la[i + 1] - la[i]) * r[i] / (r[i] - r[i + 1])))
                    lo, hi = float(np.exp(la[i])), float(np.exp(la[i + 1]))
            if np.isnan(cross) and len(r):
                note = "hard wins everywhere" if (r <= 0).all() else ("easy wins everywhere" if (r > 0).all()
                                                                     else "no single crossing")
            else:
                note = ""
            sign_changes = int(np.sum(np.diff(np.sign(r)) != 0))
            row.update({f"cross_{label}": cross, f"bracket_lo_{label}": lo, f"bracket_hi_{label}": hi,
                        f"note_{label}": note, f"sign_changes_{label}": sign_changes})
        rows.append(row)
    return tab, pd.DataFrame(rows)


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


def frontiers(df: pd.DataFrame, x_min: float = 2.0, n_boot: int = 200, rules=("keep_hard", "random"),
              thetas=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pareto frontiers over (keep, alpha_tot) of error vs alpha_prune, and their collector fits on x >= x_min.

    Returns ``(frontier, fits)``. ``frontier`` is the collector's ``pareto_frontier`` on all runs (for plots);
    ``fits`` is ``fit_frontiers`` (power law vs exponential by AIC, bootstrap CI on nu that re-selects the
    frontier) on the runs with alpha_prune >= x_min. Groups: (metric, strategy, theta).
    """
    d = frontier_data(df, rules, thetas)
    fr = pareto_frontier(d, context=CONTEXT)
    fits, _ = fit_frontiers(d.loc[d["alpha_prune"] >= x_min], context=CONTEXT, n_boot=n_boot, seed=0)
    out = []
    for t in (fr, fits):
        if not t.empty:
            t.insert(0, "group", np.where(t["metric"] == "random", "random", t["strategy"]))
            # at theta != 0 the random group holds only the lent keep = 1 runs (random pruning ignores the probe
            # and was run at theta = 0 only): not a random-pruning frontier
            t = t.loc[~((t["group"] == "random") & (t["theta"] != 0.0))].reset_index(drop=True)
        out.append(t)
    return out[0], out[1]


def error_vs_keep_at(df: pd.DataFrame, alpha_prune: float, rule: str = "keep_hard") -> pd.DataFrame:
    """keep_hard error against f at a fixed alpha_prune (cells with f * alpha_tot = alpha_prune), per theta."""
    c = cells(pd.concat([df.loc[df["rule"] == rule]] + [_full_for_theta(df, th) for th in df["theta"].unique()]))
    c = c.loc[np.isclose(c["alpha_prune"], alpha_prune)]
    return c.sort_values(["theta", "keep"]).reset_index(drop=True)


def keep_optimum(df: pd.DataFrame) -> pd.DataFrame:
    """Per (theta, alpha_prune) with >= 3 keep fractions: the best f (simulation and theory)."""
    c = cells(pd.concat([df.loc[df["rule"] == "keep_hard"]] + [_full_for_theta(df, th) for th in df["theta"].unique()]))
    rows = []
    for (th, ap), g in c.groupby(["theta", "alpha_prune"]):
        if len(g) < 3:
            continue
        b, bt = g.loc[g["sim"].idxmin()], g.loc[g["theory"].idxmin()] if g["theory"].notna().any() else None
        rows.append({"theta": th, "alpha_prune": ap, "keeps": ", ".join(f"{k:g}" for k in sorted(g["keep"])),
                     "best_keep_sim": b["keep"], "best_sim": b["sim"], "best_sem": b["sem"],
                     "best_keep_theory": bt["keep"] if bt is not None else math.nan,
                     "smallest_keep_sim": g.loc[g["keep"].idxmin(), "sim"],
                     "smallest_keep": g["keep"].min()})
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
    a = g["gap_se"].abs().dropna()
    i_abs = g["gap"].abs().idxmax()
    i_se = g["gap_se"].abs().idxmax()
    return {"cells": len(g), "frac_lt2": float((a < 2).mean()), "frac_lt3": float((a < 3).mean()),
            "median_abs_se": float(a.median()), "mean_signed_se": float(g["gap_se"].mean()),
            "median_rel": float(g["rel_gap"].abs().median()), "worst_abs": g.loc[i_abs].to_dict(),
            "worst_se": g.loc[i_se].to_dict()}


# =========================================================================== figures
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path, name: str) -> list[str]:
    paths = []
    for ext in ("png", "svg"):
        p = out / f"{name}.{ext}"
        fig.savefig(p, dpi=130, bbox_inches="tight")
        paths.append(p.name)
    _plt().close(fig)
    return paths


def _theory_line(alphas, keep, rule, theta):
    from bench.theory.replica import theory_error

    out = []
    for a in alphas:
        try:
            r = theory_error(float(a), float(keep), rule, float(theta))
            out.append(r["eps"] if r.get("converged") else np.nan)
        except Exception:  # pragma: no cover - theory line is decoration
            out.append(np.nan)
    return np.array(out)


def fig_classical(tab: pd.DataFrame, fit, out: Path, theory_lines: bool = True) -> list[str]:
    plt = _plt()
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    a = tab["alpha"].to_numpy(float)
    ax[0].errorbar(a, tab["sim"], yerr=tab["sem"], fmt="o", color="C0", label="simulation (N=200, f=1)")
    ag = np.geomspace(a.min(), a.max(), 60)
    if theory_lines:
        ax[0].plot(ag, _theory_line(ag, 1.0, "random", 0.0), "-", color="k", lw=1, label="replica theory")
    ax[0].plot(ag, ASYMPTOTE_C / ag, ":", color="C3", label=r"$0.5005/\alpha$ (Opper et al. 1990)")
    if fit.power_variant:
        sel = ag >= fit.x_min
        ax[0].plot(ag[sel], fit.predict(ag[sel]), "--", color="C2", lw=1,
                   label=rf"power-law fit $\alpha\geq${fit.x_min:g}: $\nu$={fit.nu:.3f}")
    ax[0].set(xscale="log", yscale="log", xlabel=r"$\alpha = P/N$", ylabel=r"$\epsilon_g$",
              title="Maximally stable perceptron (no pruning)")
    ax[0].legend(fontsize=8)
    ax[1].errorbar(a, tab["alpha_eps_sim"], yerr=tab["alpha_eps_sem"], fmt="o", color="C0", label="simulation")
    ax[1].plot(a, tab["alpha_eps_theory"], "k-", lw=1, label="replica theory")
    ax[1].axhline(ASYMPTOTE_C, color="C3", ls=":", label="0.5005")
    ax[1].set(xscale="log", xlabel=r"$\alpha$", ylabel=r"$\alpha\,\epsilon_g$", title=r"$\alpha\epsilon_g\to 0.5005$")
    ax[1].legend(fontsize=8)
    return _save(fig, out, "fig1_classical")


def fig_easy_hard(tab: pd.DataFrame, cross: pd.DataFrame, out: Path) -> list[str]:
    plt = _plt()
    keeps = sorted(tab["keep"].unique())
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, k in enumerate(keeps):
        g = tab.loc[tab["keep"] == k].sort_values("alpha_tot")
        col = f"C{i}"
        ax[0].errorbar(g["alpha_tot"], g["hard"], yerr=g["hard_sem"], fmt="o-", color=col, ms=4, label=f"f={k:g} hard")
        ax[0].errorbar(g["alpha_tot"], g["easy"], yerr=g["easy_sem"], fmt="s--", color=col, ms=4, mfc="none",
                       label=f"f={k:g} easy")
        r = g["hard"] / g["easy"]
        rse = r * np.sqrt((g["hard_sem"] / g["hard"]) ** 2 + (g["easy_sem"] / g["easy"]) ** 2)
        ax[1].errorbar(g["alpha_tot"], r, yerr=rse, fmt="o-", color=col, ms=4, label=f"f={k:g}")
        ax[1].plot(g["alpha_tot"], g["hard_theory"] / g["easy_theory"], ":", color=col, lw=1)
        c = cross.loc[cross["keep"] == k, "cross_sim"]
        if len(c) and np.isfinite(c.iloc[0]):
            ax[1].axvline(c.iloc[0], color=col, lw=0.6, alpha=0.6)
    ax[0].set(xscale="log", yscale="log", xlabel=r"$\alpha_{tot}$", ylabel=r"$\epsilon_g$",
              title=r"keep hard (solid) vs keep easy (dashed), $\theta=0$")
    ax[0].legend(fontsize=6, ncol=2)
    ax[1].axhline(1, color="k", lw=0.8)
    ax[1].set(xscale="log", yscale="log", xlabel=r"$\alpha_{tot}$", ylabel=r"$\epsilon_{hard}/\epsilon_{easy}$",
              title="< 1: keep hard wins (dotted: theory; vertical: crossover)")
    ax[1].legend(fontsize=7)
    return _save(fig, out, "fig2_easy_vs_hard")


def _fit_lines(ax, fit, color, label):
    if not fit.get("power_variant"):
        return
    from bench.collect.fit import predict

    xg = np.geomspace(fit["x_min"], fit["x_max"], 80)
    nu_a = {"a": fit["a"], "nu": fit["nu"], "e_inf": fit["e_inf"]}
    ax.plot(xg, predict("power_law", nu_a, xg), "--", color=color, lw=1,
            label=f"{label} power law nu={fit['nu']:.2f}")
    if np.isfinite(fit.get("exp_n0", np.nan)):
        ax.plot(xg, predict("exponential", {"b": fit["exp_b"], "n0": fit["exp_n0"], "e_inf": fit["exp_e_inf"],
                                            "x_min": fit["x_min"]}, xg), ":", color=color, lw=1.2,
                label=f"{label} exponential")


def fig_frontier(df: pd.DataFrame, fr: pd.DataFrame, fits: pd.DataFrame, out: Path, x_min: float,
                 theory_lines: bool = True) -> list[str]:
    plt = _plt()
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    c = cells(df.loc[(df["theta"] == 0.0)])
    for rule, col, mk in (("keep_hard", "C0", "o"), ("random", "C1", "s"), ("full", "k", "^")):
        g = c.loc[c["rule"] == rule]
        ax[0].scatter(g["alpha_prune"], g["sim"], s=10, color=col, alpha=0.35, marker=mk,
                      label=f"all cells: {rule}")
    for grp, col in (("keep_hard", "C0"), ("random", "C1")):
        f = fr.loc[(fr["group"] == grp) & (fr["theta"] == 0.0) & fr["pareto"]].sort_values("x")
        ax[0].errorbar(f["x"], f["mean"], yerr=f["sem"], fmt="-", marker="o", color=col, lw=2, ms=5,
                       label=f"Pareto frontier: {grp}")
        fit = fits.loc[(fits["group"] == grp) & (fits["theta"] == 0.0)]
        if len(fit):
            _fit_lines(ax[0], fit.iloc[0].to_dict(), col, grp)
    if theory_lines:
        # what the finite grid hides: keep_hard at the smallest tested f with an unlimited pool (theory), and the
        # floor set by the largest pool (every keep_hard run that keeps all support vectors gives that student)
        fmin = float(c.loc[c["rule"] == "keep_hard", "keep"].min())
        ag = np.geomspace(1.5, float(c["alpha_prune"].max()), 50)
        ax[0].plot(ag, _theory_line(ag, fmin, "keep_hard", 0.0), "-", color="C0", lw=0.8, alpha=0.7,
                   label=f"theory keep_hard f={fmin:g}, unlimited pool")
        full = c.loc[c["rule"] == "full"]
        if len(full):
            top = full.loc[full["alpha_tot"].idxmax()]
            ax[0].axhline(top["sim"], color="k", lw=0.6, ls="-.",
                          label=rf"f=1 error at the largest pool $\alpha_{{tot}}$={top['alpha_tot']:g}")
    ax[0].axvspan(0.04, x_min, color="0.9", zorder=-1)
    ax[0].set(xscale="log", yscale="log", xlabel=r"$\alpha_{prune}$", ylabel=r"$\epsilon_g$",
              title=rf"Perfect probe: frontier over f (fits on $\alpha_{{prune}}\geq{x_min:g}$)")
    ax[0].legend(fontsize=6)
    # linear x: exponential = straight line on log-linear axes
    for grp, col in (("keep_hard", "C0"), ("random", "C1")):
        f = fr.loc[(fr["group"] == grp) & (fr["theta"] == 0.0) & fr["pareto"] & (fr["x"] >= x_min)].sort_values("x")
        ax[1].errorbar(f["x"], f["mean"], yerr=f["sem"], fmt="-o", color=col, ms=5, label=f"frontier {grp}")
        fit = fits.loc[(fits["group"] == grp) & (fits["theta"] == 0.0)]
        if len(fit):
            _fit_lines(ax[1], fit.iloc[0].to_dict(), col, grp)
    ax[1].set(yscale="log", xlabel=r"$\alpha_{prune}$ (linear)", ylabel=r"$\epsilon_g$",
              title="same, log-linear axes (exponential = straight line)")
    ax[1].legend(fontsize=7)
    return _save(fig, out, "fig3_frontier")


def fig_probe(df: pd.DataFrame, fr: pd.DataFrame, fits: pd.DataFrame, out: Path, x_min: float,
              alpha_fixed: float, theory_lines: bool = True) -> list[str]:
    plt = _plt()
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    thetas = sorted(df["theta"].unique())
    for j, (af, mk, ls) in enumerate(zip(alpha_fixed, "os^", ("-", "--", ":"))):
        ev = error_vs_keep_at(df, af)
        for i, th in enumerate(thetas):
            g = ev.loc[ev["theta"] == th]
            ax[0].errorbar(g["keep"], g["sim"], yerr=g["sem"], fmt=mk, color=f"C{i}",
                           label=rf"sim $\theta$={th:g}, $\alpha_{{prune}}$={af:g}")
            if theory_lines:
                fg = np.geomspace(0.03, 1.0, 30)
                ax[0].plot(fg, [_theory_line([af], f, "keep_hard" if f < 1 else "random", th)[0] for f in fg],
                           ls, color=f"C{i}", lw=1)
    ax[0].set(xscale="log", yscale="log", xlabel="keep fraction f", ylabel=r"$\epsilon_g$",
              title="keep hard at fixed " + r"$\alpha_{prune}$" + " (lines: theory)")
    ax[0].legend(fontsize=6)
    for i, th in enumerate(thetas):
        f = fr.loc[(fr["group"] == "keep_hard") & (fr["theta"] == th) & fr["pareto"]].sort_values("x")
        ax[1].errorbar(f["x"], f["mean"], yerr=f["sem"], fmt="-o", color=f"C{i}", ms=4,
                       label=rf"keep-hard frontier $\theta$={th:g}")
        fit = fits.loc[(fits["group"] == "keep_hard") & (fits["theta"] == th)]
        if len(fit):
            _fit_lines(ax[1], fit.iloc[0].to_dict(), f"C{i}", rf"$\theta$={th:g}")
    r = fr.loc[(fr["group"] == "random") & (fr["theta"] == 0.0) & fr["pareto"]].sort_values("x")
    ax[1].errorbar(r["x"], r["mean"], yerr=r["sem"], fmt="-s", color="0.4", ms=4, label="random frontier")
    ax[1].axvspan(0.04, x_min, color="0.9", zorder=-1)
    ax[1].set(xscale="log", yscale="log", xlabel=r"$\alpha_{prune}$", ylabel=r"$\epsilon_g$",
              title="Imperfect probe: frontier over f")
    ax[1].legend(fontsize=6)
    return _save(fig, out, "fig4_probe")


def fig_theory_sim(gaps: pd.DataFrame, out: Path) -> list[str]:
    plt = _plt()
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    markers = {"keep_hard": "o", "keep_easy": "s", "random": "^", "full": "D"}
    thetas = sorted(gaps["theta"].unique())
    for (rule, th), g in gaps.groupby(["rule", "theta"]):
        ax[0].errorbar(g["theory"], g["sim"], yerr=g["sem"], fmt=markers.get(rule, "o"), ms=3,
                       color=f"C{thetas.index(th)}", alpha=0.7, label=rf"{rule} $\theta$={th:g}")
    lo, hi = gaps[["theory", "sim"]].min().min() * 0.8, 0.6
    ax[0].plot([lo, hi], [lo, hi], "k-", lw=0.8)
    ax[0].set(xscale="log", yscale="log", xlabel="replica theory", ylabel="simulation (mean of seeds)",
              title="theory vs simulation, every cell")
    ax[0].legend(fontsize=6)
    z = gaps["gap_se"].dropna().clip(-8, 8)
    ax[1].hist(z, bins=np.linspace(-8, 8, 33), color="C0", alpha=0.8)
    xs = np.linspace(-8, 8, 200)
    # a Student-t-ish reference would be fairer with 4 seeds; show the normal density for scale
    ax[1].plot(xs, len(z) * 0.5 * np.exp(-xs ** 2 / 2) / np.sqrt(2 * np.pi), "k-", lw=1, label="N(0,1) x cells")
    ax[1].set(xlabel="(sim - theory) / s.e. (clipped at +-8)", ylabel="cells", title="gap in units of the seed s.e.")
    ax[1].legend(fontsize=8)
    return _save(fig, out, "fig5_theory_vs_sim")


# =========================================================================== README
def _fmt(v, p=3):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    if isinstance(v, (int, np.integer)):
        return str(v)
    if isinstance(v, str):
        return v
    return f"{v:.{p}g}"


def _md(df: pd.DataFrame, cols: list[str], fmt: dict | None = None) -> str:
    fmt = fmt or {}
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(fmt.get(c, _fmt)(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def _cell_name(r) -> str:
    return (f"{r['rule']}, theta={r['theta']:g}, f={r['keep']:g}, alpha_tot={r['alpha_tot']:g} "
            f"(alpha_prune={r['alpha_prune']:.3g})")


def analyse(theory_dir, probe_dir=None, x_min: float = 2.0, n_boot: int = 200, alpha_fixed=(3.2, 6.4)) -> dict:
    """Every table of the README, as frames/dicts (no files written)."""
    df = load_perceptron([p for p in (theory_dir, probe_dir) if p])
    alpha_fixed = [alpha_fixed] if np.isscalar(alpha_fixed) else list(alpha_fixed)
    res = {"df": df, "x_min": x_min, "alpha_fixed": alpha_fixed}
    res["classical"], res["classical_fit"] = classical_curve(df, x_min, n_boot)
    res["easy_hard"], res["crossover"] = easy_vs_hard(df, 0.0)
    res["frontier"], res["fits"] = frontiers(df, x_min, n_boot)
    res["keep_opt"] = keep_optimum(df)
    res["ev_keep"] = pd.concat([error_vs_keep_at(df, a) for a in alpha_fixed], ignore_index=True)
    res["gaps"] = theory_gaps(df)
    res["gap_summary"] = gap_summary(res["gaps"]) if len(res["gaps"]) else {}
    return res


def write_outputs(res: dict, out: Path, walls: dict, commands: list[str], script_seconds: float | None = None,
                  theory_lines: bool = True) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    df, x_min = res["df"], res["x_min"]
    files = []
    files += fig_classical(res["classical"], res["classical_fit"], out, theory_lines)
    files += fig_easy_hard(res["easy_hard"], res["crossover"], out)
    files += fig_frontier(df, res["frontier"], res["fits"], out, x_min, theory_lines)
    files += fig_probe(df, res["frontier"], res["fits"], out, x_min, res["alpha_fixed"], theory_lines)
    files += fig_theory_sim(res["gaps"], out)
    cols = ["sweep", "run_id", "theta", "rule", "metric", "strategy", "keep", "alpha_tot", "alpha_prune", "seed",
            "n_train", "test_error", "eps_theory", "wall_time_s"]
    df[cols].sort_values(["sweep", "theta", "rule", "keep", "alpha_tot", "seed"]).to_csv(out / "runs.csv",
                                                                                          index=False)
    res["fits"].to_csv(out / "frontier_fits.csv", index=False)
    res["frontier"].to_csv(out / "frontier.csv", index=False)
    res["gaps"].to_csv(out / "theory_vs_sim.csv", index=False)
    res["easy_hard"].to_csv(out / "easy_vs_hard.csv", index=False)
    files += ["runs.csv", "frontier_fits.csv", "frontier.csv", "theory_vs_sim.csv", "easy_vs_hard.csv"]
    (out / "README.md").write_text(readme(res, walls, commands, script_seconds, files))
    return files + ["README.md"]


def readme(res: dict, walls: dict, commands: list[str], script_seconds, files) -> str:
    df, x_min = res["df"], res["x_min"]
    L = ["# Teacher-student perceptron through the harness: Sorscher et al. (2022), Fig. 1-2", "",
         "Generated by `scripts/perceptron_figures.py` from the run records (do not edit by hand). "
         "Simulation: `test_error` = arccos(R)/pi of the max-margin student trained by `bench.run`; theory: the "
         "replica prediction stored in each record (`extra.eps_theory`). Error bars are s.e. over seeds.", "",
         "## Commands and wall times", ""]
    L += ["    " + c for c in commands]
    L.append("")
    for sweep, g in df.groupby("sweep"):
        w = walls.get(sweep)
        L.append(f"* `{sweep}`: {len(g)} runs ({g['seed'].nunique()} seeds, N={int(g['n_train'].iloc[0] / g['alpha_prune'].iloc[0])}), "
                 f"sum of per-run wall times {g['wall_time_s'].sum():.0f} s"
                 + (f"; whole command (sweep + launcher + end-of-sweep collector) {w}" if w else "") + ".")
    if script_seconds is not None:
        L.append(f"* this script: {script_seconds:.0f} s of analysis (loading, fits, bootstraps) plus about 20 s "
                 "for the figures and their theory lines.")
    L += ["", "Timings are on one CPU core (OMP_NUM_THREADS=1) of a 2-core machine that was running other "
          "CPU-heavy jobs at the same time, so they are upper bounds.", ""]
    L += ["Figures: " + ", ".join(f"`{f}`" for f in files if f.endswith(".png")) + " (each also as SVG). Tables: "
          + ", ".join(f"`{f}`" for f in files if f.endswith(".csv")) + ".", ""]

    # ---- claim 1
    tab, fit = res["classical"], res["classical_fit"]
    big = tab.iloc[-1]
    L += ["## 1. f = 1: the classical learning curve of the maximally stable perceptron", "",
          _md(tab, ["alpha", "sim", "sem", "theory", "gap_se", "alpha_eps_sim", "alpha_eps_sem", "alpha_eps_theory"]),
          "",
          f"At the largest load alpha = {big['alpha']:g}: alpha * eps = {big['alpha_eps_sim']:.4f} +- "
          f"{big['alpha_eps_sem']:.4f} (simulation) and {big['alpha_eps_theory']:.4f} (replica theory), against the "
          f"literature asymptote {ASYMPTOTE_C} (Opper et al. 1990; Engel & Van den Broeck 2001) "
          f"({(big['alpha_eps_sim'] - ASYMPTOTE_C) / big['alpha_eps_sem']:+.1f} s.e.). "
          f"The collector's fit of the f = 1 curve on alpha >= {x_min:g} ({fit.n_obs} runs): {fit.power_variant}, "
          f"nu = {fit.nu:.3f} [{fit.nu_lo:.3f}, {fit.nu_hi:.3f}] (95% bootstrap), preferred by AIC: {fit.preferred} "
          f"(dAIC = AIC_exp - AIC_pow = {fit.delta_aic:.1f}); status {fit.fit_status}"
          + (f" ({fit.note})" if fit.note else "") + ". The asymptotic exponent is 1; over this finite range "
          "the effective exponent is below 1 because alpha * eps still rises towards 0.5005 from below.", ""]

    # ---- claim 2
    eh, cr = res["easy_hard"], res["crossover"]
    L += ["## 2. Keep easy vs keep hard (perfect probe, theta = 0)", "",
          "Test error at equal (alpha_tot, f), simulation mean +- s.e.; z = (hard - easy)/s.e. of the difference "
          "(negative: keep hard is better).", "",
          _md(eh.assign(hard_pm=[f"{a:.4f} +- {b:.4f}" for a, b in zip(eh["hard"], eh["hard_sem"])],
                        easy_pm=[f"{a:.4f} +- {b:.4f}" for a, b in zip(eh["easy"], eh["easy_sem"])]),
              ["alpha_tot", "keep", "alpha_prune", "hard_pm", "easy_pm", "z", "winner", "winner_theory"],
              {"z": lambda v: f"{v:+.1f}"}), "",
          "Crossover alpha_tot (log-interpolated sign change of log(eps_hard/eps_easy); bracketing grid points):", "",
          _md(cr, ["keep", "cross_sim", "bracket_lo_sim", "bracket_hi_sim", "cross_theory", "note_sim"]), ""]
    agree = (eh["winner"] == eh["winner_theory"]).mean()
    L.append(f"Simulation and theory name the same winner in {agree:.0%} of the {len(eh)} cells"
             + (f"; the disagreements: " + "; ".join(
                 f"alpha_tot={r.alpha_tot:g}, f={r.keep:g} (z={r.z:+.1f})"
                 for r in eh.loc[eh["winner"] != eh["winner_theory"]].itertuples()) if agree < 1 else "") + ".")
    L.append("")

    # ---- claim 3
    fits = res["fits"]
    fcols = ["group", "theta", "n_points", "x_min", "x_max", "power_variant", "nu", "nu_lo", "nu_hi", "e_inf",
             "aic_power", "aic_exp", "delta_aic", "preferred", "fit_status"]
    fr = res["frontier"]
    L += [f"## 3. Pareto frontier over f vs random pruning (fits on alpha_prune >= {x_min:g})", "",
          "Frontier: for every alpha_prune the best (keep, alpha_tot) cell (the collector's `pareto_frontier`; keep = 1 "
          "runs are lent to the margin rule). Fits: the collector's `fit_frontiers` (`fit_curve` on the Pareto points: "
          "power law with E_inf >= 0 or E_inf = 0 vs exponential, by AIC; dAIC = AIC_exp - AIC_power, negative favours "
          "the exponential; the bootstrap re-selects the frontier from resampled seeds).", "",
          _md(fits.loc[fits["theta"] == 0.0], fcols, {"theta": lambda v: f"{v:g}"}), "",
          "Frontier points (theta = 0, Pareto-optimal only):", "",
          _md(fr.loc[(fr["theta"] == 0.0) & fr["pareto"]].sort_values(["group", "x"]),
              ["group", "x", "mean", "sem", "keep", "pool_size", "borrowed_full"]), ""]
    # ---- claim 4
    ko, ev = res["keep_opt"], res["ev_keep"]
    L += ["## 4. Imperfect probe (theta > 0): a minimum keep fraction", "",
          "keep_hard error against f at fixed alpha_prune = "
          + ", ".join(f"{a:g}" for a in res["alpha_fixed"]) + " (f = 1 is the unpruned student, the same for every "
          "theta):", "",
          _md(ev.assign(sim_pm=[f"{a:.4f} +- {b:.4f}" for a, b in zip(ev["sim"], ev["sem"])]),
              ["alpha_prune", "theta", "keep", "alpha_tot", "sim_pm", "theory"], {"theta": lambda v: f"{v:g}"}), "",
          "Best keep fraction per (theta, alpha_prune) among the tested ones (cells with >= 3 keep fractions):", "",
          _md(ko, ["theta", "alpha_prune", "keeps", "best_keep_sim", "best_sim", "best_keep_theory", "smallest_keep",
                   "smallest_keep_sim"], {"theta": lambda v: f"{v:g}"}), "",
          "Frontier fits per probe angle (same method as in 3):", "",
          _md(fits, fcols, {"theta": lambda v: f"{v:g}"}), ""]
    # ---- claim 5
    gs, gp = res["gap_summary"], res["gaps"]
    if gs:
        wa, ws = gs["worst_abs"], gs["worst_se"]
        L += ["## 5. Theory vs simulation", "",
              f"{gs['cells']} cells (every (rule, theta, f, alpha_tot) with >= 2 seeds and a converged theory value; "
              f"keep = 1 counted once). |gap|/s.e.: median {gs['median_abs_se']:.2f}, {gs['frac_lt2']:.0%} of cells "
              f"< 2, {gs['frac_lt3']:.0%} < 3; mean signed gap/s.e. {gs['mean_signed_se']:+.2f}; median relative gap "
              f"{gs['median_rel']:.1%}.", "",
              f"* Largest absolute gap: {_cell_name(wa)}: sim {wa['sim']:.4f} +- {wa['sem']:.4f} vs theory "
              f"{wa['theory']:.4f}, gap {wa['gap']:+.4f} = {wa['gap_se']:+.1f} s.e.",
              f"* Largest gap in s.e.: {_cell_name(ws)}: sim {ws['sim']:.4f} +- {ws['sem']:.4f} vs theory "
              f"{ws['theory']:.4f}, gap {ws['gap']:+.4f} = {ws['gap_se']:+.1f} s.e.", "",
              "The 10 cells with the largest |gap|/s.e.:", "",
              _md(gp.reindex(gp["gap_se"].abs().sort_values(ascending=False).index).head(10),
                  ["rule", "theta", "keep", "alpha_tot", "alpha_prune", "n_seeds", "sim", "sem", "theory", "gap",
                   "gap_se"], {"theta": lambda v: f"{v:g}", "gap_se": lambda v: f"{v:+.1f}"}), ""]
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    home = Path(os.environ.get("BENCH_HOME", REPO / "outputs"))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--theory-dir", default=str(home / "perceptron_theory" / "records"))
    ap.add_argument("--probe-dir", default=str(home / "perceptron_probe" / "records"))
    ap.add_argument("--out", default=str(REPO / "results" / "perceptron"))
    ap.add_argument("--x-min", type=float, default=2.0)
    ap.add_argument("--alpha-fixed", type=float, nargs="+", default=[3.2, 6.4])
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--wall", action="append", default=[], help="SWEEP=TEXT: measured wall time of a sweep command")
    ap.add_argument("--notes", default=None,
                    help="Markdown appended to the README (hand-written reading); default <out>/notes.md if present")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    res = analyse(args.theory_dir, args.probe_dir, args.x_min, args.n_boot, args.alpha_fixed)
    walls = dict(w.split("=", 1) for w in args.wall)
    argv_ = list(argv if argv is not None else sys.argv[1:])
    shown = [a if a.startswith("--") else "..." for a in argv_ if not a.startswith("--notes")]
    commands = ["BENCH_HOME=outputs OMP_NUM_THREADS=1 python -m bench.run -m experiment=perceptron_theory",
                "BENCH_HOME=outputs OMP_NUM_THREADS=1 python -m bench.run -m experiment=perceptron_probe",
                "OMP_NUM_THREADS=1 python scripts/perceptron_figures.py " + " ".join(shown)]
    out = Path(args.out)
    files = write_outputs(res, out, walls, commands, time.perf_counter() - t0)
    notes = Path(args.notes) if args.notes else out / "notes.md"
    if notes.is_file():
        with open(out / "README.md", "a") as f:
            f.write("\n" + notes.read_text())
    print(f"wrote {len(files)} files to {out} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
