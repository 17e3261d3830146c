"""Figures of the perceptron study (:mod:`bench.theory.study`): five PNG + SVG pairs, one per claim.

Each ``fig_*`` takes the frames of :func:`bench.theory.study.analyse`, writes ``<out>/<name>.png|svg`` and returns
the file names. The only computation is the replica-theory *line* drawn through some figures (``theory_lines``,
decoration: every number in the tables comes from the records).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.collect.fit import predict
from bench.theory.replica import theory_error
from bench.theory.study import ASYMPTOTE_C, cells, error_vs_keep_at


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
        ax[0].plot(
            ag[sel],
            fit.predict(ag[sel]),
            "--",
            color="C2",
            lw=1,
            label=rf"power-law fit $\alpha\geq${fit.x_min:g}: $\nu$={fit.nu:.3f}",
        )
    ax[0].set(
        xscale="log",
        yscale="log",
        xlabel=r"$\alpha = P/N$",
        ylabel=r"$\epsilon_g$",
        title="Maximally stable perceptron (no pruning)",
    )
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
        ax[0].errorbar(
            g["alpha_tot"], g["easy"], yerr=g["easy_sem"], fmt="s--", color=col, ms=4, mfc="none", label=f"f={k:g} easy"
        )
        r = g["hard"] / g["easy"]
        rse = r * np.sqrt((g["hard_sem"] / g["hard"]) ** 2 + (g["easy_sem"] / g["easy"]) ** 2)
        ax[1].errorbar(g["alpha_tot"], r, yerr=rse, fmt="o-", color=col, ms=4, label=f"f={k:g}")
        ax[1].plot(g["alpha_tot"], g["hard_theory"] / g["easy_theory"], ":", color=col, lw=1)
        c = cross.loc[cross["keep"] == k, "cross_sim"]
        if len(c) and np.isfinite(c.iloc[0]):
            ax[1].axvline(c.iloc[0], color=col, lw=0.6, alpha=0.6)
    ax[0].set(
        xscale="log",
        yscale="log",
        xlabel=r"$\alpha_{tot}$",
        ylabel=r"$\epsilon_g$",
        title=r"keep hard (solid) vs keep easy (dashed), $\theta=0$",
    )
    ax[0].legend(fontsize=6, ncol=2)
    ax[1].axhline(1, color="k", lw=0.8)
    ax[1].set(
        xscale="log",
        yscale="log",
        xlabel=r"$\alpha_{tot}$",
        ylabel=r"$\epsilon_{hard}/\epsilon_{easy}$",
        title="< 1: keep hard wins (dotted: theory; vertical: crossover)",
    )
    ax[1].legend(fontsize=7)
    return _save(fig, out, "fig2_easy_vs_hard")


def _fit_lines(ax, fit, color, label):
    if not fit.get("power_variant"):
        return

    xg = np.geomspace(fit["x_min"], fit["x_max"], 80)
    nu_a = {"a": fit["a"], "nu": fit["nu"], "e_inf": fit["e_inf"]}
    ax.plot(xg, predict("power_law", nu_a, xg), "--", color=color, lw=1, label=f"{label} power law nu={fit['nu']:.2f}")
    if np.isfinite(fit.get("exp_n0", np.nan)):
        ax.plot(
            xg,
            predict(
                "exponential",
                {"b": fit["exp_b"], "n0": fit["exp_n0"], "e_inf": fit["exp_e_inf"], "x_min": fit["x_min"]},
                xg,
            ),
            ":",
            color=color,
            lw=1.2,
            label=f"{label} exponential",
        )


def _frontier_panel_loglog(
    ax, c: pd.DataFrame, fr: pd.DataFrame, fits: pd.DataFrame, x_min: float, theory_lines: bool
) -> None:
    """All theta = 0 cells, both Pareto frontiers with their fits, and (theory_lines) what the finite grid hides."""
    for rule, col, mk in (("keep_hard", "C0", "o"), ("random", "C1", "s"), ("full", "k", "^")):
        g = c.loc[c["rule"] == rule]
        ax.scatter(g["alpha_prune"], g["sim"], s=10, color=col, alpha=0.35, marker=mk, label=f"all cells: {rule}")
    for grp, col in (("keep_hard", "C0"), ("random", "C1")):
        f = fr.loc[(fr["group"] == grp) & (fr["theta"] == 0.0) & fr["pareto"]].sort_values("x")
        ax.errorbar(
            f["x"],
            f["mean"],
            yerr=f["sem"],
            fmt="-",
            marker="o",
            color=col,
            lw=2,
            ms=5,
            label=f"Pareto frontier: {grp}",
        )
        fit = fits.loc[(fits["group"] == grp) & (fits["theta"] == 0.0)]
        if len(fit):
            _fit_lines(ax, fit.iloc[0].to_dict(), col, grp)
    if theory_lines:
        # keep_hard at the smallest tested f with an unlimited pool (theory), and the floor set by the largest
        # pool (every keep_hard run that keeps all support vectors gives that student)
        fmin = float(c.loc[c["rule"] == "keep_hard", "keep"].min())
        ag = np.geomspace(1.5, float(c["alpha_prune"].max()), 50)
        ax.plot(
            ag,
            _theory_line(ag, fmin, "keep_hard", 0.0),
            "-",
            color="C0",
            lw=0.8,
            alpha=0.7,
            label=f"theory keep_hard f={fmin:g}, unlimited pool",
        )
        full = c.loc[c["rule"] == "full"]
        if len(full):
            top = full.loc[full["alpha_tot"].idxmax()]
            ax.axhline(
                top["sim"],
                color="k",
                lw=0.6,
                ls="-.",
                label=rf"f=1 error at the largest pool $\alpha_{{tot}}$={top['alpha_tot']:g}",
            )
    ax.axvspan(0.04, x_min, color="0.9", zorder=-1)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=r"$\alpha_{prune}$",
        ylabel=r"$\epsilon_g$",
        title=rf"Perfect probe: frontier over f (fits on $\alpha_{{prune}}\geq{x_min:g}$)",
    )
    ax.legend(fontsize=6)


def _frontier_panel_loglin(ax, fr: pd.DataFrame, fits: pd.DataFrame, x_min: float) -> None:
    """The frontiers on x >= x_min with linear x (an exponential is a straight line there)."""
    for grp, col in (("keep_hard", "C0"), ("random", "C1")):
        f = fr.loc[(fr["group"] == grp) & (fr["theta"] == 0.0) & fr["pareto"] & (fr["x"] >= x_min)].sort_values("x")
        ax.errorbar(f["x"], f["mean"], yerr=f["sem"], fmt="-o", color=col, ms=5, label=f"frontier {grp}")
        fit = fits.loc[(fits["group"] == grp) & (fits["theta"] == 0.0)]
        if len(fit):
            _fit_lines(ax, fit.iloc[0].to_dict(), col, grp)
    ax.set(
        yscale="log",
        xlabel=r"$\alpha_{prune}$ (linear)",
        ylabel=r"$\epsilon_g$",
        title="same, log-linear axes (exponential = straight line)",
    )
    ax.legend(fontsize=7)


def fig_frontier(
    df: pd.DataFrame, fr: pd.DataFrame, fits: pd.DataFrame, out: Path, x_min: float, theory_lines: bool = True
) -> list[str]:
    fig, ax = _plt().subplots(1, 2, figsize=(11, 4.2))
    _frontier_panel_loglog(ax[0], cells(df.loc[df["theta"] == 0.0]), fr, fits, x_min, theory_lines)
    _frontier_panel_loglin(ax[1], fr, fits, x_min)
    return _save(fig, out, "fig3_frontier")


def fig_probe(
    df: pd.DataFrame,
    fr: pd.DataFrame,
    fits: pd.DataFrame,
    out: Path,
    x_min: float,
    alpha_fixed: float,
    theory_lines: bool = True,
) -> list[str]:
    plt = _plt()
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    thetas = sorted(df["theta"].unique())
    for _j, (af, mk, ls) in enumerate(zip(alpha_fixed, "os^", ("-", "--", ":"))):
        ev = error_vs_keep_at(df, af)
        for i, th in enumerate(thetas):
            g = ev.loc[ev["theta"] == th]
            ax[0].errorbar(
                g["keep"],
                g["sim"],
                yerr=g["sem"],
                fmt=mk,
                color=f"C{i}",
                label=rf"sim $\theta$={th:g}, $\alpha_{{prune}}$={af:g}",
            )
            if theory_lines:
                fg = np.geomspace(0.03, 1.0, 30)
                ax[0].plot(
                    fg,
                    [_theory_line([af], f, "keep_hard" if f < 1 else "random", th)[0] for f in fg],
                    ls,
                    color=f"C{i}",
                    lw=1,
                )
    ax[0].set(
        xscale="log",
        yscale="log",
        xlabel="keep fraction f",
        ylabel=r"$\epsilon_g$",
        title="keep hard at fixed " + r"$\alpha_{prune}$" + " (lines: theory)",
    )
    ax[0].legend(fontsize=6)
    for i, th in enumerate(thetas):
        f = fr.loc[(fr["group"] == "keep_hard") & (fr["theta"] == th) & fr["pareto"]].sort_values("x")
        ax[1].errorbar(
            f["x"],
            f["mean"],
            yerr=f["sem"],
            fmt="-o",
            color=f"C{i}",
            ms=4,
            label=rf"keep-hard frontier $\theta$={th:g}",
        )
        fit = fits.loc[(fits["group"] == "keep_hard") & (fits["theta"] == th)]
        if len(fit):
            _fit_lines(ax[1], fit.iloc[0].to_dict(), f"C{i}", rf"$\theta$={th:g}")
    r = fr.loc[(fr["group"] == "random") & (fr["theta"] == 0.0) & fr["pareto"]].sort_values("x")
    ax[1].errorbar(r["x"], r["mean"], yerr=r["sem"], fmt="-s", color="0.4", ms=4, label="random frontier")
    ax[1].axvspan(0.04, x_min, color="0.9", zorder=-1)
    ax[1].set(
        xscale="log",
        yscale="log",
        xlabel=r"$\alpha_{prune}$",
        ylabel=r"$\epsilon_g$",
        title="Imperfect probe: frontier over f",
    )
    ax[1].legend(fontsize=6)
    return _save(fig, out, "fig4_probe")


def fig_theory_sim(gaps: pd.DataFrame, out: Path) -> list[str]:
    plt = _plt()
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    markers = {"keep_hard": "o", "keep_easy": "s", "random": "^", "full": "D"}
    thetas = sorted(gaps["theta"].unique())
    for (rule, th), g in gaps.groupby(["rule", "theta"]):
        ax[0].errorbar(
            g["theory"],
            g["sim"],
            yerr=g["sem"],
            fmt=markers.get(rule, "o"),
            ms=3,
            color=f"C{thetas.index(th)}",
            alpha=0.7,
            label=rf"{rule} $\theta$={th:g}",
        )
    lo, hi = gaps[["theory", "sim"]].min().min() * 0.8, 0.6
    ax[0].plot([lo, hi], [lo, hi], "k-", lw=0.8)
    ax[0].set(
        xscale="log",
        yscale="log",
        xlabel="replica theory",
        ylabel="simulation (mean of seeds)",
        title="theory vs simulation, every cell",
    )
    ax[0].legend(fontsize=6)
    z = gaps["gap_se"].dropna().clip(-8, 8)
    ax[1].hist(z, bins=np.linspace(-8, 8, 33), color="C0", alpha=0.8)
    xs = np.linspace(-8, 8, 200)
    # a Student-t-ish reference would be fairer with 4 seeds; show the normal density for scale
    ax[1].plot(xs, len(z) * 0.5 * np.exp(-(xs**2) / 2) / np.sqrt(2 * np.pi), "k-", lw=1, label="N(0,1) x cells")
    ax[1].set(xlabel="(sim - theory) / s.e. (clipped at +-8)", ylabel="cells", title="gap in units of the seed s.e.")
    ax[1].legend(fontsize=8)
    return _save(fig, out, "fig5_theory_vs_sim")
