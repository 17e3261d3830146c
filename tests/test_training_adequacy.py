"""Every run trains adequately whatever its size: the train.min_steps floor, and records that say how well each
student fits its kept set (train_error / train_loss) and which test split it was scored on (test_key, n_test)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from conftest import TINY_MNIST1D, compose, write_image_folder
from torch.nn import functional as F

from bench.data import Splits, build_dataset, make_pool
from bench.run import ConfigError, describe_test_split, run_pipeline
from bench.train import plan_steps, train_student

FAST = {"epochs": 1, "min_steps": 0, "batch_size": 16, "progress_bar": False, "lr": 0.05}


def _splits(n=60, dim=12, classes=3, seed=0) -> Splits:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(n, dim, generator=g) + 2.0 * F.one_hot(y, dim).float()
    return Splits(
        name="synthetic", num_classes=classes, input_shape=(dim,), train_x=x, train_y=y, test_x=x[:30], test_y=y[:30]
    )


def test_floor_sets_total_steps_under_both_budgets():
    cfg = {"epochs": 4, "batch_size": 10, "budget": "epochs"}
    assert plan_steps(30, 100, cfg) == (12, 3)  # no floor: 4 epochs x 3 batches
    assert plan_steps(30, 100, {**cfg, "min_steps": 0}) == (12, 3)
    assert plan_steps(30, 100, {**cfg, "min_steps": 12}) == (12, 3)
    assert plan_steps(30, 100, {**cfg, "min_steps": 25}) == (25, 3)  # max(12, 25)
    steps = {**cfg, "budget": "steps"}
    assert plan_steps(30, 100, steps) == (40, 3)  # the full pool's 4 epochs
    assert plan_steps(30, 100, {**steps, "min_steps": 30}) == (40, 3)
    assert plan_steps(30, 100, {**steps, "min_steps": 55}) == (55, 3)
    assert plan_steps(30, 100, {**steps, "steps": 7, "min_steps": 9}) == (9, 3)


class _LrTrace(pl.Callback):
    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


@pytest.mark.parametrize("budget", ["epochs", "steps"])
def test_floor_trains_that_many_steps_and_the_schedule_spans_them(budget):
    s = _splits()
    pool = make_pool(s, None, 0)
    trace = _LrTrace()
    out = train_student(
        s,
        pool,
        np.arange(20),
        {"name": "mlp", "hidden": [8]},
        {**FAST, "budget": budget, "min_steps": 30},
        seed=0,
        callbacks=[trace],
    )
    budget_steps = 2 if budget == "epochs" else 4  # 20 kept (2 batches) / the pool of 60 (4 batches), 1 epoch
    assert out["steps"] == 30 and out["steps_floor_applied"] and out["budget_steps"] == budget_steps
    assert out["epochs"] == pytest.approx(15.0) and out["min_steps"] == 30
    assert len(trace.lrs) == 30  # cosine over the 30 steps actually run, not over the budget's
    assert trace.lrs[0] == pytest.approx(0.05) and trace.lrs[15] == pytest.approx(0.025, rel=1e-6)
    assert trace.lrs[-1] < 0.05 * 0.01
    unfloored = train_student(
        s, pool, np.arange(20), {"name": "mlp", "hidden": [8]}, {**FAST, "budget": budget, "min_steps": 1}, seed=0
    )
    assert unfloored["steps"] == budget_steps and not unfloored["steps_floor_applied"]


def _reference_fit(model, x, y) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = model(x)
    return (logits.argmax(1) != y).sum().item() / len(y), float(F.cross_entropy(logits, y))


def test_train_error_and_loss_match_a_separate_evaluation_of_the_model():
    s = _splits()
    pool = make_pool(s, None, 0, label_noise=0.1)
    kept = np.arange(5, 45)
    out = train_student(s, pool, kept, {"name": "mlp", "hidden": [16]}, {**FAST, "min_steps": 20}, seed=0)
    err, loss = _reference_fit(out["model"], s.train_x[pool.ids[kept]], pool.y[kept])
    assert out["train_error"] == pytest.approx(err, abs=1e-9) and out["train_loss"] == pytest.approx(loss, rel=1e-5)
    assert 0.0 <= out["train_error"] <= 1.0 and math.isfinite(out["train_loss"])


def test_folder_path_scores_the_kept_set_without_augmentation(tmp_path):
    write_image_folder(tmp_path, per_class=(6, 2), size=20)
    s = build_dataset("imagenet", root=str(tmp_path), image_size=16, test_resize=16, color_jitter=0.0)
    pool = make_pool(s, None, 0)
    kept = np.arange(0, 18, 2)
    out = train_student(
        s,
        pool,
        kept,
        {"name": "mlp", "hidden": [8]},
        {**FAST, "min_steps": 3, "num_workers": 0, "batch_size": 4},
        seed=0,
    )
    tf = s.test_set.transform  # Resize + CenterCrop: the deterministic view of the train images
    x = torch.stack([tf(s.train_set.loader(s.train_set.samples[int(i)][0])) for i in pool.ids[kept]])
    err, loss = _reference_fit(out["model"], x, pool.y[kept])
    assert out["train_error"] == pytest.approx(err, abs=1e-9) and out["train_loss"] == pytest.approx(loss, rel=1e-5)


def test_record_holds_steps_floor_fit_and_test_split(_isolated_env):
    rec = run_pipeline(compose([*TINY_MNIST1D, "dataset.pool_size=100", "train.min_steps=12"]))
    assert rec["status"] == "ok" and rec["n_train"] == 100
    assert rec["steps"] == 12 and rec["min_steps"] == 12 and rec["steps_floor_applied"] is True  # 2 batches x 1
    assert rec["epochs"] == pytest.approx(6.0) and rec["extra"]["budget_steps"] == 2
    assert 0.0 <= rec["train_error"] <= 1.0 and rec["train_loss"] > 0
    assert rec["n_test"] == 200 and rec["test_key"] == "mnist1d:n200:n_train=600,n_test=200,data_seed=42"
    assert compose(["logger=none"])["train"]["min_steps"] == 200  # the documented Hydra default


def test_test_key_is_root_independent_and_follows_the_test_split():
    a = describe_test_split({"name": "cifar10", "root": "/data/a"}, 10000)
    assert (
        a == describe_test_split({"name": "cifar10", "root": "/elsewhere", "download": True}, 10000) == "cifar10:n10000"
    )
    m = {"name": "mnist1d", "n_train": 20000, "n_test": 4000, "data_seed": 42, "cache_dir": "/x", "pool_size": 500}
    assert describe_test_split(m, 4000) == describe_test_split({**m, "cache_dir": "/y", "pool_size": None}, 4000)
    assert describe_test_split(m, 4000) != describe_test_split({**m, "data_seed": 1}, 4000)


def test_perceptron_records_its_training_error():
    rec = run_pipeline(
        compose(
            [
                "dataset=perceptron",
                "model=perceptron",
                "metric=margin",
                "logger=none",
                "dataset.dim=50",
                "dataset.n_test=500",
                "dataset.alpha_tot=3",
                "prune.keep=0.5",
            ]
        )
    )
    assert rec["status"] == "ok" and rec["train_error"] == 0.0  # max margin on separable data
    assert rec["steps"] == 0 and rec["steps_floor_applied"] is False and rec["n_test"] == 500


@pytest.mark.parametrize("value", ["-1", "1.5", "abc", "true"])
def test_bad_min_steps_fails_before_training(_isolated_env, value):
    with pytest.raises(ConfigError, match=r"train\.min_steps=.*is not allowed: a non-negative integer"):
        run_pipeline(compose([*TINY_MNIST1D, f"train.min_steps={value}"]))
    assert not (Path(_isolated_env) / "records").exists()


def test_old_records_without_the_new_fields_still_load(tmp_path):
    import json

    from bench.collect.table import load_records

    base = {
        "status": "ok",
        "dataset": "mnist1d",
        "model": "cnn1d",
        "metric": "random",
        "strategy": "keep_hard",
        "keep": 1.0,
        "pool_size": 100,
        "n_train": 100,
        "seed": 0,
        "test_error": 0.5,
    }
    (tmp_path / "old.json").write_text(json.dumps({**base, "run_id": "old"}))
    (tmp_path / "new.json").write_text(
        json.dumps(
            {
                **base,
                "run_id": "new",
                "train_error": 0.0,
                "train_loss": 0.01,
                "min_steps": 200,
                "steps_floor_applied": True,
                "n_test": 4000,
                "test_key": "mnist1d:n4000",
            }
        )
    )
    ok, failed = load_records(tmp_path)
    assert len(ok) == 2 and failed.empty
    old, new = (ok.set_index("run_id").loc[k] for k in ("old", "new"))
    assert all(pd_isna(old[c]) for c in ("train_error", "train_loss", "min_steps", "n_test", "test_key"))
    assert new["train_loss"] == 0.01 and new["n_test"] == 4000 and new["test_key"] == "mnist1d:n4000"


def pd_isna(v) -> bool:
    import pandas as pd

    return bool(pd.isna(v))
