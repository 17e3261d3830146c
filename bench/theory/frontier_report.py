"""The perceptron frontier study's outputs: tables, figure and README (results/perceptron/frontier/), from its tables.

Every number in the text is read from the frames of :func:`bench.theory.frontier_study.analyse`; the prose around
them is fixed, and says which way the numbers went only through the comparisons computed here.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from bench.theory.frontier_study import analyse, unique_cells, write_figure
from bench.theory.study import RUN_COLUMNS
from bench.theory.study_report import _md

FIT_COLS = ["group", "theta", "n_points", "x_min", "x_max", "power_variant", "nu", "nu_lo", "nu_hi", "fit_status"]
SHAPE_COLS = ["shape", "p_power", "p_exp", "shape_reason"]


def _g(v, p: int = 3) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{p}g}"


def _pm(m, s, p: int = 3) -> str:
    return f"{_g(m, p)} +- {_g(s, 2)}"


def _theory_tables(front: pd.DataFrame) -> list[str]:
    piv = {c: front.pivot(index="alpha_prune", columns="theta", values=c) for c in ("f_opt", "eps_opt", "f_min")}
    out = []
    for col, title in (
        (
            "f_opt",
            "optimal keep fraction f_opt (1: no keep_hard fraction below 1 beats no pruning; theta = 0: the lowest f "
            "searched, 1e-4, wherever alpha_prune > 2)",
        ),
        ("eps_opt", "frontier error eps_opt = min over f in [1e-4, 1]"),
        (
            "f_min",
            "f_min: below it keep_hard is worse than no pruning at equal alpha_prune (1: every f < 1 is worse; - : "
            "none down to 1e-4)",
        ),
    ):
        t = piv[col].reset_index()
        t.columns = ["alpha_prune"] + [f"theta={c:g}" for c in piv[col].columns]
        out += [f"**{title}**", "", _md(t, list(t.columns)), ""]
    return out


def _unconverged(front: pd.DataFrame, grid: pd.DataFrame) -> str:
    bad = grid.loc[~grid["converged"].astype(bool)]
    if bad.empty:
        return (
            f"The replica solver converged at all {len(grid)} grid points (theta x alpha_prune x 17 keep fractions), "
            "retrying with 48 quadrature nodes where the default 24 failed."
        )
    where = ", ".join(f"theta={r.theta:g}/alpha={r.alpha_prune:g}/f={r.keep:.2g}" for r in bad.itertuples())
    return f"The replica solver did not converge at {len(bad)} of {len(grid)} grid points ({where}); they are left out."


def section_theory(res: dict) -> list[str]:
    front, cliffs = res["front"], res["cliffs"]
    L = ["## 1. Theory: the frontier over the keep fraction (replica, N -> infinity)", ""]
    L += [_unconverged(front, res["grid"]), ""]
    L += ["**theta = 0 cliff and floor** (`theory_cliffs.csv`)", ""]
    L += [_md(cliffs, list(cliffs.columns)), ""]
    L += _theory_tables(front)
    return L


def section_theta0(res: dict) -> list[str]:
    r = res["ratios"]
    best = r.loc[r["ratio_theory"].idxmax()]  # chosen by theory, not by the outcome
    L = ["## 2. Simulation at theta = 0: keep_hard against random pruning at equal alpha_prune", ""]
    L += [
        f"At the cell where theory predicts the largest ratio: {best['ratio_sim']:.0f} +- {best['ratio_sim_se']:.0f} "
        f"(theory {best['ratio_theory']:.0f}) "
        f"at f = {best['keep']:g}, alpha_prune = {best['alpha_prune']:g} (pool alpha_tot = {best['alpha_tot']:g}): "
        f"keep_hard {_pm(best['hard_sim'], best['hard_sem'])} vs random {_pm(best['random_sim'], best['random_sem'])}. "
        f"Ratios >= 100: {int((r['ratio_sim'] >= 100).sum())} of {len(r)} keep_hard cells.",
        "",
        _md(r, list(r.columns)),
        "",
    ]
    return L


def section_theta(res: dict) -> list[str]:
    fo, fm = res["f_opt"], res["f_min"]
    L = ["## 3. Simulation at theta > 0: the theory's optimal f, and f_min", ""]
    L += ["**f_opt** (`f_opt.csv`): keep_hard at the theory's f_opt and at f = 1, same alpha_prune", ""]
    L += [_md(fo, list(fo.columns)), ""]
    L += [
        "**f_min(theta)** (`f_min.csv`) at alpha_prune = 12.6: theory and simulation (95% bootstrap interval over "
        "seeds, the crossing recomputed in every replicate); `best_keep_sim` is the tested f with the lowest mean (a "
        "minimum of noisy means: no interval)",
        "",
    ]
    L += [_md(fm, list(fm.columns)), ""]
    return L


def section_gaps(res: dict) -> list[str]:
    g, b = res["gaps"], res["bias"]
    a = unique_cells(g)["gap_se"].abs().dropna()
    L = ["## 4. Simulation - theory gap per point, and the finite-N bias", ""]
    L += [
        f"{len(a)} distinct cells (N = {res['dim']}; the f = 1 cells of theta > 0 repeat theta = 0's students and "
        f"count once); |gap| / s.e.: median {a.median():.2f}, {(a < 2).mean():.0%} below 2, "
        f"{(a < 3).mean():.0%} below 3. Every cell is in `sim_vs_theory.csv`. Finite-N bias by regime (mean of "
        "sim / theory - 1; cells with theory > 0.4 left out):",
        "",
        _md(b, list(b.columns)),
        "",
        _md(g, ["theta", "keep", "alpha_tot", "alpha_prune", "n_seeds", "sim", "sem", "theory", "gap_se", "rel_gap"]),
        "",
    ]
    return L


def section_collector(res: dict) -> list[str]:
    fits = res["fits"]
    L = ["## 5. The collector's reading (frontier fits and shape verdicts; cells near chance are not candidates)", ""]
    L += [f"`{res['collect_command']}` computes these from the records (`fits.csv`, frontier rows).", ""]
    L += [_md(fits, [c for c in FIT_COLS + SHAPE_COLS if c in fits.columns]), ""]
    return L


def readme(res: dict, commands: list[str], walls: list[str], reading: list[str]) -> str:
    L = ["# The perceptron's Pareto frontier (Sorscher et al. 2022, Fig. 1-2; issue 19)", ""]
    L += [
        "Generated by `scripts/perceptron_frontier.py report` from the records (or the committed `runs.csv`); do not "
        "edit by hand. Figure: `frontier.png` (left: theta = 0, grey f = const theory curves, bold the frontier "
        "over f, simulated points; middle: frontiers per theta; right: f_opt and f_min).",
        "",
        "## Commands and wall times",
        "",
    ]
    L += ["    " + c for c in commands] + [""] + [f"* {w}" for w in walls] + [""]
    L += ["## Reading", ""] + reading + [""]
    L += section_theory(res) + section_theta0(res) + section_theta(res) + section_gaps(res) + section_collector(res)
    return "\n".join(L) + "\n"


def _local_slope(front: pd.DataFrame, theta: float) -> float:
    """d log eps_opt / d log alpha_prune between the two largest alpha_prune of the theory table."""
    f = front.loc[front["theta"] == theta].sort_values("alpha_prune").tail(2)
    e, a = np.log(f["eps_opt"].to_numpy(float)), np.log(f["alpha_prune"].to_numpy(float))
    return float((e[1] - e[0]) / (a[1] - a[0]))


def _reading_theta0(res: dict) -> str:
    c, r = res["cliffs"], res["ratios"]
    fb = _bias(res, "theta=0 floor")
    best = r.loc[r["ratio_theory"].idxmax()]  # chosen by theory, not by the outcome
    return (
        "* **theta = 0 (perfect probe): a cliff and a floor, not a power law with a larger exponent.** At a fixed "
        f"keep fraction keep_hard's error stays near chance up to alpha_cross(f) = "
        f"{', '.join(f'{a:.3g}' for a in c['alpha_cross'])} (f = {', '.join(f'{k:g}' for k in c['keep'])}; the "
        "Gardner capacity 2 as f -> 0: below it the hardest examples are separable by almost any direction), and from "
        f"alpha_floor(f) = {c['alpha_floor'].min():.3g}-{c['alpha_floor'].max():.3g} on it is within 10% of the "
        f"floor, the unpruned pool's error eps_1(alpha_prune / f) = {c['floor_coef'].mean():.4f} f / alpha_prune "
        "(keep_hard keeps every support vector of the pool). The frontier over f in [1e-4, 1] is therefore the "
        "floor of the smallest f allowed for every alpha_prune > 2: it is set by how large a pool one prunes from "
        "(alpha_tot = alpha_prune / f), not by alpha_prune. The paper's 'beating power law scaling' is this: with a "
        "perfect metric and an unbounded pool, the error at fixed alpha_prune > 2 can be made as small as one likes; "
        "any exponential-looking frontier is the trace of a particular grid of (f, alpha_tot). Simulated (N = "
        f"{res['dim']}, {res['df']['seed'].nunique()} seeds): where theory predicts the largest advantage (f = {best['keep']:g}, alpha_prune = "
        f"{best['alpha_prune']:g}: {best['ratio_theory']:.0f}x), keep_hard is {best['ratio_sim']:.0f} +- "
        f"{best['ratio_sim_se']:.0f} times below random pruning at equal alpha_prune; on the floor the simulation sits {fb} (relative) from the theory."
    )


def _bias(res: dict, regime: str) -> str:
    b = res["bias"].loc[res["bias"]["regime"] == regime]
    return "-" if b.empty else f"{b['mean_rel_gap'].iloc[0]:+.1%} +- {b['mean_rel_gap_se'].iloc[0]:.1%}"


def _reading_theta(res: dict) -> str:
    front, fo, fm = res["front"], res["f_opt"], res["f_min"]
    pos = front.loc[front["theta"] > 0]
    slopes = ", ".join(f"{_local_slope(front, t):.2f} (theta={t:g})" for t in sorted(pos["theta"].unique()))
    big = pos.loc[pos["alpha_prune"] == pos["alpha_prune"].max()]
    gains = ", ".join(f"{g:.2g}x (theta={t:g})" for t, g in zip(big["theta"], big["gain"]))
    fmins = "; ".join(
        f"theta={r.theta:g}: theory {r.f_min_theory:.3g}, simulation {r.f_min_sim:.3g} [{r.f_min_sim_lo:.3g}, "
        f"{r.f_min_sim_hi:.3g}]"
        for r in fm.itertuples()
    )
    inside = int(((fm["f_min_theory"] >= fm["f_min_sim_lo"]) & (fm["f_min_theory"] <= fm["f_min_sim_hi"])).sum())
    below, above = (
        int((fm["f_min_theory"] < fm["f_min_sim_lo"]).sum()),
        int((fm["f_min_theory"] > fm["f_min_sim_hi"]).sum()),
    )
    return (
        "* **theta > 0 (imperfect probe): an interior optimum, then a power law again.** Pruning harder than "
        "f_min(theta) makes keep_hard worse than no pruning, so the frontier is a definite curve: at the largest "
        f"alpha_prune of the table ({big['alpha_prune'].iloc[0]:g}) it lies {gains} below f = 1, and its local "
        f"log-log slope there is {slopes} (f = 1: -1): beyond the first decade the imperfect probe's frontier is a "
        "power law with about the exponent of no pruning, lowered by a constant factor that shrinks as theta grows. "
        "The optimal f and f_min grow with theta (section 1). Simulation at the theory's f_opt: "
        f"{len(fo)} points at theta = {', '.join(f'{t:g}' for t in sorted(fo['theta'].unique()))}, simulated gain "
        f"over f = 1 {fo['gain_sim'].min():.2g}-{fo['gain_sim'].max():.2g} (theory "
        f"{fo['gain_theory'].min():.2g}-{fo['gain_theory'].max():.2g}). f_min at alpha_prune = 12.6 (95% "
        f"bootstrap intervals): {fmins}. Finite-N bias (N = {res['dim']}, mean of sim / theory - 1): "
        f"{_bias(res, 'f=1')} at f = 1, {_bias(res, 'theta>0 f_opt')} at f_opt, {_bias(res, 'theta=0 floor')} "
        f"on the theta = 0 floor. The theory's f_min is inside the simulation's interval for {inside} of {len(fm)} "
        f"angles, below it for {below} and above it for {above}."
    )


def _reading_collector(res: dict) -> str:
    fits = res["fits"]
    parts = [f"{r.group} theta={r.theta:g}: {r.shape}" for r in fits.itertuples()]
    return (
        "* **The collector's verdicts** (lack-of-fit tests calibrated by the seeds, section 5): "
        + "; ".join(parts)
        + ". A frontier with a handful of Pareto points (the theta = 0 cliff) cannot be told apart by a 3-parameter "
        "fit; the theory curves above are the reading, the verdicts say what the records alone support."
    )


def _reading_paper() -> str:
    return (
        "* **Against the paper's perceptron figures (Fig. 1-2).** Qualitatively the same: keep_hard beats random "
        "pruning by orders of magnitude at large alpha_tot with a perfect probe, and an imperfect probe has an "
        "optimal keep fraction and a minimum one that grow with theta. We have no digitised values of the paper's "
        "curves (the reference notes hold none), so no number here is compared with a number of the paper; the "
        "paper's description of the perfect-probe frontier as (at least) exponential corresponds here to the cliff "
        "at alpha_prune ~ 2 followed by a floor that only the pool size sets."
    )


def reading(res: dict) -> list[str]:
    """The reading of the report, every number taken from ``res``."""
    return [_reading_theta0(res), _reading_theta(res), _reading_collector(res), _reading_paper()]


REPORT_TABLES = {"sim_vs_theory.csv": "gaps", "finite_n_bias.csv": "bias", "f_opt.csv": "f_opt"}
REPORT_TABLES |= {"f_min.csv": "f_min", "ratios_theta0.csv": "ratios", "frontier_fits.csv": "fits"}


def write_report(paths, out: Path, walls=(), n_boot: int = 200) -> list[Path]:
    """Tables, runs.csv, the figure and README.md of the sweep's runs under ``paths`` into ``out``."""
    out = Path(out)
    res = analyse(paths, out, n_boot)
    files = []
    runs = res["df"][RUN_COLUMNS].sort_values(["theta", "rule", "keep", "alpha_tot", "seed"])
    runs.to_csv(out / "runs.csv", index=False)
    files.append(out / "runs.csv")
    for name, key in REPORT_TABLES.items():
        res[key].to_csv(out / name, index=False, float_format="%.6g")
        files.append(out / name)
    files += write_figure(res["gaps"], res["front"], res["grid"], res["f_min"], out)
    commands = [
        "OMP_NUM_THREADS=1 python scripts/perceptron_frontier.py theory",
        "OMP_NUM_THREADS=1 python scripts/perceptron_frontier.py preset --cost ...",
        "BENCH_HOME=outputs OMP_NUM_THREADS=1 python -m bench.run -m experiment=perceptron_frontier",
        res["collect_command"].replace("RECORDS", "outputs/perceptron_frontier/records"),
        "OMP_NUM_THREADS=1 python scripts/perceptron_frontier.py report outputs/perceptron_frontier/records",
    ]
    (out / "README.md").write_text(readme(res, commands, list(walls), reading(res)))
    return files + [out / "README.md"]
