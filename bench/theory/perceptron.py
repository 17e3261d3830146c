"""Teacher-student perceptron simulation of data pruning (Sorscher et al. 2022, appendix A).

Everything here is a pure function of its explicit arguments (randomness enters only through a
``numpy.random.Generator`` passed in by the caller), numpy/scipy only.

Conventions
-----------
* Inputs ``x ~ N(0, I_N)``, rows of ``X`` (shape ``(P, N)``).
* The teacher ``T`` is a unit vector; labels ``y = sign(T . x)`` in {-1, +1}.
* A probe is a unit vector ``J_probe``; the probe margin of an example is ``z = J_probe . x``
  (signed; pruning ranks examples by ``|z|``: small ``|z|`` = hard, large ``|z|`` = easy).
* Students are returned as unit vectors. The margin (stability) of a unit student ``J`` on an
  example is ``y * (J . x)``, i.e. measured in the units of the raw inputs, where the fields are O(1).
  (This equals the usual ``kappa = y J.x / sqrt(N)`` of the statistical-mechanics literature
  with ``|J|^2 = N``.)
* Generalisation error of a student on isotropic Gaussian inputs: ``arccos(R) / pi`` with
  ``R = J.T / (|J||T|)``.

The max-margin solver
---------------------
``max_margin`` returns the maximally stable perceptron (hard-margin SVM through the origin).
It uses the exact duality between the max-margin direction and the minimum-norm point of the
convex hull of the sign-corrected inputs ``z_i = y_i x_i`` (Gilbert / Keerthi et al. 2000):

    max_{|w|=1} min_i w.z_i  =  min_{lambda in simplex} |sum_i lambda_i z_i|,

and the optimal ``w`` is the normalised minimum-norm point ``p``. The simplex-constrained problem
is solved *exactly* (finite active-set termination, Lawson-Hanson) through the non-negative least
squares problem

    min_{u >= 0} |Z^T u|^2 + (1 - sum_i u_i)^2,

whose solution is ``u = lambda* / (1 + |p*|^2)`` (write ``u = s lambda`` with ``lambda`` in the
simplex: the objective is ``s^2|p|^2 + (1-s)^2``, minimised over ``s`` at value
``|p|^2 / (1 + |p|^2)``, increasing in ``|p|``). The vector ``u`` is, up to the factor
``1 / (1 + |p|^2)``, the dual SVM vector ``a`` (``min 1/2|sum a_i z_i|^2 - sum a_i, a >= 0``):
``a = lambda / |p|^2``. Optimality is certified by the duality gap ``|p| - min_i w.z_i``
(>= 0 by weak duality, = 0 at the optimum) and by complementary slackness on the support vectors.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

__all__ = [
    "make_teacher",
    "gaussian_data",
    "make_probe",
    "trained_probe",
    "probe_margins",
    "prune_indices",
    "max_margin",
    "overlap",
    "generalization_error",
    "empirical_error",
    "simulate",
    "RULES",
]

RULES = ("keep_hard", "keep_easy", "random")


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    n = np.linalg.norm(v)
    if not np.isfinite(n) or n == 0:
        raise ValueError("cannot normalise a zero / non-finite vector")
    return v / n


def make_teacher(dim: int, rng: np.random.Generator) -> np.ndarray:
    """Random teacher direction.

    Returns a unit vector of shape ``(dim,)`` drawn uniformly on the sphere.
    """
    if dim < 2:
        raise ValueError("dim must be >= 2")
    return _unit(rng.standard_normal(dim))


def gaussian_data(n: int, dim: int, teacher: np.ndarray, rng: np.random.Generator):
    """Draw ``n`` labelled examples.

    Returns ``(X, y)``: ``X`` of shape ``(n, dim)`` with i.i.d. N(0, 1) entries and
    ``y = sign(X @ teacher)`` of shape ``(n,)`` with values in {-1.0, +1.0} (a field of exactly 0,
    a probability-zero event, is labelled +1).
    """
    teacher = np.asarray(teacher, dtype=float)
    if teacher.shape != (dim,):
        raise ValueError(f"teacher has shape {teacher.shape}, expected ({dim},)")
    X = rng.standard_normal((int(n), dim))
    y = np.where(X @ teacher >= 0.0, 1.0, -1.0)
    return X, y


def make_probe(teacher: np.ndarray, angle_deg: float, rng: np.random.Generator) -> np.ndarray:
    """Unit probe vector at exactly ``angle_deg`` degrees from the teacher.

    ``J = cos(theta) T_hat + sin(theta) e`` with ``e`` a uniformly random unit vector orthogonal to
    the teacher. ``angle_deg = 0`` returns the (normalised) teacher itself and consumes no
    randomness. Returns a unit vector of shape ``teacher.shape``.
    """
    t = _unit(teacher)
    theta = np.deg2rad(float(angle_deg))
    if not (0.0 <= angle_deg <= 180.0):
        raise ValueError("angle_deg must be in [0, 180]")
    if angle_deg == 0.0:
        return t.copy()
    e = rng.standard_normal(t.shape[0])
    e -= (e @ t) * t
    e = _unit(e)
    e -= (e @ t) * t  # second Gram-Schmidt pass for exact orthogonality
    e = _unit(e)
    return _unit(np.cos(theta) * t + np.sin(theta) * e)


def probe_margins(X: np.ndarray, probe: np.ndarray) -> np.ndarray:
    """Signed margin of each example along the (normalised) probe.

    Returns ``z = X @ probe / |probe|``, shape ``(P,)``. Pruning uses ``|z|``: small = hard
    (close to the probe's decision boundary), large = easy.
    """
    return np.asarray(X, dtype=float) @ _unit(probe)


def prune_indices(z: np.ndarray, keep: float, rule: str, rng: np.random.Generator | None = None):
    """Indices of the examples kept by a pruning rule.

    ``keep`` is the fraction f in (0, 1] of examples kept; ``n_kept = max(1, round(f * P))``.
    * ``keep_hard``: the ``n_kept`` examples with the SMALLEST ``|z|``.
    * ``keep_easy``: the ``n_kept`` examples with the LARGEST ``|z|``.
    * ``random``: a uniformly random subset (needs ``rng``).
    Returns a sorted int array of indices into ``z``. Ties are broken by a stable sort (index order).
    """
    z = np.asarray(z, dtype=float)
    P = z.shape[0]
    if not (0.0 < keep <= 1.0):
        raise ValueError("keep must be in (0, 1]")
    n_kept = max(1, int(round(keep * P)))
    if rule == "keep_hard":
        idx = np.argsort(np.abs(z), kind="stable")[:n_kept]
    elif rule == "keep_easy":
        idx = np.argsort(-np.abs(z), kind="stable")[:n_kept]
    elif rule == "random":
        if rng is None:
            raise ValueError("rule='random' needs an rng")
        idx = rng.choice(P, size=n_kept, replace=False)
    else:
        raise ValueError(f"unknown rule {rule!r}; expected one of {RULES}")
    return np.sort(idx)


# --------------------------------------------------------------------------------------------
# max-margin perceptron
# --------------------------------------------------------------------------------------------
def _signed_scaled(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """The signed inputs ``y_i x_i``, scaled so that the problem is O(1) whatever the input scale, and that scale."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError("X must be (P, N) and y (P,)")
    if not np.all(np.abs(y) == 1.0):
        raise ValueError("labels must be +-1")
    Z = X * y[:, None]
    scale = np.sqrt(np.mean(np.sum(Z * Z, axis=1)))
    if scale == 0:
        raise ValueError("all inputs are zero")
    return Z / scale, float(scale)


def _hull_min_norm_weights(Zs: np.ndarray, maxiter: int | None) -> tuple[np.ndarray, int]:
    """The convex weights ``lam`` of the minimum-norm point of the hull of the rows of ``Zs``, by NNLS on
    ``[Zs^T; 1] u = [0; 1]``, and the NNLS active-set size (its nonzero weights)."""
    P, N = Zs.shape
    A = np.vstack([Zs.T, np.ones((1, P))])
    b = np.zeros(N + 1)
    b[-1] = 1.0
    if maxiter is None:
        maxiter = max(50 * P, 1000)
    u, _res = nnls(A, b, maxiter=maxiter)
    iterations = int(np.count_nonzero(u))  # active-set size (each adds >= 1 iteration)
    usum = u.sum()
    if usum <= 0:
        raise RuntimeError("NNLS returned the zero vector")
    return u / usum, iterations


def max_margin(
    X: np.ndarray, y: np.ndarray, *, tol: float = 1e-9, on_nonseparable: str = "raise", maxiter: int | None = None
):
    """Maximally stable perceptron (hard-margin linear SVM without bias).

    Solves ``max_{|J|=1} min_i y_i J.x_i`` exactly via the minimum-norm point of the convex hull of
    ``y_i x_i`` (non-negative least squares, Lawson-Hanson active set; see the module docstring).

    Parameters
    ----------
    X : (P, N) inputs;  y : (P,) labels in {-1, +1}.
    tol : relative tolerance of the KKT / duality-gap check and of the separability decision.
    on_nonseparable : ``"raise"`` (ValueError) or ``"flag"`` (return ``J=None`` and
        ``separable=False``) when the data is not linearly separable through the origin
        (the origin lies in the convex hull of ``y_i x_i``; the maximal margin is <= 0).

    Returns
    -------
    (J, stats): ``J`` unit vector of shape ``(N,)`` (or ``None``), and ``stats`` a dict with
      ``margin``  = min_i y_i J.x_i, the achieved (maximal) margin, larger is better;
      ``dual_margin`` = |p|, the dual bound (>= margin; equal at the optimum);
      ``kkt_gap`` = dual_margin - margin (>= 0, ~1e-12 at the optimum);
      ``slack_gap`` = max over support vectors of (y_i J.x_i - margin) (complementary slackness);
      ``n_support`` = number of support vectors (<= N generically);
      ``alpha`` = dual SVM coefficients a_i >= 0 (``J_unnorm = sum a_i y_i x_i``, margins >= 1);
      ``iterations`` = final NNLS active-set size, a lower bound on the Lawson-Hanson outer
        iterations (scipy does not report the count; ``maxiter`` bounds it);
      ``separable`` (bool).
    """
    Zs, scale = _signed_scaled(X, y)
    lam, iterations = _hull_min_norm_weights(Zs, maxiter)
    p = Zs.T @ lam
    pnorm = float(np.linalg.norm(p))
    sep = pnorm > tol * 10.0
    if sep:
        J = p / pnorm
        m = Zs @ J
        margin = float(m.min())
        sep = margin > 0
    if not sep:
        if on_nonseparable == "raise":
            raise ValueError("data not linearly separable through the origin (max margin <= 0)")
        return None, {
            "margin": 0.0,
            "dual_margin": pnorm * scale,
            "kkt_gap": np.nan,
            "slack_gap": np.nan,
            "n_support": iterations,  # the nonzero hull weights
            "alpha": None,
            "iterations": iterations,
            "separable": False,
        }
    supp = lam > 0
    slack_gap = float(np.max(m[supp] - margin)) if supp.any() else 0.0
    kkt_gap = pnorm - margin
    if kkt_gap > tol * max(1.0, pnorm) * 1e3 or kkt_gap < -1e-9 * max(1.0, pnorm):
        raise RuntimeError(f"max_margin did not converge: duality gap {kkt_gap:.3e}")
    # dual SVM coefficients for the ORIGINAL scale: J_unnorm = sum a_i z_i with min margin 1.
    # In scaled units a_s = lam/|p|^2; z = scale * zs  =>  a = a_s / scale^2.
    alpha = lam / (pnorm**2) / scale**2
    return J, {
        "margin": margin * scale,
        "dual_margin": pnorm * scale,
        "kkt_gap": kkt_gap * scale,
        "slack_gap": slack_gap * scale,
        "n_support": int(supp.sum()),
        "alpha": alpha,
        "iterations": iterations,
        "separable": True,
    }


def trained_probe(X: np.ndarray, y: np.ndarray, n_probe: int, rng: np.random.Generator) -> np.ndarray:
    """A realistic (imperfect) probe: the max-margin student trained on ``n_probe`` examples drawn
    uniformly without replacement from ``(X, y)``. Returns a unit vector of shape ``(N,)``.

    Note: unlike ``make_probe`` this probe is correlated with the data it later scores, so the
    replica theory (which assumes the pruned data is isotropic orthogonal to the probe) is only an
    approximation for it.
    """
    P = X.shape[0]
    if not (1 <= n_probe <= P):
        raise ValueError("need 1 <= n_probe <= P")
    idx = rng.choice(P, size=int(n_probe), replace=False)
    J, _ = max_margin(X[idx], y[idx])
    return J


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
def overlap(J: np.ndarray, T: np.ndarray) -> float:
    """Normalised overlap ``R = J.T / (|J||T|)`` in [-1, 1]."""
    return float(np.clip(np.dot(_unit(J), _unit(T)), -1.0, 1.0))


def generalization_error(J: np.ndarray, T: np.ndarray) -> float:
    """Exact generalisation error on isotropic Gaussian inputs: ``arccos(R) / pi`` in [0, 1]
    (lower is better), with ``R = overlap(J, T)``."""
    return float(np.arccos(overlap(J, T)) / np.pi)


def empirical_error(J: np.ndarray, X_test: np.ndarray, y_test: np.ndarray) -> float:
    """Fraction of test examples misclassified by ``sign(X_test @ J)`` (lower is better)."""
    pred = np.where(np.asarray(X_test) @ np.asarray(J) >= 0.0, 1.0, -1.0)
    return float(np.mean(pred != np.asarray(y_test)))


# --------------------------------------------------------------------------------------------
# one experiment
# --------------------------------------------------------------------------------------------
def draw_problem(
    dim: int, n_tot: int, seed: int, probe: str = "exact", probe_angle_deg: float = 0.0, n_probe: int | None = None
):
    """The seeded ingredients of one experiment: (teacher, X, y, probe, prune rng, test rng).

    Independent streams, so that e.g. the test set does not depend on the probe choice. ``simulate`` and the
    harness's ``dataset=perceptron`` both draw through here, so a seed gives the same problem in both.
    ``probe="exact"``: the teacher rotated by ``probe_angle_deg``; ``"trained"``: ``trained_probe`` on ``n_probe``
    examples.
    """
    r_teacher, r_train, r_probe, r_prune, r_test = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)
    )
    T = make_teacher(dim, r_teacher)
    X, y = gaussian_data(n_tot, dim, T, r_train)
    if probe == "exact":
        Jp = make_probe(T, probe_angle_deg, r_probe)
    elif probe == "trained":
        if n_probe is None:
            raise ValueError("probe='trained' needs n_probe")
        Jp = trained_probe(X, y, n_probe, r_probe)
    else:
        raise ValueError("probe must be 'exact' or 'trained'")
    return T, X, y, Jp, r_prune, r_test


def simulate(
    dim: int,
    alpha_tot: float,
    keep: float,
    rule: str,
    probe_angle_deg: float = 0.0,
    seed: int = 0,
    n_test: int = 10_000,
    probe: str = "exact",
    n_probe: int | None = None,
):
    """One teacher-student pruning experiment.

    Draw a teacher, ``P = round(alpha_tot * dim)`` training examples, a probe, keep the fraction
    ``keep`` of the examples by ``rule`` (``keep_hard`` | ``keep_easy`` | ``random``), train the
    max-margin student from scratch on the kept set and evaluate it.

    ``probe="exact"`` uses ``make_probe(teacher, probe_angle_deg)`` (independent of the data, the
    setting of the theory); ``probe="trained"`` uses ``trained_probe`` on ``n_probe`` examples
    (``probe_angle_deg`` is then ignored and the realised angle is reported).

    Deterministic given ``seed``. Returns a dict with
      ``eps`` exact generalisation error arccos(R)/pi (lower is better);
      ``eps_test`` empirical error on ``n_test`` fresh examples (0 => not computed, NaN);
      ``R`` teacher-student overlap; ``rho`` student-probe overlap; ``kappa`` achieved margin;
      ``n_tot``, ``n_kept``, ``alpha_tot``, ``alpha_prune = n_kept / dim``, ``keep``, ``rule``,
      ``probe_angle_deg`` (realised angle between probe and teacher), ``dim``, ``seed``,
      ``kkt_gap``, ``n_support``.
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}")
    # independent streams so that e.g. the test set does not depend on the probe choice
    n_tot = int(round(alpha_tot * dim))
    T, X, y, Jp, r_prune, r_test = draw_problem(dim, n_tot, seed, probe, probe_angle_deg, n_probe)
    z = probe_margins(X, Jp)
    idx = prune_indices(z, keep, rule, r_prune)
    J, st = max_margin(X[idx], y[idx])
    out = {
        "eps": generalization_error(J, T),
        "eps_test": np.nan,
        "R": overlap(J, T),
        "rho": overlap(J, Jp),
        "kappa": st["margin"],
        "n_tot": n_tot,
        "n_kept": int(idx.size),
        "alpha_tot": n_tot / dim,
        "alpha_prune": idx.size / dim,
        "keep": float(keep),
        "rule": rule,
        "probe_angle_deg": float(np.rad2deg(np.arccos(overlap(Jp, T)))),
        "dim": int(dim),
        "seed": int(seed),
        "kkt_gap": st["kkt_gap"],
        "n_support": st["n_support"],
    }
    if n_test:
        Xt, yt = gaussian_data(n_test, dim, T, r_test)
        out["eps_test"] = empirical_error(J, Xt, yt)
    return out
