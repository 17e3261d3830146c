"""The calibrated power of the frontier shape verdict, and the gate that withholds a verdict the data cannot carry.

:data:`CALIBRATED_POWER` is the right-verdict rate per (Pareto case, noise level) measured by
``scripts/calibrate_shape.py`` (``bench/collect/calibrate.py``; committed in ``results/shape_calibration/power.csv``,
and a test checks the two agree). :func:`power_gate` says why a frontier's "power law" or "bends below" verdict is
not trusted: its calibrated power at the curve's seed noise is below 80%, or its noise or span lies outside what was
calibrated. The collector then reports "not determinable" with that reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.collect.shape import BENDS_BELOW, POWER_LAW

__all__ = ["CALIBRATED_POWER", "POWER_MIN", "calibrated_power", "power_gate", "power_table"]


#: Right-verdict rate per (case, noise) from the committed run of scripts/calibrate_shape.py
#: (results/shape_calibration/power.csv; a test checks the two agree).
CALIBRATED_POWER: dict[tuple[str, float], float] = {
    ("pareto_exponential", 0.02): 0.97,
    ("pareto_exponential", 0.05): 0.935,
    ("pareto_exponential", 0.1): 0.97,
    ("pareto_exponential", 0.15): 0.985,
    ("random_frontier", 0.02): 0.94,
    ("random_frontier", 0.05): 0.945,
    ("random_frontier", 0.1): 0.96,
    ("random_frontier", 0.15): 0.98,
}
#: The shortest span calibrated: the single-curve cases use 6 sizes over 1k-32k (1.5 decades), the Pareto cases
#: n = 100-32,000; a frontier fitted over fewer decades is outside what was calibrated.
CALIBRATED_MIN_DECADES = 1.5
POWER_MIN = 0.8
_GATED_CASE = {POWER_LAW: "random_frontier", BENDS_BELOW: "pareto_exponential"}


def calibrated_power(shape: str, noise_sd: float, power: dict | None = None) -> tuple[float, float]:
    """(power, calibrated noise level used) for a frontier verdict ``shape`` at the curve's seed noise: the rate at
    the smallest calibrated noise at or above it (NaN beyond the largest, or for a shape not calibrated)."""
    table = CALIBRATED_POWER if power is None else power
    case = _GATED_CASE.get(shape)
    levels = sorted(n for c, n in table if c == case)
    above = [n for n in levels if n >= noise_sd - 1e-12] if np.isfinite(noise_sd) else []
    if case is None or not above:
        return float("nan"), float("nan")
    return table[(case, above[0])], above[0]


def power_gate(shape: str, noise_sd: float, x_min: float, x_max: float, power: dict | None = None) -> str | None:
    """The reason a frontier's ``shape`` verdict is not trusted (power below :data:`POWER_MIN` for its noise, or a
    span or noise outside the calibration), or None when it stands. "not determinable" verdicts pass unchanged."""
    if shape not in _GATED_CASE:
        return None
    decades = float(np.log10(x_max / x_min)) if x_min > 0 and x_max > 0 else 0.0
    if decades < CALIBRATED_MIN_DECADES:
        return f"'{shape}' not trusted: the fit spans {decades:.1f} decades, calibration needs >= {CALIBRATED_MIN_DECADES:g}"
    pw, level = calibrated_power(shape, noise_sd, power)
    if not np.isfinite(pw):
        return f"'{shape}' not trusted: seed noise {noise_sd:.1%} is beyond the calibrated noise levels"
    if pw < POWER_MIN:
        return (
            f"'{shape}' not trusted: the calibrated rate of right '{shape}' verdicts on Pareto frontiers at "
            f"{level:.0%} noise is {pw:.0%} < {POWER_MIN:.0%} (seed noise here {noise_sd:.1%})"
        )
    return None


def power_table(cal: pd.DataFrame) -> pd.DataFrame:
    """Right-verdict rate (power) per (case, noise): columns case, noise, expected, power, n_curves."""
    right = cal.loc[cal["correct"]]
    n = cal.groupby(["case", "noise"])["count"].sum().rename("n_curves").reset_index()
    out = right[["case", "noise", "expected", "rate"]].rename(columns={"rate": "power"})
    return out.merge(n, on=["case", "noise"]).sort_values(["case", "noise"]).reset_index(drop=True)
