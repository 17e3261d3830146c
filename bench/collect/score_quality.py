"""How good a pruning metric's scores are, before anyone reads a frontier: the stability of its ranking across seeds
and how well it finds injected label noise (flipped labels should score hard).

Pure functions on score arrays (higher = harder, the harness's convention); ``scripts/cifar10_score_quality.py``
feeds them score files exported by ``bench.score export=...``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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


def tie_profile(scores: np.ndarray) -> dict:
    """How tied the scores are: the number of distinct values and the share of the pool in the largest group of
    equal scores (forgetting counts on a short probe run pile up at 0; selection breaks such ties at random)."""
    _, counts = np.unique(np.asarray(scores), return_counts=True)
    return {"distinct": int(counts.size), "largest_tie_share": float(counts.max() / counts.sum())}


def read_export(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(scores, flipped flags) of a ``bench.score export=`` file: a CSV (id,label,noisy,score) or a .npy (scores
    only; flags all False)."""
    path = Path(path)
    if path.suffix == ".npy":
        scores = np.load(path)
        return scores, np.zeros(scores.shape, bool)
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return table[:, 3], table[:, 2].astype(bool)


def _exports(folder: Path, suffix: str) -> dict[str, dict[int, Path]]:
    """{metric: {seed: file}} for files named <metric>_seed<k><suffix>."""
    out: dict[str, dict[int, Path]] = {}
    for f in sorted(Path(folder).glob(f"*_seed*{suffix}")):
        metric, _, seed = f.name[: -len(suffix)].rpartition("_seed")
        out.setdefault(metric, {})[int(seed)] = f
    return out


def noise_table(folder: Path) -> list[str]:
    """Markdown rows: per metric, flipped-label recall/precision in the hardest 10% and 20%, AUROC, ties."""
    rows = [
        "| metric | seed | n | flipped | hardest 10%: recall / precision | hardest 20%: recall / precision | AUROC "
        "| distinct values | largest tie |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for metric, files in _exports(folder, ".csv").items():
        for seed, f in sorted(files.items()):
            scores, flipped = read_export(f)
            d, t = noise_detection(scores, flipped), tie_profile(scores)
            rows.append(
                f"| {metric} | {seed} | {d['n']:,} | {d['n_flipped']:,} | {d['recall_0.1']:.2f} / "
                f"{d['precision_0.1']:.2f} | {d['recall_0.2']:.2f} / {d['precision_0.2']:.2f} | {d['auroc']:.3f} "
                f"| {t['distinct']:,} | {t['largest_tie_share']:.1%} |"
            )
    return rows


def stability_table(folder: Path) -> list[str]:
    """Markdown rows: per metric, the Spearman correlation of its scores between seeds (mean, min, max over
    pairs) and its ties."""
    rows = [
        "| metric | seeds | n | Spearman between seeds: mean [min, max] | distinct values | largest tie |",
        "|---|---|---|---|---|---|",
    ]
    for metric, files in _exports(folder, ".npy").items():
        arrays = [read_export(f)[0] for _, f in sorted(files.items())]
        t = tie_profile(arrays[0])
        if len(arrays) < 2:
            rows.append(
                f"| {metric} | {len(arrays)} | {arrays[0].size:,} | (one seed) | {t['distinct']:,} | "
                f"{t['largest_tie_share']:.1%} |"
            )
            continue
        a = seed_rank_agreement(arrays)
        rows.append(
            f"| {metric} | {len(arrays)} | {arrays[0].size:,} | {a['spearman_mean']:.3f} [{a['spearman_min']:.3f}, "
            f"{a['spearman_max']:.3f}] | {t['distinct']:,} | {t['largest_tie_share']:.1%} |"
        )
    return rows
