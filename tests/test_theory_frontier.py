"""The replica frontier of the perceptron (bench.theory.frontier): known values, checked against independent
computations (the classical f = 1 curve, the Gardner capacity, direct simulation). A few seconds on one core."""

import math

import numpy as np
import pytest

from bench.theory import frontier as tf
from bench.theory import perceptron as pc
from bench.theory.replica import gardner_capacity


@pytest.mark.parametrize("keep", [0.1, 0.01])
def test_perfect_probe_above_cliff_is_the_full_pool(keep):
    # theta = 0, alpha_prune = 5: keep_hard keeps every support vector of the pool, so its error is the unpruned
    # student's at alpha_tot = alpha_prune / f (the classical curve, solved by the f = 1 branch), ~ 0.5005 f / 5
    eps = tf.eps_keep(5.0, keep)
    assert eps == pytest.approx(tf.eps_keep(5.0 / keep, 1.0), rel=2e-3)
    assert eps == pytest.approx(0.5005 * keep / 5.0, rel=0.01)


def test_perfect_probe_frontier_sits_on_the_lowest_keep():
    opt = tf.optimal_keep(5.0, 0.0, f_lo=1e-3, per_decade=2)
    assert opt["at_lower_bound"] and opt["f_opt"] == pytest.approx(1e-3)
    assert opt["eps_opt"] == pytest.approx(0.5005e-3 / 5.0, rel=0.01)
    assert math.isnan(tf.keep_threshold(opt)["f_min"])  # pruning never hurts down to f_lo: no f_min


def test_cliff_sits_at_the_gardner_capacity():
    c = tf.cliff(0.01)
    # below alpha_prune = 2 the hardest examples are separable in almost any direction (Gardner capacity 2)
    assert c["alpha_cross"] == pytest.approx(gardner_capacity(0.0), abs=0.05)
    assert c["alpha_cross"] < 2.0 < c["alpha_floor"] < 3.0
    assert tf.eps_keep(c["alpha_floor"], 0.01) == pytest.approx(1.1 * tf.eps_keep(c["alpha_floor"] / 0.01, 1.0))
    assert c["floor_coef"] == pytest.approx(0.5005, abs=1e-3)
    assert tf.eps_keep(1.5, 0.01) > 0.45  # below the cliff: near chance
    with pytest.raises(ValueError, match="keep=1.5"):
        tf.cliff(1.5)


def test_imperfect_probe_has_an_interior_optimum():
    # theta = 10 deg, alpha_prune = 10 (issue 19): 0.049 at f = 1, 0.016 at 0.3, 0.012 at 0.1, 0.35 at 0.03
    opt = tf.optimal_keep(10.0, 10.0, f_lo=0.01, per_decade=2, xtol=0.1)
    assert not opt["at_lower_bound"] and 0.05 < opt["f_opt"] < 0.3
    assert opt["eps_full"] == pytest.approx(0.0492, abs=5e-4)
    assert opt["eps_opt"] <= tf.eps_keep(10.0, 0.1, 10.0) and opt["eps_opt"] < 0.0125
    assert tf.eps_keep(10.0, 0.03, 10.0) > 0.3
    thr = tf.keep_threshold(opt, xtol=1e-3)
    assert 0.03 < thr["f_min"] < 0.1
    assert tf.eps_keep(10.0, thr["f_min"], 10.0) == pytest.approx(opt["eps_full"], rel=0.01)


def test_interior_optimum_is_seen_by_simulation():
    # independent of the replica solver: max-margin students on pruned Gaussian data, N = 100, 2 seeds
    def sim(keep):
        return np.mean(
            [
                pc.simulate(100, 10.0 / keep, keep, "keep_hard" if keep < 1 else "random", 10.0, s, 0)["eps"]
                for s in (0, 1)
            ]
        )

    best, full, small = sim(0.13), sim(1.0), sim(0.03)
    assert best < full / 2 and best < small / 5
