"""Replica theory (:mod:`bench.theory.replica`) against direct simulation (:mod:`bench.theory.perceptron`).

The computation behind ``scripts/theory_validate.py`` (results/theory/): a grid of (alpha_tot, f, rule, theta,
probe) cells, each simulated over seeds at input dimension N and set beside the theory; a finite-size re-run of the
worst cells at N = 400; dense theory curves, the theory's Pareto frontier over keep fractions and the f_min(theta)
scan. :mod:`bench.theory.validate_report` turns the result into a figure and README.

    res = validate(dim=200, n_seeds=8)            # ~4 min on one core; quick=True for a ~30 s smoke run
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from bench.theory import perceptron as pc
from bench.theory import replica as rp

CURVE_KEYS = ("alpha_prune", "keep", "rule", "probe_angle_deg", "eps", "R", "rho", "kappa", "converged")
FINITE_SIZE_DIM = 400
FMIN_ALPHA = 5.0  # alpha_prune of the f_min(theta) scan (theory) and its simulation check


@dataclass
class Grid:
    """The swept settings; :func:`grid` gives the full and the quick one."""

    alphas_tot: list
    keeps: list
    thetas: list
    seeds: range
    quick: bool = False
    pf_keeps: list = field(default_factory=lambda: [0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0])
    fmin_keeps: list = field(default_factory=lambda: [0.7, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.001])


def grid(quick: bool = False, n_seeds: int = 8) -> Grid:
    if quick:
        return Grid([1.0, 8.0], [0.3], [0.0, 10.0], range(3), quick=True, pf_keeps=[0.1, 0.5, 1.0])
    return Grid([1.0, 2.0, 4.0, 8.0, 16.0, 32.0], [0.2, 0.4, 0.7], [0.0, 10.0, 30.0], range(n_seeds))


def _log(msg: str, verbose: bool) -> None:
    if verbose:
        print(msg, flush=True)


# =========================================================================== simulation cells
def sim_cell(dim, alpha_tot, keep, rule, angle, seeds, probe="exact", n_probe=None) -> dict:
    """Simulate one cell over ``seeds``: mean and s.e. of the exact error and the mean order parameters."""
    rows = [
        pc.simulate(dim, alpha_tot, keep, rule, angle, seed=s, n_test=2000, probe=probe, n_probe=n_probe) for s in seeds
    ]
    e = np.array([r["eps"] for r in rows])
    n = len(e)

    def mean(k):
        return float(np.mean([r[k] for r in rows]))

    return {
        "n_seeds": n,
        "sim_eps_mean": float(e.mean()),
        "sim_eps_se": float(e.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan"),
        "sim_eps_test_mean": mean("eps_test"),
        "sim_kappa_mean": mean("kappa"),
        "sim_rho_mean": mean("rho"),
        "sim_sv_per_dim": mean("n_support") / dim,
        "sim_probe_angle_deg": mean("probe_angle_deg"),
        "alpha_prune": mean("alpha_prune"),
    }


def cell_list(g: Grid) -> list[tuple]:
    """(alpha_tot, keep, rule, theta, probe) for every cell: f = 1, random, keep_hard/easy per theta, the
    f_min simulation check and (full grid only) the trained-probe cells (theta NaN: realised by the probe)."""
    cells = []
    for a in g.alphas_tot:
        cells.append((a, 1.0, "random", 0.0, "exact"))
        for f in g.keeps:
            cells.append((a, f, "random", 0.0, "exact"))
            cells += [(a, f, rule, th, "exact") for th in g.thetas for rule in ("keep_hard", "keep_easy")]
    if not g.quick:  # simulation check of f_min(theta): keep_hard at alpha_prune = FMIN_ALPHA, theta = 10 deg
        cells += [(FMIN_ALPHA / f, f, "keep_hard", 10.0, "exact") for f in (0.05, 0.1, 0.2)]
        cells += [(a, 0.3, rule, float("nan"), "trained") for a in (4.0, 16.0) for rule in ("keep_hard", "keep_easy")]
    return cells


def compare_cell(dim: int, cell: tuple, seeds, n_probe: int) -> dict:
    """One row of sim_vs_theory.csv: the simulation of ``cell`` and the theory at its realised alpha_prune/angle."""
    a, f, rule, th, probe = cell
    trained = probe == "trained"
    s = sim_cell(dim, a, f, rule, 0.0 if trained else th, seeds, probe=probe, n_probe=n_probe if trained else None)
    th_used = s["sim_probe_angle_deg"] if trained else th
    t = rp.theory_error(s["alpha_prune"], f, rule, th_used)
    gap = s["sim_eps_mean"] - t["eps"]
    return {
        "alpha_tot": a,
        "keep": f,
        "rule": rule,
        "probe": probe,
        "probe_angle_deg": th_used,
        "dim": dim,
        **s,
        "theory_eps": t["eps"],
        "theory_kappa": t["kappa"],
        "theory_rho": t["rho"],
        "theory_sv_per_dim": t["sv_per_dim"],
        "theory_converged": t["converged"],
        "gap": gap,
        "abs_gap": abs(gap),
        "gap_over_se": gap / s["sim_eps_se"] if s["sim_eps_se"] > 0 else float("nan"),
    }


def run_cells(dim: int, g: Grid, verbose: bool = True) -> list[dict]:
    cells = cell_list(g)
    _log(f"[theory_validate] {len(cells)} cells x {len(g.seeds)} seeds, N={dim}", verbose)
    rows, t0 = [], time.time()
    for i, cell in enumerate(cells):
        tc = time.time()
        r = compare_cell(dim, cell, g.seeds, n_probe=2 * dim)  # trained probe: max-margin student on alpha = 2
        rows.append(r)
        _log(
            f"  [{i + 1:3d}/{len(cells)}] a_tot={r['alpha_tot']:5.1f} f={r['keep']:.1f} {r['rule']:9s} "
            f"th={r['probe_angle_deg']:5.1f} {r['probe']:7s} sim={r['sim_eps_mean']:.4f}+-{r['sim_eps_se']:.4f} "
            f"theory={r['theory_eps']:.4f} gap/se={r['gap_over_se']:+.2f} ({time.time() - tc:.1f}s, total "
            f"{time.time() - t0:.0f}s)",
            verbose,
        )
    return rows


def worst_cells(rows: list[dict], n: int = 4) -> list[dict]:
    """The ``n`` exact-probe cells with the largest |gap| / s.e."""
    return sorted([r for r in rows if r["probe"] == "exact"], key=lambda r: -abs(r["gap_over_se"]))[:n]


def finite_size_check(rows: list[dict], seeds, dim: int = FINITE_SIZE_DIM, verbose: bool = True) -> list[dict]:
    """Re-simulate the worst cells at ``dim`` (same seeds count) against the same theory value."""
    _log(f"[theory_validate] finite-size check (N={dim}) on the 4 cells with the largest |gap|/se", verbose)
    out = []
    for r in worst_cells(rows):
        s = sim_cell(dim, r["alpha_tot"], r["keep"], r["rule"], r["probe_angle_deg"], seeds)
        fs = {**r, **s, "dim": dim, "gap": s["sim_eps_mean"] - r["theory_eps"]}
        fs["abs_gap"] = abs(fs["gap"])
        fs["gap_over_se"] = fs["gap"] / s["sim_eps_se"]
        out.append(fs)
        _log(
            f"  a_tot={r['alpha_tot']} f={r['keep']} {r['rule']} th={r['probe_angle_deg']}: N={r['dim']} gap "
            f"{r['gap']:+.4f} ({r['gap_over_se']:+.1f} se) -> N={dim} gap {fs['gap']:+.4f} "
            f"({fs['gap_over_se']:+.1f} se)",
            verbose,
        )
    return out


# =========================================================================== theory curves
def _curve_row(kind: str, r: dict, **over) -> dict:
    return {"kind": kind, **{k: r[k] for k in CURVE_KEYS}, **over}


def dense_curves(g: Grid) -> list[dict]:
    """Theory eps(alpha_prune) per (theta, keep, rule) on a geometric grid, and the f = 1 curve."""
    grid_ = np.geomspace(0.2, max(g.alphas_tot) * max(g.keeps), 8 if g.quick else 14)
    out = [
        _curve_row("curve", r)
        for th in g.thetas
        for f in g.keeps
        for rule in ("keep_hard", "keep_easy")
        for r in rp.theory_curve(grid_, f, rule, th)
    ]
    return out + [_curve_row("curve", r) for r in rp.theory_curve(grid_, 1.0, "random")]


def pareto_curves(g: Grid, verbose: bool = True) -> list[dict]:
    """Theory Pareto frontier: at each alpha_prune the best (rule, f) over ``g.pf_keeps``, per theta."""
    alphas = np.geomspace(0.5, 20.0, 5 if g.quick else 9)
    out = []
    for th in [0.0] if g.quick else [0.0, 10.0]:
        _log(f"  Pareto frontier theta={th}", verbose)
        best = {}
        for f in g.pf_keeps:
            for rule in ("keep_hard", "keep_easy") if f < 1 else ("random",):
                for r in rp.theory_curve(alphas, f, rule, th):
                    if r["alpha_prune"] not in best or r["eps"] < best[r["alpha_prune"]]["eps"]:
                        best[r["alpha_prune"]] = r
        out += [_curve_row("pareto", best[k], probe_angle_deg=th) for k in sorted(best)]
    return out


def fmin_scan(g: Grid, verbose: bool = True) -> list[dict]:
    """Theory keep_hard error at alpha_prune = FMIN_ALPHA as f shrinks, per theta."""
    out = []
    for th in [0.0, 10.0] if g.quick else [0.0, 10.0, 30.0]:
        _log(f"  f_min scan theta={th}", verbose)
        for f in g.fmin_keeps:
            r = rp.theory_error(FMIN_ALPHA, f, "keep_hard", th)
            out.append(
                _curve_row(
                    "fmin", {**r, "alpha_prune": FMIN_ALPHA, "keep": f, "rule": "keep_hard", "probe_angle_deg": th}
                )
            )
    return out


# =========================================================================== everything
def validate(
    dim: int = 200, n_seeds: int = 8, quick: bool = False, finite_size: bool = True, verbose: bool = True
) -> dict:
    """Run the whole comparison. Returns ``rows`` (cells), ``fs_rows`` (finite-size re-runs), ``curves``,
    ``grid``, ``dim`` and ``wall`` (seconds)."""
    t0 = time.time()
    g = grid(quick, n_seeds)
    rows = run_cells(dim, g, verbose)
    fs_rows = finite_size_check(rows, g.seeds, verbose=verbose) if finite_size and not quick else []
    _log("[theory_validate] dense theory curves", verbose)
    curves = dense_curves(g) + pareto_curves(g, verbose) + fmin_scan(g, verbose)
    return {"rows": rows, "fs_rows": fs_rows, "curves": curves, "grid": g, "dim": dim, "wall": time.time() - t0}


def time_max_margin(sizes=((2000, 200), (5000, 200), (25600, 200)), repeats: int = 3, seed: int = 5) -> list[dict]:
    """Wall time of :func:`bench.theory.perceptron.max_margin` on separable teacher data, best of ``repeats``."""
    out = []
    for P, N in sizes:
        rng = np.random.default_rng(seed)
        T = pc.make_teacher(N, rng)
        X, y = pc.gaussian_data(P, N, T, rng)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            _, st = pc.max_margin(X, y)
            times.append(time.perf_counter() - t)
        out.append(
            {
                "P": P,
                "N": N,
                "best_s": min(times),
                "median_s": float(np.median(times)),
                "n_support": st["n_support"],
                "kkt_gap": st["kkt_gap"],
            }
        )
    return out
