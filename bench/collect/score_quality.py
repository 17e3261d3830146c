"""How good a pruning metric's scores are, before anyone reads a frontier: the stability of its ranking across seeds
and how well it finds injected label noise (flipped labels should score hard).

Pure functions on score arrays (higher = harder, the harness's convention); ``scripts/cifar10_score_quality.py``
feeds them the score store's arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata, spearmanr


def seed_rank_agreement(scores_by_seed: Sequence[np.ndarray]) -> dict:
    """Spearman correlation of the scores of one pool between every pair of seeds: mean, min and max over pairs
    (1 = the same ranking whatever the seed; 0 = unrelated rankings)."""
    arrays = [np.asarray(s, dtype=float) for s in scores_by_seed]
    if len(arrays) < 2 or len({a.size for a in arrays}) != 1:
        raise ValueError("need scores of at least two seeds on the same pool (arrays of one length)")
    rhos = [spearmanr(a, b).statistic for i, a in enumerate(arrays) for b in arrays[i + 1 :]]
    return {"spearman_mean": float(np.mean(rhos)), "spearman_min": float(min(rhos)), "spearman_max": float(max(rhos))}


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """P(score of a random positive > score of a random negative), ties counting one half (Mann-Whitney U)."""
    scores, positive = np.asarray(scores, dtype=float), np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def noise_detection(scores: np.ndarray, flipped: np.ndarray, fractions: Sequence[float] = (0.1, 0.2)) -> dict:
    """How a metric ranks flipped labels: for each fraction q, the share of the flipped examples among the hardest
    q of the pool (``recall_q``) and the share of the hardest q that are flipped (``precision_q``); and the AUROC of
    the scores for flipped against clean examples (0.5 = chance). Ties at the cut are broken by position."""
    scores, flipped = np.asarray(scores, dtype=float), np.asarray(flipped, dtype=bool)
    if scores.shape != flipped.shape:
        raise ValueError(f"{scores.size} scores for {flipped.size} noise flags")
    order = np.argsort(-scores, kind="stable")
    out = {"n": int(scores.size), "n_flipped": int(flipped.sum()), "auroc": auroc(scores, flipped)}
    for q in fractions:
        k = int(round(q * scores.size))
        top = flipped[order[:k]]
        out[f"recall_{q:g}"] = float(top.sum() / max(1, flipped.sum()))
        out[f"precision_{q:g}"] = float(top.mean()) if k else float("nan")
    return out
