"""Selection: scores + labels + keep fraction + strategy -> the pool positions to train on.

Scores follow the harness convention: higher = harder / more informative. Every strategy keeps exactly
``round(keep * n)`` examples and is deterministic for a seed (ties are broken by a seeded permutation).

- ``keep_hard``: the highest scores.
- ``keep_easy``: the lowest scores.
- ``class_balanced``: the same keep fraction in every class (largest-remainder rounding to hit the total exactly),
  hardest (``within="hard"``) or easiest (``within="easy"``) first inside each class.
- ``stratified``: coverage-centric coreset selection (Zheng et al., ICLR 2023): drop the hardest ``beta`` fraction,
  split the remaining score range into ``n_bins`` equal-width bins, and spread the budget evenly across bins,
  filling the smallest bins first (a bin gives all it has when it holds fewer than its share); random within a bin.
  ``beta="auto"`` (the default) makes the hard cut-off follow the keep fraction (``ccs_beta``).
- ``infobatch`` (dynamic, ``DYNAMIC_STRATEGIES``): the static ``prune.static`` selection here, then InfoBatch prunes
  during training (``bench/train/dynamic.py``).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from bench.errors import SelectionError  # noqa: F401 (re-exported)
from bench.registry import Registry

# Static selection strategies: name -> fn(scores, labels, k, rng, opts) -> the k picked positions. A new strategy is
# one registered function here (or in a module that registers into SELECTIONS) plus conf/prune/<name>.yaml; the
# validator and ``select`` read the allowed names from this registry.
SELECTIONS = Registry("prune.strategy")
# Strategies that prune during training (bench/train/dynamic.py), on the kept set of a static selection:
# ``prune.static`` (one of STRATEGIES) picks that set from the metric's scores when prune.keep < 1.
DYNAMIC_STRATEGIES = ("infobatch",)


def static_strategy(prune: dict) -> str:
    """The selection strategy that picks the kept set: ``prune.strategy``, or ``prune.static`` (default keep_hard)
    under a dynamic strategy."""
    strategy = prune.get("strategy")
    return prune.get("static", "keep_hard") if strategy in DYNAMIC_STRATEGIES else strategy


# CCS's hard cut-off beta as a function of the keep fraction, as (keep, beta) anchors, linear in between.
# Zheng et al. (2023) choose beta per dataset and pruning rate by grid search, larger for more aggressive pruning.
# Confirmed here: keep 0.1 (90% pruned) -> beta 0.3, the authors' CIFAR-10 command (README of
# github.com/haizhongzheng/Coverage-centric-coreset-selection, --mis-ratio 0.3). The paper's per-rate table could
# not be checked, so the rest is our rule, not the paper's numbers: no cut-off at keep >= 0.7 (mild pruning, where the
# hardest examples are the useful ones) and a linear ramp between. Pass a number as prune.beta to set it exactly.
CCS_BETA_ANCHORS = ((0.1, 0.3), (0.7, 0.0))


def n_keep(keep: float, n: int) -> int:
    """round(keep * n), validated: keep in (0, 1] and at least one example kept."""
    if not isinstance(keep, (int, float)) or not 0.0 < float(keep) <= 1.0:
        raise SelectionError(f"prune.keep={keep!r} is not allowed: it must lie in (0, 1]")
    k = int(round(float(keep) * n))
    if k < 1:
        raise SelectionError(f"prune.keep={keep} keeps no example of a pool of {n}; use a keep of at least {1 / n:.2g}")
    return k


def _order(scores: np.ndarray, rng: np.random.Generator, hardest_first: bool) -> np.ndarray:
    """Positions sorted by score (hardest first or easiest first), ties broken by a seeded permutation."""
    tiebreak = rng.permutation(scores.size)
    key = -scores if hardest_first else scores
    return np.lexsort((tiebreak, key))


def _largest_remainder(sizes: np.ndarray, total: int) -> np.ndarray:
    exact = sizes * (total / sizes.sum())
    take = np.minimum(np.floor(exact).astype(int), sizes)
    rem = exact - take
    while take.sum() < total:
        room = take < sizes
        c = np.flatnonzero(room)[np.argmax(rem[room])]
        take[c] += 1
        rem[c] = -1.0
    return take


def select(
    scores: np.ndarray,
    labels: np.ndarray,
    keep: float,
    strategy: str,
    seed: int,
    within: str = "hard",
    beta: float | str = "auto",
    n_bins: int = 50,
) -> np.ndarray:
    """Sorted positions (into the pool) of the ``round(keep * n)`` examples to train on."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    n = scores.size
    if labels.size != n:
        raise SelectionError(f"{n} scores for {labels.size} labels")
    if not np.all(np.isfinite(scores)):
        raise SelectionError(f"{int((~np.isfinite(scores)).sum())} scores are NaN or infinite")
    if strategy not in SELECTIONS:
        raise SelectionError(f"unknown prune.strategy {strategy!r}; allowed: {', '.join(SELECTIONS.names())}")
    if within not in ("hard", "easy"):
        raise SelectionError(f"prune.within={within!r} is not allowed: use 'hard' or 'easy'")
    k = n_keep(keep, n)
    rng = np.random.default_rng([seed, 0x5E1EC7])
    opts = {"within": within, "beta": beta, "n_bins": n_bins, "keep": keep}
    return np.sort(SELECTIONS.get(strategy)(scores, labels, k, rng, opts))


@SELECTIONS.register("keep_hard")
def _keep_hard(scores: np.ndarray, labels: np.ndarray, k: int, rng: np.random.Generator, opts: dict) -> np.ndarray:
    return _order(scores, rng, True)[:k]


@SELECTIONS.register("keep_easy")
def _keep_easy(scores: np.ndarray, labels: np.ndarray, k: int, rng: np.random.Generator, opts: dict) -> np.ndarray:
    return _order(scores, rng, False)[:k]


@SELECTIONS.register("class_balanced")
def _class_balanced(scores: np.ndarray, labels: np.ndarray, k: int, rng: np.random.Generator, opts: dict) -> np.ndarray:
    members = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    take = _largest_remainder(np.array([m.size for m in members]), k)
    hard = opts["within"] == "hard"
    return np.concatenate([m[_order(scores[m], rng, hard)[:t]] for m, t in zip(members, take)])


@SELECTIONS.register("stratified")
def _stratified_strategy(
    scores: np.ndarray, labels: np.ndarray, k: int, rng: np.random.Generator, opts: dict
) -> np.ndarray:
    return _stratified(scores, k, rng, resolve_beta(opts["beta"], opts["keep"]), opts["n_bins"])


# The static strategies (sorted names; a strategy registered later by another module is in SELECTIONS only).
STRATEGIES = tuple(SELECTIONS)


def ccs_beta(keep: float) -> float:
    """The hard cut-off ``beta="auto"`` uses at keep fraction ``keep`` (see CCS_BETA_ANCHORS)."""
    (k0, b0), (k1, b1) = CCS_BETA_ANCHORS
    u = min(1.0, max(0.0, (float(keep) - k0) / (k1 - k0)))
    return round(b0 + u * (b1 - b0), 6)


def resolve_beta(beta: float | str, keep: float) -> float:
    """``prune.beta`` as a number: "auto" -> ccs_beta(keep); numbers pass through (validated in the selection)."""
    if isinstance(beta, str):
        if beta != "auto":
            raise SelectionError(f"prune.beta={beta!r} is not allowed: a number in [0, 1) or 'auto'")
        return ccs_beta(keep)
    return float(beta)


def _stratified(scores: np.ndarray, k: int, rng: np.random.Generator, beta: float, n_bins: int) -> np.ndarray:
    if not 0.0 <= beta < 1.0:
        raise SelectionError(f"prune.beta={beta} is not allowed: it must lie in [0, 1)")
    if n_bins < 1:
        raise SelectionError(f"prune.n_bins={n_bins} is not allowed: it must be at least 1")
    n = scores.size
    n_drop = int(round(beta * n))
    if n - n_drop < k:
        raise SelectionError(
            f"prune.beta={beta} drops {n_drop} of {n} examples, leaving fewer than the {k} to keep; lower beta"
        )
    order = _order(scores, rng, hardest_first=True)
    candidates = order[n_drop:]
    s = scores[candidates]
    lo, hi = s.min(), s.max()
    if hi == lo:
        bins = np.zeros(s.size, dtype=int)
    else:
        bins = np.minimum(((s - lo) / (hi - lo) * n_bins).astype(int), n_bins - 1)
    groups = [candidates[bins == b] for b in range(n_bins)]
    groups = [g for g in groups if g.size]
    picked: list[np.ndarray] = []
    budget = k
    # Smallest bins first: each gets min(its size, an even share of what is left).
    for i, g in enumerate(sorted(groups, key=lambda g: g.size)):
        share = budget // (len(groups) - i)
        t = min(g.size, share)
        picked.append(rng.choice(g, size=t, replace=False))
        budget -= t
    out = np.concatenate(picked)
    if budget:  # integer division left a remainder: top up at random from what is left
        rest = np.setdiff1d(candidates, out)
        out = np.concatenate([out, rng.choice(rest, size=budget, replace=False)])
    return out


def class_histogram(labels: np.ndarray, num_classes: int) -> list[int]:
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes).tolist()


def score_stats(scores: Optional[np.ndarray]) -> Optional[dict]:
    if scores is None or np.size(scores) == 0:
        return None
    s = np.asarray(scores, dtype=np.float64)
    return {
        "mean": float(s.mean()),
        "std": float(s.std()),
        "min": float(s.min()),
        "median": float(np.median(s)),
        "max": float(s.max()),
    }
