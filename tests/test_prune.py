"""Selection keeps exactly round(keep * n) examples, in the direction its name says."""

from __future__ import annotations

import numpy as np
import pytest

from bench.prune import SelectionError, select


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), [50, 100, 150, 200, 500])
    return rng.random(labels.size), labels


@pytest.mark.parametrize("strategy", ["keep_hard", "keep_easy", "class_balanced", "stratified"])
@pytest.mark.parametrize("keep", [0.013, 0.1, 0.37, 0.5, 1.0])
def test_exact_count_and_determinism(data, strategy, keep):
    scores, labels = data
    a = select(scores, labels, keep, strategy, seed=1)
    assert a.size == round(keep * scores.size) and np.unique(a).size == a.size
    assert np.array_equal(a, select(scores, labels, keep, strategy, seed=1))


def test_hard_and_easy_directions(data):
    scores, labels = data
    hard = select(scores, labels, 0.2, "keep_hard", 0)
    easy = select(scores, labels, 0.2, "keep_easy", 0)
    assert scores[hard].min() >= np.quantile(scores, 0.8) - 1e-12
    assert scores[easy].max() <= np.quantile(scores, 0.2) + 1e-12


def test_ties_broken_by_seed_not_position():
    scores = np.zeros(100)
    a, b = select(scores, np.zeros(100), 0.1, "keep_hard", 0), select(scores, np.zeros(100), 0.1, "keep_hard", 1)
    assert not np.array_equal(a, b) and a.max() > 10


def test_class_balanced_keeps_per_class_fraction(data):
    scores, labels = data
    scores = scores + labels  # an imbalanced metric: class 4 looks hardest
    kept = select(scores, labels, 0.3, "class_balanced", 0)
    counts = np.bincount(labels[kept], minlength=5)
    assert np.all(np.abs(counts - 0.3 * np.bincount(labels)) <= 1)
    unbalanced = np.bincount(labels[select(scores, labels, 0.3, "keep_hard", 0)], minlength=5)
    assert unbalanced[:4].sum() == 0  # keep_hard would keep only class 4
    easy = select(scores, labels, 0.3, "class_balanced", 0, within="easy")
    for c in range(5):
        m = labels == c
        assert scores[np.intersect1d(easy, np.flatnonzero(m))].max() <= np.quantile(scores[m], 0.31)


def test_stratified_covers_every_bin_and_drops_hardest():
    rng = np.random.default_rng(1)
    scores = rng.exponential(size=2000)  # skewed: most mass at low scores
    kept = select(scores, np.zeros(2000), 0.1, "stratified", 0, beta=0.05, n_bins=10)
    cut = np.sort(scores)[::-1][100]  # the hardest 5% are dropped
    assert scores[kept].max() <= cut
    rest = scores[scores <= cut]
    edges = np.linspace(rest.min(), rest.max(), 11)
    occupied = np.histogram(rest, edges)[0] > 0
    hit = np.histogram(scores[kept], edges)[0] > 0
    assert np.all(hit[occupied])  # every non-empty bin is represented
    # far more even than random: the top bins are over-represented relative to their mass
    assert np.histogram(scores[kept], edges)[0][5:].sum() > 0.1 * 200


@pytest.mark.parametrize("keep", [0.0, -0.1, 1.01, 2])
def test_bad_keep(keep):
    with pytest.raises(SelectionError, match=r"prune.keep=.*\(0, 1\]"):
        select(np.zeros(10), np.zeros(10), keep, "keep_hard", 0)


def test_bad_strategy_lists_allowed():
    with pytest.raises(SelectionError, match="allowed: class_balanced, keep_easy, keep_hard, stratified"):
        select(np.zeros(10), np.zeros(10), 0.5, "keep_middle", 0)


def test_stratified_default_cut_off_follows_the_pruning_rate():
    """prune=stratified applies CCS's hard cut-off by default: at keep 0.1 the hardest 30% are never kept (the authors'
    CIFAR-10 setting), at mild pruning (keep 0.7) nothing is cut, in between the cut-off shrinks with keep."""
    from bench.prune import ccs_beta, resolve_beta

    scores = np.random.default_rng(2).random(1000)
    rank = np.argsort(np.argsort(-scores))  # 0 = hardest
    for keep, min_dropped in ((0.1, 300), (0.3, 1), (0.7, 0)):
        kept = select(scores, np.zeros(1000), keep, "stratified", 0)  # beta left at its default
        assert kept.size == round(keep * 1000)
        assert rank[kept].min() >= min_dropped
        if min_dropped == 0:
            assert rank[kept].min() < 10  # no cut-off: the hardest examples stay eligible
    betas = [ccs_beta(k) for k in (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)]
    assert betas[1] == pytest.approx(0.3) and betas[-2] == betas[-1] == 0.0
    assert all(a >= b for a, b in zip(betas, betas[1:]))  # more pruning, a larger cut-off
    assert all(ccs_beta(k) <= 1 - k for k in np.linspace(0.01, 1.0, 100))  # enough left to keep
    assert resolve_beta(0.05, 0.1) == 0.05  # an explicit number wins
    with pytest.raises(SelectionError, match="prune.beta='often'"):
        select(scores, np.zeros(1000), 0.1, "stratified", 0, beta="often")


def test_stratified_preset_default_reaches_the_selection():
    from conftest import TINY_MNIST1D, compose

    from bench.prune import ccs_beta
    from bench.run import run_pipeline

    rec = run_pipeline(compose([*TINY_MNIST1D, "prune=stratified", "prune.keep=0.1", "dry_run=true"]))
    assert rec["extra"]["prune_beta"] == ccs_beta(0.1) > 0
    stats = rec["pool_score_stats"]  # metric=random: uniform scores, so the hardest 30% lie above ~0.7
    assert rec["kept_score_stats"]["max"] < stats["min"] + 0.72 * (stats["max"] - stats["min"])
