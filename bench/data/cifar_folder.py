"""CIFAR-style datasets from a class-folder tree: ``<root>/train/<class>/*.{png,jpg,jpeg}`` and ``<root>/test/<class>/*``.

The layout of the shared JPEG copy, of cifar2png and of common Kaggle exports. Label = index of the class name in
sorted order (torchvision's order); within a split, examples follow the sorted class names, then the sorted file
names. Images are decoded once, in parallel, into uint8 arrays of shape (n, 3, 32, 32) (the layout torchvision's
pickles give) and cached under ``<cache_dir>/cifar_folder/`` keyed by the content hash of the files, so later runs
load in about a second; a changed file changes the hash and the images are decoded again.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from bench.data.source import cached_content_hash
from bench.errors import DatasetError
from bench.io import atomic_write_bytes

SPLITS = ("train", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_SIZE = 32


@dataclass
class FolderTree:
    """A validated class-folder tree: the sorted class names and, per split, the image files in example order, with
    their labels (``files`` are path strings); ``listing`` holds (path relative to root, size, mtime in ns) of every file, train then test."""

    root: Path
    classes: list[str]
    files: dict[str, list[str]]
    labels: dict[str, np.ndarray]
    listing: list[tuple[str, int, int]]

    def all_files(self) -> list[str]:
        return [p for split in SPLITS for p in self.files[split]]


def is_folder_tree(root: Path) -> bool:
    """Whether ``root`` looks like a class-folder tree (it has a ``train/`` or a ``test/`` folder)."""
    return any((Path(root) / split).is_dir() for split in SPLITS)


def _class_files(class_dir: Path) -> list[tuple[str, int, int]]:
    """(name, size, mtime in ns) of the images of one class folder, sorted by name (hidden files are ignored;
    anything else that is not an image is an error)."""
    rows = []
    with os.scandir(class_dir) as it:
        for entry in it:
            if entry.name.startswith("."):
                continue
            if not entry.is_file():
                raise DatasetError(f"{class_dir / entry.name} is not an image file: class folders hold only images")
            if not entry.name.lower().endswith(IMAGE_SUFFIXES):
                raise DatasetError(
                    f"{class_dir / entry.name} is not an image file: allowed suffixes are "
                    f"{', '.join(IMAGE_SUFFIXES)} (any case)"
                )
            st = entry.stat()
            rows.append((entry.name, st.st_size, st.st_mtime_ns))
    if not rows:
        raise DatasetError(f"class folder {class_dir} is empty: every class needs at least one image")
    return sorted(rows)


def _split_classes(root: Path, split: str) -> list[str]:
    split_dir = root / split
    if not split_dir.is_dir():
        raise DatasetError(
            f"{split_dir} is missing: a class-folder tree needs train/<class>/<image> and test/<class>/<image> "
            f"under dataset.root={root}"
        )
    classes = sorted(e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise DatasetError(f"{split_dir} has no class folders: expected {split}/<class>/<image>")
    return classes


def scan_tree(root: str | Path, num_classes: Optional[int] = None) -> FolderTree:
    """List and check a class-folder tree; DatasetError naming the path for a missing split, class sets that differ
    between the splits, an empty class, a non-image file or (when given) a class count other than ``num_classes``."""
    root = Path(root)
    train_classes, test_classes = (_split_classes(root, split) for split in SPLITS)
    if train_classes != test_classes:
        only_train = sorted(set(train_classes) - set(test_classes))
        only_test = sorted(set(test_classes) - set(train_classes))
        raise DatasetError(
            f"{root / 'train'} and {root / 'test'} have different class folders: "
            f"only in train/: {only_train or 'none'}; only in test/: {only_test or 'none'}"
        )
    if num_classes is not None and len(train_classes) != num_classes:
        raise DatasetError(
            f"{root} has {len(train_classes)} class folders ({', '.join(train_classes[:5])}...); "
            f"this dataset has {num_classes} classes"
        )
    files, labels, listing = {}, {}, []
    for split in SPLITS:
        per_class = [_class_files(root / split / c) for c in train_classes]
        # plain strings: 60,000 Path objects cost seconds, more than the whole cached load
        files[split] = [f"{root}/{split}/{c}/{row[0]}" for c, rows in zip(train_classes, per_class) for row in rows]
        labels[split] = np.repeat(np.arange(len(train_classes), dtype=np.int64), [len(rows) for rows in per_class])
        listing += [
            (f"{split}/{c}/{n}", size, mtime) for c, rows in zip(train_classes, per_class) for n, size, mtime in rows
        ]
    return FolderTree(root=root, classes=train_classes, files=files, labels=labels, listing=listing)


def decode_images(paths: list[str]) -> np.ndarray:
    """Decode 32x32 RGB images into a uint8 array of shape (n, 3, 32, 32); DatasetError naming an unreadable file
    or one of another size or mode."""
    from PIL import Image

    out = np.empty((len(paths), IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as im:
                im.load()
                size, mode = im.size, im.mode
                if size == (IMAGE_SIZE, IMAGE_SIZE) and mode == "RGB":
                    out[i] = np.asarray(im)
        except Exception as e:
            raise DatasetError(f"{path} is not a readable image ({type(e).__name__}: {e})") from None
        if size != (IMAGE_SIZE, IMAGE_SIZE) or mode != "RGB":
            raise DatasetError(
                f"{path} is a {size[0]}x{size[1]} {mode} image: CIFAR images must be {IMAGE_SIZE}x{IMAGE_SIZE} RGB"
            )
    return out.transpose(0, 3, 1, 2).copy()


def _executor(workers: int, kind: str) -> Executor:
    if kind == "threads":
        return ThreadPoolExecutor(max_workers=workers)
    if kind == "processes":
        return ProcessPoolExecutor(max_workers=workers)
    raise DatasetError(f"decode executor {kind!r} is not allowed; allowed: threads, processes")


def decode_parallel(
    paths: list[str], workers: Optional[int] = None, kind: str = "threads", chunk: int = 1000
) -> np.ndarray:
    """``decode_images`` over chunks of ``paths`` in ``workers`` threads or processes (default: the CPU count)."""
    workers = max(1, int(workers or os.cpu_count() or 1))
    chunks = [paths[i : i + chunk] for i in range(0, len(paths), chunk)]
    if workers == 1 or len(chunks) <= 1:
        parts = [decode_images(c) for c in chunks]
    else:
        with _executor(workers, kind) as ex:
            parts = list(ex.map(decode_images, chunks))
    return np.concatenate(parts) if parts else np.empty((0, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)


def tree_source(tree: FolderTree, cache_dir: Optional[Path]) -> str:
    """The tree's source string, ``folder:<content hash>`` (cached by the listing under ``cache_dir``)."""
    return "folder:" + cached_content_hash(tree.root, tree.all_files(), cache_dir, tree.listing)


CACHE_ARRAYS = ("train_x", "train_y", "test_x", "test_y", "classes")


def cache_path(cache_dir: Path, source: str) -> Path:
    """Where the decoded arrays of the tree with this source string are cached (one file per content hash)."""
    return Path(cache_dir) / "cifar_folder" / f"{source.replace(':', '-')}.npys"


def write_cache(path: Path, arrays: dict) -> None:
    """The arrays of ``CACHE_ARRAYS``, one .npy record after another in one file, written atomically (a file read
    back with ``np.fromfile`` speed, unlike an .npz)."""
    buf = io.BytesIO()
    for key in CACHE_ARRAYS:
        np.save(buf, arrays[key], allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def read_cache(path: Path, tree: FolderTree) -> Optional[dict]:
    """The cached arrays, or None when absent, unreadable or not matching the tree's classes and sizes."""
    try:
        with open(path, "rb") as f:
            arrays = {key: np.lib.format.read_array(f, allow_pickle=False) for key in CACHE_ARRAYS}
    except Exception:  # absent or corrupt: derived data, decode again
        return None
    shapes_ok = all(
        arrays[f"{split}_x"].shape == (len(tree.files[split]), 3, IMAGE_SIZE, IMAGE_SIZE)
        and np.array_equal(arrays[f"{split}_y"], tree.labels[split])
        for split in SPLITS
    )
    return arrays if shapes_ok and list(arrays["classes"]) == tree.classes else None


def load_folder_tree(
    root: str | Path,
    cache_dir: Optional[str | Path],
    num_classes: Optional[int] = None,
    workers: Optional[int] = None,
    kind: str = "threads",
) -> tuple[dict, FolderTree, str]:
    """The tree's arrays (``train_x``/``test_x`` uint8 (n, 3, 32, 32), ``train_y``/``test_y`` int64, ``classes``),
    the tree and its source string. Decodes in parallel on a cache miss and writes the cache atomically; with
    ``cache_dir=None`` nothing is cached."""
    tree = scan_tree(root, num_classes)
    source = tree_source(tree, Path(cache_dir) if cache_dir is not None else None)
    path = cache_path(Path(cache_dir), source) if cache_dir is not None else None
    arrays = read_cache(path, tree) if path is not None else None
    if arrays is None:
        arrays = {f"{split}_x": decode_parallel(tree.files[split], workers, kind) for split in SPLITS}
        arrays.update({f"{split}_y": tree.labels[split] for split in SPLITS})
        arrays["classes"] = np.array(tree.classes)
        if path is not None:
            write_cache(path, arrays)
    return arrays, tree, source
