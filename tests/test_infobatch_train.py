"""InfoBatch in training (prune.strategy=infobatch) and the compute every record carries.

- the module's loss on a fixed batch is the plan-weighted mean of the per-example losses (value and gradient), the
  detached per-example losses become the InfoBatch scores, and over many plans the weighted loss is unbiased;
- a real tiny training records the examples trained in each data epoch: the first and the annealing epochs see all
  of them, the pruning ones fewer, under the epochs budget and the steps budget, on the device-resident path and
  the folder (DataLoader) path;
- ``examples_seen`` is exactly what was trained on (a hand count, with and without InfoBatch), and the FLOPs
  estimate is FLOPs per example x examples_seen;
- the lr schedule ends exactly at the end of an InfoBatch run under the epochs budget;
- an interrupted InfoBatch run resumes with the same scores, plans and numbers as an uninterrupted one;
- bad settings (ratio, delta, static strategy, a kept set smaller than a batch, the perceptron) are refused before
  training, and ratio / delta change the run id.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from conftest import TINY_MNIST1D, compose, write_image_folder
from torch.nn import functional as F

from bench.config import check_dynamic_kept, validate_config
from bench.errors import ConfigError
from bench.results import run_id
from bench.run import run_pipeline
from bench.train.infobatch import InfoBatch
from bench.train.module import LitClassifier

# 300 examples in batches of 64: 5 steps per full epoch (4 x 64 + 44)
TINY = [o for o in TINY_MNIST1D if not o.startswith("train.epochs")] + [
    "dataset.pool_size=300",
    "train.num_threads=1",
    "train.checkpoint_every=null",
]
INFOBATCH = ["prune=infobatch", "metric=none"]


def _fixed_batch(n=256, d=12, classes=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.ReLU(), torch.nn.Linear(16, classes))
    return model, torch.randn(n, d, generator=g), torch.randint(0, classes, (n,), generator=g)


def test_module_loss_is_the_plan_weighted_mean_and_feeds_the_scores():
    model, x, y = _fixed_batch()
    ib = InfoBatch(len(y), epochs=8, ratio=0.5, seed=1)
    ib.update(torch.arange(len(y)), torch.rand(len(y)) * 2)  # scores from an earlier epoch
    pos, w = ib.plan(epoch=1)
    assert (w > 1).any() and len(pos) < len(y)  # a pruning epoch with rescaled examples
    lit = LitClassifier(model, infobatch=ib)
    logits = model(x[pos])
    loss = lit.weighted_loss(logits, y[pos], pos, {"weight": w, "epoch": 1, "epochs_done": 1.5})
    per_example = F.cross_entropy(model(x[pos]), y[pos], reduction="none")
    expected = (per_example * w).mean()
    assert torch.allclose(loss, expected)
    g_module = torch.autograd.grad(loss, list(model.parameters()))
    g_manual = torch.autograd.grad(expected, list(model.parameters()))
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g_module, g_manual))
    assert torch.allclose(ib.scores[pos], per_example.detach())  # the training losses are the new scores
    assert lit.examples_per_epoch == [0, len(pos)] and lit.epochs_done == 1.5


def test_module_weighted_loss_is_unbiased_over_plans():
    """E over plans of the epoch's weighted loss sum (through the module) = the full-data loss sum."""
    model, x, y = _fixed_batch(n=512)
    with torch.no_grad():
        per_example = F.cross_entropy(model(x), y, reduction="none")
    totals = []
    for seed in range(300):
        ib = InfoBatch(len(y), epochs=8, ratio=0.5, seed=seed)
        ib.update(torch.arange(len(y)), per_example)
        pos, w = ib.plan(epoch=1)
        lit = LitClassifier(model)  # no InfoBatch to update: the scores stay those of the fixed batch
        with torch.no_grad():
            loss = lit.weighted_loss(model(x[pos]), y[pos], pos, {"weight": w, "epoch": 1, "epochs_done": 2.0})
        totals.append(float(loss) * len(pos))
    t = torch.tensor(totals)
    full = float(per_example.sum())
    assert abs(t.mean().item() - full) < 4 * t.std().item() / len(t) ** 0.5 and abs(t.mean().item() / full - 1) < 0.01


class CountBatches(pl.Callback):
    """A hand count of what the optimiser trained on: each training batch's size."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.sizes.append(int(batch[1].shape[0]))


def _train(overrides: list[str], callbacks=None) -> dict:
    """train_student on the composed config's data (no record), with ``callbacks``."""
    from bench.run import score_stage, select_stage
    from bench.train import train_student

    cfg = compose(overrides)
    scored = score_stage(cfg)
    kept = select_stage(cfg, scored)
    prune = cfg["prune"]
    ib = {"ratio": prune["ratio"], "delta": prune["delta"]} if prune["strategy"] == "infobatch" else None
    return train_student(
        scored.splits,
        scored.pool,
        kept,
        cfg["model"],
        cfg["train"],
        int(cfg["seed"]),
        callbacks=callbacks,
        infobatch=ib,
    )


def test_examples_seen_is_a_hand_count_without_infobatch():
    count = CountBatches()
    # 4 epochs = 20 steps, floored to 22: 4 full passes (1200) + 2 batches of 64 = 1328 examples
    out = _train([*TINY, "train.epochs=4", "train.min_steps=22"], [count])
    assert out["steps"] == 22 and count.sizes == ([64] * 4 + [44]) * 4 + [64, 64]
    assert out["examples_seen"] == sum(count.sizes) == 1328 and out["repetitions"] == pytest.approx(1328 / 300)
    assert out["flops_per_example"] > 0 and out["train_flops"] == pytest.approx(out["flops_per_example"] * 1328)


def test_infobatch_epochs_budget_prunes_then_anneals_and_counts_exactly():
    count = CountBatches()
    out = _train([*TINY, *INFOBATCH, "train.epochs=8", "prune.delta=0.75"], [count])
    per_epoch = out["extra"]["infobatch"]["examples_per_epoch"]
    assert len(per_epoch) == 8 and out["epochs"] == 8.0
    assert per_epoch[0] == 300 and per_epoch[6:] == [300, 300]  # first epoch: no scores yet; last 2: annealing
    assert all(200 < e < 300 for e in per_epoch[1:6])  # about half the below-mean half skipped
    assert out["examples_seen"] == sum(count.sizes) == sum(per_epoch) < 8 * 300
    assert out["steps"] == len(count.sizes) == sum(math.ceil(e / 64) for e in per_epoch) < 40
    assert out["train_flops"] == pytest.approx(out["flops_per_example"] * out["examples_seen"])


def test_infobatch_steps_budget_trains_the_step_budget_and_anneals_at_the_end():
    out = _train([*TINY, *INFOBATCH, "train.budget=steps", "train.steps=60", "prune.delta=0.75"])
    per_epoch = out["extra"]["infobatch"]["examples_per_epoch"]
    assert out["steps"] == 60 and out["examples_seen"] == sum(per_epoch)
    # every epoch that starts after 0.75 x 60 - 5 steps anneals: the steps from 45 on see full epochs
    starts = np.cumsum([0] + [math.ceil(e / 64) for e in per_epoch[:-1]])
    full = [e == 300 for e in per_epoch[:-1]]
    assert per_epoch[0] == 300 and all(f == (s == 0 or s + 5 > 45) for s, f in zip(starts, full))
    assert out["epochs"] > 12  # more passes than the 12 full epochs the steps would buy


def test_lr_schedule_ends_exactly_at_the_end_of_an_infobatch_run():
    seen = []

    class LrTrace(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            seen.append(trainer.optimizers[0].param_groups[0]["lr"])

    out = _train([*TINY, *INFOBATCH, "train.epochs=6", "train.schedule=linear", "train.lr=0.1"], [LrTrace()])
    assert out["steps"] < 30 and len(seen) == out["steps"]
    assert seen[-1] == pytest.approx(0.0, abs=1e-12)  # the lr after the last step: the schedule's end
    assert seen[-2] > 0 and all(a >= b for a, b in zip(seen, seen[1:]))


def test_infobatch_on_the_folder_path(tmp_path):
    write_image_folder(tmp_path, per_class=(8, 2), size=12)  # 24 training images, 3 classes
    overrides = [
        *INFOBATCH,
        "dataset=imagenet",
        f"dataset.root={tmp_path}",
        "dataset.image_size=8",
        "dataset.test_resize=10",
        "model=mlp",
        "model.hidden=[8]",
        "train.epochs=4",
        "train.batch_size=4",
        "train.num_workers=0",
        "train.min_steps=0",
        "train.progress_bar=false",
        "train.num_threads=1",
        "train.checkpoint_every=null",
        "logger=none",
        "prune.delta=0.5",
    ]
    out = _train(overrides)
    per_epoch = out["extra"]["infobatch"]["examples_per_epoch"]
    assert per_epoch[0] == 24 and per_epoch[2:] == [24, 24] and per_epoch[1] < 24
    assert out["examples_seen"] == sum(per_epoch)


@pytest.mark.parametrize("stop_at", [7, 11])
def test_interrupted_infobatch_run_resumes_with_the_same_plans_and_numbers(tmp_path, monkeypatch, stop_at):
    from bench.checkpoint import parse_every
    from bench.run import score_stage, select_stage
    from bench.train import train_student
    from bench.train.resume import RunCheckpoint

    cfg = compose([*TINY, *INFOBATCH, "train.epochs=6", "train.deterministic=true"])
    scored = score_stage(cfg)
    kept = select_stage(cfg, scored)
    args = (scored.splits, scored.pool, kept, cfg["model"], cfg["train"], 0)
    ib = {"ratio": 0.5, "delta": 0.875}
    ref = train_student(*args, infobatch=ib)
    steps = [0]

    class Stop(Exception):
        pass

    def crash_at_step() -> None:
        steps[0] += 1
        if steps[0] == stop_at:
            raise Stop()

    monkeypatch.setattr("bench.train.resume.test_kill_hook", crash_at_step)
    ck = RunCheckpoint(root=tmp_path / "ck", every=parse_every("3steps"), meta={"run_id": "infobatch-resume"})
    with pytest.raises(Stop):
        train_student(*args, checkpoint=ck, infobatch=ib)
    out = train_student(*args, checkpoint=ck, infobatch=ib)
    assert out["extra"]["checkpoint"]["resumed_from_step"] == 3 * ((stop_at - 1) // 3)
    assert out["extra"]["infobatch"]["examples_per_epoch"] == ref["extra"]["infobatch"]["examples_per_epoch"]
    assert out["curve"] == ref["curve"] and out["test_error"] == ref["test_error"]
    assert out["examples_seen"] == ref["examples_seen"] and out["steps"] == ref["steps"]


@pytest.mark.parametrize(
    "override,message",
    [
        ("prune.ratio=1.0", "prune.ratio=1.0"),
        ("prune.ratio=-0.1", "prune.ratio=-0.1"),
        ("prune.delta=0.0", "prune.delta=0.0"),
        ("prune.delta=1.5", "prune.delta=1.5"),
        ("prune.static=infobatch", "prune.static='infobatch'"),
        ("prune.static=bogus", "prune.static='bogus'"),
    ],
)
def test_bad_infobatch_settings_are_refused_before_training(override, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(compose([*TINY, *INFOBATCH, override]))


def test_a_kept_set_smaller_than_a_batch_is_refused_before_training():
    with pytest.raises(ConfigError, match="smaller than one batch"):  # 10% of 300 = 30 < 64, known from the config
        validate_config(compose([*TINY, "prune=infobatch", "metric=random", "prune.keep=0.1"]))
    cfg = compose([*TINY, *INFOBATCH])
    with pytest.raises(ConfigError, match="kept set of 40 examples"):  # after selection (e.g. pool_size=null)
        check_dynamic_kept(cfg, 40)
    check_dynamic_kept(compose(TINY), 40)  # a static strategy trains on any kept set


def test_infobatch_needs_a_gradient_trained_student():
    cfg = compose(["dataset=perceptron", "model=perceptron", "metric=margin", "prune=infobatch", "logger=none"])
    with pytest.raises(ConfigError, match="model=perceptron"):
        validate_config(cfg)


def test_ratio_and_delta_change_the_run_id_and_records_carry_the_compute(_isolated_env):
    ids = {run_id(compose([*TINY, *INFOBATCH, *o])) for o in ([], ["prune.ratio=0.3"], ["prune.delta=0.5"])}
    assert len(ids) == 3
    rec = run_pipeline(compose([*TINY, "prune=infobatch", "metric=random", "prune.keep=0.5", "train.epochs=3"]))
    assert rec["status"] == "ok" and rec["strategy"] == "infobatch" and rec["n_train"] == 150
    assert rec["extra"]["infobatch"]["static"] == "keep_hard"
    assert rec["examples_seen"] == sum(rec["extra"]["infobatch"]["examples_per_epoch"])
    assert rec["repetitions"] == pytest.approx(rec["examples_seen"] / 150) and rec["train_flops"] > 0


@pytest.mark.parametrize(
    "extra",
    [
        ["prune=infobatch", "metric=random"],
        ["prune=infobatch", "metric=none", "prune.keep=1.0"],
        ["metric=el2n", "prune.strategy=keep_hard,keep_easy"],
    ],
)
def test_every_job_of_the_compute_preset_validates(extra):
    """scripts/mnist1d_compute.sh's InfoBatch and EL2N sweeps (test_presets covers the preset's own sweep)."""
    from conftest import REPO
    from hydra import initialize_config_dir
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    from bench.hydra_callbacks import compose_jobs
    from bench.run import to_plain

    params = OmegaConf.load(REPO / "conf" / "experiment" / "mnist1d_compute.yaml").hydra.sweeper.params
    # as Hydra's sweeper orders them: the preset's sweep, then the command line's (which wins on a shared key)
    strings = [f"{k}={v}" for k, v in params.items()] + ["experiment=mnist1d_compute", *extra]
    parsed = OverridesParser.create().parse_overrides(strings)
    jobs = [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
    assert len(jobs) == (15 if "prune.keep=1.0" in extra else 60 * (2 if "el2n" in extra[0] else 1))
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfgs = [to_plain(cfg) for _, cfg in compose_jobs(jobs)]
    for cfg in cfgs:
        validate_config(cfg)
    assert {c["train"]["budget"] for c in cfgs} == {"steps"} and {c["dataset"]["pool_size"] for c in cfgs} == {8000}
    assert cfgs[0]["paths"]["results_dir"].endswith("results/mnist1d_compute/records")
