r"""The perceptron's Pareto frontier by the replica theory (Sorscher et al. 2022, Fig. 1-2; issue 19).

At a pruned load ``alpha_prune = f * alpha_tot`` the keep fraction f is free (a larger pool pruned harder keeps the
same number of examples), so the best achievable error is the minimum of the replica error over f:

    eps_front(alpha_prune, theta) = min over f in [f_lo, 1] of eps_keep_hard(alpha_prune, f, theta),

with f = 1 the unpruned student (the classical learning curve, which is also random pruning at any f). Quantities:

* :func:`optimal_keep`: the minimum and the optimal f (grid of ``per_decade`` points per decade, then a bounded
  refinement in log f between the grid neighbours of the best point); ``at_lower_bound`` marks an optimum on the
  lowest f allowed, i.e. the frontier would keep falling with a larger pool.
* :func:`keep_threshold` (f_min): the keep fraction below which pruning is worse than not pruning at equal
  alpha_prune, i.e. the largest f < f_opt where eps(f) crosses eps(1) (log-interpolated then refined by a root
  search in log f). NaN with ``f_min_below_grid`` when eps(f) < eps(1) down to f_lo (the perfect probe).
* :func:`cliff` (theta = 0 only): the perfect probe's keep_hard curve at fixed f is a *cliff* and a *floor*. The
  floor is the error of the unpruned pool ``eps_1(alpha_prune / f)`` (~ 0.5005 f / alpha_prune: keep_hard keeps
  every support vector of the full problem); the cliff is where keep_hard stops being worse than no pruning,
  ``alpha_cross(f)`` (eps_hard(f) = eps_1(alpha_prune)), and ``alpha_floor(f)`` where it is within 10% of the
  floor. Both tend to the Gardner capacity 2 as f -> 0: below it the hardest f of the data are separable by
  almost any direction and eps -> 1/2.

Where the replica solver does not converge (``converged`` False: stationarity residual or kappa identity off, also
with twice the quadrature nodes) the point is left out of every minimum and counted in ``n_unconverged``; :func:`theory_frontier`'s grid says where that
happens on its (theta, alpha_prune, f) grid.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.optimize import brentq, minimize_scalar

from bench.theory.replica import theory_error

__all__ = [
    "F_LO",
    "THETAS",
    "alpha_grid",
    "cliff",
    "eps_keep",
    "keep_grid",
    "keep_threshold",
    "optimal_keep",
    "theory_frontier",
    "theory_cliffs",
]

F_LO = 1e-4  #: the smallest keep fraction searched
THETAS = (0.0, 5.0, 10.0, 20.0, 30.0)  #: probe angles of the tables (degrees)
FLOOR_TOL = 0.10  #: alpha_floor(f): keep_hard within this relative distance of the floor


def alpha_grid(lo: float = 0.5, hi: float = 50.0, n: int = 11) -> np.ndarray:
    """The log grid of alpha_prune values of the tables (0.5 .. 50, rounded to 3 significant digits)."""
    return np.array([float(f"{a:.3g}") for a in np.geomspace(lo, hi, n)])


def keep_grid(f_lo: float = F_LO, per_decade: int = 4) -> np.ndarray:
    """Log grid of keep fractions from ``f_lo`` to 1 (both included), ``per_decade`` points per decade."""
    n = int(round(-math.log10(f_lo) * per_decade)) + 1
    return np.geomspace(f_lo, 1.0, n)


#: Gauss-Legendre nodes per sub-interval: the replica default first, twice that where it does not converge
N_QUAD = (24, 48)


@lru_cache(maxsize=100_000)
def _solve(alpha_prune: float, keep: float, theta: float) -> tuple[float, bool]:
    """(eps, converged) of the replica solver, retried with finer quadrature where the default fails."""
    rule = "keep_hard" if keep < 1.0 else "random"
    eps = math.nan
    for n_quad in N_QUAD:
        try:
            r = theory_error(alpha_prune, keep, rule, theta, n_quad=n_quad)
        except (RuntimeError, ValueError, FloatingPointError):
            continue
        eps = float(r["eps"])
        if r["converged"]:
            return eps, True
    return eps, False


def eps_keep(alpha_prune: float, keep: float, theta: float = 0.0) -> float:
    """Replica keep_hard error at (alpha_prune, f, theta) (f = 1: the unpruned student); NaN if not converged."""
    eps, ok = _solve(float(alpha_prune), float(keep), float(theta))
    return eps if ok else math.nan


def _refine_min(alpha_prune: float, theta: float, lo: float, hi: float, xtol: float) -> tuple[float, float]:
    """(f, eps) minimising eps in log10 f on [lo, hi] (bounded Brent); unconverged points count as +inf."""

    def obj(lf: float) -> float:
        e = eps_keep(alpha_prune, 10.0**lf, theta)
        return e if np.isfinite(e) else math.inf

    r = minimize_scalar(obj, bounds=(math.log10(lo), math.log10(hi)), method="bounded", options={"xatol": xtol})
    return float(10.0**r.x), float(r.fun)


def optimal_keep(
    alpha_prune: float, theta: float = 0.0, *, f_lo: float = F_LO, per_decade: int = 4, xtol: float = 0.005
) -> dict:
    """The minimum over f in [f_lo, 1] of the replica keep_hard error at (alpha_prune, theta).

    Returns ``eps_opt``, ``f_opt``, ``eps_full`` (f = 1), ``gain`` = eps_full / eps_opt (>= 1),
    ``at_lower_bound`` (the optimum is the smallest f searched), ``n_unconverged`` (grid points left out) and the
    grid (``keeps``, ``eps``) for plots. ``xtol`` is the tolerance in log10 f of the refinement.
    """
    keeps = keep_grid(f_lo, per_decade)
    eps = np.array([eps_keep(alpha_prune, f, theta) for f in keeps])
    ok = np.isfinite(eps)
    if not ok.any():
        raise RuntimeError(f"replica solver converged nowhere at alpha_prune={alpha_prune}, theta={theta}")
    i = int(np.nanargmin(np.where(ok, eps, np.nan)))
    f_opt, eps_opt = float(keeps[i]), float(eps[i])
    if 0 < i < len(keeps) - 1:
        f_r, e_r = _refine_min(alpha_prune, theta, keeps[i - 1], keeps[i + 1], xtol)
        if e_r < eps_opt:
            f_opt, eps_opt = f_r, e_r
    eps_full = float(eps[-1])
    return {
        "alpha_prune": float(alpha_prune),
        "theta": float(theta),
        "f_opt": f_opt,
        "eps_opt": eps_opt,
        "eps_full": eps_full,
        "gain": eps_full / eps_opt,
        "at_lower_bound": bool(i == 0),
        "n_unconverged": int((~ok).sum()),
        "keeps": keeps,
        "eps": eps,
    }


def keep_threshold(opt: dict, xtol: float = 1e-4) -> dict:
    """f_min at the point of :func:`optimal_keep` ``opt``: below it keep_hard is worse than no pruning.

    Takes the largest grid f below f_opt with eps(f) > eps(1) and finds the crossing eps(f) = eps(1) between it
    and f_opt by Brent's method in log f (tolerance ``xtol`` in log10 f). Returns ``f_min`` (1 when pruning never
    beats f = 1; NaN with ``f_min_below_grid`` when eps(f) < eps(1) down to f_lo) and ``f_min_bracket``.
    """
    keeps, eps, e1 = opt["keeps"], opt["eps"], opt["eps_full"]
    a, th = opt["alpha_prune"], opt["theta"]
    above = [j for j in range(len(keeps)) if keeps[j] < opt["f_opt"] and np.isfinite(eps[j]) and eps[j] > e1]
    if opt["f_opt"] >= 1.0 or opt["eps_opt"] >= e1:
        return {"f_min": 1.0, "f_min_below_grid": False, "f_min_bracket": (1.0, 1.0)}
    if not above:
        return {"f_min": math.nan, "f_min_below_grid": True, "f_min_bracket": (math.nan, float(keeps[0]))}
    lo, hi = float(keeps[max(above)]), float(opt["f_opt"])  # eps(lo) > eps(1) > eps(hi)

    def g(lf: float) -> float:
        return math.log(eps_keep(a, 10.0**lf, th)) - math.log(e1)

    try:
        f_min = float(10.0 ** brentq(g, math.log10(lo), math.log10(hi), xtol=xtol))
    except ValueError:  # unconverged points inside the bracket
        f_min = math.nan
    return {"f_min": f_min, "f_min_below_grid": False, "f_min_bracket": (lo, hi)}


def theory_frontier(
    thetas=THETAS, alphas=None, *, f_lo: float = F_LO, per_decade: int = 4
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The frontier table and its grid, over ``thetas`` x ``alphas`` (default :func:`alpha_grid`).

    Returns ``(frontier, grid)``: one row per (theta, alpha_prune) with :func:`optimal_keep` and
    :func:`keep_threshold`, and one row per (theta, alpha_prune, keep) grid point with ``eps`` and ``converged``
    (the f = const curves of the figure; where the solver stops converging).
    """
    alphas = alpha_grid() if alphas is None else alphas
    rows, grid = [], []
    for th in thetas:
        for a in alphas:
            opt = optimal_keep(float(a), float(th), f_lo=f_lo, per_decade=per_decade)
            thr = keep_threshold(opt)
            row = {k: v for k, v in opt.items() if k not in ("keeps", "eps")}
            rows.append({**row, "f_min": thr["f_min"], "f_min_below_grid": thr["f_min_below_grid"]})
            grid += [
                {
                    "theta": float(th),
                    "alpha_prune": float(a),
                    "keep": float(f),
                    "eps": float(e),
                    "converged": bool(np.isfinite(e)),
                }
                for f, e in zip(opt["keeps"], opt["eps"])
            ]
    return pd.DataFrame(rows), pd.DataFrame(grid)


def _cross_alpha(fun, lo: float, hi: float) -> float:
    """Root of ``fun`` on [lo, hi] (NaN when it does not change sign there)."""
    flo, fhi = fun(lo), fun(hi)
    if not (np.isfinite(flo) and np.isfinite(fhi)) or flo * fhi > 0:
        return math.nan
    return float(brentq(fun, lo, hi, xtol=1e-6))


def cliff(keep: float, *, lo: float = 0.5, hi: float = 10.0) -> dict:
    """The perfect probe's (theta = 0) keep_hard cliff and floor at keep fraction ``keep`` < 1.

    Returns ``alpha_cross`` (eps_hard(f, alpha) = eps_1(alpha): above it pruning at f beats no pruning),
    ``alpha_floor`` (eps_hard within ``FLOOR_TOL`` of the floor eps_1(alpha / f)), and ``floor_coef`` =
    alpha_prune * floor / f at alpha_prune = 10 (the floor in units of f / alpha_prune; -> 0.5005).
    """
    if not 0.0 < keep < 1.0:
        raise ValueError(f"keep={keep} is not allowed: the cliff needs 0 < keep < 1")

    def vs_full(a: float) -> float:
        return math.log(eps_keep(a, keep)) - math.log(eps_keep(a, 1.0))

    def vs_floor(a: float) -> float:
        return eps_keep(a, keep) / eps_keep(a / keep, 1.0) - (1.0 + FLOOR_TOL)

    return {
        "keep": float(keep),
        "alpha_cross": _cross_alpha(vs_full, lo, hi),
        "alpha_floor": _cross_alpha(vs_floor, lo, hi),
        "floor_coef": 10.0 * eps_keep(10.0 / keep, 1.0) / keep,
    }


def theory_cliffs(keeps=(0.1, 0.01, 1e-3, 1e-4)) -> pd.DataFrame:
    """:func:`cliff` for each keep fraction."""
    return pd.DataFrame([cliff(float(f)) for f in keeps])
