"""python -m bench.score: scores without training students, through the shared store, exported."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY_MNIST1D, compose

from bench.run import ConfigError
from bench.score import score_from_config

FAST_EL2N = [
    "metric=el2n",
    "metric.n_models=2",
    "metric.epochs=1",
    "metric.total_epochs=2",
    "metric.model={name: mlp, hidden: [16]}",
    "dataset.pool_size=200",
    "dataset.label_noise=0.2",
]


def test_score_exports_csv_and_reuses_the_store(tmp_path):
    out = tmp_path / "el2n.csv"
    first = score_from_config(compose([*TINY_MNIST1D, *FAST_EL2N, f"export={out}"]))
    assert first["computed_now"] and first["pool_size"] == 200
    rows = np.genfromtxt(out, delimiter=",", names=True)
    assert rows.size == 200 and set(rows.dtype.names) == {"id", "label", "noisy", "score"}
    assert rows["noisy"].sum() == 40 and np.unique(rows["id"]).size == 200
    # flipped labels are hard for EL2N even after one epoch of two probes
    assert rows["score"][rows["noisy"] == 1].mean() > rows["score"][rows["noisy"] == 0].mean()
    again = score_from_config(compose([*TINY_MNIST1D, *FAST_EL2N, f"export={tmp_path / 'el2n.npy'}"]))
    assert not again["computed_now"]
    assert np.allclose(np.load(tmp_path / "el2n.npy"), rows["score"])


def test_score_rejects_bad_export_and_metric_none(tmp_path):
    with pytest.raises(ConfigError, match="export=.*scores.txt.*csv or .npy"):
        score_from_config(compose([*TINY_MNIST1D, f"export={tmp_path / 'scores.txt'}"]))
    with pytest.raises(ConfigError, match="metric=none has no scores"):
        score_from_config(compose([*TINY_MNIST1D, "metric=none"]))
