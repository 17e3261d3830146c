"""Tests of the teacher-student perceptron library (bench.theory). Fast: ~10-20 s on one core."""

import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats
from scipy.optimize import linprog, minimize

from bench.theory import perceptron as pc
from bench.theory import replica as rp


# ------------------------------------------------------------------------------------------
# simulation
# ------------------------------------------------------------------------------------------
def _slsqp_margin(X, y):
    """Reference: primal hard-margin SVM  min 1/2|w|^2  s.t.  y_i w.x_i >= 1  (margin = 1/|w|)."""
    Z = X * y[:, None]
    # feasible start from an LP (a least-squares start could be infeasible, and SLSQP then failed on seed 3)
    lp = linprog(
        np.zeros(Z.shape[1]), A_ub=-Z, b_ub=-np.ones(len(y)), bounds=[(None, None)] * Z.shape[1], method="highs"
    )
    assert lp.status == 0, lp.message
    w0 = lp.x
    res = minimize(
        lambda w: 0.5 * w @ w,
        w0,
        jac=lambda w: w,
        method="SLSQP",
        constraints=[{"type": "ineq", "fun": lambda w: Z @ w - 1.0, "jac": lambda w: Z}],
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    assert res.success, res.message
    w = res.x
    return 1.0 / np.linalg.norm(w), w / np.linalg.norm(w)


@pytest.mark.parametrize("seed,P,N", [(0, 15, 10), (1, 30, 10), (2, 60, 20), (3, 25, 5)])
def test_max_margin_matches_qp_reference(seed, P, N):
    rng = np.random.default_rng(seed)
    T = pc.make_teacher(N, rng)
    X, y = pc.gaussian_data(P, N, T, rng)
    J, st = pc.max_margin(X, y)
    m_ref, w_ref = _slsqp_margin(X, y)
    assert abs(np.linalg.norm(J) - 1) < 1e-12
    # achieved margin = min over constraints, and it equals the QP optimum
    assert st["margin"] == pytest.approx((y * (X @ J)).min(), abs=1e-12)
    assert st["margin"] == pytest.approx(m_ref, rel=1e-6)
    assert np.all(y * (X @ J) >= st["margin"] - 1e-12)
    assert np.dot(J, w_ref) > 1 - 1e-6  # same (unique) solution
    assert 0 <= st["kkt_gap"] < 1e-9 and st["slack_gap"] < 1e-9
    assert st["n_support"] <= N
    # dual coefficients: J_unnorm = sum a_i y_i x_i has functional margins >= 1, = 1 on the SVs
    a = st["alpha"]
    Ju = (a * y) @ X
    assert np.all(a >= 0)
    fm = y * (X @ Ju)
    assert fm.min() == pytest.approx(1.0, abs=1e-8)
    assert np.allclose(fm[a > 0], 1.0, atol=1e-8)


def test_max_margin_scale_invariant():
    # wall time: scripts/bench_max_margin.py -> results/theory/max_margin_timing.md (no timing bound in tests)
    rng = np.random.default_rng(5)
    T = pc.make_teacher(200, rng)
    X, y = pc.gaussian_data(2000, 200, T, rng)
    J, st = pc.max_margin(X, y)
    J2, st2 = pc.max_margin(3.0 * X, y)
    assert st2["margin"] == pytest.approx(3.0 * st["margin"], rel=1e-9)
    assert np.dot(J, J2) > 1 - 1e-10


def test_max_margin_nonseparable():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 10))  # P/N = 10 >> 2 with random labels: not separable
    y = np.where(rng.standard_normal(100) > 0, 1.0, -1.0)
    with pytest.raises(ValueError):
        pc.max_margin(X, y)
    J, st = pc.max_margin(X, y, on_nonseparable="flag")
    assert J is None and st["separable"] is False


def test_prune_selection_known_margins():
    z = np.array([0.1, -3.0, 0.5, -0.05, 2.0, -1.0, 0.7, 4.0, -0.2, 1.5])
    assert set(pc.prune_indices(z, 0.3, "keep_hard")) == {0, 3, 8}
    assert set(pc.prune_indices(z, 0.3, "keep_easy")) == {1, 7, 4}
    r = pc.prune_indices(z, 0.5, "random", np.random.default_rng(0))
    assert len(r) == 5 and len(set(r)) == 5
    assert len(pc.prune_indices(z, 1.0, "keep_hard")) == 10
    with pytest.raises(ValueError):
        pc.prune_indices(z, 0.5, "nope")
    # on Gaussian margins the empirical keep-hard threshold matches the theory's gamma
    zz = np.random.default_rng(1).standard_normal(200_000)
    for f in (0.1, 0.5):
        idx = pc.prune_indices(zz, f, "keep_hard")
        assert np.abs(zz[idx]).max() == pytest.approx(rp.prune_threshold(f, "keep_hard"), abs=0.01)
        idx = pc.prune_indices(zz, f, "keep_easy")
        assert np.abs(zz[idx]).min() == pytest.approx(rp.prune_threshold(f, "keep_easy"), abs=0.01)


@pytest.mark.parametrize("angle", [0.0, 1.0, 10.0, 45.0, 89.0, 90.0])
def test_probe_angle_exact(angle):
    rng = np.random.default_rng(3)
    T = pc.make_teacher(50, rng)
    Jp = pc.make_probe(T, angle, rng)
    assert np.linalg.norm(Jp) == pytest.approx(1.0, abs=1e-12)
    assert math.degrees(math.acos(np.clip(Jp @ T, -1, 1))) == pytest.approx(angle, abs=1e-6)
    if angle == 0.0:
        assert np.allclose(Jp, T, atol=1e-15, rtol=0)
    z = pc.probe_margins(np.eye(50)[:3] * 2.0, Jp)
    assert np.allclose(z, 2.0 * Jp[:3])


def test_trained_probe_is_reasonable():
    rng = np.random.default_rng(0)
    T = pc.make_teacher(100, rng)
    X, y = pc.gaussian_data(1000, 100, T, rng)
    Jp = pc.trained_probe(X, y, 300, rng)
    assert np.linalg.norm(Jp) == pytest.approx(1.0)
    assert 0.0 < pc.generalization_error(Jp, T) < 0.2


def test_simulate_deterministic_and_consistent():
    a = pc.simulate(100, 3.0, 0.5, "keep_hard", 10.0, seed=7, n_test=5000)
    b = pc.simulate(100, 3.0, 0.5, "keep_hard", 10.0, seed=7, n_test=5000)
    c = pc.simulate(100, 3.0, 0.5, "keep_hard", 10.0, seed=8, n_test=5000)
    assert a == b
    assert a["eps"] != c["eps"]
    assert a["n_tot"] == 300 and a["n_kept"] == 150 and a["alpha_prune"] == 1.5
    assert a["probe_angle_deg"] == pytest.approx(10.0, abs=1e-6)
    assert a["eps"] == pytest.approx(math.acos(a["R"]) / math.pi)
    # empirical error on 5000 test points ~ exact error (binomial s.e. ~ 0.006)
    assert abs(a["eps_test"] - a["eps"]) < 0.03
    t = pc.simulate(100, 3.0, 0.5, "keep_easy", seed=1, probe="trained", n_probe=100, n_test=0)
    assert t["probe_angle_deg"] > 0 and np.isnan(t["eps_test"])


# ------------------------------------------------------------------------------------------
# replica theory
# ------------------------------------------------------------------------------------------
def test_gardner_capacity():
    assert rp.gardner_capacity(0.0) == pytest.approx(2.0, rel=1e-12)
    assert rp.gardner_capacity(1.0) < 2.0


def test_classical_learning_curve_asymptote():
    # maximally stable perceptron: eps ~ 0.5005 / alpha (Engel & Van den Broeck 2001)
    for a in (500.0, 5000.0):
        r = rp.theory_error(a, 1.0, "random")
        assert r["converged"]
        assert a * r["eps"] == pytest.approx(0.5005, abs=5e-4)
        assert r["sv_per_dim"] <= 1.0
    # random pruning: the keep fraction and probe are irrelevant
    r1 = rp.theory_error(2.0, 1.0, "keep_hard")
    r2 = rp.theory_error(2.0, 0.3, "random", 20.0)
    assert r1["eps"] == pytest.approx(r2["eps"], rel=1e-10)


def test_quadrature_converged():
    for args in ((3.0, 0.3, "keep_hard", 0.0), (3.0, 0.3, "keep_easy", 15.0)):
        a = rp.theory_error(*args, n_quad=24)
        b = rp.theory_error(*args, n_quad=40)
        assert a["eps"] == pytest.approx(b["eps"], rel=1e-6)


def _sim_mean(dim, alpha_tot, keep, rule, angle, seeds):
    e = np.array([pc.simulate(dim, alpha_tot, keep, rule, angle, seed=s, n_test=0)["eps"] for s in seeds])
    return e.mean(), e.std(ddof=1) / np.sqrt(len(e))


@pytest.mark.parametrize("alpha", [1.0, 4.0])
def test_replica_f1_matches_simulation(alpha):
    # N = 200, 12 seeds: s.e. ~0.004; finite-size bias at N=200 is ~<0.01 (see results/theory)
    m, se = _sim_mean(200, alpha, 1.0, "random", 0.0, range(12))
    th = rp.theory_error(alpha, 1.0, "random")["eps"]
    assert abs(m - th) < 3 * se + 0.01, (m, se, th)


def test_replica_pruned_theta_matches_simulation():
    m, se = _sim_mean(200, 20.0, 0.2, "keep_hard", 10.0, range(8))
    th = rp.theory_error(4.0, 0.2, "keep_hard", 10.0)["eps"]
    assert abs(m - th) < 3 * se + 0.01, (m, se, th)


def test_keep_hard_vs_easy_regimes():
    # large alpha_tot: keeping hard examples beats random (and easy) at equal alpha_prune
    f = 0.2
    hard = rp.theory_error(10.0, f, "keep_hard")["eps"]  # alpha_tot = 50
    easy = rp.theory_error(10.0, f, "keep_easy")["eps"]
    rand = rp.theory_error(10.0, f, "random")["eps"]
    assert hard < rand and hard < easy
    # small alpha_tot: keeping easy examples wins
    hard = rp.theory_error(0.5, 0.5, "keep_hard")["eps"]  # alpha_tot = 1
    easy = rp.theory_error(0.5, 0.5, "keep_easy")["eps"]
    assert easy < hard


def test_theta_zero_limit_is_continuous():
    for rule in ("keep_hard", "keep_easy"):
        a = rp.theory_error(2.0, 0.4, rule, 0.0)
        b = rp.theory_error(2.0, 0.4, rule, 1e-4)
        assert b["converged"]
        assert a["eps"] == pytest.approx(b["eps"], abs=1e-5)
    # an imperfect probe makes keep_hard worse
    assert rp.theory_error(2.0, 0.2, "keep_hard", 20.0)["eps"] > rp.theory_error(2.0, 0.2, "keep_hard")["eps"]


def test_paper_equations_corrected_form_hold():
    r = rp.theory_error(2.0, 0.2, "keep_hard", 10.0)
    res = rp.paper_residuals(
        2.0, 0.2, "keep_hard", 10.0, r["R"], r["rho"], r["kappa"], variant="corrected", n_t=120, n_z=120
    )
    for lhs, rhs in res.values():
        assert lhs == pytest.approx(rhs, abs=1e-6)


# ------------------------------------------------------------------------------------------
# f = 1: the classical maximally stable perceptron, computed independently of bench.theory.replica
# ------------------------------------------------------------------------------------------
# The textbook characterisation (Gardner, J. Phys. A 21, 257, 1988; for a teacher: Opper, Kinzel, Kleinz & Nehl,
# J. Phys. A 23, L581, 1990; Engel & Van den Broeck, Statistical Mechanics of Learning, CUP 2001, ch. 4): a unit
# student with teacher overlap R can have margin kappa on P = alpha N examples iff
#     alpha * int_{-inf}^{kappa} dl p_R(l) (kappa - l)^2 <= 1 - R^2,    p_R(l) = 2 phi(l) Phi(R l / sqrt(1 - R^2)),
# p_R the density of the stability y J.x of a fresh example; the maximally stable student takes the R that maximises
# that kappa, and eps = arccos(R) / pi. Implemented here by brute force (adaptive quadrature, root finding, scalar
# maximisation over R), sharing no code with replica.py (which solves stationarity conditions with closed-form
# averages). Literature values it must reproduce: alpha_c(kappa = 0) = 2 at R = 0 (Gardner 1988) and
# alpha * eps -> 0.5005 as alpha -> infinity (Opper et al. 1990; Engel & Van den Broeck 2001); and, at small alpha,
# the Hebb overlap R = sqrt(2 alpha / pi) / sqrt(1 + 2 alpha / pi) (J = sum y x: J.T ~ P sqrt(2/pi), |J|^2 ~ PN +
# 2P^2/pi), which the minimum-norm max-margin student approaches when P << N.
def _stability_violation(kappa: float, R: float) -> float:
    s = math.sqrt(1.0 - R * R)
    f = lambda lam: 2.0 * stats.norm.pdf(lam) * stats.norm.cdf(R * lam / s) * (kappa - lam) ** 2  # noqa: E731
    return integrate.quad(f, -np.inf, kappa, epsabs=1e-12, epsrel=1e-10, limit=100)[0]


def _classical_kappa(R: float, alpha: float) -> float:
    return optimize.brentq(lambda k: alpha * _stability_violation(k, R) - (1.0 - R * R), -20.0, 20.0, xtol=1e-14)


def _classical_max_stability(alpha: float) -> tuple[float, float]:
    """(R, kappa) of the maximally stable perceptron at load alpha, by direct maximisation of kappa(R)."""
    r = optimize.minimize_scalar(
        lambda R: -_classical_kappa(R, alpha), bounds=(1e-6, 1 - 1e-9), method="bounded", options={"xatol": 1e-8}
    )
    return float(r.x), float(-r.fun)


@pytest.mark.slow
def test_independent_classical_solver_reproduces_literature_constants():
    assert 1.0 / _stability_violation(0.0, 0.0) == pytest.approx(2.0, rel=1e-9)  # Gardner capacity
    R, _ = _classical_max_stability(200.0)
    assert 200.0 * math.acos(R) / math.pi == pytest.approx(0.5005, abs=1e-3)  # Opper et al. asymptote (from below)
    a = 0.01
    R, _ = _classical_max_stability(a)
    assert R == pytest.approx(math.sqrt(2 * a / math.pi) / math.sqrt(1 + 2 * a / math.pi), rel=2e-3)  # Hebb limit


@pytest.mark.parametrize("alpha", [0.5, 2.0, 10.0])
def test_f1_limit_is_the_maximally_stable_perceptron(alpha):
    R, kappa = _classical_max_stability(alpha)
    for rule, keep, theta in (("random", 1.0, 0.0), ("keep_hard", 1.0, 20.0), ("random", 0.3, 0.0)):
        r = rp.theory_error(alpha, keep, rule, theta)  # f = 1, or random pruning: the unpruned learning curve
        assert r["kappa"] == pytest.approx(kappa, rel=1e-9, abs=1e-12)
        assert r["R"] == pytest.approx(R, abs=1e-6)
        assert r["eps"] == pytest.approx(math.acos(R) / math.pi, abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("alpha,n_seeds", [(2.0, 16), (6.0, 8)])
def test_f1_theory_matches_simulation_at_n400(alpha, n_seeds):
    """Ground truth: max-margin students at N = 400 (O(1/N) finite-size bias ~0.001-0.003 at N = 200-800)."""
    m, se = _sim_mean(400, alpha, 1.0, "random", 0.0, range(n_seeds))
    th = rp.theory_error(alpha, 1.0, "random")["eps"]
    assert abs(m - th) < 3 * se + 0.003, (m, se, th)
