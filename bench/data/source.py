"""The data source of a run: a content fingerprint of the files a dataset is read from, part of the run's identity.

Datasets read from user files (CIFAR-10/100 in torchvision's format or as a class-folder tree) register a
fingerprinter here. ``with_data_source(cfg)`` puts its value into ``cfg["dataset"]["source"]`` before the run id is
computed, so the run id, the score key and the record's ``test_key`` name the files: a run on a JPEG copy is never
skipped as done because the same settings ran on the official files. Datasets without a fingerprinter (generated
ones: mnist1d, perceptron, digits) get no ``source`` key, so their identities are unchanged.

Fingerprints are content hashes (sha256 of every file's relative path and bytes), cached per root and keyed by the
listing's names, sizes and modification times, so the jobs of a sweep hash the files once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from bench.io import atomic_write_bytes, stable_hash

SOURCE_FINGERPRINTS: dict[str, Callable[[dict], str]] = {}


def register_source(name: str) -> Callable:
    """Decorator: ``fn(dataset_settings) -> source string`` for dataset ``name``."""

    def deco(fn: Callable[[dict], str]) -> Callable[[dict], str]:
        SOURCE_FINGERPRINTS[name] = fn
        return fn

    return deco


def with_data_source(cfg: dict) -> dict:
    """``cfg`` with ``dataset.source`` set to the fingerprint of the dataset's files (a new dict; ``cfg`` unchanged),
    or ``cfg`` itself for datasets that are not read from user files. Raises DatasetError for a bad root."""
    ds = cfg.get("dataset") or {}
    fingerprint = SOURCE_FINGERPRINTS.get(ds.get("name"))
    if fingerprint is None:
        return cfg
    return {**cfg, "dataset": {**ds, "source": fingerprint(ds)}}


def file_listing(root: Path, files: list[Path]) -> list[tuple[str, int, int]]:
    """(path relative to ``root``, size, modification time in ns) of every file, one stat each."""
    rows = []
    for p in files:
        st = os.stat(p)
        rows.append((p.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
    return rows


def content_hash(root: Path, relpaths: list[str]) -> str:
    """sha256 of every file's relative path, length and bytes, in the given order (first 16 hex digits)."""
    h = hashlib.sha256()
    for rel in relpaths:
        data = (Path(root) / rel).read_bytes()
        h.update(rel.encode() + b"\0" + str(len(data)).encode() + b"\0")
        h.update(data)
    return h.hexdigest()[:16]


def cached_content_hash(
    root: Path, files: list[Path], cache_dir: Optional[Path], listing: Optional[list[tuple[str, int, int]]] = None
) -> str:
    """``content_hash`` of ``files`` under ``root``, reused from ``cache_dir`` while their listing (names, sizes,
    mtimes; pass it when already known) is unchanged.

    The cache is one small JSON file per root under ``<cache_dir>/sources/``; ``cache_dir=None`` always hashes."""
    listing = file_listing(Path(root), files) if listing is None else listing
    key = stable_hash(listing, 32)
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / "sources" / f"{stable_hash(str(Path(root).resolve()))}.json"
        try:
            entry = json.loads(path.read_text())
            if entry.get("listing") == key:
                return str(entry["hash"])
        except (OSError, ValueError, KeyError, AttributeError):
            pass  # absent or unreadable: derived data, recompute
    digest = content_hash(Path(root), [row[0] for row in listing])
    if path is not None:
        entry = {"root": str(Path(root).resolve()), "listing": key, "hash": digest}
        atomic_write_bytes(path, json.dumps(entry).encode())
    return digest
