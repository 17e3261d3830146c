"""The perceptron frontier study (issue 19): theory tables, simulation vs theory and the figure.

Theory: :mod:`bench.theory.frontier`. Simulation: the records of ``experiment=perceptron_frontier``
(``python -m bench.run``), or the ``runs.csv`` committed next to the report. Imported on demand (pandas, the
collector, matplotlib), not by :mod:`bench.theory`. README and files: :mod:`bench.theory.frontier_report`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.collect import fit_frontiers
from bench.theory import frontier as tf
from bench.theory.study import cells, load_perceptron

THEORY_FILES = ("theory_frontier.csv", "theory_grid.csv", "theory_cliffs.csv")


def write_theory(out: Path) -> list[Path]:
    """Compute the replica frontier, grid and cliffs and write them as CSV under ``out`` (with the wall time)."""
    t0 = time.perf_counter()
    front, grid = tf.theory_frontier()
    cliffs = tf.theory_cliffs()
    wall = time.perf_counter() - t0
    front = front.assign(solve_wall_s=round(wall, 1))
    paths = [Path(out) / n for n in THEORY_FILES]
    for frame, p in zip((front, grid, cliffs), paths):
        frame.to_csv(p, index=False, float_format="%.6g")
    return paths


def load_theory(out: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three theory CSVs written by :func:`write_theory`."""
    return tuple(pd.read_csv(Path(out) / n) for n in THEORY_FILES)


# =========================================================================== the sweep's design (the preset)
DIM = 100  #: input dimension N of the simulated sweep
#: theta = 0: the cliff and the floor at three keep fractions (alpha_tot = alpha_prune / f up to 4000)
CLIFF_KEEPS = (0.1, 0.01, 0.001)
CLIFF_ALPHAS = {0.1: (1.5, 2, 2.5, 3, 4, 6), 0.01: (1.5, 2, 2.5, 3, 4, 6), 0.001: (1.5, 2, 2.5, 3, 4)}
#: theta > 0: the theory's optimal f and f = 1 at these alpha_prune (the theory grid's points where f_opt < 1)
OPT_THETAS = (10.0, 20.0, 30.0)
OPT_ALPHAS = (1.99, 3.15, 5.0, 7.92, 12.6, 19.9, 31.5, 50.0)
#: f_min scans: keep fractions around the theory's f_min at one alpha_prune, three probe angles
SCAN_THETAS = (10.0, 20.0, 30.0)
SCAN_ALPHA = 12.6
SCAN_FACTORS = (0.6, 0.8, 1.0, 1.25, 1.6)


def _sig(v: float, digits: int = 3) -> float:
    return float(f"{v:.{digits}g}")


def _point(theta: float, alpha_prune: float, keep: float, arm: str) -> dict:
    """One sweep point; alpha_tot is rounded so that the pool P = alpha_tot * DIM is an integer."""
    return {
        "theta": float(theta),
        "alpha_tot": round(alpha_prune / keep * DIM) / DIM,
        "keep": float(keep),
        "metric": "random" if arm == "full" and theta == 0 else "margin",
        "strategy": "keep_hard",
    }


def _name(theta: float, arm: str, alpha_prune: float, keep: float | None = None) -> str:
    a = f"{alpha_prune:g}".replace(".", "p")
    k = "" if keep is None else "_f" + f"{keep:g}".replace(".", "p").replace("-", "m")
    return f"t{theta:g}_{arm}_a{a}{k}"


def _lookup(front: pd.DataFrame, theta: float, alpha: float, col: str) -> float:
    row = front.loc[(front["theta"] == theta) & ((front["alpha_prune"] - alpha).abs() < 0.006)]
    if row.empty:
        raise KeyError(f"theory table has no row theta={theta}, alpha_prune~{alpha}")
    return float(row[col].iloc[0])


def preset_points(front: pd.DataFrame) -> dict[str, dict]:
    """The sweep points of ``experiment=perceptron_frontier``, from the theory table ``front``.

    theta = 0: f = 1 (metric random: no pruning, and random pruning at any f) and keep_hard at ``CLIFF_KEEPS``;
    theta in ``OPT_THETAS``: keep_hard at the theory's f_opt (3 significant digits) and f = 1 (metric margin, the
    same students as theta = 0's f = 1, in the keep_hard group of that theta); f_min scans at ``SCAN_ALPHA``.
    """
    pts: dict[str, dict] = {}
    full_alphas = sorted({*OPT_ALPHAS, SCAN_ALPHA, *(a for f in CLIFF_KEEPS for a in CLIFF_ALPHAS[f])})
    for a in full_alphas:
        pts[_name(0, "full", a)] = _point(0.0, a, 1.0, "full")
    for f in CLIFF_KEEPS:
        for a in CLIFF_ALPHAS[f]:
            pts[_name(0, "hard", a, f)] = _point(0.0, a, f, "hard")
    for th in sorted({*OPT_THETAS, *SCAN_THETAS}):
        alphas = OPT_ALPHAS if th in OPT_THETAS else (SCAN_ALPHA,)
        for a in alphas:
            pts[_name(th, "full", a)] = _point(th, a, 1.0, "full")
            f_opt = _sig(_lookup(front, th, a, "f_opt"))
            if f_opt < 1.0:
                pts[_name(th, "opt", a)] = _point(th, a, f_opt, "opt")
        f_min = _lookup(front, th, SCAN_ALPHA, "f_min")
        for k in SCAN_FACTORS:
            f = _sig(f_min * k)
            pts[_name(th, "scan", SCAN_ALPHA, f)] = _point(th, SCAN_ALPHA, f, "scan")
    return pts


def preset_yaml(points: dict[str, dict], cost: str) -> str:
    """The text of conf/experiment/perceptron_frontier.yaml for ``points`` (``cost``: the measured wall time)."""
    head = PRESET_HEADER.format(cost=cost, dim=DIM, n_points=len(points))
    lines = [head, "points:"]
    for name, p in points.items():
        body = ", ".join(f"{k}: {v!r}" if isinstance(v, str) else f"{k}: {v:g}" for k, v in p.items())
        lines.append(f"  {name}: {{{body}}}")
    lines += ["", "hydra:", "  sweeper:", "    params:", f"      point: {','.join(points)}", "      seed: 0,1,2,3", ""]
    return "\n".join(lines)


PRESET_HEADER = """# @package _global_
# The perceptron's Pareto frontier (Sorscher et al. 2022, Fig. 1-2; issue 19): keep_hard by the probe margin at the
# replica theory's optimal keep fraction, the theta = 0 cliff and floor, and f_min scans. N = {dim}, 4 seeds,
# {n_points} points (one job per point and seed).
#   BENCH_HOME=outputs OMP_NUM_THREADS=1 python -m bench.run -m experiment=perceptron_frontier
#   python -m bench.collect outputs/perceptron_frontier/records --context label_noise,budget,probe_angle_deg
#   python scripts/perceptron_frontier.py report outputs/perceptron_frontier/records   (-> results/perceptron/frontier/)
# Cost: {cost}
# GENERATED by `python scripts/perceptron_frontier.py preset` from results/perceptron/frontier/theory_frontier.csv
# (bench.theory.frontier_study.preset_points); do not edit the points by hand.
#
# Points (name -> theta, alpha_tot, keep, metric):
#   t0_full_*    theta = 0, f = 1, metric random: the unpruned student, which is also random pruning at any f (the
#                examples are exchangeable: a random f of a pool alpha_prune / f is a pool of alpha_prune)
#   t0_hard_*    theta = 0, keep_hard at f = 0.1, 0.01, 0.001 across the cliff (alpha_prune ~ 2) onto the floor
#   tT_opt_*     theta = T, keep_hard at the theory's optimal f at that alpha_prune (3 significant digits)
#   tT_full_*    theta = T, f = 1 (metric margin keeps everything: the keep_hard group's f = 1 cell)
#   tT_scan_*    theta = T, keep_hard at 0.6-1.6 x the theory's f_min at alpha_prune = 12.6
defaults:
  - override /dataset: perceptron
  - override /model: perceptron
  - override /metric: margin
  - override /prune: keep_hard
  - override /logger: none

sweep: perceptron_frontier
collect: false       # the end-of-sweep collector would pool the probe angles: run it with --context (commands above)
paths:
  root: ${{oc.env:BENCH_HOME,outputs}}/perceptron_frontier
dataset:
  dim: {dim}
  n_test: 0          # the error is exact (arccos(R)/pi); no empirical test set needed
  probe_angle_deg: ${{points.${{point}}.theta}}
  alpha_tot: ${{points.${{point}}.alpha_tot}}
metric:
  name: ${{points.${{point}}.metric}}
prune:
  strategy: ${{points.${{point}}.strategy}}
  keep: ${{points.${{point}}.keep}}
train:
  progress_bar: false

point: t0_full_a2
"""


# =========================================================================== simulation vs theory
def _theory_of(row, front: pd.DataFrame) -> float:
    """The record's replica value, else the frontier solver's (finer quadrature where the default failed)."""
    if np.isfinite(row["theory"]):
        return float(row["theory"])
    return tf.eps_keep(float(row["alpha_prune"]), float(row["keep"]), float(row["theta"]))


def _regime(row, front: pd.DataFrame, alpha_floor: float) -> str:
    if row["keep"] >= 1.0:
        return "f=1"
    if row["theta"] == 0:
        return (
            "theta=0 below cliff"
            if row["alpha_prune"] < 2.0
            else ("theta=0 cliff" if row["alpha_prune"] < alpha_floor else "theta=0 floor")
        )
    try:
        f_opt = _sig(_lookup(front, row["theta"], row["alpha_prune"], "f_opt"))
    except KeyError:
        f_opt = math.nan
    return "theta>0 f_opt" if abs(row["keep"] - f_opt) < 1e-9 else "theta>0 f_min scan"


def sim_vs_theory(df: pd.DataFrame, front: pd.DataFrame, cliffs: pd.DataFrame) -> pd.DataFrame:
    """One row per simulated cell (theta, rule, keep, alpha_tot): seed mean, s.e., replica value, gap, gap / s.e.,
    relative gap (sim / theory - 1) and its s.e. (sem / theory), and the ``regime`` of the cell."""
    c = cells(df)
    c["theory"] = [_theory_of(r, front) for _, r in c.iterrows()]
    alpha_floor = float(cliffs["alpha_floor"].max())
    c["regime"] = [_regime(r, front, alpha_floor) for _, r in c.iterrows()]
    c["gap"] = c["sim"] - c["theory"]
    c["gap_se"] = c["gap"] / c["sem"].where(c["sem"] > 0)
    c["rel_gap"] = c["gap"] / c["theory"]
    c["rel_gap_se"] = c["sem"] / c["theory"]
    return c.sort_values(["theta", "keep", "alpha_prune"]).reset_index(drop=True)


def unique_cells(gaps: pd.DataFrame) -> pd.DataFrame:
    """``gaps`` with each f = 1 cell once: the unpruned student ignores the probe, so the f = 1 cells of every theta
    at one alpha_tot are the same students (same seeds, same data) and are not independent evidence."""
    full = gaps["keep"] >= 1.0
    dup = full & gaps.sort_values("theta").duplicated(subset=["keep", "alpha_tot"]).reindex(gaps.index)
    return gaps.loc[~dup]


def finite_n_bias(gaps: pd.DataFrame) -> pd.DataFrame:
    """Per regime: the mean relative gap sim / theory - 1 (the finite-N bias at N = DIM) and its s.e.

    Each f = 1 cell counts once (:func:`unique_cells`). The s.e. treats cells as independent (they are not quite:
    a seed's pools are nested across alpha_tot), and cells near chance (theory > 0.4) are left out (there the error
    saturates and the relative gap says nothing).
    """
    rows = []
    g_all = unique_cells(gaps)
    for reg, g in g_all.loc[g_all["theory"] < 0.4].groupby("regime"):
        n = len(g)
        rows.append(
            {
                "regime": reg,
                "cells": n,
                "mean_rel_gap": float(g["rel_gap"].mean()),
                "mean_rel_gap_se": float(np.sqrt((g["rel_gap_se"] ** 2).sum()) / n),
                "median_rel_gap": float(g["rel_gap"].median()),
                "frac_within_2se": float((g["gap_se"].abs() < 2).mean()),
            }
        )
    return pd.DataFrame(rows)


def _cell(gaps: pd.DataFrame, theta: float, keep: float, alpha: float) -> pd.Series | None:
    sel = gaps.loc[
        (gaps["theta"] == theta) & np.isclose(gaps["keep"], keep) & ((gaps["alpha_prune"] - alpha).abs() < 0.02)
    ]
    return None if sel.empty else sel.iloc[0]


def _ratio(num, num_se, den, den_se) -> tuple[float, float]:
    r = num / den
    return r, r * math.hypot(num_se / num, den_se / den)


def f_opt_table(gaps: pd.DataFrame, front: pd.DataFrame) -> pd.DataFrame:
    """theta in OPT_THETAS: theory's f_opt and gain, and the simulated errors at f_opt and f = 1 and their ratio."""
    rows = []
    for th in OPT_THETAS:
        for a in OPT_ALPHAS:
            f = _sig(_lookup(front, th, a, "f_opt"))
            opt, full = _cell(gaps, th, f, a), _cell(gaps, th, 1.0, a)
            if opt is None or full is None:
                continue
            gain, gain_se = _ratio(full["sim"], full["sem"], opt["sim"], opt["sem"])
            rows.append(
                {
                    "theta": th,
                    "alpha_prune": a,
                    "f_opt_theory": f,
                    "eps_opt_theory": opt["theory"],
                    "eps_opt_sim": opt["sim"],
                    "eps_opt_sem": opt["sem"],
                    "eps_full_theory": full["theory"],
                    "eps_full_sim": full["sim"],
                    "eps_full_sem": full["sem"],
                    "gain_theory": full["theory"] / opt["theory"],
                    "gain_sim": gain,
                    "gain_sim_se": gain_se,
                }
            )
    return pd.DataFrame(rows)


# =========================================================================== f_min(theta) from the scans
def crossing(keeps: np.ndarray, eps: np.ndarray, eps_full: float) -> float:
    """Largest f at which eps(f) crosses eps_full from above as f grows (log-log interpolation); NaN if none.

    ``keeps`` ascending. The crossing is between the last f with eps > eps_full that is followed by one with
    eps <= eps_full.
    """
    above = eps > eps_full
    idx = [i for i in range(len(keeps) - 1) if above[i] and not above[i + 1]]
    if not idx:
        return math.nan
    i = idx[-1]
    lk, le = np.log(keeps[i : i + 2]), np.log(eps[i : i + 2])
    t = (math.log(eps_full) - le[0]) / (le[1] - le[0])
    return float(np.exp(lk[0] + t * (lk[1] - lk[0])))


def _scan_cells(df: pd.DataFrame, theta: float) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """(keeps ascending, seed-level errors per keep, seed-level errors at f = 1) at (theta, SCAN_ALPHA)."""
    d = df.loc[(df["theta"] == theta) & ((df["alpha_prune"] - SCAN_ALPHA).abs() < 0.02)]
    full = d.loc[d["keep"] >= 1.0, "test_error"].to_numpy(float)
    pruned = d.loc[d["keep"] < 1.0]
    keeps = np.sort(pruned["keep"].unique())
    return keeps, [pruned.loc[pruned["keep"] == k, "test_error"].to_numpy(float) for k in keeps], full


def f_min_table(df: pd.DataFrame, front: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per theta in SCAN_THETAS, at alpha_prune = SCAN_ALPHA: f_min by theory and by simulation.

    The simulated f_min is :func:`crossing` of the seed-mean errors with the f = 1 mean; its 95% interval is a
    bootstrap over seeds (resampled in every cell, the crossing recomputed; ``boot_nan`` counts replicates without
    one). ``best_keep_sim`` is the tested f with the lowest mean (a minimum of noisy means: biased low).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for th in SCAN_THETAS:
        keeps, errs, full = _scan_cells(df, th)
        if len(keeps) < 2 or len(full) < 2:
            continue
        means = np.array([e.mean() for e in errs])
        boots = []
        for _ in range(n_boot):
            m = np.array([e[rng.integers(0, len(e), len(e))].mean() for e in errs])
            boots.append(crossing(keeps, m, full[rng.integers(0, len(full), len(full))].mean()))
        boots = np.array(boots)
        ok = boots[np.isfinite(boots)]
        rows.append(
            {
                "theta": th,
                "alpha_prune": SCAN_ALPHA,
                "f_min_theory": _lookup(front, th, SCAN_ALPHA, "f_min"),
                "f_min_sim": crossing(keeps, means, full.mean()),
                "f_min_sim_lo": float(np.percentile(ok, 2.5)) if len(ok) else math.nan,
                "f_min_sim_hi": float(np.percentile(ok, 97.5)) if len(ok) else math.nan,
                "boot_nan": int((~np.isfinite(boots)).sum()),
                "f_opt_theory": _lookup(front, th, SCAN_ALPHA, "f_opt"),
                "best_keep_sim": float(keeps[int(np.argmin(means))]),
                "keeps_tested": ", ".join(f"{k:g}" for k in keeps),
                "eps_full_sim": float(full.mean()),
                "n_seeds": len(full),
            }
        )
    return pd.DataFrame(rows)


def ratios_theta0(gaps: pd.DataFrame) -> pd.DataFrame:
    """theta = 0: every keep_hard cell against random pruning (the f = 1 cell) at the same alpha_prune.

    The cells are fixed by the design (no selection by outcome), so each ratio's s.e. is the delta-method one.
    """
    g0 = gaps.loc[gaps["theta"] == 0]
    rows = []
    for _, h in g0.loc[g0["keep"] < 1].iterrows():
        r = _cell(gaps, 0.0, 1.0, h["alpha_prune"])
        if r is None:
            continue
        ratio, se = _ratio(r["sim"], r["sem"], h["sim"], h["sem"])
        rows.append(
            {
                "keep": h["keep"],
                "alpha_prune": h["alpha_prune"],
                "alpha_tot": h["alpha_tot"],
                "hard_sim": h["sim"],
                "hard_sem": h["sem"],
                "random_sim": r["sim"],
                "random_sem": r["sem"],
                "ratio_sim": ratio,
                "ratio_sim_se": se,
                "ratio_theory": r["theory"] / h["theory"],
            }
        )
    return pd.DataFrame(rows).sort_values(["keep", "alpha_prune"], ascending=[False, True]).reset_index(drop=True)


# =========================================================================== the figure
FIG_KEEPS = (1.0, 0.1, 0.01, 1e-3, 1e-4)  #: the grey f = const curves at theta = 0


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _panel_theta0(ax, gaps: pd.DataFrame) -> None:
    """theta = 0: f = const theory curves (grey), the theory frontier over f >= F_LO (bold), simulated cells."""
    ag = np.geomspace(0.5, 50, 90)
    for f in FIG_KEEPS:
        ax.plot(ag, [tf.eps_keep(a, f) for a in ag], color="0.6", lw=0.9, zorder=1)
        ax.annotate(f"f={f:g}", (ag[-1], tf.eps_keep(ag[-1], f)), fontsize=7, color="0.4", va="center")
    keeps = tf.keep_grid()  # theta = 0 solves in ~10 ms: the frontier on the fine alpha grid (min over the f grid)
    best = [np.nanmin([tf.eps_keep(a, f) for f in keeps]) for a in ag]
    best = np.where(np.isfinite([tf.eps_keep(a, tf.F_LO) for a in ag]), best, np.nan)  # f_lo unconverged: not drawn
    ax.plot(ag, best, "-", color="k", lw=2.5, label=f"frontier, theory (min over f >= {tf.F_LO:g})")
    g0 = gaps.loc[gaps["theta"] == 0]
    for i, (f, g) in enumerate(sorted(g0.groupby("keep"), reverse=True)):
        label = "f = 1 = random pruning (sim)" if f >= 1 else f"keep_hard f = {f:g} (sim)"
        ax.errorbar(g["alpha_prune"], g["sim"], yerr=g["sem"], fmt="os^v"[i % 4], ms=4, color=f"C{i}", label=label)
    ax.set(xscale="log", yscale="log", xlabel=r"$\alpha_{prune} = P_{kept}/N$", ylabel=r"test error $\varepsilon$")
    ax.set_title(r"perfect probe ($\theta$ = 0): cliff and floor", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")


def _panel_theta(ax, gaps: pd.DataFrame, front: pd.DataFrame, grid: pd.DataFrame) -> None:
    """theta > 0: f = const theory curves at theta = 10 (grey), frontiers per theta (bold), simulated f_opt cells."""
    g10 = grid.loc[(grid["theta"] == 10.0) & grid["converged"]]
    for f in sorted(g10["keep"].unique())[::4]:
        c = g10.loc[np.isclose(g10["keep"], f)].sort_values("alpha_prune")
        ax.plot(c["alpha_prune"], c["eps"], color="0.7", lw=0.8, zorder=1)
    for i, (th, fr) in enumerate(front.groupby("theta")):
        color = f"C{i}"
        ax.plot(fr["alpha_prune"], fr["eps_opt"], "-", color=color, lw=2.2, label=rf"frontier $\theta$={th:g} (theory)")
        sim = gaps.loc[(gaps["theta"] == th) & (gaps["regime"] == "theta>0 f_opt")]
        if len(sim):
            ax.errorbar(sim["alpha_prune"], sim["sim"], yerr=sim["sem"], fmt="o", ms=4, color=color, mec="k")
    full = gaps.loc[(gaps["theta"] == 0) & (gaps["keep"] >= 1)]
    ax.errorbar(full["alpha_prune"], full["sim"], yerr=full["sem"], fmt="s", ms=3, color="k", label="f = 1 (sim)")
    ax.set(xscale="log", yscale="log", xlabel=r"$\alpha_{prune}$", ylim=(1e-4, 0.6))
    ax.set_title(r"imperfect probes: frontier per $\theta$ (grey: f = const, $\theta$=10)", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")


def _panel_keep(ax, front: pd.DataFrame, fmin: pd.DataFrame) -> None:
    """Optimal f and f_min against alpha_prune per theta > 0 (theory lines), simulated f_min with its interval."""
    for i, (th, fr) in enumerate(front.groupby("theta")):
        if th == 0:
            continue
        ax.plot(fr["alpha_prune"], fr["f_opt"], "-", color=f"C{i}", lw=1.8, label=rf"$f_{{opt}}$, $\theta$={th:g}")
        ax.plot(fr["alpha_prune"], fr["f_min"], "--", color=f"C{i}", lw=1.2)
        s = fmin.loc[fmin["theta"] == th]
        if len(s):
            err = [s["f_min_sim"] - s["f_min_sim_lo"], s["f_min_sim_hi"] - s["f_min_sim"]]
            ax.errorbar(s["alpha_prune"], s["f_min_sim"], yerr=err, fmt="D", ms=5, color=f"C{i}", mec="k")
    ax.set(xscale="log", yscale="log", xlabel=r"$\alpha_{prune}$", ylabel="keep fraction f")
    ax.set_title(r"$f_{opt}$ (solid), $f_{min}$ (dashed; diamonds: simulation, 95% CI)", fontsize=10)
    ax.legend(fontsize=7)


def write_figure(gaps, front, grid, fmin, out: Path) -> list[Path]:
    """frontier.png / frontier.svg: the three panels above."""
    plt = _plt()
    fig, ax = plt.subplots(1, 3, figsize=(17, 5.2))
    _panel_theta0(ax[0], gaps)
    _panel_theta(ax[1], gaps, front, grid)
    _panel_keep(ax[2], front, fmin)
    fig.tight_layout()
    paths = [Path(out) / f"frontier.{ext}" for ext in ("png", "svg")]
    for p in paths:  # no date, fixed svg ids: a rerun rewrites identical files
        with plt.rc_context({"svg.hashsalt": "perceptron-frontier"}):
            fig.savefig(p, dpi=120, metadata={"Date": None} if p.suffix == ".svg" else None)
    plt.close(fig)
    return paths


# =========================================================================== everything
COLLECT_CONTEXT = ("label_noise", "budget", "probe_angle_deg")


def collector_fits(df: pd.DataFrame, n_boot: int = 200) -> pd.DataFrame:
    """The collector's frontier fits and shape verdicts per (metric, strategy, probe angle).

    The computation of ``python -m bench.collect RECORDS --context label_noise,budget,probe_angle_deg`` (its
    ``fits.csv`` rows of kind ``frontier``): :func:`bench.collect.fit_frontiers` on every run, x = alpha_prune, the
    collector's own rules (keep = 1 runs borrowed within one probe angle, cells near chance not candidates).
    ``group`` is ``random`` for metric random, else the strategy; ``theta`` the probe angle.
    """
    fits, _ = fit_frontiers(df, context=COLLECT_CONTEXT, n_boot=n_boot, seed=0)
    if fits.empty:
        return fits
    fits.insert(0, "group", np.where(fits["metric"] == "random", "random", fits["strategy"]))
    angle = "probe_angle_deg" if "probe_angle_deg" in fits.columns else "extra.probe_angle_deg"
    fits.insert(1, "theta", pd.to_numeric(fits[angle]).round(1))
    return fits.sort_values(["group", "theta"]).reset_index(drop=True)


def analyse(paths, theory_dir: Path, n_boot: int = 200) -> dict:
    """Every table of the report: the theory CSVs in ``theory_dir`` and the runs under ``paths``."""
    front, grid, cliffs = load_theory(theory_dir)
    df = load_perceptron(paths)
    df = df.loc[df["sweep"] == "perceptron_frontier"] if "sweep" in df.columns else df
    gaps = sim_vs_theory(df, front, cliffs)
    return {
        "df": df,
        "dim": int(round((df["n_train"] / df["alpha_prune"]).median())),
        "front": front,
        "grid": grid,
        "cliffs": cliffs,
        "gaps": gaps,
        "bias": finite_n_bias(gaps),
        "f_opt": f_opt_table(gaps, front),
        "f_min": f_min_table(df, front),
        "ratios": ratios_theta0(gaps),
        "fits": collector_fits(df, n_boot=n_boot),
        "collect_command": "python -m bench.collect RECORDS --context " + ",".join(COLLECT_CONTEXT),
    }
