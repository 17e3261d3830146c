r"""Replica (Gardner) theory of the max-margin student trained on pruned data.

Setting (Sorscher et al. 2022, appendix A; see :mod:`bench.theory.perceptron`)
---------------------------------------------------------------------------
Teacher ``T`` (unit), probe ``J_p`` (unit) at angle theta to the teacher, inputs ``x ~ N(0, I_N)``.
Pruning keeps examples according to their probe margin ``z = J_p . x`` only, so after pruning
``z ~ p(z)`` (symmetric; a truncated Gaussian) while ``x`` stays isotropic Gaussian in the
orthogonal complement of ``J_p``. The student ``J`` (unit) is the max-margin perceptron on the
``P = alpha N`` kept examples (``alpha = alpha_prune``). Order parameters:

* ``R   = J . T``            (generalisation error ``eps = arccos(R) / pi``);
* ``rho = J . J_p``          (student-probe overlap; the paper's rho);
* ``kappa``                  the maximal margin, ``min_mu y_mu J . x_mu``.

Derivation (done here; it does NOT rely on the OCR-transcribed equations of the appendix)
--------------------------------------------------------------------------------------
Write ``e_p`` for the unit vector in span(T, J_p) orthogonal to T, so ``J_p = cos(theta) T +
sin(theta) e_p``, and decompose the student as ``J = R T + c e_p + s e_3`` with ``e_3`` orthogonal
to both and ``s^2 = 1 - R^2 - c^2``; then ``rho = R cos(theta) + c sin(theta)``.
For an example with probe margin z write ``u = T.x``, ``w = e_p.x``; with ``v ~ N(0, 1)``
independent of z (the Gaussian direction in span(T, J_p) orthogonal to J_p):

    u = z cos(theta) + v sin(theta),   w = z sin(theta) - v cos(theta),   y = sign(u).

Pruning acts on z only, so the part of ``J.x`` outside span(T, J_p) is an independent Gaussian.
Standard replica-symmetric Gardner calculation with two condensed directions (T, e_p) (cf. Engel &
Van den Broeck, *Statistical Mechanics of Learning*, CUP 2001; Gardner, J. Phys. A 21, 257, 1988) gives,
with student-student overlap q,

    entropic  G_S = 1/2 ln(1-q) + (q - R^2 - c^2) / (2(1-q)),
    energetic G_E = alpha < int Dt ln H( (kappa - y(R u + c w) - sqrt(q - R^2 - c^2) t) / sqrt(1-q) ) >,

``<.>`` over z ~ p(z), v ~ N(0, 1). The max-margin student is the limit q -> 1 (the version space
shrinks to a point at kappa = kappa_max). Using ln H(x) ~ -x^2/2 and keeping the O(1/(1-q)) terms,
the saddle point requires, with ``A = kappa - y(R u + c w)``,

    F(R, c, kappa) = s^2 - alpha < E_t (A - s t)_+^2 > = 0,     dF/dR = dF/dc = 0.

Equivalently: ``kappa_max = max over (R, c) of kappa(R, c)``, where ``kappa(R, c)`` solves ``F = 0``
(the problem is the q -> 1 limit of a convex program; the maximiser is unique). The t-average is
done in closed form, ``E_t (A - s t)_+^2 = (A^2 + s^2) Phi(A/s) + A s phi(A/s)``, so the
stationarity conditions read (M = A Phi(A/s) + s phi(A/s) = E_t (A - s t)_+):

    (E1) alpha < (A^2 + s^2) Phi(A/s) + A s phi(A/s) > = s^2
    (E2) R (1 - alpha <Phi(A/s)>) = alpha < y u M >
    (E3) c (1 - alpha <Phi(A/s)>) = alpha < y w M >
    =>   kappa = (1 - alpha <Phi(A/s)>) / (alpha <M>),

and ``alpha <Phi(A/s)>`` is the number of support vectors per input dimension (<= 1).
theta = 0 (perfect probe): u = z, y = sign(z), w is an independent Gaussian, (E3) gives c = 0
exactly and the problem is one-dimensional in R (s = sqrt(1 - R^2)): no limit theta -> 0 has to be
taken. For theta > 0 the (z, v) average is a 2-d Gauss-Legendre quadrature split at every kink
(y = 0 and A = 0); in this (R, c) parametrisation the theta -> 0 limit is regular (checked
numerically: theta = 1e-4 deg agrees with theta = 0).

Classical checks (implemented as tests):
* f = 1 (no pruning, or ``rule='random'``): reduces to the maximally stable perceptron of
  Gardner / Opper et al. (Opper, Kinzel, Kleinz & Nehl, J. Phys. A 23, L581, 1990; Engel & Van den
  Broeck 2001), with the large-alpha asymptote ``eps ~ 0.5005 / alpha`` (we get alpha * eps =
  0.50049 at alpha = 1e3-1e4).
* Without a teacher (random labels, R = c = 0) (E1) becomes Gardner's capacity
  ``alpha_c(kappa) = 1 / int_{-inf}^{kappa} Dt (kappa - t)^2``, ``alpha_c(0) = 2``
  (:func:`gardner_capacity`).

What was derived / taken / validated
------------------------------------
* Derived here: the q -> 1 saddle point above, the (R, c) parametrisation, the closed-form t-average,
  the kappa identity, the theta = 0 reduction (c = 0).
* Taken from the paper: the setting (pruning on the probe margin only, data isotropic orthogonal to
  the probe, max-margin student, eps = arccos(R)/pi) and the meaning of the order parameters.
* Relation to the paper's equations: the paper (app. A.2) parametrises by (R, rho) and integrates over
  the student's own field t = J.x. :func:`paper_residuals` evaluates the OCR-transcribed equations
  (/work/shared/reference/perceptron-theory.md) at our solution. Eqs. (4)-(6) are confirmed; (1)-(3)
  hold to ~1e-13 only after three corrections (t < kappa in all t integrals; the student-field density
  exp(-(t - rho z)^2/(2(1 - rho^2))) instead of exp(-Delta/2Lambda^2) in (2) and the first term of
  (3); factor (z - rho t) instead of (z - rho) in (3)). The transcribed (R, rho) form is singular at
  theta = 0; ours is not.
* Validated against simulation (scripts/theory_validate.py, results/theory/README.md): 135 cells,
  N = 200, 8 seeds, alpha_tot 1-100, f 0.05-1, theta 0/10/30 deg, keep_hard/keep_easy/random.
  Median |sim - theory| = 0.8 seed standard errors (~1.5 % of eps); the few cells beyond 3 s.e. are
  at alpha_prune <= 0.8 (finite-N corrections, gone at N = 400) and the largest absolute gap (~0.02)
  is on the steep keep_hard transition near alpha_prune ~ 2 at small f. The classical f = 1 curve and
  the theta > 0 keep-fraction optimum f_min(theta) are reproduced.
* Numerics: Gauss-Legendre quadrature split at all kinks, converged to ~1e-8 relative (tested by
  doubling the nodes); kappa(R, c) by safeguarded Newton; the maximum over (R, c) by a bracketing root
  search of d kappa / d beta (theta = 0, ~10 ms) or L-BFGS-B + a hybr polish of the stationarity
  conditions (theta > 0, ~0.2 s). ``converged`` checks the stationarity residual and the kappa
  identity.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq, minimize, minimize_scalar, root
from scipy.special import erf, erfcinv, ndtr

__all__ = [
    "theory_error",
    "theory_curve",
    "gardner_capacity",
    "prune_threshold",
    "order_parameter_averages",
    "paper_residuals",
]

_SQ2PI = math.sqrt(2.0 * math.pi)
_L = 9.0  # Gaussian integrals are truncated at +-_L standard deviations (phi(9) ~ 1e-18)


def _phi(x):
    return np.exp(-0.5 * x * x) / _SQ2PI


@lru_cache(maxsize=16)
def _gl(n: int):
    x, w = np.polynomial.legendre.leggauss(n)
    return x, w


def prune_threshold(keep: float, rule: str) -> float:
    """Threshold gamma on |z| of a pruning rule at keep fraction f (Gaussian probe margins).

    ``keep_hard`` keeps |z| <= gamma with ``f = erf(gamma/sqrt 2)``; ``keep_easy`` keeps |z| >= gamma
    with ``f = erfc(gamma/sqrt 2)``; ``random`` returns NaN (no threshold).
    """
    if not (0.0 < keep <= 1.0):
        raise ValueError("keep must be in (0, 1]")
    if rule == "keep_hard":
        return math.inf if keep >= 1.0 else float(math.sqrt(2.0) * erfcinv(1.0 - keep))
    if rule == "keep_easy":
        return 0.0 if keep >= 1.0 else float(math.sqrt(2.0) * erfcinv(keep))
    if rule == "random":
        return math.nan
    raise ValueError(f"unknown rule {rule!r}")


def _z_support(keep: float, rule: str):
    """(lo, hi, mass) of the density of |z| (= 2 phi(z) / mass on [lo, hi])."""
    if rule == "random" or keep >= 1.0:
        return 0.0, _L, 1.0
    g = prune_threshold(keep, rule)
    if rule == "keep_hard":
        return 0.0, g, float(erf(g / math.sqrt(2.0)))
    return g, g + _L, float(2.0 * ndtr(-g))


def _z_nodes(lo, hi, mass, breaks, n):
    """Gauss-Legendre nodes/weights for E over |z| with density 2 phi(z)/mass on [lo, hi],
    split at the given break points. Weights sum to ~1."""
    pts = [lo] + sorted(b for b in breaks if lo < b < hi) + [hi]
    x, w = _gl(n)
    zs, ws = [], []
    for a, b in zip(pts[:-1], pts[1:]):
        if b - a <= 0:
            continue
        h = 0.5 * (b - a)
        z = 0.5 * (a + b) + h * x
        zs.append(z)
        ws.append(h * w * 2.0 * _phi(z) / mass)
    return np.concatenate(zs), np.concatenate(ws)


def _kink_breaks(z0, scale):
    """Break points resolving a kink at z0 smoothed on the given scale."""
    return [z0 + m * scale for m in (-8.0, -3.0, -1.0, 0.0, 1.0, 3.0, 8.0)]


def _tavg(A, s):
    """Closed-form Gaussian averages over t ~ N(0, 1) of (A - s t)_+ ; returns (Phi, phi, M, K) with
    Phi = P(A - s t > 0), M = E(A - s t)_+, K = E(A - s t)_+^2."""
    x = A / s
    P = ndtr(x)
    p = _phi(x)
    M = A * P + s * p
    K = A * M + s * s * P
    return P, p, M, K


def order_parameter_averages(R, c, kappa, alpha, keep, rule, theta_rad, n_quad=24, s=None):
    """Pattern averages entering the saddle-point equations, for a student with overlaps (R, c)
    (``s = sqrt(1 - R^2 - c^2)``) and margin kappa.

    Returns a dict with ``K = <E_t(A - s t)_+^2>``, ``Phi = <Phi(A/s)>``, ``M = <E_t(A - s t)_+>``,
    ``yuM = <y u M>``, ``ywM = <y w M>`` and ``psi = alpha K - s^2`` (the function whose root in
    kappa defines kappa(R, c); increasing in kappa), plus ``mass`` (quadrature normalisation, ~1).
    ``s`` may be passed explicitly (avoids the cancellation in 1 - R^2 when R -> 1).
    """
    if s is None:
        s2 = 1.0 - R * R - c * c
        if s2 <= 0:
            raise ValueError("need R^2 + c^2 < 1")
        s = math.sqrt(s2)
    s2 = s * s
    if not s > 0:
        raise ValueError("need s > 0")
    if theta_rad == 0.0:
        if c != 0.0:
            # at theta = 0, e_p is an independent Gaussian direction: the optimum has c = 0 (E3)
            raise ValueError("at theta = 0 only c = 0 is supported")
        out = _averages_perfect_probe(R, s, kappa, keep, rule, n_quad)
    else:
        out = _averages_tilted_probe(R, c, s, kappa, keep, rule, theta_rad, n_quad)
    out["psi"] = alpha * out["K"] - s2
    return out


def _averages_perfect_probe(R, s, kappa, keep, rule, n_quad) -> dict:
    """theta = 0: y = sign(z) and the pattern field A = kappa - R z, one Gaussian integral over the kept z."""
    lo, hi, mass = _z_support(keep, rule)
    # A = kappa - R z changes sign at z = kappa / R, smoothed by the noise on the scale s / R
    breaks = _kink_breaks(kappa / R, s / R) if R > 0 else []
    z, wz = _z_nodes(lo, hi, mass, breaks, n_quad)
    P, p, M, K = _tavg(kappa - R * z, s)
    return {"K": wz @ K, "Phi": wz @ P, "M": wz @ M, "yuM": wz @ (z * M), "ywM": 0.0, "mass": wz.sum()}


def _averages_tilted_probe(R, c, s, kappa, keep, rule, theta_rad, n_quad) -> dict:
    """theta > 0: the teacher's field u mixes the probe's z and an orthogonal v; the v integral is split at the
    kinks (u = 0 and A = 0 on either branch of y) and done by Gauss-Legendre on each piece."""
    lo, hi, mass = _z_support(keep, rule)
    ct, st = math.cos(theta_rad), math.sin(theta_rad)
    rho = R * ct + c * st
    D = R * st - c * ct
    breaks = _kink_breaks(kappa / rho, math.hypot(s, D) / rho) if rho > 0 else []
    # the sign of y flips within |z| <~ |v| tan(theta): resolve that region
    tt = st / max(ct, 1e-300)
    breaks += [tt, 4.0 * tt]
    z, wz = _z_nodes(lo, hi, mass, breaks, n_quad)
    v0 = -z * ct / st  # u = 0
    if D != 0.0:
        v1 = (kappa - z * rho) / D  # A = 0 on the y = +1 branch
        v2 = -(kappa + z * rho) / D  # A = 0 on the y = -1 branch
    else:
        v1 = v2 = v0
    sd = s / abs(D) if D != 0.0 else 1.0  # smoothing scale of the A = 0 kinks in v
    bp = np.sort(
        np.clip(np.stack([v0, v1 - 3 * sd, v1, v1 + 3 * sd, v2 - 3 * sd, v2, v2 + 3 * sd], axis=1), -_L, _L), axis=1
    )
    edges = np.concatenate([np.full((z.size, 1), -_L), bp, np.full((z.size, 1), _L)], axis=1)
    a, b = edges[:, :-1], edges[:, 1:]  # (nz, 8)
    x, w = _gl(n_quad)
    h = 0.5 * (b - a)
    v = (0.5 * (a + b))[..., None] + h[..., None] * x  # (nz, 4, n)
    wv = h[..., None] * w * _phi(v)
    u = z[:, None, None] * ct + v * st
    y = np.where(u >= 0, 1.0, -1.0)
    yu = np.abs(u)
    yw = y * (z[:, None, None] * st - v * ct)
    A = kappa - R * yu - c * yw
    P, p, M, K = _tavg(A, s)
    W = wz[:, None, None] * wv
    return {
        "K": np.sum(W * K),
        "Phi": np.sum(W * P),
        "M": np.sum(W * M),
        "yuM": np.sum(W * yu * M),
        "ywM": np.sum(W * yw * M),
        "mass": W.sum(),
    }


class _Problem:
    """kappa(beta, psi) and its gradient for one (alpha, keep, rule, theta).

    Student parametrisation: R = cos(beta), c = sin(beta) cos(psi), s = sin(beta) sin(psi);
    beta in (0, pi/2], psi in (0, pi). At theta = 0, psi = pi/2 (c = 0) is fixed.
    """

    def __init__(self, alpha, keep, rule, theta_rad, n_quad):
        self.alpha, self.keep, self.rule, self.theta, self.n = alpha, keep, rule, theta_rad, n_quad
        self.nevals = 0
        self._kcache = {}

    def rcs(self, beta, psi):
        if self.theta == 0.0:
            return math.cos(beta), 0.0, math.sin(beta)
        return math.cos(beta), math.sin(beta) * math.cos(psi), math.sin(beta) * math.sin(psi)

    def avg(self, beta, psi, kappa):
        R, c, s = self.rcs(beta, psi)
        self.nevals += 1
        return order_parameter_averages(R, c, kappa, self.alpha, self.keep, self.rule, self.theta, self.n, s=s)

    def kappa(self, beta, psi, k0=None):
        """Solve psi(kappa) = alpha <K> - s^2 = 0 (increasing, convex in kappa) by Newton from
        above; returns (kappa, averages at the solution)."""
        key = (beta, psi)
        if key in self._kcache:
            return self._kcache[key]
        a = self.alpha
        k = 1.0 if k0 is None else float(k0)
        av = self.avg(beta, psi, k)
        it = 0
        while av["psi"] < 0:  # move right until psi > 0 (Newton from the convex side)
            k = k + max(1.0, abs(k))
            av = self.avg(beta, psi, k)
            it += 1
            if it > 60:
                raise RuntimeError("kappa bracket failed")
        for _ in range(100):
            dk = av["psi"] / (2.0 * a * av["M"])
            k_new = k - dk
            av_new = self.avg(beta, psi, k_new)
            if av_new["psi"] < 0 and abs(dk) > 1e-13 * max(1.0, abs(k)):
                # overshoot (quadrature noise / non-convexity): bisect back towards k
                lo_k, hi_k = k_new, k
                for _ in range(200):
                    mid = 0.5 * (lo_k + hi_k)
                    avm = self.avg(beta, psi, mid)
                    if avm["psi"] < 0:
                        lo_k = mid
                    else:
                        hi_k = mid
                    if hi_k - lo_k < 1e-14 * max(1.0, abs(hi_k)):
                        break
                k, av = mid, avm
                break
            k, av = k_new, av_new
            if abs(dk) <= 1e-14 * max(1.0, abs(k)):
                break
        self._kcache[key] = (k, av)
        return k, av

    def grad(self, beta, psi, k0=None):
        """(kappa, d kappa / d beta, d kappa / d psi, averages)."""
        k, av = self.kappa(beta, psi, k0)
        R, c, s = self.rcs(beta, psi)
        a = self.alpha
        dR = -2.0 * a * av["yuM"]
        dc = -2.0 * a * av["ywM"]
        ds = 2.0 * s * (a * av["Phi"] - 1.0)
        dk = 2.0 * a * av["M"]
        sb, cb, sp, cp = math.sin(beta), math.cos(beta), math.sin(psi), math.cos(psi)
        dbeta = dR * (-sb) + dc * (cb * cp) + ds * (cb * sp)
        dpsi = dc * (-sb * sp) + ds * (sb * cp)
        return k, -dbeta / dk, -dpsi / dk, av


#: The student angle beta = arccos(R) is searched in (0, pi/2), just inside both ends.
_BETA_BOUNDS = (1e-9, 0.5 * math.pi - 1e-9)


def _solve_perfect_probe(pb, k_hint):
    """theta = 0 (c = 0 fixed): the root in beta of d kappa / d beta. Returns (beta, psi, the gradient there (kappa,
    d/d beta, d/d psi, averages), residual, converged)."""
    b_lo, b_hi = _BETA_BOUNDS
    psi = 0.5 * math.pi

    def g(beta):
        return pb.grad(beta, psi, k_hint)[1]

    glo, ghi = g(b_lo), g(b_hi)
    if glo > 0 and ghi < 0:
        beta = brentq(g, b_lo, b_hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200)
    else:  # should not happen; fall back to a bounded maximisation of kappa
        r = minimize_scalar(
            lambda b: -pb.kappa(b, psi, k_hint)[0], bounds=(b_lo, b_hi), method="bounded", options={"xatol": 1e-12}
        )
        beta = r.x
    g_final = pb.grad(beta, psi, k_hint)
    return beta, psi, g_final, abs(g_final[1]), bool(glo > 0 and ghi < 0)


def _solve_tilted_probe(pb, x0, k_hint):
    """theta > 0: maximise kappa over (beta, psi) from ``x0`` by L-BFGS-B, then polish the stationarity
    conditions by a root find (kept when it stays inside the bounds and loses no kappa)."""
    b_lo, b_hi = _BETA_BOUNDS

    def negk(x):
        k, db, dp, _ = pb.grad(x[0], x[1], k_hint)
        return -k, -np.array([db, dp])

    bounds = [(b_lo, b_hi), (1e-6, math.pi - 1e-6)]
    r = minimize(
        negk, x0, jac=True, method="L-BFGS-B", bounds=bounds, options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 500}
    )
    x = r.x
    pol = root(lambda x: np.array(pb.grad(x[0], x[1], k_hint)[1:3]), x, method="hybr", options={"xtol": 1e-13})
    if pol.success and b_lo < pol.x[0] < b_hi and 0 < pol.x[1] < math.pi:
        kp = pb.kappa(pol.x[0], pol.x[1], k_hint)[0]
        if kp >= -r.fun - 1e-10:
            x = pol.x
    beta, psi = float(x[0]), float(x[1])
    g_final = pb.grad(beta, psi, k_hint)
    resid = math.hypot(g_final[1], g_final[2])
    return beta, psi, g_final, resid, bool(resid < 1e-6)


def _solve(alpha, keep, rule, theta_rad, n_quad, start=None):
    pb = _Problem(alpha, keep, rule, theta_rad, n_quad)
    k_hint = None if start is None else start.get("kappa")
    if theta_rad == 0.0:
        beta, psi, g_final, resid, converged = _solve_perfect_probe(pb, k_hint)
    else:
        if start is not None and "beta" in start:
            x0 = np.array([start["beta"], start["psi"]])
        else:
            # start from the perfect-probe solution with the student slightly tilted to the probe
            s0 = _solve(alpha, keep, rule, 0.0, n_quad)
            x0 = np.array([s0["beta"], 0.5 * math.pi])
        beta, psi, g_final, resid, converged = _solve_tilted_probe(pb, x0, k_hint)
    k, _, _, av = g_final
    R, c, s = pb.rcs(beta, psi)
    rho = R * math.cos(theta_rad) + c * math.sin(theta_rad)
    # consistency of the closed-form kappa relation (E1 + E2 + E3)
    k_alt = (1.0 - alpha * av["Phi"]) / (alpha * av["M"])
    return {
        "eps": beta / math.pi,  # = arccos(R)/pi, computed without the cancellation of arccos
        "R": R,
        "rho": rho,
        "c": c,
        "kappa": k,
        "sv_per_dim": alpha * av["Phi"],
        "converged": bool(converged and abs(k_alt - k) < 1e-6 * max(1.0, abs(k))),
        "residual": resid,
        "kappa_identity_gap": abs(k_alt - k),
        "beta": beta,
        "psi": psi,
        "n_evals": pb.nevals,
    }


def theory_error(
    alpha_prune: float,
    keep: float,
    rule: str = "keep_hard",
    probe_angle_deg: float = 0.0,
    *,
    n_quad: int = 24,
    start: dict | None = None,
) -> dict:
    """Replica prediction for the max-margin student trained on pruned data.

    Parameters
    ----------
    alpha_prune : P_kept / N, the load of the *pruned* training set (> 0).
    keep : fraction f in (0, 1] of the original data kept (alpha_tot = alpha_prune / f).
    rule : ``keep_hard`` (keep the smallest |z|), ``keep_easy`` (largest |z|) or ``random``.
    probe_angle_deg : angle theta between probe and teacher in degrees, in [0, 90).
    n_quad : Gauss-Legendre nodes per sub-interval (48 gives ~1e-8 relative accuracy typically).
    start : optional previous result (continuation); speeds up theta > 0.

    Returns
    -------
    dict with ``eps`` = arccos(R)/pi (test error, lower is better), ``R`` (teacher overlap),
    ``rho`` (probe overlap), ``kappa`` (maximal margin, unit student, raw-input units),
    ``c`` (overlap with the probe direction orthogonal to T), ``sv_per_dim`` (support vectors / N),
    ``converged`` (bool: stationarity residual < 1e-6 and the kappa identity holds),
    ``residual``, ``beta``/``psi`` (internal angles), ``n_evals``.
    """
    if not alpha_prune > 0:
        raise ValueError("alpha_prune must be > 0")
    if rule not in ("keep_hard", "keep_easy", "random"):
        raise ValueError(f"unknown rule {rule!r}")
    if not (0.0 <= probe_angle_deg < 90.0):
        raise ValueError("probe_angle_deg must be in [0, 90)")
    theta = math.radians(probe_angle_deg)
    if rule == "random" or keep >= 1.0:
        theta = 0.0  # the probe is irrelevant
    return _solve(float(alpha_prune), float(keep), rule, theta, int(n_quad), start)


def theory_curve(
    alphas, keep: float, rule: str = "keep_hard", probe_angle_deg: float = 0.0, n_quad: int = 24
) -> list[dict]:
    """``theory_error`` over a sequence of alpha_prune values (solved in increasing order with
    continuation; returned in the input order). Each dict also carries ``alpha_prune``, ``keep``,
    ``rule``, ``probe_angle_deg``."""
    alphas = np.asarray(alphas, dtype=float)
    order = np.argsort(alphas)
    out = [None] * alphas.size
    prev = None
    for i in order:
        r = theory_error(alphas[i], keep, rule, probe_angle_deg, n_quad=n_quad, start=prev)
        r.update(alpha_prune=float(alphas[i]), keep=float(keep), rule=rule, probe_angle_deg=float(probe_angle_deg))
        out[i] = r
        prev = r
    return out


def gardner_capacity(kappa: float) -> float:
    """Gardner capacity of the spherical perceptron with random labels at margin kappa:
    ``alpha_c = 1 / int_{-inf}^{kappa} Dt (kappa - t)^2`` (the R = c = 0 case of (E1));
    ``gardner_capacity(0) = 2``."""
    P, p, M, K = _tavg(np.asarray(float(kappa)), 1.0)
    return float(1.0 / K)


def _symmetric_z_nodes(keep: float, rule: str, n_z: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights over the kept probe fields z on both signs: the paper averages over z in R (p(z) is
    symmetric), each half carrying half the weight."""
    lo, hi, mass = _z_support(keep, rule)
    z, wz = _z_nodes(lo, hi, mass, [], n_z)
    return np.concatenate([-z, z]), np.concatenate([wz, wz]) / 2.0


def _composite_gl(lo: float, hi: float, n: int, panels: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre nodes and weights on [lo, hi]: ``panels`` equal panels of ``n`` nodes each."""
    x, w = _gl(n)
    edges = np.linspace(lo, hi, panels + 1)
    t = np.concatenate([0.5 * (a + b) + 0.5 * (b - a) * x for a, b in zip(edges[:-1], edges[1:])])
    wt = np.concatenate([0.5 * (b - a) * w for a, b in zip(edges[:-1], edges[1:])])
    return t, wt


def paper_residuals(
    alpha: float,
    keep: float,
    rule: str,
    probe_angle_deg: float,
    R: float,
    rho: float,
    kappa: float,
    *,
    variant: str = "transcribed",
    n_t: int = 400,
    n_z: int = 200,
) -> dict:
    """Evaluate the appendix-A.2 equations (1)-(3) as transcribed in
    /work/shared/reference/perceptron-theory.md at given order parameters (theta > 0 only).

    Returns ``{"eq1": (lhs, rhs), "eq2": (lhs, rhs), "eq3": (lhs, rhs)}``.

    ``variant``:
      * ``"transcribed"``: literally as transcribed (t over the whole real line, exp(-Delta/2Lambda^2)
        in all three equations);
      * ``"t<kappa"``: the t integrals restricted to t < kappa (only examples with a student field
        below the margin are support vectors);
      * ``"corrected"``: t < kappa AND, in (2) and the first term of (3), the Gaussian density of the
        student field given z, exp(-(t - rho z)^2 / (2 (1 - rho^2))), in place of exp(-Delta/2Lambda^2),
        AND in (3) the factor (z - rho t)/(1 - rho^2) in place of (z - rho)/(1 - rho^2).
        Derivation: (2) is exactly our (E1) rewritten in terms of the student field t = J.x
        (t | z ~ N(rho z, 1 - rho^2); P(y = +1 | t, z) = H(Gamma / (sqrt(1-rho^2) Lambda))), and
        exp(-Delta/2Lambda^2)/(2 pi Lambda) is the joint density of (student field t, teacher field
        u = 0) given z, so Lambda, Gamma, Delta (eqs. 4-6) are confirmed as transcribed.
        With these corrections all three equations hold at our solution to <1e-5 (tested in
        tests/test_theory.py); as transcribed, (1) fails only through the missing t < kappa and
        (2), (3) fail by O(1).
    Used only as a diagnostic (results/theory/README.md); the solver does not use these equations.
    """
    th = math.radians(probe_angle_deg)
    if th <= 0:
        raise ValueError("the transcribed equations are singular at theta = 0")
    ct, st = math.cos(th), math.sin(th)
    L2 = st * st - R * R - rho * rho + 2 * rho * R * ct
    if L2 <= 0:
        raise ValueError("Lambda^2 <= 0")
    Lam = math.sqrt(L2)
    sr = math.sqrt(1 - rho * rho)
    z, wz = _symmetric_z_nodes(keep, rule, n_z)
    t, wt = _composite_gl(-40.0, kappa if variant in ("t<kappa", "corrected") else 40.0, n_t)
    Z, Tt = np.meshgrid(z, t, indexing="ij")
    W = wz[:, None] * wt[None, :]
    Delta = Z**2 * (rho**2 + ct**2 - 2 * rho * R * ct) + 2 * Tt * Z * (R * ct - rho) + Tt**2 * st**2
    Gam = Z * (rho * R - ct) - Tt * (R - rho * ct)
    eD = np.exp(-Delta / (2 * L2))
    if variant == "corrected":
        e2 = np.exp(-((Tt - rho * Z) ** 2) / (2 * sr * sr))
    else:
        e2 = eD
    Hx = ndtr(-Gam / (sr * Lam))
    km = kappa - Tt
    rhs1 = alpha / (math.pi * Lam) * np.sum(W * eD * km)
    lhs1 = (R - rho * ct) / st**2
    rhs2 = 2 * alpha * np.sum(W * e2 / (_SQ2PI * sr) * Hx * km**2)
    lhs2 = 1 - (rho**2 + R**2 - 2 * rho * R * ct) / st**2
    zfac = (Z - rho * Tt) if variant == "corrected" else (Z - rho)
    rhs3 = (
        2
        * alpha
        * np.sum(
            W
            * (
                e2 / (_SQ2PI * sr) * Hx * (zfac / (1 - rho**2)) * km
                + eD / (2 * math.pi * Lam) * ((rho * R - ct) / (1 - rho**2)) * km
            )
        )
    )
    lhs3 = (rho - R * ct) / st**2
    return {"eq1": (lhs1, rhs1), "eq2": (lhs2, rhs2), "eq3": (lhs3, rhs3)}
