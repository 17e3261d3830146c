"""Datasets, pools and label noise.

Every dataset builder returns a :class:`Splits`: the full train split (example id = row index) and the test split.
Small datasets are tensors (moved once to the training device); ImageNet-style folders are torch Datasets read by
DataLoader workers. A *pool* is a seeded, class-stratified subsample of the train split (nested: for one seed, a
smaller pool is a subset of a larger one), optionally with a seeded fraction of its labels flipped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch

from bench.errors import DatasetError  # noqa: F401 (re-exported)
from bench.registry import Registry, import_submodules

DATASETS = Registry("dataset")


@dataclass
class Splits:
    """The full train split and the test split of one dataset.

    ``train_x``/``test_x`` are tensors for in-memory datasets (uint8 images are normalised on the device with
    ``mean``/``std``), or None for folder datasets, whose ``train_set``/``test_set`` are torch Datasets.
    ``train_y`` always holds the train labels (int64), so pools and class-balanced selection never read images.
    """

    name: str
    num_classes: int
    input_shape: tuple[int, ...]
    train_y: torch.Tensor
    test_y: torch.Tensor
    train_x: Optional[torch.Tensor] = None
    test_x: Optional[torch.Tensor] = None
    train_set: Any = None
    test_set: Any = None
    mean: Optional[tuple[float, ...]] = None
    std: Optional[tuple[float, ...]] = None
    augment: str = "none"  # "none" | "crop_flip" | "shift1d"
    resize: Optional[int] = None  # in-memory images are resized to resize x resize on the device (after augmenting)
    meta: dict = field(default_factory=dict)

    @property
    def n_train(self) -> int:
        return int(self.train_y.numel())

    @property
    def in_memory(self) -> bool:
        return self.train_x is not None

    @property
    def model_input_shape(self) -> tuple[int, ...]:
        """The input shape the model sees (after ``resize``)."""
        if self.resize and len(self.input_shape) == 3:
            return (self.input_shape[0], self.resize, self.resize)
        return self.input_shape


@dataclass
class Pool:
    """The examples a run starts from: ``ids`` into the full train split, with their (possibly noisy) labels.

    ``noisy`` marks the examples whose label was flipped by ``label_noise``; ``y`` holds the labels training sees,
    ``clean_y`` the original ones.
    """

    ids: np.ndarray
    y: torch.Tensor
    clean_y: torch.Tensor
    noisy: np.ndarray
    num_classes: int

    def __len__(self) -> int:
        return int(self.ids.size)

    def fingerprint(self) -> str:
        """A hash of the pool's ids and labels, part of every score-cache key."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.ids, dtype=np.int64).tobytes())
        h.update(self.y.numpy().astype(np.int64).tobytes())
        return h.hexdigest()[:16]


def build_dataset(name: str, resize: Optional[int] = None, **kwargs: Any) -> Splits:
    """Build dataset ``name`` (see ``DATASETS.names()``) with its settings; ``resize`` (in-memory images only)
    makes the student see resize x resize inputs."""
    splits = DATASETS.get(name)(**kwargs)
    if resize:
        if not splits.in_memory or len(splits.input_shape) != 3:
            raise DatasetError(
                f"dataset.resize={resize} applies to in-memory image datasets, not {name!r}"
                + (" (use dataset.image_size)" if name == "imagenet" else "")
            )
        splits.resize = int(resize)
    return splits


def make_pool_ids(labels: np.ndarray, pool_size: Optional[int], seed: int, num_classes: int) -> np.ndarray:
    """Sorted ids of a class-stratified pool of exactly ``pool_size`` examples (all ids when None).

    Each class contributes in proportion to its frequency (largest-remainder rounding); within a class the ids are
    a prefix of a seeded permutation, so pools of growing size are nested for a fixed seed (up to one example per class from rounding).
    """
    labels = np.asarray(labels)
    n = labels.size
    if pool_size is None:
        return np.arange(n)
    pool_size = int(pool_size)
    if pool_size > n or pool_size < num_classes:
        raise DatasetError(
            f"dataset.pool_size={pool_size} is not allowed: it must lie in [{num_classes}, {n}] "
            f"(at least the number of classes, at most the train split), or be null for all"
        )
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * pool_size / n
    take = np.floor(exact).astype(int)
    take = np.maximum(take, np.minimum(1, counts))  # every present class is represented
    short = pool_size - take.sum()
    order = np.argsort(-(exact - np.floor(exact)), kind="stable")
    i = 0
    while short != 0:
        c = order[i % len(order)]
        if short > 0 and take[c] < counts[c]:
            take[c] += 1
            short -= 1
        elif short < 0 and take[c] > 1:
            take[c] -= 1
            short += 1
        i += 1
    rng = np.random.default_rng([seed, 0x9001])
    ids = []
    for c, k in zip(classes, take):
        members = np.flatnonzero(labels == c)
        ids.append(members[rng.permutation(members.size)[:k]])
    return np.sort(np.concatenate(ids))


def flip_labels(y: torch.Tensor, fraction: float, num_classes: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """Flip round(fraction * len(y)) seeded labels to a different class, uniformly. Returns (labels, flipped mask)."""
    if not 0.0 <= fraction < 1.0:
        raise DatasetError(f"dataset.label_noise={fraction} is not allowed: it must lie in [0, 1)")
    n = y.numel()
    k = int(round(fraction * n))
    mask = np.zeros(n, dtype=bool)
    if k == 0:
        return y.clone(), mask
    rng = np.random.default_rng([seed, 0x401E])
    pick = rng.choice(n, size=k, replace=False)
    mask[pick] = True
    shift = torch.from_numpy(rng.integers(1, num_classes, size=k))
    out = y.clone()
    out[pick] = (y[pick] + shift) % num_classes
    return out, mask


def make_pool(splits: Splits, pool_size: Optional[int], seed: int, label_noise: float = 0.0) -> Pool:
    """The pool of a run: stratified ids, then seeded label noise on the pool's labels."""
    ids = make_pool_ids(splits.train_y.numpy(), pool_size, seed, splits.num_classes)
    clean = splits.train_y[torch.from_numpy(ids)]
    noisy_y, mask = flip_labels(clean, label_noise, splits.num_classes, seed)
    return Pool(ids=ids, y=noisy_y, clean_y=clean, noisy=mask, num_classes=splits.num_classes)


import_submodules(__name__, __path__)  # every module in bench/data registers its dataset builders
