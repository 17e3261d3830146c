"""CIFAR-10, CIFAR-100 and SVHN from torchvision's on-disk formats, held in memory as uint8 tensors.

Users online pass ``download=true`` and torchvision fetches (and md5-checks) the official files. Reading is done
here, from the same files, so that a missing root, a missing file or a corrupt/truncated one fails with a message
naming the path before any training.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from bench.data import DATASETS, DatasetError, Splits

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
SVHN_MEAN, SVHN_STD = (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)


def _require_root(name: str, root: Optional[str], download: bool, expected: list[Path]) -> Path:
    if root is None:
        raise DatasetError(f"dataset.root is not set: {name} needs a directory (and dataset.download=true to fetch it)")
    missing = [p for p in expected if not p.exists()]
    if missing and not download:
        raise DatasetError(
            f"{name} files not found: {missing[0]} is missing under dataset.root={root}. "
            f"Point dataset.root at a directory holding them, or set dataset.download=true to fetch them."
        )
    return Path(root)


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="latin1")
    except FileNotFoundError:
        raise DatasetError(f"{path} is missing") from None
    except Exception as e:  # truncated or not a pickle
        raise DatasetError(
            f"{path} is corrupt or truncated ({type(e).__name__}: {e}); delete it and re-download"
        ) from e


def _cifar_batches(paths: list[Path], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for p in paths:
        d = _unpickle(p)
        if "data" not in d or label_key not in d:
            raise DatasetError(f"{p} is corrupt: it lacks the 'data' or '{label_key}' entry of the CIFAR format")
        x = np.asarray(d["data"], dtype=np.uint8)
        y = np.asarray(d[label_key], dtype=np.int64)
        if x.ndim != 2 or x.shape[1] != 3072 or x.shape[0] != y.shape[0]:
            raise DatasetError(f"{p} is corrupt: data has shape {x.shape} for {y.shape[0]} labels (want (n, 3072))")
        xs.append(x.reshape(-1, 3, 32, 32))
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def _cifar(name: str, root, download, folder, train_files, test_files, label_key, num_classes, mean, std, tv_cls):
    base = Path(root) / folder if root is not None else Path(".")
    files = [base / f for f in train_files + test_files]
    root_path = _require_root(name, root, download, files)
    if download and any(not f.exists() for f in files):
        tv_cls(root=str(root_path), train=True, download=True)
        tv_cls(root=str(root_path), train=False, download=True)
    xtr, ytr = _cifar_batches([base / f for f in train_files], label_key)
    xte, yte = _cifar_batches([base / f for f in test_files], label_key)
    for y, split in ((ytr, "train"), (yte, "test")):
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise DatasetError(f"{name} {split} labels outside [0, {num_classes}) under {base}: corrupt files")
    return Splits(
        name=name,
        num_classes=num_classes,
        input_shape=(3, 32, 32),
        train_x=torch.from_numpy(xtr),
        train_y=torch.from_numpy(ytr),
        test_x=torch.from_numpy(xte),
        test_y=torch.from_numpy(yte),
        mean=mean,
        std=std,
        augment="crop_flip",
    )


@DATASETS.register("cifar10")
def cifar10(root: Optional[str] = None, download: bool = False, augment: str = "crop_flip", **_: object) -> Splits:
    """CIFAR-10 from ``<root>/cifar-10-batches-py`` (torchvision's layout)."""
    from torchvision.datasets import CIFAR10

    s = _cifar(
        "cifar10",
        root,
        download,
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        ["test_batch"],
        "labels",
        10,
        CIFAR10_MEAN,
        CIFAR10_STD,
        CIFAR10,
    )
    s.augment = augment
    return s


@DATASETS.register("cifar100")
def cifar100(root: Optional[str] = None, download: bool = False, augment: str = "crop_flip", **_: object) -> Splits:
    """CIFAR-100 (fine labels) from ``<root>/cifar-100-python`` (torchvision's layout)."""
    from torchvision.datasets import CIFAR100

    s = _cifar(
        "cifar100",
        root,
        download,
        "cifar-100-python",
        ["train"],
        ["test"],
        "fine_labels",
        100,
        CIFAR100_MEAN,
        CIFAR100_STD,
        CIFAR100,
    )
    s.augment = augment
    return s


def _load_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import scipy.io

    try:
        m = scipy.io.loadmat(str(path))
        x, y = m["X"], m["y"].astype(np.int64).reshape(-1)
    except FileNotFoundError:
        raise DatasetError(f"{path} is missing") from None
    except Exception as e:
        raise DatasetError(
            f"{path} is corrupt or truncated ({type(e).__name__}: {e}); delete it and re-download"
        ) from e
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != y.size:
        raise DatasetError(f"{path} is corrupt: X has shape {x.shape} for {y.size} labels (want (32, 32, 3, n))")
    y[y == 10] = 0  # SVHN stores digit 0 as label 10
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)).astype(np.uint8), y


@DATASETS.register("svhn")
def svhn(root: Optional[str] = None, download: bool = False, augment: str = "crop", **_: object) -> Splits:
    """SVHN (train + test .mat files, torchvision's layout ``<root>/train_32x32.mat``); no flips by default."""
    from torchvision.datasets import SVHN

    files = [Path(root or ".") / "train_32x32.mat", Path(root or ".") / "test_32x32.mat"]
    root_path = _require_root("svhn", root, download, files)
    if download and any(not f.exists() for f in files):
        SVHN(root=str(root_path), split="train", download=True)
        SVHN(root=str(root_path), split="test", download=True)
    xtr, ytr = _load_svhn_mat(files[0])
    xte, yte = _load_svhn_mat(files[1])
    return Splits(
        name="svhn",
        num_classes=10,
        input_shape=(3, 32, 32),
        train_x=torch.from_numpy(xtr),
        train_y=torch.from_numpy(ytr),
        test_x=torch.from_numpy(xte),
        test_y=torch.from_numpy(yte),
        mean=SVHN_MEAN,
        std=SVHN_STD,
        augment=augment,
    )
