"""The full-data reference is one experiment: a static strategy at prune.keep=1 gets one run id and one record
whatever metric and strategy the job names, and a sweep trains it once."""

from __future__ import annotations

import json

from conftest import TINY_MNIST1D, compose
from test_run import bench_run, records

from bench.results import FULL_POOL_METRIC, FULL_POOL_PRUNE, canonical_config, result_settings, run_id
from bench.run import run_pipeline

STATIC_CHOICES = [
    ["metric=random", "prune=keep_hard"],
    ["metric=el2n", "prune=keep_easy"],
    ["metric=forgetting", "prune=class_balanced", "prune.within=easy"],
    ["metric=grand", "prune=stratified"],
    ["metric=none", "prune=keep_hard"],
    ["metric=none", "prune=class_balanced"],
]


def test_full_pool_static_runs_share_one_run_id():
    ids = {run_id(compose([*TINY_MNIST1D, *choice, "prune.keep=1.0"])) for choice in STATIC_CHOICES}
    assert len(ids) == 1 and next(iter(ids)).startswith("mnist1d-mlp-none-")
    assert run_id(compose([*TINY_MNIST1D, "metric=random", "prune.keep=1"])) in ids  # an integer keep too


def test_pruned_runs_keep_their_own_ids():
    """Below keep 1 the metric and the strategy change the result: distinct ids, and the settings are untouched."""
    cfgs = [compose([*TINY_MNIST1D, *choice, "prune.keep=0.5"]) for choice in STATIC_CHOICES[:4]]
    assert len({run_id(c) for c in cfgs}) == 4
    for cfg in cfgs:
        assert canonical_config(cfg) is cfg
        settings = result_settings(cfg)
        assert settings["metric"]["name"] == cfg["metric"]["name"] and settings["prune"] == cfg["prune"]


def test_infobatch_and_perceptron_at_keep_1_are_not_canonicalised():
    full = run_id(compose([*TINY_MNIST1D, "metric=random", "prune.keep=1.0"]))
    infobatch = compose([*TINY_MNIST1D, "metric=none", "prune=infobatch"])
    assert canonical_config(infobatch) is infobatch and run_id(infobatch) != full
    perceptron = compose(["experiment=perceptron_theory", "arm=full"])
    assert canonical_config(perceptron) is perceptron and "-random-" in run_id(perceptron)


def test_canonical_form_is_the_committed_none_records_form():
    """The canonical sections equal what metric=none with prune=keep_hard composes to, so the committed full-pool
    records (tests/test_identity.py) keep their ids."""
    cfg = compose([*TINY_MNIST1D, "metric=none", "prune=keep_hard"])
    assert cfg["metric"] == FULL_POOL_METRIC and cfg["prune"] == FULL_POOL_PRUNE
    named = compose([*TINY_MNIST1D, "metric=el2n", "prune=stratified"])
    assert result_settings(named) == result_settings(cfg)


def test_a_full_pool_run_named_by_a_metric_computes_no_scores_and_records_metric_none(_isolated_env):
    cfg = compose([*TINY_MNIST1D, "dataset.pool_size=200", "metric=el2n", "prune=keep_easy", "prune.keep=1.0"])
    rec = run_pipeline(cfg)
    assert rec["status"] == "ok" and rec["metric"] == "none" and rec["strategy"] == "keep_hard"
    assert rec["score_key"] is None and rec["n_train"] == 200
    assert rec["config"]["metric"] == FULL_POOL_METRIC and run_id(rec["config"]) == rec["run_id"]
    assert not any((_isolated_env / "scores").rglob("*.npy"))  # el2n's probes never trained
    again = run_pipeline(compose([*TINY_MNIST1D, "dataset.pool_size=200", "metric=random", "prune.keep=1.0"]))
    assert again.get("skipped") and again["run_id"] == rec["run_id"]


def test_a_sweep_over_two_metrics_at_keep_1_trains_once(_isolated_env):
    home = _isolated_env
    proc = bench_run(["-m", *TINY_MNIST1D, "dataset.pool_size=200", "metric=random,el2n", "prune.keep=1.0"], home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = records(home)
    assert len(recs) == 1, sorted(recs)
    (rec,) = recs.values()
    assert rec["metric"] == "none" and rec["status"] == "ok"
    assert (proc.stderr + proc.stdout).count("already done") == 1
    assert json.loads(json.dumps(rec["config"]["prune"])) == FULL_POOL_PRUNE
