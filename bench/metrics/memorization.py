"""Memorization (Feldman & Zhang, NeurIPS 2020): how much a model needs to have seen an example to get it right.

M probe models are trained, each on its own random subset of a fraction ``subset_fraction`` of the pool, for the
whole schedule (``epochs``). Then

    mem(i) = P[f(x_i) = y_i | i in the model's subset] - P[f(x_i) = y_i | i not in it],

estimated by the accuracy (eval mode, clean input, pool label y_i) over the models that did / did not train on i.
The subsets are *balanced*: every example is in exactly ``round(subset_fraction * M)`` subsets (chosen at random per
example; subset sizes then differ by a few examples between members), so no example lacks an estimate.

Resolution: acc_out(i) is an average over the models that held i out, so it moves in steps of 1 / (held-out count)
(and acc_in in steps of 1 / (in-subset count)). The counts per example (min / median / max), the step 1 / min held-out
count and M reach the run record as ``extra.metric_info`` (and the score file's sidecar); a warning is issued when an
example was held out of (or included in) fewer than ``min_count`` = 10 models.

Score = mem(i) in [-1, 1]; higher = more memorized = harder (atypical or mislabelled). Feldman & Zhang used 2,000
ResNet-50s on 70% subsets of ImageNet (and 4,000 ResNets on CIFAR-100). The default here is M = 34 models on 70%
subsets: the smallest M that holds every example out of at least 10 models while keeping the in-subset share at or
above 70% (24 in, 10 out), so acc_out moves in steps of 0.1 (M = 20 held each example out of only 6: steps of 1/6).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from bench.defaults import metric_settings
from bench.metrics import METRIC_DEFAULTS, ScoreContext, register_metric
from bench.metrics.probe import (
    MetricError,
    check_int,
    check_probe_params,
    derive_seed,
    resolve_params,
    train_probe_ensemble,
)

log = logging.getLogger(__name__)
# Memorization needs models that fit their training subset (label noise included): no weight decay, a higher lr.
# n_models=34 with 70% subsets: every example trained on by 24 and held out of 10 models (min_count).
MEMORIZATION_DEFAULTS = metric_settings("memorization")  # conf/metric/memorization.yaml: the one source


def balanced_subsets(n_models: int, n: int, fraction: float, seed: int) -> np.ndarray:
    """(M, N) bool: every column has exactly round(fraction * M) True entries, at random positions."""
    m_in = int(round(fraction * n_models))
    rng = np.random.default_rng(derive_seed(seed, "memorization", "subsets"))
    ranks = np.argsort(rng.random((n, n_models)), axis=1).argsort(axis=1)  # a random permutation per example
    return (ranks < m_in).T.copy()


@dataclass
class MemorizationEstimate:
    """mem = acc_in - acc_out per pool example, with the model counts behind each estimate."""

    mem: np.ndarray
    acc_in: np.ndarray
    acc_out: np.ndarray
    n_in: np.ndarray
    n_out: np.ndarray


def estimate_memorization(correct: np.ndarray, subsets: np.ndarray) -> MemorizationEstimate:
    """(M, N) correctness and membership -> per-example memorization (NaN where a count is 0)."""
    correct = np.asarray(correct, dtype=np.float64)
    subsets = np.asarray(subsets, dtype=bool)
    n_in, n_out = subsets.sum(0), (~subsets).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc_in = (correct * subsets).sum(0) / n_in
        acc_out = (correct * ~subsets).sum(0) / n_out
    return MemorizationEstimate(acc_in - acc_out, acc_in, acc_out, n_in, n_out)


def resolution_info(est: MemorizationEstimate) -> dict:
    """How finely the estimates resolve: models per example that trained on / held out each example (min, median,
    max) and the step of acc_out, 1 / min held-out count."""
    out = {"n_models": int(est.n_in[0] + est.n_out[0]) if est.n_in.size else 0}
    for name, n in (("in", est.n_in), ("out", est.n_out)):
        out.update(
            {
                f"models_{name}_min": int(n.min()),
                f"models_{name}_median": float(np.median(n)),
                f"models_{name}_max": int(n.max()),
            }
        )
    out["acc_out_step"] = 1.0 / out["models_out_min"] if out["models_out_min"] else None
    return out


def memorization_estimate(ctx: ScoreContext) -> MemorizationEstimate:
    """Train the subset models of ``ctx`` and return the full estimate (scores, accuracies and counts)."""
    p = resolve_params("memorization", ctx.params, MEMORIZATION_DEFAULTS)
    check_probe_params("memorization", p)
    m = check_int("memorization", p, "n_models", 2)
    epochs = check_int("memorization", p, "epochs", 1)
    min_count = check_int("memorization", p, "min_count", 1)
    frac = float(p["subset_fraction"])
    m_in = int(round(frac * m))
    if not 0.0 < frac < 1.0 or m_in < 1 or m_in > m - 1:
        raise MetricError(
            f"metric.subset_fraction={p['subset_fraction']} with n_models={m} leaves no model that "
            f"trains on (or holds out) an example; it must lie in (0, 1) with "
            f"1 <= round(subset_fraction * n_models) <= n_models - 1"
        )
    if min(m_in, m - m_in) < min_count:
        warnings.warn(
            f"memorization: every example is held out of {m - m_in} and trained on by {m_in} of the "
            f"n_models={m} models; fewer than min_count={min_count} makes mem estimates coarse "
            f"(raise metric.n_models)",
            RuntimeWarning,
            stacklevel=2,
        )
    subsets = balanced_subsets(m, len(ctx.pool), frac, ctx.seed)
    ens, data = train_probe_ensemble(ctx, "memorization", p, m, epochs, epochs, tag="memorization", subsets=subsets)
    pred = ens.logits(data, int(p["eval_batch_size"])).argmax(-1)
    correct = (pred == data.y[None]).cpu().numpy()
    est = estimate_memorization(correct, subsets)
    ctx.info.update(resolution_info(est))
    train_acc = float((correct * subsets).sum() / subsets.sum())
    log.info(
        "memorization: %d models on %.0f%% subsets, train accuracy %.3f, held-out accuracy %.3f, "
        "models per example in/out %d/%d",
        m,
        100 * frac,
        train_acc,
        float((correct * ~subsets).sum() / (~subsets).sum()),
        m_in,
        m - m_in,
    )
    if train_acc < 0.9:
        warnings.warn(
            f"memorization: the subset models reach only {train_acc:.2f} accuracy on their own training "
            f"examples; memorization needs models that fit their data (raise metric.epochs or metric.lr)",
            RuntimeWarning,
            stacklevel=2,
        )
    return est


METRIC_DEFAULTS["memorization"] = MEMORIZATION_DEFAULTS


@register_metric("memorization")
def memorization_scores(ctx: ScoreContext) -> np.ndarray:
    """Feldman-Zhang memorization estimates (higher = more memorized = harder)."""
    return memorization_estimate(ctx).mem
