"""A running study's status tables (bench/collect/status.py) and the cifar10_scaling README's record counts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from bench.collect.status import progress_table, seed_table, unplanned
from bench.collect.table import load

REPO = Path(__file__).resolve().parents[1]


def _ok() -> pd.DataFrame:
    rows = []
    for pool, keep in ((1000, 0.1), (1000, 0.5), (4000, 0.1)):
        for seed in (2, 0, 1):
            rows.append(
                dict(
                    metric="random",
                    strategy="keep_hard",
                    pool_size=pool,
                    keep=keep,
                    seed=seed,
                    n_train=int(pool * keep),
                    steps=40,
                    epochs=4.0,
                    test_error=0.5 + 0.01 * seed,
                )
            )
    return pd.DataFrame(rows)


def test_progress_counts_recorded_and_planned_rules():
    t = progress_table(_ok(), {("random", "keep_hard"): 12, ("el2n", "keep_easy"): 6})
    got = {(r.metric, r.strategy): (r.recorded, r.planned) for r in t.itertuples()}
    assert got == {("random", "keep_hard"): (9, 12), ("el2n", "keep_easy"): (0, 6)}


def test_records_the_plan_does_not_name_are_reported_and_the_script_refuses_them(tmp_path):
    t = progress_table(_ok(), {("random_airbench", "keep_hard"): 12})
    assert unplanned(t) == ["random:keep_hard"]
    assert unplanned(progress_table(_ok(), {("random", "keep_hard"): 12})) == []
    rec = tmp_path / "records"
    rec.mkdir()
    for i, r in enumerate(_ok().to_dict("records")):
        (rec / f"r{i}.json").write_text(
            json.dumps({**r, "run_id": f"r{i}", "status": "ok", "dataset": "d", "model": "m"})
        )
    cmd = [sys.executable, str(REPO / "scripts" / "study_status.py"), str(rec), "--plan"]
    bad = subprocess.run([*cmd, "random_airbench:keep_hard=9"], capture_output=True, text=True)
    assert bad.returncode != 0 and "random:keep_hard have no --plan entry" in bad.stderr
    good = subprocess.run([*cmd, "random:keep_hard=9"], capture_output=True, text=True)
    assert good.returncode == 0 and "| random | keep_hard | 9 | 9 |" in good.stdout


def test_seed_table_lists_seeds_in_order_and_their_mean():
    t = seed_table(_ok(), "random")
    assert list(t["kept"]) == [100, 500, 400]
    assert t["test error by seed"].iloc[0] == "0.500 / 0.510 / 0.520"
    assert abs(t["mean"].iloc[0] - 0.51) < 1e-9 and (t["seeds"] == 3).all()


def test_seed_table_keeps_one_strategy_apart_from_another():
    """The full pool (metric none) and pure InfoBatch share a metric; their seeds are never mixed."""
    ok = pd.concat([_ok(), _ok().assign(strategy="infobatch", test_error=0.9)])
    assert (seed_table(ok, "random")["seeds"] == 6).all()
    hard = seed_table(ok, "random", "keep_hard")
    assert (hard["seeds"] == 3).all() and (hard["mean"] < 0.6).all()


def _committed(folder: Path) -> list[Path]:
    """The files git tracks under ``folder`` (records still landing from a running study are not committed yet);
    every file there when this is not a git checkout."""
    res = subprocess.run(["git", "ls-files", "-z", str(folder)], cwd=REPO, capture_output=True, text=True)
    if res.returncode != 0:
        return sorted(folder.glob("*.json"))
    return [REPO / p for p in res.stdout.split("\0") if p.endswith(".json")]


def test_cifar10_scaling_readme_counts_the_committed_records():
    """The study README's progress table states what the committed records hold (rerun scripts/study_status.py)."""
    study = REPO / "results" / "cifar10_scaling"
    ok = load(_committed(study / "records")).ok
    assert len(ok), "no committed records to check"
    text = (study / "README.md").read_text()
    for (metric, strategy), n in ok.groupby(["metric", "strategy"]).size().items():
        assert f"| {metric} | {strategy} | {n} |" in text, (metric, strategy, n)
        assert f"| {metric} | {strategy} | {n} | 0 |" not in text, f"{metric}:{strategy} is missing from the plan"
