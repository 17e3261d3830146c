"""Pruning metrics: one function per metric, pool in, one float per pool example out.

Convention: **higher score = harder / more informative**. Each metric is registered with
``@register_metric(name)`` and called as ``fn(ctx: ScoreContext) -> np.ndarray`` of shape (len(pool),).
``compute_scores`` runs a metric through the score store, so jobs that share (dataset, pool, metric settings,
seed) compute it once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch

from bench.data import Pool, Splits
from bench.registry import Registry, import_submodules
from bench.scores import ScoreStore

METRICS = Registry("metric")
_CACHED: dict[str, bool] = {}
METRIC_DEFAULTS: dict[str, dict] = {}  # name -> default settings, filled by the metric modules


def metric_defaults(name: str) -> dict:
    """A copy of metric ``name``'s default settings ({} for metrics without settings). Put
    ``{**metric_defaults(name), **params}`` in the score-cache key so that changing a default in code invalidates
    the cached scores computed with the old one."""
    METRICS.get(name)  # unknown names raise, listing the allowed ones
    return dict(METRIC_DEFAULTS.get(name, {}))


def register_metric(name: str, cache: bool = True) -> Callable:
    """Register a metric; ``cache=False`` for metrics cheaper to recompute than to store (random)."""

    def deco(fn: Callable) -> Callable:
        METRICS.register(name)(fn)
        _CACHED[name] = cache
        return fn

    return deco


@dataclass
class ScoreContext:
    """Everything a metric may use. ``params`` are the metric's settings (its config minus ``name``);
    ``model`` the model config ({"name": ..., **kwargs}) metrics train their probe models with (``metric.model``
    when set, else the student's). Everything that changes the scores must be in ``params``, ``model``, the pool
    or ``seed``: those make the score-cache key."""

    splits: Splits
    pool: Pool
    params: dict
    seed: int
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    model: dict = field(default_factory=dict)
    progress: bool = True
    # Facts about the scores a metric reports (e.g. the resolution of its estimates); kept in the score file's
    # sidecar and in the run record's extra.metric_info. Not part of the cache key: it must follow from the rest.
    info: dict = field(default_factory=dict)
    # Where probe ensembles save their progress (bench.checkpoint.EnsembleCheckpoint), or None: no resuming.
    checkpoint: Optional[Any] = None


def compute_scores(
    name: str, ctx: ScoreContext, store: Optional[ScoreStore], spec: dict
) -> tuple[Optional[np.ndarray], bool]:
    """(scores or None for metric=none, computed_now). ``spec`` identifies the scores (the cache key's content)."""
    fn = METRICS.get(name)
    if name == "none":
        return None, False

    def run() -> np.ndarray:
        s = np.asarray(fn(ctx), dtype=np.float64)
        if s.shape != (len(ctx.pool),):
            raise RuntimeError(f"metric {name} returned shape {s.shape} for a pool of {len(ctx.pool)}")
        if not np.all(np.isfinite(s)):
            raise RuntimeError(f"metric {name} returned {int((~np.isfinite(s)).sum())} non-finite scores")
        return s

    if store is None or not _CACHED[name]:
        return run(), True
    return store.get_or_compute(spec, run, info=ctx.info)


@register_metric("none", cache=False)
def none_scores(ctx: ScoreContext) -> np.ndarray:
    """No pruning: the full pool is trained on (prune.keep must be 1)."""
    return np.zeros(len(ctx.pool))


@register_metric("random", cache=False)
def random_scores(ctx: ScoreContext) -> np.ndarray:
    """Seeded uniform random scores: keep_hard/keep_easy on them is random pruning."""
    rng = np.random.default_rng([ctx.seed, 0xA11D0])
    return rng.random(len(ctx.pool))


import_submodules(__name__, __path__)  # every module in bench/metrics registers its metrics
