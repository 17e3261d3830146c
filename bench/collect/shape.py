"""A calibrated verdict on the shape of a learning curve: power law, bends below a power law, or not determinable.

The question of Sorscher et al. 2022 is whether pruning bends the error-vs-size curve *below* a power law.
A bare AIC preference cannot answer it: with a few points a 3-parameter curve interpolates them, the residual
variance collapses and AIC "prefers" whichever form happened to pass closest. The verdict here is a pair of
**lack-of-fit F-tests** (Draper & Smith, ch. 2), one per candidate form, each calibrated by the seeds:

* the pure error ``SS_PE`` is the scatter of the seed-level log errors around their per-x means
  (``df_PE = N - m`` for ``N`` observations at ``m`` distinct x); it measures noise without any model;
* a form's residual sum of squares splits into pure error and lack of fit, ``SS_LOF = RSS - SS_PE`` with
  ``df_LOF = m - p`` (``p = 3`` curve parameters for both forms);
* ``F = (SS_LOF / df_LOF) / (SS_PE / df_PE)`` follows F(df_LOF, df_PE) when the form is right and the
  log-errors are Gaussian with constant variance: ``p_power`` and ``p_exp`` are its upper tails.

Verdicts (``alpha`` = 0.05 by default):

* ``power law``: the power law ``a·x^-nu + E_inf`` fits (``p_power >= alpha``) and the exponential does not
  (``p_exp < alpha``);
* ``bends below``: the power law is rejected (``p_power < alpha``), the curve is concave in log-log space
  (its log-log slope steepens with x: the quadratic term of the per-x means is negative) and the exponential
  ``b·exp(-x/n0) + E_inf`` fits (``p_exp >= alpha``) and better than the power law; a concave curve that
  neither form fits is "not determinable" (said in the reason), not a claim;
* ``not determinable`` otherwise, with the reason: fewer than ``min_points`` distinct x (a 3-parameter form
  needs at least two points beyond an exact fit), no replicate seeds to measure noise, both forms fit (the x
  range or the noise cannot tell them apart), neither fits, or the power law fails without bending below.

How often each verdict is right on synthetic curves with known answers is measured by
``scripts/calibrate_shape.py`` (figures in ``results/shape_calibration/``) and checked by the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from scipy import stats

__all__ = ["POWER_LAW", "BENDS_BELOW", "NOT_DETERMINABLE", "ShapeVerdict", "judge_shape", "pure_error"]

POWER_LAW, BENDS_BELOW, NOT_DETERMINABLE = "power law", "bends below", "not determinable"
CURVE_PARAMS = 3


@dataclass
class ShapeVerdict:
    """The verdict on one curve and the evidence behind it (flat fields, written to fits.csv)."""

    shape: str = NOT_DETERMINABLE
    shape_reason: str = ""
    p_power: float = math.nan  # lack-of-fit p-value of the power law (E_inf free)
    p_exp: float = math.nan  # lack-of-fit p-value of the exponential
    curvature: float = math.nan  # quadratic coefficient of log E on log x (per-x means); < 0 bends below
    noise_sd: float = math.nan  # pooled seed-to-seed sd of log error (relative noise)
    df_pure: int = 0
    alpha: float = 0.05

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def pure_error(x: np.ndarray, y: np.ndarray) -> tuple[float, int, np.ndarray, np.ndarray]:
    """(SS of log y around its per-x means, its degrees of freedom, distinct x, per-x mean log y)."""
    lx, ly = np.asarray(x, float), np.log(np.asarray(y, float))
    ux = np.unique(lx)
    ss, df, means = 0.0, 0, np.empty(len(ux))
    for i, u in enumerate(ux):
        g = ly[lx == u]
        means[i] = g.mean()
        ss += float(((g - means[i]) ** 2).sum())
        df += len(g) - 1
    return ss, df, ux, means


def _lof_p(rss: float, ss_pe: float, df_pe: int, m: int, p: int = CURVE_PARAMS) -> float:
    """Upper-tail p-value of the lack-of-fit F statistic (NaN when it cannot be formed)."""
    df_lof = m - p
    if df_lof < 1 or df_pe < 1 or not np.isfinite(rss):
        return math.nan
    ss_lof = max(rss - ss_pe, 0.0)
    ms_pe = max(ss_pe / df_pe, 1e-300)
    return float(stats.f.sf((ss_lof / df_lof) / ms_pe, df_lof, df_pe))


def _curvature(ux: np.ndarray, mean_log_y: np.ndarray) -> float:
    """Quadratic coefficient of mean log E on centred, scaled log x (negative: slope steepens with x)."""
    if len(ux) < 3:
        return math.nan
    lx = np.log(ux)
    z = (lx - lx.mean()) / max(np.ptp(lx), 1e-12)
    return float(np.polyfit(z, mean_log_y, 2)[0])


def _decide(p_pow: float, p_exp: float, curv: float, rss_pow: float, rss_exp: float, alpha: float) -> tuple[str, str]:
    pow_fits, exp_fits = p_pow >= alpha, (p_exp >= alpha if np.isfinite(p_exp) else False)
    if pow_fits and not exp_fits:
        return POWER_LAW, f"power law fits (p={p_pow:.2g}); exponential rejected (p={p_exp:.2g})"
    if not pow_fits and curv < 0 and exp_fits and rss_exp < rss_pow:
        return BENDS_BELOW, f"power law rejected (p={p_pow:.2g}); concave in log-log; exponential fits (p={p_exp:.2g})"
    if pow_fits and exp_fits:
        return NOT_DETERMINABLE, f"both forms fit (p_power={p_pow:.2g}, p_exp={p_exp:.2g}): x range or noise too small"
    if not pow_fits and not (curv < 0):
        return NOT_DETERMINABLE, f"power law rejected (p={p_pow:.2g}) but the curve does not bend below it"
    bend = "; it bends below the power law, but not like an exponential either" if curv < 0 else ""
    return NOT_DETERMINABLE, f"neither form fits (p_power={p_pow:.2g}, p_exp={p_exp:.2g}){bend}"


def judge_shape(
    x, y, rss_power: float, rss_exp: float, *, alpha: float = 0.05, min_points: int = CURVE_PARAMS + 2
) -> ShapeVerdict:
    """The verdict for seed-level observations ``(x, y)`` (y > 0) given each form's log-space RSS on them.

    ``rss_power`` / ``rss_exp`` are the residual sums of squares of log errors of the fitted power law (E_inf
    free) and exponential over the same observations (NaN when a fit failed). Returns a :class:`ShapeVerdict`.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    v = ShapeVerdict(alpha=alpha)
    ss_pe, df_pe, ux, means = pure_error(x, y)
    m = len(ux)
    v.df_pure = int(df_pe)
    v.noise_sd = math.sqrt(ss_pe / df_pe) if df_pe else math.nan
    v.curvature = _curvature(ux, means)
    if m < min_points:
        v.shape_reason = f"only {m} distinct x (need >= {min_points} for a {CURVE_PARAMS}-parameter form)"
        return v
    if df_pe < 2:
        v.shape_reason = "no replicate seeds to measure noise (need >= 2 seeds at some x)"
        return v
    v.p_power = _lof_p(rss_power, ss_pe, df_pe, m)
    v.p_exp = _lof_p(rss_exp, ss_pe, df_pe, m)
    if not np.isfinite(v.p_power):
        v.shape_reason = "power-law fit failed"
        return v
    v.shape, v.shape_reason = _decide(
        v.p_power, v.p_exp, v.curvature, rss_power, rss_exp if np.isfinite(rss_exp) else math.inf, alpha
    )
    return v
