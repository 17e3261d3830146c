"""Score-quality figures on data where the answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from bench.collect.score_quality import auroc, noise_detection, seed_rank_agreement


def test_auroc_known_values():
    assert auroc(np.array([3.0, 2.0, 1.0, 0.0]), np.array([1, 1, 0, 0])) == 1.0
    assert auroc(np.array([0.0, 1.0, 2.0, 3.0]), np.array([1, 1, 0, 0])) == 0.0
    assert auroc(np.zeros(4), np.array([1, 0, 1, 0])) == 0.5  # all tied


def test_a_metric_that_puts_every_flip_on_top_is_found_and_a_random_one_is_chance():
    rng = np.random.default_rng(0)
    n = 10_000
    flipped = np.zeros(n, bool)
    flipped[rng.choice(n, n // 10, replace=False)] = True
    perfect = flipped + rng.random(n) * 0.5
    got = noise_detection(perfect, flipped)
    assert got["recall_0.1"] == 1.0 and got["precision_0.1"] == 1.0 and got["recall_0.2"] == 1.0
    assert got["precision_0.2"] == pytest.approx(0.5) and got["auroc"] == 1.0
    chance = noise_detection(rng.random(n), flipped)
    assert abs(chance["auroc"] - 0.5) < 0.03 and abs(chance["recall_0.1"] - 0.1) < 0.03


def test_seed_agreement_is_one_for_monotone_copies_and_near_zero_for_noise():
    rng = np.random.default_rng(1)
    a = rng.random(2000)
    same = seed_rank_agreement([a, a**3, np.log(a)])
    assert same["spearman_min"] == pytest.approx(1.0)
    noise = seed_rank_agreement([rng.random(2000) for _ in range(3)])
    assert abs(noise["spearman_mean"]) < 0.1
    with pytest.raises(ValueError, match="two seeds"):
        seed_rank_agreement([a])


def test_tables_read_exports_and_rank_a_planted_metric_first(tmp_path):
    from bench.collect.score_quality import noise_table, stability_table, tie_profile
    from bench.score import export_scores

    rng = np.random.default_rng(2)
    n = 1000
    flipped = np.zeros(n, bool)
    flipped[rng.choice(n, 100, replace=False)] = True
    ids, labels = np.arange(n), rng.integers(0, 10, n)
    (tmp_path / "noise10").mkdir()
    export_scores(tmp_path / "noise10" / "planted_seed0.csv", ids, labels, flipped, flipped + rng.random(n) * 0.1)
    export_scores(tmp_path / "noise10" / "counts_seed0.csv", ids, labels, flipped, rng.integers(0, 3, n) * 1.0)
    rows = noise_table(tmp_path / "noise10")
    planted = next(r for r in rows if r.startswith("| planted"))
    assert "| 1.00 / 1.00 |" in planted and "| 1.000 |" in planted
    counts = next(r for r in rows if r.startswith("| counts"))
    assert "| 3 |" in counts  # three distinct values
    assert tie_profile(np.array([0, 0, 0, 1.0])) == {"distinct": 2, "largest_tie_share": 0.75}
    (tmp_path / "pool").mkdir()
    a = rng.random(n)
    for k, s in enumerate([a, a**2, rng.random(n)]):
        export_scores(tmp_path / "pool" / f"m_seed{k}.npy", ids, labels, flipped, s)
    row = stability_table(tmp_path / "pool")[2]
    assert row.startswith("| m | 3 | 1,000 |") and row.endswith("| 1,000 | 0.1% |") and ", 1.000]" in row  # a, a**2: 1
