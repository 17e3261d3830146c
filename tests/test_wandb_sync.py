"""After a sweep and its collector, `scripts/wandb_sync.sh --dry-run` finds every offline wandb run under BENCH_HOME
(the sweep's and the collector's), and the collector's run joins the sweep's project and group."""

from __future__ import annotations

import subprocess

import pandas as pd
from conftest import REPO, compose

from bench.collect.report import _sweep_project_and_group, collect
from bench.run import run_pipeline

TINY = [
    "dataset.n_train=600",
    "dataset.n_test=200",
    "dataset.pool_size=300",
    "train.epochs=1",
    "train.min_steps=0",
    "train.progress_bar=false",
    "logger=wandb",
]


def _dry_run(*args: str, home) -> list[str]:
    out = subprocess.run(
        ["bash", str(REPO / "scripts" / "wandb_sync.sh"), "--dry-run", *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "BENCH_HOME": str(home)},
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_sync_finds_the_sweeps_and_the_collectors_runs(_isolated_env):
    home = _isolated_env
    for seed in (0, 1):
        rec = run_pipeline(compose([*TINY, f"seed={seed}", "sweep=sync_test", "prune.keep=1.0", "metric=none"]))
        assert rec["status"] == "ok"
    records = home / "records"
    collect([str(records)], n_boot=5, command="pytest", log_wandb=True)
    runs = _dry_run(home=home)
    assert len(runs) == 3, runs  # two training runs and the collector's
    assert sum("/collect/" in r for r in runs) == 1
    assert all(r.rsplit("/", 1)[-1].startswith("offline-run-") for r in runs)


def test_sync_dry_run_on_an_empty_home_says_so(tmp_path):
    out = subprocess.run(
        ["bash", str(REPO / "scripts" / "wandb_sync.sh"), "--dry-run"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "BENCH_HOME": str(tmp_path)},
    )
    assert out.returncode == 1 and "no offline wandb runs" in out.stderr


def test_collector_run_joins_the_sweeps_project_and_group():
    cfg = '{"logger": {"project": "my-project"}}'
    runs = pd.DataFrame({"config_json": [cfg, cfg, None], "sweep": ["s1", "s1", "s2"]})
    assert _sweep_project_and_group(runs) == ("my-project", "s1+s2")
    assert _sweep_project_and_group(pd.DataFrame({"sweep": [None]})) == ("data-pruning", None)
