"""The GPU paths: bf16 autocast, channels_last and CUDA-resident data. Marked ``gpu``: skipped without CUDA, run
wherever a GPU exists (``pytest -m gpu``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_models_train import FAST, _image_splits

from bench.data import make_pool
from bench.train import resolve_device, resolve_precision, train_student

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: the GPU paths have nothing to run on here"),
]


def test_auto_settings_pick_the_gpu_paths():
    device = resolve_device("auto")
    assert device.type == "cuda"
    assert resolve_precision("auto", device) in ("bf16-mixed", "16-mixed")


def test_training_on_the_gpu_uses_mixed_precision_and_channels_last():
    splits = _image_splits(n=64)
    pool = make_pool(splits, None, 0)
    cfg = {**FAST, "accelerator": "auto"}
    out = train_student(splits, pool, np.arange(len(pool)), {"name": "resnet18"}, cfg, seed=0)
    assert str(out["device"]).startswith("cuda")
    assert out["precision"] in ("bf16-mixed", "16-mixed")
    assert out["channels_last"] is True  # "auto": on for image models on a GPU
    assert np.isfinite(out["test_error"]) and np.isfinite(out["train_loss"])


def test_resident_batches_live_on_the_gpu_in_channels_last():
    from bench.train.data import TensorBatches

    splits = _image_splits(n=64)
    x, y = splits.train_x.cuda(), splits.train_y.cuda()
    batches = TensorBatches(
        x, y, 16, shuffle=True, augment_kind="crop_flip", mean=splits.mean, std=splits.std, channels_last=True
    )
    xb, yb = next(iter(batches))[:2]
    assert xb.device.type == "cuda" and yb.device.type == "cuda" and xb.shape == (16, 3, 32, 32)
    assert xb.is_contiguous(memory_format=torch.channels_last)
