"""CIFAR-10, CIFAR-100 and SVHN from torchvision's on-disk formats (CIFAR also from class-folder trees, see
``bench.data.cifar_folder``), held in memory as uint8 tensors.

Users online pass ``download=true`` and torchvision fetches (and md5-checks) the official files. Reading is done
here, from the same files, so that a missing root, a missing file or a corrupt/truncated one fails with a message
naming the path before any training. CIFAR's files are fingerprinted (``dataset.source``, see ``bench.data.source``):
the fingerprint is part of every run's identity.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from bench.data import DATASETS, DatasetError, Splits
from bench.data.cifar_folder import is_folder_tree, load_folder_tree, scan_tree, tree_source
from bench.data.small import default_cache_dir
from bench.data.source import cached_content_hash, register_source

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
SVHN_MEAN, SVHN_STD = (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)


def _require_root(
    name: str, root: Optional[str], download: bool, expected: list[Path], folder_tree: bool = False
) -> Path:
    if root is None:
        raise DatasetError(f"dataset.root is not set: {name} needs a directory (and dataset.download=true to fetch it)")
    missing = [p for p in expected if not p.exists()]
    if missing and not download:
        tree = " or a class-folder tree (train/<class>/<image>, test/<class>/<image>)" if folder_tree else ""
        raise DatasetError(
            f"{name} files not found: {missing[0]} is missing under dataset.root={root}. "
            f"Point dataset.root at a directory holding them{tree}, or set dataset.download=true to fetch them."
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


@dataclass(frozen=True)
class CifarFormat:
    """Where torchvision keeps one CIFAR dataset under ``root``, and its label key, classes and statistics."""

    name: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_key: str
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    torchvision_class: str

    def files(self, root: str | Path) -> list[Path]:
        return [Path(root) / self.folder / f for f in self.train_files + self.test_files]

    def reads_folder_tree(self, root: Optional[str]) -> bool:
        """A root without torchvision's folder but with train/ or test/ is read as a class-folder tree."""
        return root is not None and not (Path(root) / self.folder).exists() and is_folder_tree(Path(root))

    def download(self, root: Path) -> None:
        import torchvision.datasets

        cls = getattr(torchvision.datasets, self.torchvision_class)
        cls(root=str(root), train=True, download=True)
        cls(root=str(root), train=False, download=True)


CIFAR10 = CifarFormat(
    "cifar10",
    "cifar-10-batches-py",
    tuple(f"data_batch_{i}" for i in range(1, 6)),
    ("test_batch",),
    "labels",
    10,
    CIFAR10_MEAN,
    CIFAR10_STD,
    "CIFAR10",
)
CIFAR100 = CifarFormat(
    "cifar100", "cifar-100-python", ("train",), ("test",), "fine_labels", 100, CIFAR100_MEAN, CIFAR100_STD, "CIFAR100"
)


def _cache_dir(cache_dir: Optional[str]) -> Path:
    return Path(cache_dir) if cache_dir else default_cache_dir()


def _torchvision_files(fmt: CifarFormat, root: Optional[str], download: bool) -> list[Path]:
    """The format's files under ``root`` (fetched first when missing and ``download``); DatasetError when absent."""
    files = fmt.files(root) if root is not None else []
    root_path = _require_root(fmt.name, root, download, files, folder_tree=True)
    if download and any(not f.exists() for f in files):
        fmt.download(root_path)
    return files


def cifar_source(fmt: CifarFormat, ds: dict) -> str:
    """The source string of a CIFAR root: ``folder:<hash>`` for a class-folder tree, ``torchvision:<hash>`` for
    torchvision's files (content hashes, cached by the listing under ``dataset.cache_dir``)."""
    root, cache_dir = ds.get("root"), _cache_dir(ds.get("cache_dir"))
    if fmt.reads_folder_tree(root):
        return tree_source(scan_tree(root, fmt.num_classes), cache_dir)
    files = _torchvision_files(fmt, root, bool(ds.get("download")))
    return "torchvision:" + cached_content_hash(Path(root) / fmt.folder, files, cache_dir)


def _cifar_arrays(fmt: CifarFormat, root: Optional[str], download: bool, cache_dir: Optional[str]):
    """(train_x, train_y, test_x, test_y, source, classes) from a class-folder tree or torchvision's files."""
    if fmt.reads_folder_tree(root):
        arrays, tree, source = load_folder_tree(root, _cache_dir(cache_dir), fmt.num_classes)
        return arrays["train_x"], arrays["train_y"], arrays["test_x"], arrays["test_y"], source, tree.classes
    files = _torchvision_files(fmt, root, download)
    base = Path(root) / fmt.folder
    xtr, ytr = _cifar_batches([base / f for f in fmt.train_files], fmt.label_key)
    xte, yte = _cifar_batches([base / f for f in fmt.test_files], fmt.label_key)
    for y, split in ((ytr, "train"), (yte, "test")):
        if y.size and (y.min() < 0 or y.max() >= fmt.num_classes):
            raise DatasetError(f"{fmt.name} {split} labels outside [0, {fmt.num_classes}) under {base}: corrupt files")
    source = "torchvision:" + cached_content_hash(base, files, _cache_dir(cache_dir))
    return xtr, ytr, xte, yte, source, None


def _cifar(fmt: CifarFormat, root, download, augment, cache_dir, source) -> Splits:
    xtr, ytr, xte, yte, found, classes = _cifar_arrays(fmt, root, download, cache_dir)
    if source is not None and source != found:
        raise DatasetError(
            f"the files under dataset.root={root} changed after this run's id was computed (dataset.source={source}, "
            f"now {found}); run the job again"
        )
    return Splits(
        name=fmt.name,
        num_classes=fmt.num_classes,
        input_shape=(3, 32, 32),
        train_x=torch.from_numpy(xtr),
        train_y=torch.from_numpy(ytr),
        test_x=torch.from_numpy(xte),
        test_y=torch.from_numpy(yte),
        mean=fmt.mean,
        std=fmt.std,
        augment=augment,
        meta={"source": found, "root": str(root), **({"classes": classes} if classes else {})},
    )


@DATASETS.register("cifar10")
def cifar10(
    root: Optional[str] = None,
    download: bool = False,
    augment: str = "crop_flip",
    cache_dir: Optional[str] = None,
    source: Optional[str] = None,
    **_: object,
) -> Splits:
    """CIFAR-10 from ``<root>/cifar-10-batches-py`` (torchvision's layout) or a class-folder tree
    ``<root>/train/<class>/*`` + ``<root>/test/<class>/*`` (decoded once, cached under ``cache_dir``).
    ``source`` (set by the pipeline before the run id) must match the files' fingerprint."""
    return _cifar(CIFAR10, root, download, augment, cache_dir, source)


@DATASETS.register("cifar100")
def cifar100(
    root: Optional[str] = None,
    download: bool = False,
    augment: str = "crop_flip",
    cache_dir: Optional[str] = None,
    source: Optional[str] = None,
    **_: object,
) -> Splits:
    """CIFAR-100 (fine labels) from ``<root>/cifar-100-python`` (torchvision's layout) or a class-folder tree of its
    100 classes (as ``cifar10``)."""
    return _cifar(CIFAR100, root, download, augment, cache_dir, source)


register_source("cifar10")(lambda ds: cifar_source(CIFAR10, ds))
register_source("cifar100")(lambda ds: cifar_source(CIFAR100, ds))


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
