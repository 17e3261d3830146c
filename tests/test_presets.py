"""The paper presets compose, every job of their sweeps validates, and they run on tiny real-format data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import REPO, compose, write_cifar10, write_image_folder

from bench.config import validate_config
from bench.hydra_callbacks import compose_jobs
from bench.run import run_pipeline, to_plain

PRESETS = {
    "quickstart": [],
    "mnist1d_scaling": [],
    "mnist1d_compute": [],
    "perceptron_theory": [],
    "perceptron_probe": [],
    "cifar10_paper": ["dataset.root=/data/cifar"],
    "cifar10_airbench": ["dataset.root=/data/cifar"],
    "cifar10_vit_finetune": ["dataset.root=/data/cifar"],
    "imagenet_paper": ["dataset.root=/data/imagenet", "metric.checkpoint=/ckpt/swav.pth"],
}


def _sweep_jobs(preset: str, extra: list[str]) -> list[list[str]]:
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(REPO / "conf" / "experiment" / f"{preset}.yaml")
    params = OmegaConf.select(cfg, "hydra.sweeper.params") or {}
    strings = [f"experiment={preset}", *extra] + [f"{k}={v}" for k, v in params.items()]
    parsed = OverridesParser.create().parse_overrides(strings)
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_job_of_each_preset_validates(preset, monkeypatch):
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    monkeypatch.setattr("pathlib.Path.is_file", lambda self: True)  # checkpoints named in presets
    jobs = _sweep_jobs(preset, PRESETS[preset])
    assert len(jobs) >= 2
    jobs = jobs[:: max(1, len(jobs) // 48)]  # big sweeps: an even spread of ~48 jobs (every metric block)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        for _, cfg in compose_jobs(jobs):
            validate_config(to_plain(cfg))


def test_imagenet_preset_recipe_reaches_the_optimiser(tmp_path, monkeypatch):
    """What the student's optimiser and schedule do under the preset (not what its yaml says): SGD with Nesterov
    momentum, lr 0.1 per 256 examples, weight decay on conv/linear weights only, lr / 10 at epochs 30, 60, 90, 100
    of 105; a ResNet-50 with the ImageNet stem; the metric scores with a checkpoint encoder."""
    import bench.train
    from bench.metrics.probe import MetricError

    write_image_folder(tmp_path, per_class=(10, 2))
    seen = {}

    def stop(lit, *args, **kwargs):
        seen["lit"] = lit
        raise RuntimeError("stopped before training")

    monkeypatch.setattr(bench.train, "_fit", stop)
    base = [
        "experiment=imagenet_paper",
        f"dataset.root={tmp_path}",
        "dataset.image_size=32",
        "dataset.test_resize=36",
        "logger=none",
    ]
    rec = run_pipeline(compose([*base, "metric=random", "train.batch_size=128"]))  # 30 images: 1 step per epoch
    assert rec["status"] == "failed" and "stopped before training" in rec["reason"]
    lit = seen["lit"]
    assert isinstance(lit.model.maxpool, torch.nn.MaxPool2d)  # ImageNet stem, not the CIFAR one
    conf = lit.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    assert isinstance(opt, torch.optim.SGD)
    for g in opt.param_groups:
        assert g["nesterov"] and g["momentum"] == 0.9 and g["lr"] == pytest.approx(0.1 * 128 / 256)
    decay = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    assert lit.model.conv1.weight.ndim == 4 and id(lit.model.conv1.weight) in decay
    assert opt.param_groups[0]["weight_decay"] == pytest.approx(1e-4)
    bn = [p for m in lit.model.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters()]
    assert bn and not any(id(p) in decay for p in bn) and id(lit.model.fc.bias) not in decay
    factor = sched.lr_lambdas[0]
    assert [factor(e) for e in (0, 29, 30, 59, 60, 89, 90, 99, 100, 104)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01, 1e-3, 1e-3, 1e-4, 1e-4]
    )
    with pytest.raises(MetricError, match="checkpoint"):  # the preset's metric needs the SwAV checkpoint
        run_pipeline(compose([*base, f"metric.checkpoint={tmp_path}/no_swav.pth", "metric.k=3", "prune.keep=0.6"]))


def test_cifar10_paper_dry_run_on_real_format_files(tmp_path):
    write_cifar10(tmp_path, n_train_per_batch=40)
    rec = run_pipeline(
        compose(
            [
                "experiment=cifar10_paper",
                f"dataset.root={tmp_path}",
                "metric=random",
                "dataset.pool_size=100",
                "prune.keep=0.3",
                "dry_run=true",
                "logger=none",
            ]
        )
    )
    assert rec["status"] == "dry_run" and rec["n_train"] == 30 and rec["model"] == "resnet18"


def test_imagenet_paper_dry_run_on_an_image_folder(tmp_path):
    write_image_folder(tmp_path, per_class=(10, 2))
    rec = run_pipeline(
        compose(
            [
                "experiment=imagenet_paper",
                f"dataset.root={tmp_path}",
                "dataset.image_size=32",
                "dataset.test_resize=36",
                "metric=random",
                "prune.keep=0.6",
                "dry_run=true",
                "logger=none",
            ]
        )
    )
    assert rec["status"] == "dry_run" and rec["n_train"] == 18
    assert rec["class_hist_kept"] == [6, 6, 6]  # class-balanced


def test_vit_finetune_path_trains_from_a_local_checkpoint_with_resize(tmp_path):
    """The fine-tuning preset's path at toy size: CIFAR files, a ViT from a local checkpoint with a different
    head, images resized on the device."""
    from bench.models import create_model

    write_cifar10(tmp_path)
    vit = dict(timm_name=None, patch_size=16, embed_dim=32, depth=1, num_heads=2)
    src = create_model("vit", 100, (3, 48, 48), **vit)
    torch.save(src.state_dict(), tmp_path / "vit.pt")
    overrides = [
        "experiment=cifar10_vit_finetune",
        f"dataset.root={tmp_path}",
        "metric=random",
        "dataset.resize=48",
        f"model.checkpoint={tmp_path / 'vit.pt'}",
        "model.timm_name=null",
        "model.embed_dim=32",
        "model.depth=1",
        "model.num_heads=2",
        "train.epochs=1",
        "train.batch_size=16",
        "train.progress_bar=false",
        "logger=none",
        "prune.keep=0.5",
    ]
    rec = run_pipeline(compose(overrides))
    assert rec["status"] == "ok" and rec["n_train"] == 50 and np.isfinite(rec["test_loss"])
