"""Shared fixtures: isolated output folders, offline wandb, tiny on-disk datasets in the real formats."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    """Every test writes under its own temp folder; wandb never touches the network."""
    home = tmp_path_factory.mktemp("bench_home")
    monkeypatch.setenv("BENCH_HOME", str(home))
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("BENCH_DATA", str(tmp_path_factory.getbasetemp() / "data"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    yield home


def placeholders(overrides: list[str]) -> list[str]:
    """Overrides that fill the mandatory values (``???``) the composed config leaves to the user, such as
    ``dataset.root`` or a checkpoint path, with placeholder paths (validation of those paths is stubbed by callers)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = hydra_compose(config_name="config", overrides=overrides)
    missing = []

    def walk(node, prefix):
        for key in node:
            path = f"{prefix}{key}"
            if OmegaConf.is_missing(node, key):
                missing.append(f"{path}=/placeholder/{path}")
            elif OmegaConf.is_dict(node[key]):
                walk(node[key], f"{path}.")

    walk(cfg, "")
    return [*overrides, *missing]


def compose(overrides: list[str]) -> dict:
    """The resolved plain config dict of ``python -m bench.run <overrides>``, composed in-process."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from bench.run import to_plain

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = hydra_compose(config_name="config", overrides=overrides, return_hydra_config=False)
    return to_plain(cfg)


TINY_MNIST1D = [
    "dataset=mnist1d",
    "dataset.n_train=600",
    "dataset.n_test=200",
    "model=mlp",
    "model.hidden=[32]",
    "train.epochs=1",
    "train.min_steps=0",
    "train.batch_size=64",
    "train.progress_bar=false",
    "logger=none",
]


def write_cifar10(root: Path, n_train_per_batch: int = 20, n_test: int = 30, seed: int = 0) -> Path:
    """A tiny CIFAR-10 in torchvision's on-disk format: <root>/cifar-10-batches-py/data_batch_{1..5}, test_batch."""
    rng = np.random.default_rng(seed)
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True, exist_ok=True)

    def batch(n):
        return {
            "batch_label": "tiny",
            "labels": rng.integers(0, 10, n).tolist(),
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "filenames": [f"{i}.png" for i in range(n)],
        }

    for i in range(1, 6):
        with open(base / f"data_batch_{i}", "wb") as f:
            pickle.dump(batch(n_train_per_batch), f)
    with open(base / "test_batch", "wb") as f:
        pickle.dump(batch(n_test), f)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [str(i) for i in range(10)]}, f)
    return base


def write_cifar100(root: Path, n_train: int = 200, n_test: int = 50, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    base = root / "cifar-100-python"
    base.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("test", n_test)):
        with open(base / name, "wb") as f:
            pickle.dump(
                {
                    "fine_labels": rng.integers(0, 100, n).tolist(),
                    "coarse_labels": rng.integers(0, 20, n).tolist(),
                    "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                },
                f,
            )
    return base


def write_svhn(root: Path, n_train: int = 60, n_test: int = 20, seed: int = 0) -> Path:
    """train_32x32.mat / test_32x32.mat as SVHN stores them: X (32, 32, 3, n) uint8, y (n, 1) with 10 for zero."""
    import scipy.io

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("test", n_test)):
        scipy.io.savemat(
            str(root / f"{name}_32x32.mat"),
            {
                "X": rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8),
                "y": rng.integers(1, 11, (n, 1)).astype(np.uint8),
            },
        )
    return root


def write_image_folder(root: Path, classes=("ant", "bee", "cat"), per_class=(6, 3), size=40, seed=0) -> Path:
    """An ImageNet-style root: <root>/train/<class>/*.png and <root>/val/<class>/*.png."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, n in zip(("train", "val"), per_class):
        for c in classes:
            d = root / split / c
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(d / f"{c}_{i}.png")
    return root
