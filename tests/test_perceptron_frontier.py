"""The perceptron frontier study (issue 19): its preset, its simulated points and its committed tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, compose
from omegaconf import OmegaConf

from bench.run import run_pipeline
from bench.theory import frontier_study as fs

OUT = REPO / "results" / "perceptron" / "frontier"
PRESET = REPO / "conf" / "experiment" / "perceptron_frontier.yaml"


def test_crossing_interpolates_in_log_log():
    keeps = np.array([0.01, 0.1, 1.0])
    # eps falls from 0.4 to 0.004 between f = 0.01 and 0.1: log-linear, so eps = 0.04 at f = 10^-1.5
    assert fs.crossing(keeps, np.array([0.4, 0.004, 0.05]), 0.04) == pytest.approx(10**-1.5)
    assert math.isnan(fs.crossing(keeps, np.array([0.01, 0.004, 0.05]), 0.04))  # never above f = 1's error


def test_preset_points_are_the_committed_theory():
    front = fs.load_theory(OUT)[0]
    points = OmegaConf.to_container(OmegaConf.load(PRESET)["points"])
    assert points == fs.preset_points(front)
    opt = {k: v for k, v in points.items() if "_opt_" in k}
    assert len({(v["theta"], v["alpha_tot"]) for v in opt.values() if v["theta"] in (10.0, 20.0)}) >= 16
    cliff = [v for k, v in points.items() if k.startswith("t0_hard")]
    assert max(v["alpha_tot"] for v in cliff) >= 1000 and {v["keep"] for v in cliff} == {0.1, 0.01, 0.001}


@pytest.mark.parametrize("point", ["t10_opt_a1p99", "t0_hard_a3_f0p01"])
def test_rerun_reproduces_committed_points(point):
    runs = pd.read_csv(OUT / "runs.csv")
    rec = run_pipeline(compose(["experiment=perceptron_frontier", f"point={point}", "seed=1"]))
    row = runs.loc[runs["run_id"] == rec["run_id"]]
    assert len(row) == 1, f"{point}: run id {rec['run_id']} not among the committed runs"
    assert rec["test_error"] == pytest.approx(float(row["test_error"].iloc[0]), rel=1e-9, abs=1e-12)
    assert rec["extra"]["alpha_prune"] == pytest.approx(float(row["alpha_prune"].iloc[0]))


def test_committed_tables_follow_from_runs_csv():
    front, _, cliffs = fs.load_theory(OUT)
    df = fs.load_perceptron(OUT / "runs.csv")
    gaps = fs.sim_vs_theory(df, front, cliffs)
    ratios = fs.ratios_theta0(gaps)
    committed = pd.read_csv(OUT / "ratios_theta0.csv")
    assert np.allclose(ratios["ratio_sim"], committed["ratio_sim"], rtol=1e-5)
    # done-when of issue 19: keep_hard at theta = 0 reaches >= 100x below random pruning at equal alpha_prune
    # (the cell where theory predicts the largest ratio: chosen before looking at the simulation)
    best = ratios.loc[ratios["ratio_theory"].idxmax()]
    assert best["ratio_sim"] - 2 * best["ratio_sim_se"] >= 100
    fmin = pd.read_csv(OUT / "f_min.csv")
    both = fmin.loc[(fmin["theta"] > 0) & fmin["f_min_theory"].notna() & fmin["f_min_sim"].notna()]
    assert len(both) >= 3
    g = pd.read_csv(OUT / "sim_vs_theory.csv")
    assert np.allclose(gaps["sim"], g["sim"], rtol=1e-5) and np.allclose(gaps["theory"], g["theory"], rtol=1e-5)
