"""Embedded datasets that need no download: mnist1d (procedural) and scikit-learn's 8x8 digits."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from bench.data import DATASETS, DatasetError, Splits
from bench.scores import atomic_write_bytes


def default_cache_dir() -> Path:
    """Where generated datasets are cached: $BENCH_CACHE, else ~/.cache/bench."""
    return Path(os.environ.get("BENCH_CACHE", Path.home() / ".cache" / "bench"))


def _save_npz_atomic(path: Path, **arrays: np.ndarray) -> None:

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


@DATASETS.register("mnist1d")
def mnist1d(
    n_train: int = 20000,
    n_test: int = 4000,
    data_seed: int = 42,
    cache_dir: Optional[str] = None,
    augment: str = "none",
    **_: object,
) -> Splits:
    """MNIST-1D (Greydanus 2020) generated with ``mnist1d.data.make_dataset``: 10 classes, 40-long sequences.

    The train/test split is generated once per (n_train, n_test, data_seed) and cached as an .npz.
    """
    for key, val in (("n_train", n_train), ("n_test", n_test)):
        if int(val) < 10:
            raise DatasetError(f"dataset.{key}={val} is not allowed: mnist1d needs at least 10 examples")
    path = Path(cache_dir or default_cache_dir()) / f"mnist1d_{n_train}_{n_test}_{data_seed}.npz"
    arrays = None
    if path.exists():
        try:
            with np.load(path) as f:
                arrays = {k: f[k] for k in ("x", "y", "x_test", "y_test")}
        except Exception:  # corrupt cache: regenerate (it is derived data)
            arrays = None
    if arrays is None:
        from mnist1d.data import get_dataset_args, make_dataset  # never get_dataset: it downloads

        args = get_dataset_args()
        total = n_train + n_test
        # make_dataset draws num_samples // 10 per class; ask for enough and cut exactly.
        args.num_samples = int(np.ceil(total / 10) * 10)
        args.train_split = 1.0
        args.seed = data_seed
        d = make_dataset(args)
        x, y = d["x"].astype(np.float32), d["y"].astype(np.int64)
        arrays = {"x": x[:n_train], "y": y[:n_train], "x_test": x[n_train:total], "y_test": y[n_train:total]}
        _save_npz_atomic(path, **arrays)
    return Splits(
        name="mnist1d",
        num_classes=10,
        input_shape=(1, 40),
        train_x=torch.from_numpy(arrays["x"]).unsqueeze(1),
        train_y=torch.from_numpy(arrays["y"]),
        test_x=torch.from_numpy(arrays["x_test"]).unsqueeze(1),
        test_y=torch.from_numpy(arrays["y_test"]),
        augment=augment,
    )


@DATASETS.register("digits")
def digits(test_fraction: float = 0.25, split_seed: int = 0, augment: str = "none", **_: object) -> Splits:
    """scikit-learn's 8x8 digits (1,797 images), a fixed stratified train/test split; pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise DatasetError(f"dataset.test_fraction={test_fraction} is not allowed: it must lie in (0, 1)")
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]  # (n, 1, 8, 8)
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_fraction, random_state=split_seed, stratify=y)
    return Splits(
        name="digits",
        num_classes=10,
        input_shape=(1, 8, 8),
        train_x=torch.from_numpy(xtr),
        train_y=torch.from_numpy(ytr),
        test_x=torch.from_numpy(xte),
        test_y=torch.from_numpy(yte),
        augment=augment,
    )
