"""The teacher-student perceptron through bench.run: records with simulated and theoretical error."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import compose

from bench.run import ConfigError, run_pipeline

BASE = [
    "dataset=perceptron",
    "model=perceptron",
    "metric=margin",
    "logger=none",
    "dataset.dim=100",
    "dataset.n_test=2000",
    "dataset.alpha_tot=6",
]


def test_perceptron_records_hold_simulation_and_theory():
    hard = run_pipeline(compose([*BASE, "prune.keep=0.3", "prune.strategy=keep_hard"]))
    easy = run_pipeline(compose([*BASE, "prune.keep=0.3", "prune.strategy=keep_easy"]))
    for rec in (hard, easy):
        assert rec["status"] == "ok" and rec["pool_size"] == 600 and rec["n_train"] == 180
        ex = rec["extra"]
        assert ex["alpha_prune"] == pytest.approx(1.8) and ex["alpha_tot"] == pytest.approx(6.0)
        assert rec["test_error"] == pytest.approx(np.arccos(ex["R"]) / np.pi)
        assert abs(ex["eps_test"] - rec["test_error"]) < 0.05  # empirical vs exact error, 2000 test points
        assert ex["eps_theory"] is not None and abs(ex["eps_theory"] - rec["test_error"]) < 0.06
        assert ex["kkt_gap"] < 1e-6  # the student really is max-margin
    # keep_hard keeps the smallest margins: its kept examples are the support-vector-rich ones
    assert hard["kept_score_stats"]["mean"] > easy["kept_score_stats"]["mean"]


def test_full_data_matches_classical_curve_order_of_magnitude():
    rec = run_pipeline(compose([*BASE, "dataset.alpha_tot=10", "metric=random", "prune.keep=1.0"]))
    # maximally stable perceptron: eps ~ 0.5005 / alpha at large alpha (Opper et al. 1990); at alpha = 10 the
    # asymptote is 0.05 and the exact theory is a little above it
    assert 0.03 < rec["test_error"] < 0.09
    assert rec["extra"]["eps_theory"] == pytest.approx(rec["test_error"], abs=0.02)


def test_probe_angle_is_recorded_and_deterministic():
    a = run_pipeline(compose([*BASE, "dataset.probe_angle_deg=20", "prune.keep=0.5"]))
    b = run_pipeline(compose([*BASE, "dataset.probe_angle_deg=20", "prune.keep=0.5", "force=true"]))
    assert a["extra"]["probe_angle_deg"] == pytest.approx(20.0)
    assert a["test_error"] == b["test_error"]


@pytest.mark.parametrize(
    "overrides,message",
    [
        (
            ["dataset=perceptron", "model=mlp", "metric=margin"],
            "needs dataset=perceptron together with model=perceptron",
        ),
        (["dataset=mnist1d", "model=cnn1d", "metric=margin"], "metric=margin needs dataset=perceptron"),
    ],
)
def test_perceptron_combinations_are_checked(overrides, message):
    with pytest.raises(ConfigError, match=message):
        run_pipeline(compose([*overrides, "logger=none"]))


def test_bad_probe_angle():
    from bench.data import DatasetError

    with pytest.raises(DatasetError, match="probe_angle_deg=95"):
        run_pipeline(compose([*BASE, "dataset.probe_angle_deg=95"]))
