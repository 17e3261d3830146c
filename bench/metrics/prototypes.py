"""Prototype metrics (Sorscher et al. 2022): distance to a prototype in an embedding space.

- ``ssp`` (self-supervised prototypes): embed the pool (no labels), L2-normalise, spherical k-means with ``k``
  clusters (null = the number of classes; the paper found k may be an order of magnitude off without harm); score =
  cosine distance (1 - cos) to the *nearest* centroid. Prototypical examples (close to a centroid) are easy; far ones
  hard. Uses no labels at all, so label noise does not move it.
- ``supervised_prototypes``: same embeddings; one prototype per class = the mean of that class's normalised
  embeddings (using the pool's training labels, noisy ones included); score = cosine distance to the example's
  *own* class prototype.

Both: higher = farther from the prototype = harder; range [0, 2]. The encoder settings (``encoder: simclr |
checkpoint | pixels`` and the rest) are described in ``bench/metrics/embed.py``. The paper's ImageNet SSP used a
SwAV ResNet-50 (``encoder: checkpoint, arch: resnet50, checkpoint: <swav weights>``); the default here is a SimCLR
encoder trained on the pool, which needs no download.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from bench.defaults import metric_settings
from bench.metrics import METRIC_DEFAULTS, ScoreContext, register_metric
from bench.metrics.embed import embed_pool, spherical_kmeans
from bench.metrics.probe import MetricError, derive_seed, resolve_params

SSP_DEFAULTS = metric_settings("ssp")  # conf/metric/ssp.yaml: the one source
SUPERVISED_PROTOTYPES_DEFAULTS = metric_settings(
    "supervised_prototypes"
)  # conf/metric/supervised_prototypes.yaml: the one source


def nearest_centroid_distance(z: torch.Tensor, k: int, seed: int, n_init: int = 3, iters: int = 100) -> torch.Tensor:
    """(N,) cosine distance of each (normalised) embedding to its nearest spherical-k-means centroid."""
    cent, _ = spherical_kmeans(z, k, seed, n_init=n_init, iters=iters)
    return (1 - (z @ cent.T).max(1).values).clamp_min(0)


def class_prototype_distance(z: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N,) cosine distance of each (normalised) embedding to the mean embedding of its own class."""
    y = y.to(z.device).long()
    sums = torch.zeros(num_classes, z.shape[1], device=z.device, dtype=z.dtype).index_add_(0, y, z)
    proto = F.normalize(sums, dim=1)
    return (1 - (z * proto[y]).sum(1)).clamp_min(0)


METRIC_DEFAULTS["ssp"] = SSP_DEFAULTS


@register_metric("ssp")
def ssp_scores(ctx: ScoreContext) -> np.ndarray:
    """Self-supervised prototype scores: cosine distance to the nearest k-means centroid (higher = harder)."""
    p = resolve_params("ssp", ctx.params, SSP_DEFAULTS)
    k = p["k"] if p["k"] is not None else ctx.pool.num_classes
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(ctx.pool):
        raise MetricError(
            f"metric.k={p['k']!r} is not allowed for ssp: it must be null (= number of classes) or "
            f"an integer in [1, pool size {len(ctx.pool)}]"
        )
    z = embed_pool(ctx, p, "ssp")
    d = nearest_centroid_distance(
        z, int(k), derive_seed(ctx.seed, "ssp", "kmeans"), int(p["kmeans_n_init"]), int(p["kmeans_iters"])
    )
    return d.double().cpu().numpy()


METRIC_DEFAULTS["supervised_prototypes"] = SUPERVISED_PROTOTYPES_DEFAULTS


@register_metric("supervised_prototypes")
def supervised_prototype_scores(ctx: ScoreContext) -> np.ndarray:
    """Supervised prototype scores: cosine distance to the example's class-mean embedding (higher = harder)."""
    p = resolve_params("supervised_prototypes", ctx.params, SUPERVISED_PROTOTYPES_DEFAULTS)
    z = embed_pool(ctx, p, "supervised_prototypes")
    return class_prototype_distance(z, ctx.pool.y, ctx.pool.num_classes).double().cpu().numpy()
