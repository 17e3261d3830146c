"""scripts/perceptron_figures.py on a handful of real perceptron records produced by bench.run."""

from __future__ import annotations

import copy
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from bench.run import run_pipeline
from conftest import REPO, compose

BASE = ["dataset=perceptron", "model=perceptron", "logger=none", "dataset.dim=50", "dataset.n_test=0",
        "train.progress_bar=false"]


def _script():
    spec = importlib.util.spec_from_file_location("perceptron_figures", REPO / "scripts" / "perceptron_figures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """~40 tiny runs: f = 1, random, keep_hard/keep_easy at theta = 0 and keep_hard at theta = 20."""
    root = tmp_path_factory.mktemp("perceptron_records")
    base = {m: compose([*BASE, f"paths.root={root}", f"metric={m}"]) for m in ("random", "margin")}

    def run(metric, alpha_tot, keep, seed, strategy="keep_hard", theta=0.0):
        cfg = copy.deepcopy(base[metric])
        cfg["dataset"].update(alpha_tot=alpha_tot, probe_angle_deg=theta)
        cfg["prune"].update(keep=keep, strategy=strategy)
        cfg["seed"] = cfg["dataset"]["seed"] = seed
        rec = run_pipeline(cfg)
        assert rec["status"] == "ok"

    for seed in (0, 1):
        for at in (1, 4, 16):
            run("random", at, 1.0, seed)
            for keep in (0.2, 0.6):
                run("random", at, keep, seed)
                run("margin", at, keep, seed, "keep_hard")
                run("margin", at, keep, seed, "keep_easy")
                if at >= 4:
                    run("margin", at, keep, seed, "keep_hard", theta=20.0)
    return root / "records"


def test_analysis_on_real_records(records, tmp_path):
    pf = _script()
    df = pf.load_perceptron([records])
    assert set(df["rule"]) == {"full", "random", "keep_hard", "keep_easy"}
    assert set(df["theta"]) == {0.0, 20.0}
    assert np.allclose(df["alpha_prune"], df["keep"] * df["alpha_tot"], atol=1 / 50)

    res = pf.analyse(records, None, x_min=1.0, n_boot=20, alpha_fixed=(4.0,))
    # claim 1: the f = 1 curve, with the literature asymptote alongside
    cl = res["classical"]
    assert list(cl["alpha"]) == [1.0, 4.0, 16.0] and (cl["n_seeds"] == 2).all()
    assert cl["sim"].is_monotonic_decreasing and np.allclose(cl["asymptote"], 0.5005 / cl["alpha"])
    assert res["classical_fit"].n_points == 3
    # claim 2: one row per (alpha_tot, keep); the crossover table has one row per keep
    eh, cr = res["easy_hard"], res["crossover"]
    assert len(eh) == 6 and set(eh["winner"]) <= {"hard", "easy"}
    assert list(cr["keep"]) == [0.2, 0.6]
    # at alpha_tot = 1 keep easy beats keep hard (theory and simulation agree on that)
    assert (eh.loc[eh["alpha_tot"] == 1, "winner_theory"] == "easy").all()
    # claims 3/4: frontiers per (rule, theta), fitted with the collector, on alpha_prune >= x_min only
    fits = res["fits"]
    assert {("keep_hard", 0.0), ("random", 0.0), ("keep_hard", 20.0)} <= set(zip(fits["group"], fits["theta"]))
    assert (fits["x_min"] >= 1.0).all()
    assert set(fits["preferred"].dropna()) <= {"power_law", "exponential", ""}
    fr = res["frontier"]
    hard0 = fr.loc[(fr["group"] == "keep_hard") & (fr["theta"] == 0.0)]
    assert hard0["borrowed_full"].any()  # keep = 1 runs lent to the margin rule
    # claim 5: theory and simulation side by side for every cell, keep = 1 counted once
    gaps = res["gaps"]
    assert len(gaps) == len(gaps.drop_duplicates(subset=["rule", "theta", "keep", "alpha_tot"]))
    assert np.isfinite(gaps["theory"]).all() and (gaps["n_seeds"] == 2).all()
    assert res["gap_summary"]["cells"] == len(gaps)

    files = pf.write_outputs(res, tmp_path, {"perceptron_theory": "1 s"}, ["python -m bench.run ..."],
                             theory_lines=False)
    for name in ("fig1_classical", "fig2_easy_vs_hard", "fig3_frontier", "fig4_probe", "fig5_theory_vs_sim"):
        assert (tmp_path / f"{name}.png").stat().st_size > 0 and (tmp_path / f"{name}.svg").exists()
    text = (tmp_path / "README.md").read_text()
    for section in ("## 1.", "## 2.", "## 3.", "## 4.", "## 5.", "Largest absolute gap"):
        assert section in text
    assert "README.md" in files and (tmp_path / "runs.csv").exists()
    assert not math.isnan(res["gap_summary"]["median_abs_se"])
