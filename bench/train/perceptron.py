"""The perceptron student: the max-margin solution on the kept examples (what an SVM without bias finds and what
gradient descent converges to on separable data), trained from scratch, scored by the exact generalisation error
eps = arccos(R) / pi against the teacher (and by an empirical test error on the test split)."""

from __future__ import annotations

import time

import numpy as np

from bench.data import Pool, Splits
from bench.theory.perceptron import empirical_error, generalization_error, max_margin, overlap
from bench.theory.replica import theory_error


def train_perceptron(
    splits: Splits,
    pool: Pool,
    kept: np.ndarray,
    model_cfg: dict,
    train_cfg: dict,
    seed: int,
    rule: str | None = None,
    keep: float | None = None,
    **_: object,
) -> dict:
    """Train the max-margin student on ``kept``; with ``model.theory`` also return the replica prediction."""

    t0 = time.perf_counter()
    ids = pool.ids[np.asarray(kept, dtype=np.int64)]
    x = splits.train_x[ids].numpy()
    y = np.where(pool.y[np.asarray(kept)].numpy() > 0, 1.0, -1.0)
    J, stats = max_margin(x, y, on_nonseparable="flag")
    teacher, probe = splits.meta["teacher"], splits.meta["probe"]
    eps = generalization_error(J, teacher)
    yt = np.where(splits.test_y.numpy() > 0, 1.0, -1.0)
    eps_test = empirical_error(J, splits.test_x.numpy(), yt) if splits.test_y.numel() else float("nan")
    dim = splits.meta["dim"]
    extra = {
        "alpha_tot": len(pool) / dim,
        "alpha_prune": len(kept) / dim,
        "dim": dim,
        "probe_angle_deg": splits.meta["probe_angle_deg"],
        "R": overlap(J, teacher),
        "rho": overlap(J, probe),
        "kappa": stats["margin"],
        "kkt_gap": stats["kkt_gap"],
        "n_support": stats["n_support"],
        "separable": bool(stats.get("separable", True)),
        "eps_test": eps_test,
        "eps_theory": None,
    }
    if model_cfg.get("theory", True) and rule is not None and keep is not None:
        th = theory_error(len(kept) / dim, float(keep), rule, float(splits.meta["probe_angle_deg"]))
        extra["eps_theory"] = float(th["eps"]) if th.get("converged") else None
        extra["theory_converged"] = bool(th.get("converged"))
    wall = time.perf_counter() - t0
    # the training error on the kept set: 0 for a max-margin solution on separable data; no cross-entropy here
    train_error = empirical_error(J, x, y) if J is not None else None
    return {
        "test_error": eps,
        "test_accuracy": 1.0 - eps,
        "test_loss": None,
        "train_error": train_error,
        "train_loss": None,
        "curve": [],
        "steps": 0,
        "epochs": 0.0,
        "min_steps": 0,
        "steps_floor_applied": False,
        "train_seconds": wall,
        "extra": extra,
    }
