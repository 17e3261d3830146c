"""Students: forward shapes, a real training step on tiny inputs, checkpoints, batched augmentation, budgets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.data import Splits, make_pool
from bench.models import create_model
from bench.train import plan_steps, train_student
from bench.train.data import TensorBatches, batch_crop, batch_flip
from bench.train.module import lr_factor

FAST = {"epochs": 1, "min_steps": 0, "batch_size": 16, "progress_bar": False, "lr": 0.01}


def _image_splits(n=48, shape=(3, 32, 32), classes=4, seed=0) -> Splits:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)
    y = torch.arange(n) % classes
    return Splits(
        name="synthetic",
        num_classes=classes,
        input_shape=shape,
        train_x=x,
        train_y=y,
        test_x=x[:16],
        test_y=y[:16],
        mean=(0.5,) * shape[0],
        std=(0.25,) * shape[0],
        augment="crop_flip",
    )


def _one_step_changes_weights(model_cfg, splits):
    """Train one epoch (3 steps) and check that every trainable parameter tensor moved off its initial value."""
    import bench.train

    build, initial = bench.train._build_model, {}

    def snapshot_build(*args, **kwargs):
        model, channels_last = build(*args, **kwargs)
        initial.update({k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad})
        return model, channels_last

    pool = make_pool(splits, None, 0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bench.train, "_build_model", snapshot_build)
        out = train_student(splits, pool, np.arange(len(pool)), model_cfg, {**FAST, "epochs": 1}, seed=0)
    assert out["steps"] == 3 and np.isfinite(out["test_loss"]) and len(out["curve"]) == 1
    trained = dict(out["model"].named_parameters())
    assert initial and set(initial) == {k for k, v in trained.items() if v.requires_grad}
    unchanged = [k for k, v in initial.items() if torch.equal(v, trained[k].detach().to(v.device))]
    assert not unchanged, f"training left these parameters at their initial values: {unchanged}"
    return out


def test_resnet18_trains_on_cifar_shaped_data():
    out = _one_step_changes_weights({"name": "resnet18"}, _image_splits())
    assert isinstance(out["model"].maxpool, torch.nn.Identity)  # CIFAR stem


def test_vit_trains_on_8x8_digits_and_32x32():
    _one_step_changes_weights(
        {"name": "vit", "patch_size": 2, "embed_dim": 32, "depth": 1, "num_heads": 2}, _image_splits(shape=(1, 8, 8))
    )
    _one_step_changes_weights(
        {"name": "vit", "patch_size": 8, "embed_dim": 32, "depth": 1, "num_heads": 2}, _image_splits(shape=(3, 32, 32))
    )


def test_vit_rejects_bad_patch_size():
    with pytest.raises(ValueError, match="patch_size=3"):
        create_model("vit", 10, (1, 8, 8), patch_size=3)


def test_checkpoint_loads_backbone_and_skips_new_head(tmp_path):
    src = create_model("vit", 100, (3, 32, 32), patch_size=8, embed_dim=32, depth=1, num_heads=2)
    torch.save({"state_dict": {f"model.{k}": v for k, v in src.state_dict().items()}}, tmp_path / "w.ckpt")
    dst = create_model(
        "vit", 10, (3, 32, 32), patch_size=8, embed_dim=32, depth=1, num_heads=2, checkpoint=str(tmp_path / "w.ckpt")
    )
    assert torch.equal(dst.patch_embed.proj.weight, src.patch_embed.proj.weight)
    assert dst.head.weight.shape == (10, 32)
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        create_model("mlp", 10, (4,), checkpoint=str(tmp_path / "nope.pt"))


def test_batched_crop_and_flip_are_per_example():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4).repeat(8, 1, 1, 1)
    c = batch_crop(x, 1, g)
    assert c.shape == x.shape
    # each crop is a shifted window of its own zero-padded image
    xp = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for i in range(x.shape[0]):
        assert any(torch.equal(c[i], xp[i, :, dy : dy + 4, dx : dx + 4]) for dy in range(3) for dx in range(3))
    f = batch_flip(x, g)
    flipped = [torch.equal(f[i], x[i].flip(-1)) for i in range(x.shape[0])]
    assert 0 < sum(flipped) < x.shape[0]


def test_tensor_batches_cover_every_example_once_per_epoch():
    x = torch.arange(10, dtype=torch.float32).view(10, 1)
    seen = torch.cat([pos for _, _, pos in TensorBatches(x, torch.zeros(10, dtype=torch.long), 3, shuffle=True)])
    assert sorted(seen.tolist()) == list(range(10)) and len(TensorBatches(x, x, 3, True)) == 4


def test_budgets_epochs_vs_steps():
    cfg = {"batch_size": 10, "epochs": 4, "budget": "epochs"}
    assert plan_steps(30, 100, cfg) == (12, 3)  # 30% of the data -> 30% of the steps
    assert plan_steps(30, 100, {**cfg, "budget": "steps"}) == (40, 3)  # as many steps as the full pool
    assert plan_steps(30, 100, {**cfg, "budget": "steps", "steps": 7}) == (7, 3)


def test_steps_budget_trains_as_long_as_full_pool():
    s = _image_splits(n=40, shape=(1, 8, 8))
    pool = make_pool(s, None, 0)
    kept = np.arange(10)
    cfg = {**FAST, "epochs": 2, "batch_size": 10, "budget": "steps"}
    out = train_student(s, pool, kept, {"name": "mlp", "hidden": [8]}, cfg, seed=0)
    assert out["steps"] == 8 and out["epochs"] == 8.0 and len(out["curve"]) == 2


def test_lr_schedules():
    assert lr_factor(0, 100, "cosine", 0.0, (), 0.1) == 1.0
    assert lr_factor(100, 100, "cosine", 0.0, (), 0.1) == pytest.approx(0.0)
    assert lr_factor(4, 100, "cosine", 0.1, (), 0.1) == pytest.approx(0.5)
    assert lr_factor(75, 100, "multistep", 0.0, (0.5, 0.7), 0.1) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="allowed"):
        lr_factor(0, 10, "wiggly", 0.0, (), 0.1)
