"""Compute-aware fits (Goyal et al. 2024): recover known (b, tau) from synthetic runs; predict the best keep."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bench.collect.compute import (
    best_keep_at_budget,
    bootstrap_compute_law,
    fit_compute_laws,
    holdout_check,
    predict_error,
    utility_term,
)

A, B, TAU = 3.0, -0.45, 1.5
# a smaller kept set of better examples: a steeper first-pass exponent, a higher prefactor
LAWS = {0.25: (1.2 * A, -0.5), 0.5: (1.1 * A, -0.475), 1.0: (A, B)}


def _law_error(a: float, b: float, tau: float, S: float, e: float) -> float:
    """Independent construction of the law from its definition, pass by pass (no utility_term): the first pass
    gives a * min(e, S)^b; full pass j = 1, 2, ... multiplies the error by ((j+1)/j)^(b * 0.5^(j/tau)); the
    partial pass k by (e / kS)^(b * 0.5^(k/tau))."""
    err = a * min(e, S) ** b
    k = int(e // S)
    for j in range(1, k):
        err *= ((j + 1) / j) ** (b * 0.5 ** (j / tau))
    if k >= 1 and e > k * S:
        err *= (e / (k * S)) ** (b * 0.5 ** (k / tau))
    return err


def test_utility_term_matches_known_values_and_the_pass_by_pass_law():
    # tau = 1: pass 2 is worth half a fresh pass, pass 3 a quarter: u(1000, 2500) by hand
    assert utility_term(1000, 2500, 1.0) == pytest.approx(math.log(1000) + 0.5 * math.log(2) + 0.25 * math.log(1.25))
    assert utility_term(1000, 3000, 1.0) == pytest.approx(math.log(1000) + 0.5 * math.log(2) + 0.25 * math.log(1.5))
    for S, e, tau in [(800, 300, 2.0), (800, 8000, 0.7), (123, 45678, 3.3), (1000, 1000, 1.0)]:
        assert math.exp(-0.4 * float(utility_term(S, e, tau))) * 2.0 == pytest.approx(_law_error(2.0, -0.4, tau, S, e))


def test_utility_term_is_log_e_for_one_pass_and_decays_after():
    assert utility_term(1000, 500, TAU) == pytest.approx(math.log(500))
    assert utility_term(1000, 1000, TAU) == pytest.approx(math.log(1000))
    # second pass: log 2 discounted by 0.5^(1/tau); a never-decaying utility (tau -> inf) is log e again
    assert utility_term(1000, 2000, TAU) == pytest.approx(math.log(1000) + 0.5 ** (1 / TAU) * math.log(2))
    assert utility_term(1000, 7500, 1e9) == pytest.approx(math.log(7500))
    # repeats are worth less than fresh data: u(S, e) < log e for e > S
    assert utility_term(1000, 7500, TAU) < math.log(7500)


def _runs(rng, noise=0.03, pools=(1000, 2000, 4000, 8000), keeps=(0.25, 0.5, 1.0), epochs=(1, 3, 10, 30)):
    rows = []
    for pool in pools:
        for keep in keeps:
            S = keep * pool
            for ep in epochs:
                for seed in range(3):
                    a, b = LAWS[keep]
                    err = _law_error(a, b, TAU, S, ep * S) * math.exp(rng.normal(0, noise))
                    rows.append(
                        {
                            "dataset": "synth",
                            "model": "m",
                            "metric": "el2n",
                            "strategy": "keep_hard",
                            "keep": keep,
                            "pool_size": pool,
                            "n_train": S,
                            "epochs": ep,
                            "steps": ep * S / 100,
                            "seed": seed,
                            "test_error": err,
                        }
                    )
    return pd.DataFrame(rows)


def test_fit_recovers_known_b_and_tau_within_intervals():
    d = _runs(np.random.default_rng(0), keeps=(1.0,), pools=(500, 1000, 2000, 4000, 8000))
    f = bootstrap_compute_law(d["n_train"], d["epochs"] * d["n_train"], d["test_error"], n_boot=100)
    assert f.status == "ok"
    assert f.b_lo <= B <= f.b_hi and f.tau_lo <= TAU <= f.tau_hi
    assert abs(f.b - B) < 0.05 and 0.75 < f.tau < 3


def test_fit_per_keep_and_best_keep_moves_to_more_data_as_compute_grows():
    fits = fit_compute_laws(_runs(np.random.default_rng(1)), n_boot=100)
    assert len(fits) == 3 and (fits["status"] == "ok").all()
    assert (fit_compute_laws(_runs(np.random.default_rng(1)), n_boot=0)["status"] == "no bootstrap").all()
    one_seed = _runs(np.random.default_rng(1)).query("seed == 0")  # resampling one run per cell measures nothing
    assert (fit_compute_laws(one_seed, n_boot=100)["status"] == "no replicates").all()
    # with little compute the small, better kept set wins; with much compute its repeats are used up and the
    # whole pool wins: the predicted best keep grows with the budget (Goyal et al.'s quality-quantity trade-off)
    best = best_keep_at_budget(fits, pool=8000, budgets=[1000, 200000])
    assert list(best["best_keep"]) == [0.25, 1.0]


def test_holdout_prediction_matches_held_out_runs():
    d = _runs(np.random.default_rng(2), noise=0.01, epochs=(1, 2, 5, 10, 30))
    d["steps"] = (d["epochs"] * d["n_train"] / 100).round()  # compute-matched cells: hold out one budget
    d2 = d.copy()
    d2["epochs"] = 4000 / d2["n_train"]  # all keeps of a pool see 4000 x pool/1000 examples: same steps
    d2["steps"] = 40.0 * d2["pool_size"] / 1000
    d2["test_error"] = [
        _law_error(LAWS[k][0], LAWS[k][1], TAU, s, ep * s) for k, s, ep in zip(d2["keep"], d2["n_train"], d2["epochs"])
    ]
    both = pd.concat([d, d2], ignore_index=True)
    held = both.index >= len(d)
    chk = holdout_check(both, pd.Series(held, index=both.index))
    assert len(chk) == 4 and (chk["regret"] <= 1e-9).all(), chk
    assert predict_error({"a": A, "b": B, "tau": TAU}, 1000, 1000) == pytest.approx(A * 1000**B)


def test_one_pool_several_budgets_recovers_tau_and_the_best_keep_moves_to_more_data():
    """The mnist1d_compute design: one pool, each keep at several step budgets (one kept-set size per keep). With one
    kept-set size a and b trade off (only a·S^b is pinned), but the half-life tau is recovered, and with repeats
    losing value the best keep grows with compute, observed and predicted."""
    from bench.collect import budgets as bg

    laws = {0.25: (0.6 * A, B), 0.5: (0.8 * A, B), 1.0: (A, B)}  # a smaller kept set of better examples
    rng = np.random.default_rng(1)
    pool, rows = 8000, []
    for keep in laws:
        S = keep * pool
        for steps in (10, 40, 160, 640, 2560):
            e = steps * 128.0
            for seed in range(3):
                a, b = laws[keep]
                err = _law_error(a, b, TAU, S, e) * math.exp(rng.normal(0, 0.02))
                rows.append(
                    {
                        "dataset": "synth",
                        "model": "m",
                        "metric": "random",
                        "strategy": "keep_hard",
                        "keep": keep,
                        "pool_size": pool,
                        "n_train": S,
                        "examples_seen": e,
                        "epochs": e / S,
                        "steps": steps,
                        "budget": "steps",
                        "seed": seed,
                        "test_error": err,
                    }
                )
    ok = pd.DataFrame(rows)
    fits = fit_compute_laws(ok, n_boot=100)
    assert len(fits) == 3
    assert ((fits["tau"] > TAU / 2) & (fits["tau"] < 2 * TAU)).all(), fits["tau"].tolist()
    assert ((fits["tau_lo"] <= TAU) & (TAU <= fits["tau_hi"])).sum() >= 2
    rule_fits = bg.fit_rule_laws(ok, n_boot=100)
    assert len(rule_fits) == 1 and rule_fits["status"].iloc[0] == "ok"
    assert rule_fits["tau_lo"].iloc[0] <= TAU <= rule_fits["tau_hi"].iloc[0]
    assert rule_fits["b_lo"].iloc[0] <= B <= rule_fits["b_hi"].iloc[0]  # one b shared by the keeps: identified
    best = bg.best_keep_by_budget(bg.budget_cells(ok), rule_fits)
    assert best.sort_values("steps")["best_keep"].tolist() == sorted(best["best_keep"])  # never moves back
    assert best["best_keep"].iloc[0] < best["best_keep"].iloc[-1]
    assert (best["predicted_keep"] == best["best_keep"]).mean() >= 0.8
    assert "moves toward more data" in bg.answer_lines(best)[0]
    held = bg.holdout_largest_budget(ok)
    assert len(held) == 1 and held["predicted_keep"].iloc[0] == held["observed_keep"].iloc[0]
    wide = bg.rules_at_budget(best)
    assert list(wide["steps"]) == [10, 40, 160, 640, 2560] and "random keep_hard" in wide.columns


def _steps_rows(metric, strategy, keep, err_fn, rng, pool=8000, steps=(10, 40, 160, 640), noise=0.02):
    rows = []
    for st in steps:
        e = st * 128.0
        for seed in range(3):
            rows.append(
                {
                    "dataset": "synth",
                    "model": "m",
                    "metric": metric,
                    "strategy": strategy,
                    "keep": keep,
                    "pool_size": pool,
                    "n_train": keep * pool,
                    "examples_seen": e,
                    "epochs": e / (keep * pool),
                    "steps": st,
                    "budget": "steps",
                    "seed": seed,
                    "test_error": err_fn(keep * pool, e) * math.exp(rng.normal(0, noise)),
                }
            )
    return rows


def test_flat_errors_are_not_identified_and_predict_nothing():
    rng = np.random.default_rng(3)
    rows = []
    for keep in (0.2, 0.5):  # error that does not move with compute: b and tau are not pinned down
        rows += _steps_rows("el2n", "keep_easy", keep, lambda S, e: 0.1, rng, noise=0.05)
    ok = pd.DataFrame(rows)
    per_keep = fit_compute_laws(ok, n_boot=100)
    assert (per_keep["status"] == "not identified").all(), per_keep[["b_lo", "b_hi", "tau_lo", "tau_hi"]]
    assert best_keep_at_budget(per_keep, 8000, [1e5]).empty
    from bench.collect import budgets as bg

    rule = bg.fit_rule_laws(ok, n_boot=100)
    assert (rule["status"] == "not identified").all()
    best = bg.best_keep_by_budget(bg.budget_cells(ok), rule)
    assert best["predicted_keep"].isna().all()


def test_best_keep_considers_the_full_pool_and_holdout_is_judged_against_trivial_predictors():
    """The full pool (recorded once, metric none) is the best choice at every budget: best keep 1, and the
    held-out check says whether the fit beats 'always the full pool' (it can only tie it here)."""
    from bench.collect import budgets as bg

    rng = np.random.default_rng(4)
    rows = []
    for keep, a in ((0.2, 1.0 * A), (0.5, 0.9 * A)):
        rows += _steps_rows("el2n", "keep_hard", keep, lambda S, e, a=a: _law_error(a, B, TAU, S, e), rng)
    rows += _steps_rows("none", "keep_hard", 1.0, lambda S, e: _law_error(0.5 * A, B, TAU, S, e), rng)
    ok = pd.DataFrame(rows)
    best = bg.best_keep_by_budget(bg.budget_cells(ok), bg.fit_rule_laws(ok, n_boot=50))
    el2n = best.loc[best["metric"] == "el2n"]
    assert len(el2n) == 4 and (el2n["best_keep"] == 1.0).all() and (el2n["keeps"] == 3).all()
    assert (el2n["error_full_pool"] == el2n["best_error"]).all()
    held = bg.holdout_largest_budget(ok, n_boot=50)
    assert len(held) == 1 and held["observed_keep"].iloc[0] == 1.0
    assert held["regret_full_pool"].iloc[0] == 0.0 and held["regret_largest_keep"].iloc[0] > 0
    assert held["fit_beats_trivial"].iloc[0] in ("no (ties)", "no") or held["fit_status"].iloc[0] != "ok"


def test_one_budget_is_one_cell_whatever_its_examples_seen():
    """InfoBatch and partial batches make the runs of one step budget see 0.88-1.0 of its examples: with the budget
    given they resample as one cell (5% log bins of examples seen split them)."""
    from bench.collect.compute import _cell_members

    S = np.full(6, 800.0)
    e = np.array([0.88, 0.9, 0.99, 1.0, 0.89, 0.97]) * 64000
    assert len(_cell_members(S, e, np.full(6, 500))) == 1
    assert len(_cell_members(S, e)) > 1
