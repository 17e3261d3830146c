"""The airbench student and recipe: the whitening layer whitens, a step lowers the loss, the optimiser and schedule
are airbench94's, the batches alternate flips, bad settings are rejected, and a run goes end to end (and resumes)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import compose, write_cifar10

from bench.airbench import AirbenchNet, patches, whitening_weights
from bench.config import validate_config
from bench.data import Splits, make_pool
from bench.errors import ConfigError
from bench.models import create_model, data_init_positions
from bench.train import TRAIN_DEFAULTS, plan_steps, train_student
from bench.train.data import ALTERNATING, TensorBatches
from bench.train.module import LitClassifier
from bench.train.optim import SCHEDULES
from bench.train.recipe import Lookahead, recipe_batch_size, tta_logits


def _smooth_images(n: int, seed: int = 0) -> torch.Tensor:
    """Normalised images with correlated neighbouring pixels and channels (as natural images have)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, 1, 34, 34, generator=g)
    x = torch.nn.functional.avg_pool2d(base, 3, stride=1)  # spatially correlated, 32x32
    noise = torch.randn(n, 2, 32, 32, generator=g)
    return torch.cat([x, 0.8 * x + 0.2 * noise[:, :1], 0.5 * noise[:, 1:] - x], 1) + 0.3


def test_whitening_layer_whitens_the_kept_images():
    x = _smooth_images(200)
    raw = patches(x)
    moment = raw.T @ raw / raw.shape[0]
    assert (moment - torch.eye(12, dtype=moment.dtype)).abs().max() > 0.5  # far from white before
    net = AirbenchNet(width=0.25)
    assert net.whiten.weight.abs().max() == 0 and not net.whiten.weight.requires_grad
    net.init_from_data(x)
    with torch.no_grad():
        out = torch.nn.functional.conv2d(x, net.whiten.weight[:12]).double()  # the first half; the rest = -it
    flat = out.permute(0, 2, 3, 1).reshape(-1, 12)
    cov = flat.T @ flat / flat.shape[0]
    off = cov - torch.diag(cov.diag())
    assert off.abs().max() < 1e-4 and ((cov.diag() > 0.9) & (cov.diag() <= 1.0)).all(), cov.diag()  # eps 5e-4 shrinks
    exact = torch.nn.functional.conv2d(x.double(), whitening_weights(x, eps=0.0)).permute(0, 2, 3, 1).reshape(-1, 12)
    assert torch.allclose(exact.T @ exact / exact.shape[0], torch.eye(12, dtype=torch.float64), atol=1e-6)
    assert torch.equal(net.whiten.weight[12:], -net.whiten.weight[:12])


def test_data_init_reads_a_seeded_subset_of_at_most_5000():
    assert np.array_equal(data_init_positions(300, seed=0), np.arange(300))
    a, b, c = (data_init_positions(20000, seed=s) for s in (0, 0, 1))
    assert len(a) == 5000 and np.array_equal(a, b) and not np.array_equal(a, c) and np.all(np.diff(a) > 0)


def test_network_shape_width_and_frozen_parts():
    net = create_model("airbench", 10, (3, 32, 32), width=0.5)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert [g.conv2.out_channels for g in (net.group1, net.group2, net.group3)] == [32, 128, 128]
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 6 and all(not m.weight.requires_grad and m.bias.requires_grad for m in bns)
    assert all(m.eps == 1e-12 and m.momentum == pytest.approx(0.4) for m in bns)
    assert net.head.bias is None and net.scaling == pytest.approx(1 / 9)
    assert net.frozen_parameters(2.99) == [] and net.frozen_parameters(3.0) == [net.whiten.bias]
    with pytest.raises(ValueError, match="needs images"):
        create_model("airbench", 10, (40,))


def _recipe(**over) -> dict:
    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "conf/train/airbench.yaml").read_text())
    cfg.pop("defaults")
    return {**TRAIN_DEFAULTS, **cfg, "progress_bar": False, "checkpoint_every": None, **over}


def _lit(model, cfg, total=100, spe=10):
    return LitClassifier(
        model,
        optimizer=cfg["optimizer"],
        lr=cfg["lr"],
        momentum=cfg["momentum"],
        weight_decay=cfg["weight_decay"],
        schedule=cfg["schedule"],
        warmup=cfg["warmup"],
        label_smoothing=cfg["label_smoothing"],
        total_steps=total,
        steps_per_epoch=spe,
        recipe={k: cfg[k] for k in ("batch_size", "bias_lr_scale", "lr_start_factor", "lr_end_factor")},
    )


def test_optimiser_groups_and_schedule_are_airbench94s():
    cfg = _recipe(batch_size=512)
    net = AirbenchNet(width=0.25)
    conf = _lit(net, cfg, total=476).configure_optimizers()
    opt = conf["optimizer"]
    assert isinstance(opt, torch.optim.SGD) and len(opt.param_groups) == 2
    bn_bias = {id(m.bias) for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    norm, other = opt.param_groups
    assert {id(p) for p in norm["params"]} == bn_bias
    trainable = {id(p) for p in net.parameters() if p.requires_grad}
    assert {id(p) for p in other["params"]} == trainable - bn_bias and id(net.whiten.bias) in trainable
    kilostep = 1024 * (1 + 1 / (1 - 0.85))
    # airbench: lr 11.5 / kilostep on the summed loss = x batch on our mean loss; biases x 64
    assert other["initial_lr"] == pytest.approx(11.5 / kilostep * 512)
    assert norm["initial_lr"] == pytest.approx(11.5 / kilostep * 512 * 64)
    for g in (norm, other):  # the same decay per step on every parameter: 0.0153 per 1024 examples
        assert g["initial_lr"] * g["weight_decay"] == pytest.approx(0.0153 * 512 / kilostep)
        assert g["momentum"] == 0.85 and g["nesterov"] and g["dampening"] == 0
    assert other["lr"] == pytest.approx(0.2 * other["initial_lr"])  # the schedule starts at 0.2
    f = SCHEDULES.get("triangular")
    hp = {"warmup": 0.23, "lr_start_factor": 0.2, "lr_end_factor": 0.07}
    assert [f(s, 476, hp) for s in (0, 109, 476)] == pytest.approx([0.2, 1.0, 0.07])  # int(476 * 0.23) = 109
    assert f(54.5, 476, hp) == pytest.approx(0.6)


def test_a_training_step_lowers_the_loss_on_a_tiny_batch():
    torch.manual_seed(0)
    cfg = _recipe(batch_size=32)
    net = AirbenchNet(num_classes=4, width=0.25)
    x, y = _smooth_images(32), torch.arange(32) % 4
    net.init_from_data(x)
    opt = _lit(net, cfg).configure_optimizers()["optimizer"]
    ce = torch.nn.CrossEntropyLoss(label_smoothing=0.2)
    before = ce(net(x), y).item()
    for _ in range(5):
        opt.zero_grad()
        ce(net(x), y).backward()
        opt.step()
    assert ce(net(x), y).item() < before - 0.05


def test_steps_batch_and_fractional_epochs():
    cfg = _recipe(min_steps=0)
    assert plan_steps(50000, 50000, cfg) == (476, 48)  # airbench94: ceil(48 x 9.9), last partial batch dropped
    assert recipe_batch_size(1024, 50000, 4) == 1024 and recipe_batch_size(1024, 1000, 4) == 250
    assert recipe_batch_size(1024, 1001, 4, world=4) == 248 and recipe_batch_size(1024, 30, None) == 1024
    small = {**cfg, "batch_size": 250, "min_steps": 200}
    assert plan_steps(1000, 1000, small) == (200, 4)  # 40 budget steps under the floor
    assert plan_steps(30, 30, {**TRAIN_DEFAULTS, "epochs": 3, "batch_size": 16, "min_steps": 0}) == (
        6,
        2,
    )  # integer epochs as before


def test_flips_alternate_epoch_to_epoch_with_translation():
    ramp = torch.arange(32, dtype=torch.float32).expand(64, 3, 32, 32).contiguous()  # increasing left to right
    tb = TensorBatches(ramp, torch.zeros(64, dtype=torch.long), 16, shuffle=True, seed=3, augment_kind=ALTERNATING)
    flipped = []
    for _ in range(3):
        seen = torch.zeros(64, dtype=torch.bool)
        for xb, _, pos in tb:
            centre = xb[:, 0, 16, 17] - xb[:, 0, 16, 14]  # a reflect-padded shift of <= 2 px keeps the slope's sign
            seen[pos] = centre < 0
        flipped.append(seen)
    assert 10 < int(flipped[0].sum()) < 54  # about half flipped in epoch 0
    assert torch.equal(flipped[1], ~flipped[0]) and torch.equal(flipped[2], flipped[0])


def test_lookahead_ends_on_the_average_and_tta_levels():
    net = torch.nn.Linear(4, 2)
    la = Lookahead(every=5, decay=0.95, power=3.0)
    la.start(net)
    start = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    la.after_step(net, 5, 10)  # d = 0.95^5 x 0.5^3: the average moves 1 - d of the way
    d = 0.95**5 * 0.5**3
    assert torch.allclose(net.weight, start + (1 - d)) and torch.allclose(la.ema["weight"], net.weight)
    state = la.state_dict()
    with torch.no_grad():
        net.weight.add_(1.0)
    la.after_step(net, 10, 10)  # the last step: d = 0.95^5, then the model is the average
    d = 0.95**5
    assert torch.allclose(net.weight, start + (1 - 0.95**5 * 0.5**3) + (1 - d))
    other = Lookahead(5, 0.95, 3.0)
    other.load_state_dict(state)
    assert torch.equal(other.ema["weight"], state["weight"])
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 3))
    x = torch.randn(4, 3, 8, 8)
    assert torch.equal(tta_logits(model, x, 0), model(x))
    assert torch.allclose(tta_logits(model, x, 1), 0.5 * (model(x) + model(x.flip(-1))))
    sym = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 3))
    with torch.no_grad():
        sym[1].weight.fill_(0.01)  # invariant to flips; reflect translations change only the border
    assert tta_logits(sym, x, 2).shape == (4, 3)


def _splits(n=96, classes=4) -> Splits:
    x = (_smooth_images(n) * 40 + 128).clamp(0, 255).to(torch.uint8)
    y = torch.arange(n) % classes
    return Splits(
        name="synthetic",
        num_classes=classes,
        input_shape=(3, 32, 32),
        train_x=x,
        train_y=y,
        test_x=x[:32],
        test_y=y[:32],
        mean=(0.5,) * 3,
        std=(0.25,) * 3,
        augment="crop_flip",
    )


def test_train_student_with_the_recipe_records_tta_and_the_batch():
    s = _splits()
    pool = make_pool(s, None, 0)
    out = train_student(
        s, pool, np.arange(96), {"name": "airbench", "width": 0.125}, _recipe(min_steps=12, epochs=2), seed=0
    )
    assert out["steps"] == 12 and out["steps_floor_applied"] and out["steps_per_epoch"] == 4
    assert out["extra"]["batch_size"] == 24
    assert out["extra"]["data_init_images"] == 96 and out["extra"]["tta"]["level"] == 2
    tta = out["extra"]["tta"]
    assert tta["test_error_without_tta"] == out["curve"][-1]["test_error"]
    assert math.isfinite(out["test_loss"]) and 0 <= out["test_error"] <= 1
    assert out["model"].whiten.weight.abs().sum() > 0  # set from the kept images


def test_bad_recipe_settings_are_rejected_before_training():
    base = ["model=airbench", "train=airbench", "logger=none"]
    validate_config(compose(base))  # the preset itself is valid
    for override, match in (
        ("train.tta=3", r"train.tta=3; allowed: 0 \(none\)"),
        ("train.min_batches=0", "train.min_batches=0 is not allowed"),
        ("train.epochs=0", "train.epochs=0 is not allowed: a positive number"),
        ("train.optimizer=lamb", "unknown train.optimizer 'lamb'; allowed: adam, adamw, airbench_sgd, sgd"),
        ("train.schedule=wiggly", "allowed: constant, cosine, linear, multistep, triangular"),
        ("train.augment=mixup", "train.augment='mixup'; allowed: null, none"),
        ("train.lookahead_decay=1.5", r"train.lookahead_decay=1.5 is not allowed: a number in \[0.0, 1.0\]"),
    ):
        with pytest.raises(ConfigError, match=match):
            validate_config(compose([*base, override]))


def test_end_to_end_run_on_cifar_format_files(tmp_path):
    from bench.run import run_pipeline

    root = write_cifar10(tmp_path / "cifar")
    cfg = compose(
        [
            "dataset=cifar10",
            f"dataset.root={tmp_path / 'cifar'}",
            "model=airbench",
            "model.width=0.125",
            "train=airbench",
            "train.epochs=1",
            "train.min_steps=6",
            "train.progress_bar=false",
            "logger=none",
        ]
    )
    assert root.exists()
    rec = run_pipeline(cfg)
    assert rec["status"] == "ok" and rec["steps"] == 6 and rec["extra"]["tta"]["level"] == 2
    assert rec["extra"]["batch_size"] == 25 and rec["train_flops"] > 0  # 100 kept images / 4


def test_airbench_as_a_metric_probe_model():
    from bench.metrics.probe import PROBE_DEFAULTS, PoolData, build_members, train_ensemble

    s = _splits(48)
    data = PoolData(s.train_x, s.train_y, s.mean, s.std, "crop_flip", 4, (3, 32, 32))
    members = build_members({"name": "airbench", "width": 0.125}, 4, (3, 32, 32), 2, 0, "t", data)
    w0, w1 = (m.whiten.weight for m in members)
    assert w0.abs().sum() > 0 and torch.equal(w0, w1)  # set from the pool, the same for every member
    assert not torch.equal(members[0].head.weight, members[1].head.weight)  # members' own initialisations
    p = {**PROBE_DEFAULTS, "batch_size": 16, "lr": 0.01}
    ens = train_ensemble(data, members, p, 1, 1, 0, "t")  # auto on the CPU: one at a time, in channels_last
    logits = ens.logits(data)
    assert not ens.vectorised and logits.shape == (2, 48, 4) and torch.isfinite(logits).all()
    assert members[0].group1.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    fresh = build_members({"name": "airbench", "width": 0.125}, 4, (3, 32, 32), 2, 0, "t", data)
    vmapped = train_ensemble(data, fresh, {**p, "vectorise": "true"}, 1, 1, 0, "t")
    assert vmapped.vectorised and torch.isfinite(vmapped.logits(data)).all()


def test_airbench_as_the_simclr_encoder_of_the_prototype_metrics_is_whitened_from_the_pool():
    """SSP / supervised prototypes train the student as a SimCLR encoder: its frozen whitening layer must be set
    from the pool, as a student's is (left at zero it would feed constants to the rest of the network)."""
    from types import SimpleNamespace

    from bench.metrics.embed import train_simclr
    from bench.metrics.probe import PoolData
    from bench.metrics.prototypes import SSP_DEFAULTS

    s = _splits(48)
    data = PoolData(s.train_x, s.train_y, s.mean, s.std, "crop_flip", 4, (3, 32, 32))
    ctx = SimpleNamespace(model={"name": "airbench", "width": 0.125}, seed=0, progress=False)
    p = {**SSP_DEFAULTS, "ssl_epochs": 1, "ssl_batch_size": 16, "feature_dim": 8, "proj_dim": 4}
    encoder = train_simclr(ctx, data, p, "ssp")
    assert encoder.whiten.weight.abs().sum() > 0
    z = encoder(data.batch(torch.arange(8)))
    assert z.shape == (8, 8) and z.std(0).mean() > 1e-4  # features vary across images


def test_a_killed_airbench_run_resumes_to_the_uninterrupted_record(_isolated_env, tmp_path):
    """Lookahead average, alternating-flip epoch and whitening-bias freeze all travel through a checkpoint."""
    import json
    import os
    import signal
    import subprocess
    import sys

    from bench.run import run_pipeline

    write_cifar10(tmp_path / "cifar")
    args = [
        "dataset=cifar10",
        f"dataset.root={tmp_path / 'cifar'}",
        "model=airbench",
        "model.width=0.125",
        "model.whiten_bias_epochs=1",
        "train=airbench",
        "train.epochs=1",
        "train.min_steps=14",  # 4 steps of 25 per epoch: flips alternate, lookahead at 5 and 10, bias frozen at 4
        "train.num_threads=1",
        "train.deterministic=true",
        "train.progress_bar=false",
        "logger=none",
    ]
    home = _isolated_env
    env = {**os.environ, "BENCH_HOME": str(home), "BENCH_TEST_KILL_AT_STEP": "8"}
    cmd = [sys.executable, "-m", "bench.run", *args, "train.checkpoint_every=3steps"]
    proc = subprocess.run(cmd, cwd=home, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    env.pop("BENCH_TEST_KILL_AT_STEP")
    proc = subprocess.run(cmd, cwd=home, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "resuming from its checkpoint at step 6" in proc.stderr + proc.stdout
    (resumed,) = [json.loads(p.read_text()) for p in (home / "records").glob("*.json")]
    ref = run_pipeline(compose([*args, "train.checkpoint_every=null", f"paths.root={tmp_path / 'ref'}"]))
    assert resumed["curve"] == ref["curve"] and resumed["steps"] == 14
    assert resumed["test_error"] == ref["test_error"] and resumed["train_loss"] == ref["train_loss"]


def test_airbench_under_infobatch(tmp_path):
    from bench.run import run_pipeline

    write_cifar10(tmp_path / "cifar")
    base = [
        "dataset=cifar10",
        f"dataset.root={tmp_path / 'cifar'}",
        "model=airbench",
        "model.width=0.125",
        "train=airbench",
        "train.batch_size=20",
        "train.epochs=4",
        "train.min_steps=0",
        "train.progress_bar=false",
        "logger=none",
    ]
    rec = run_pipeline(compose([*base, "prune=infobatch", "metric=none", "prune.keep=1.0", "prune.ratio=0.5"]))
    assert rec["status"] == "ok", rec["reason"]
    per_epoch = rec["extra"]["infobatch"]["examples_per_epoch"]
    assert len(per_epoch) == 4 and per_epoch[0] == 100 and min(per_epoch) < 100  # later epochs pruned
    assert rec["extra"]["tta"]["level"] == 2 and math.isfinite(rec["test_loss"])


def test_airbench_on_two_ddp_processes(tmp_path):
    """DDP (2 spawned gloo processes): the whitening bias freeze (gradients dropped, not requires_grad), the
    lookahead and the final TTA evaluation run; the record has the 1-process plan's steps and examples."""
    from bench.run import run_pipeline

    write_cifar10(tmp_path / "cifar")
    args = [
        "dataset=cifar10",
        f"dataset.root={tmp_path / 'cifar'}",
        "model=airbench",
        "model.width=0.125",
        "model.whiten_bias_epochs=1",
        "train=airbench",
        "train.epochs=1",
        "train.min_steps=6",
        "train.num_threads=1",
        "train.progress_bar=false",
        "train.checkpoint_every=null",
        "train.devices=2",
        "logger=none",
    ]
    rec = run_pipeline(compose(args))
    assert rec["status"] == "ok", rec["reason"]
    assert rec["extra"]["world_size"] == 2 and rec["steps"] == 6 and rec["extra"]["batch_size"] == 24
    assert rec["examples_seen"] == 6 * 24 and rec["extra"]["tta"]["level"] == 2


def test_infobatch_accepts_a_kept_set_smaller_than_the_recipe_batch():
    """train=airbench shrinks the batch for small kept sets, so InfoBatch on 600 kept images is one of 4 batches of
    150, not 'smaller than one batch of 1024'; the default recipe still rejects it."""
    from bench.config import check_dynamic_kept
    from bench.errors import ConfigError

    cfg = {"prune": {"strategy": "infobatch"}, "train": {"batch_size": 1024, "min_batches": 4}}
    check_dynamic_kept(cfg, 600)
    with pytest.raises(ConfigError, match="smaller than one batch"):
        check_dynamic_kept({**cfg, "train": {"batch_size": 1024}}, 600)


def test_channels_last_auto_is_on_for_airbench_on_cpu_only_where_measured_faster():
    from bench.airbench import AirbenchNet
    from bench.models import auto_channels_last, create_model

    air, res = AirbenchNet(10, width=0.125), create_model("resnet18", 10, (3, 32, 32))
    assert auto_channels_last(air, "cpu", (3, 32, 32))
    assert not auto_channels_last(res, "cpu", (3, 32, 32))
    assert auto_channels_last(res, "cuda", (3, 32, 32))
    assert not auto_channels_last(create_model("cnn1d", 10, (1, 40)), "cuda", (1, 40))
    assert not auto_channels_last(air, "mps", (3, 32, 32))
