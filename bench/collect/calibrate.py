"""How often the shape verdict is right: synthetic learning curves with known answers.

Each case draws curves whose true form is known, with 3 seeds per x and multiplicative log-normal noise, and
runs :func:`bench.collect.fit.fit_curve` on them exactly as the collector does:

=====================  ==========================================================================  ================
case                   curve                                                                       right verdict
=====================  ==========================================================================  ================
``power_law``          a·x^-nu + E_inf, nu ~ U(0.3, 1), E_inf ~ U(0, 0.04), 6 sizes 1k-32k           power law
``exponential``        b·exp(-(x-x0)/n0) + E_inf, n0 ~ U(0.15, 0.4) x range, 6 sizes 1k-32k           bends below
``too_few_points``     the power law at 4 sizes                                                     not determinable
``undertrained``       the power law at 8 sizes 250-32k, the 2 smallest inflated x1.6 / x1.25 and     power law
                       flagged undertrained, so the collector leaves them out
``random_frontier``    random pruning: the power law in every (keep, pool) cell, keeps 0.1-1 x 6      power law
                       pools 1k-32k; judged on the Pareto frontier (a minimum over noisy cells)
``pareto_exponential`` the same design with every cell on one exponential in n (a rule that bends     bends below
                       the curve); judged on its Pareto frontier
=====================  ==========================================================================  ================

Noise levels 2%, 5%, 10% and 15% (seed-to-seed sd of log error; mnist1d frontiers have 9-12%). The right-verdict rate of the two Pareto cases per
noise level is the power of a frontier verdict (:mod:`bench.collect.power`), which the collector requires to be at
least 80% before it states "power law" or "bends below" for a frontier.

``calibrate()`` returns one row per (case, noise, verdict) with the rate; ``scripts/calibrate_shape.py``
writes it to ``results/shape_calibration/``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from bench.collect.fit import fit_curve
from bench.collect.flagged import MAX_TRAIN_ERROR, flag_cells
from bench.collect.frontier import fit_frontiers
from bench.collect.shape import BENDS_BELOW, NOT_DETERMINABLE, POWER_LAW

__all__ = ["CASES", "EXPECTED", "calibrate", "calibration_markdown", "synthetic_curve"]

SEEDS = 3
EXPECTED = {
    "power_law": POWER_LAW,
    "exponential": BENDS_BELOW,
    "too_few_points": NOT_DETERMINABLE,
    "undertrained": POWER_LAW,
    "random_frontier": POWER_LAW,
    "pareto_exponential": BENDS_BELOW,
}
NOISES = (0.02, 0.05, 0.10, 0.15)
PARETO_CASES = ("random_frontier", "pareto_exponential")


def _power(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    nu, e_inf, e0 = rng.uniform(0.3, 1.0), rng.uniform(0.0, 0.04), rng.uniform(0.2, 0.4)
    return (e0 - e_inf) * (x / x.min()) ** -nu + e_inf


def _sizes(lo: float, hi: float, m: int) -> np.ndarray:
    return np.round(np.geomspace(lo, hi, m))


def _case_power_law(rng):
    x = _sizes(1000, 32000, 6)
    return x, _power(rng, x), np.zeros(len(x), bool)


def _case_exponential(rng):
    x = _sizes(1000, 32000, 6)
    n0, e_inf, e0 = rng.uniform(0.15, 0.4) * np.ptp(x), rng.uniform(0.005, 0.03), rng.uniform(0.2, 0.4)
    return x, (e0 - e_inf) * np.exp(-(x - x.min()) / n0) + e_inf, np.zeros(len(x), bool)


def _case_too_few(rng):
    x = _sizes(1000, 32000, 4)
    return x, _power(rng, x), np.zeros(len(x), bool)


def _case_undertrained(rng):
    x = _sizes(250, 32000, 8)
    e = _power(rng, x)
    e[:2] *= (1.6, 1.25)
    flagged = np.zeros(len(x), bool)
    flagged[:2] = True
    return x, e, flagged


CASES: dict[str, Callable] = {
    "power_law": _case_power_law,
    "exponential": _case_exponential,
    "too_few_points": _case_too_few,
    "undertrained": _case_undertrained,
    "random_frontier": _case_power_law,
    "pareto_exponential": _case_exponential,
}


def _pareto_shape(case: str, noise: float, rng: np.random.Generator) -> str:
    """Shape verdict of a Pareto frontier, formed and fitted as the collector does (no power gate: this measures
    the power the gate uses): every (keep, pool) cell on one curve in n, noisy seeds, the frontier a minimum over
    keeps. ``random_frontier``: a power law with a floor; ``pareto_exponential``: an exponential with a floor."""
    e_inf, e0 = rng.uniform(0.0, 0.04), rng.uniform(0.2, 0.4)
    nu, n0 = rng.uniform(0.3, 1.0), rng.uniform(0.15, 0.4) * 32000
    rows = []
    for pool in (1000, 2000, 4000, 8000, 16000, 32000):
        for keep in (0.1, 0.2, 0.4, 0.7, 1.0):
            n = keep * pool
            if case == "random_frontier":
                clean = (e0 - e_inf) * (n / 1000) ** -nu + e_inf
            else:
                clean = (e0 - e_inf) * np.exp(-(n - 100) / n0) + max(e_inf, 0.005)
            for s in range(SEEDS):
                rows.append(
                    {
                        "dataset": "synth",
                        "model": "m",
                        "metric": "random",
                        "strategy": "keep_hard",
                        "keep": keep,
                        "pool_size": pool,
                        "n_train": n,
                        "seed": s,
                        "test_error": clean * np.exp(rng.normal(0.0, noise)),
                    }
                )
    fits, _ = fit_frontiers(pd.DataFrame(rows), n_boot=0, context=(), small_data_frac=None, power_gate=False)
    return str(fits.iloc[0]["shape"])


def synthetic_curve(case: str, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Seed-level (x, error) of one synthetic curve of ``case`` with relative noise ``noise``.

    Sizes the case did not train to fit get a training error of 0.2 on every seed; the collector's own cell
    flagging (:func:`bench.collect.flagged.flag_cells`, threshold :data:`MAX_TRAIN_ERROR`) decides what is left out.
    """
    if case not in CASES:
        raise ValueError(f"unknown case {case!r}; allowed: {', '.join(CASES)}")
    x, e, undertrained = CASES[case](rng)
    xs = np.repeat(x, SEEDS)
    runs = pd.DataFrame(
        {
            "dataset": "synth",
            "model": "m",
            "metric": "random",
            "strategy": "keep_hard",
            "keep": 1.0,
            "pool_size": xs,
            "train_error": np.repeat(np.where(undertrained, 0.2, 0.0), SEEDS),
            "test_error": np.repeat(e, SEEDS) * np.exp(rng.normal(0.0, noise, len(xs))),
        }
    )
    kept = ~flag_cells(runs, MAX_TRAIN_ERROR)["flagged_cell"].to_numpy()
    return xs[kept], runs["test_error"].to_numpy()[kept]


def calibrate(
    n_curves: int = 200, noises=NOISES, cases=tuple(CASES), seed: int = 0, n_boot: int = 0, progress: bool = False
) -> pd.DataFrame:
    """Verdict rates per (case, noise): columns case, noise, shape, count, rate, expected, correct."""
    rows = []
    combos = [(c, s) for c in cases for s in noises]
    it = combos
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(combos, desc="calibrating shape verdicts")
    for case, noise in it:
        rng = np.random.default_rng([seed, list(CASES).index(case), int(round(noise * 1e4))])
        if case in PARETO_CASES:
            shapes = [_pareto_shape(case, noise, rng) for _ in range(n_curves)]
        else:
            shapes = [
                fit_curve(*synthetic_curve(case, noise, rng), n_boot=n_boot, seed=rng).shape for _ in range(n_curves)
            ]
        counts = pd.Series(shapes).value_counts()
        for shape in (POWER_LAW, BENDS_BELOW, NOT_DETERMINABLE):
            n = int(counts.get(shape, 0))
            rows.append(
                {
                    "case": case,
                    "noise": noise,
                    "shape": shape,
                    "count": n,
                    "rate": n / n_curves,
                    "expected": EXPECTED[case],
                    "correct": shape == EXPECTED[case],
                }
            )
    return pd.DataFrame(rows)


def calibration_markdown(cal: pd.DataFrame, command: str, seconds: float) -> str:
    """README text for a calibration run: the right-verdict rate per case and noise, then the full table."""
    right = cal.loc[cal["correct"]].pivot_table(index="case", columns="noise", values="rate")
    right.columns = [f"right at {n:.0%} noise" for n in right.columns]
    full = cal.pivot_table(index=["case", "noise"], columns="shape", values="rate", fill_value=0.0)
    n = int(cal.groupby(["case", "noise"])["count"].sum().iloc[0])
    lines = [
        "# Calibration of the collector's shape verdict",
        "",
        f"`{command}` ({seconds:.0f} s on 2 CPU cores): {n} synthetic curves per case and noise level, "
        f"3 seeds per size, multiplicative log-normal noise. Cases and right answers: "
        "`bench/collect/calibrate.py`; the verdict: `bench/collect/shape.py` (lack-of-fit F-tests at 5%).",
        "",
        "| case | expected | " + " | ".join(right.columns) + " |",
        "|---|---|" + "---|" * len(right.columns),
    ]
    for case, r in right.iterrows():
        lines.append(f"| {case} | {EXPECTED[case]} | " + " | ".join(f"{v:.1%}" for v in r) + " |")
    lines += [
        "",
        "Every verdict's rate:",
        "",
        "| case | noise | " + " | ".join(full.columns) + " |",
        "|---|---|" + "---|" * len(full.columns),
    ]
    for (case, noise), r in full.iterrows():
        lines.append(f"| {case} | {noise:.0%} | " + " | ".join(f"{v:.1%}" for v in r) + " |")
    lines += [
        "",
        "The right-verdict rate is the verdict's power for that kind of curve (`power.csv`). The collector uses the "
        "Pareto cases' rows (`random_frontier` for a frontier judged 'power law', `pareto_exponential` for 'bends "
        "below'; `bench/collect/power.py`): at the smallest calibrated noise level at or above a frontier's seed "
        "noise, a power below 80% makes the verdict 'not determinable' and the report says why; so does a seed "
        f"noise above {max(cal['noise']):.0%} or a fitted span under 1.5 decades (outside this calibration).",
    ]
    return "\n".join(lines) + "\n"
