"""The score store: content-addressed score files shared by every job of a sweep.

A score file ``<key>.npy`` sits beside a sidecar ``<key>.json`` that says exactly what produced it (the spec that
was hashed into ``key``, the array's shape and sha256, the wall time). Both are written atomically (temp file +
rename, sidecar last) under a per-key file lock, so parallel jobs (joblib, a SLURM array) compute a key once and
never read a half-written file. A file whose checksum or shape disagrees with its sidecar is moved aside
(``.corrupt``) and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import numpy as np
from filelock import FileLock

from bench.checkpoint import EnsembleCheckpoint
from bench.io import _npy_bytes, atomic_write_bytes, stable_hash  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)


class ScoreStore:
    """Scores on disk under ``root``, keyed by the hash of a spec dict."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def key(self, spec: dict) -> str:
        return stable_hash(spec, 24)

    def paths(self, key: str) -> tuple[Path, Path, Path]:
        return self.root / f"{key}.npy", self.root / f"{key}.json", self.root / f"{key}.lock"

    def load(self, spec: dict) -> Optional[np.ndarray]:
        """The stored scores for ``spec``, or None when absent or corrupt (a corrupt file is moved aside)."""
        key = self.key(spec)
        npy, side, _ = self.paths(key)
        if not side.exists() or not npy.exists():
            return None
        try:
            meta = json.loads(side.read_text())
            data = npy.read_bytes()
            if hashlib.sha256(data).hexdigest() != meta["sha256"]:
                raise ValueError("checksum mismatch")
            arr = np.load(npy, allow_pickle=False)
            if list(arr.shape) != meta["shape"]:
                raise ValueError(f"shape {arr.shape} != {meta['shape']}")
            return arr
        except Exception as e:
            log.warning("score file %s is corrupt (%s); recomputing", npy, e)
            for p in (npy, side):
                if p.exists():
                    os.replace(p, p.with_name(p.name + ".corrupt"))
            return None

    def save(self, spec: dict, scores: np.ndarray, extra: Optional[dict] = None) -> Path:
        key = self.key(spec)
        npy, side, _ = self.paths(key)
        data = _npy_bytes(np.asarray(scores))
        atomic_write_bytes(npy, data)
        meta = {
            "key": key,
            "spec": spec,
            "shape": list(np.shape(scores)),
            "dtype": str(np.asarray(scores).dtype),
            "sha256": hashlib.sha256(data).hexdigest(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **(extra or {}),
        }
        atomic_write_bytes(side, json.dumps(meta, indent=1, default=str).encode())
        return npy

    def partial(self, spec: dict, every: Any = None) -> EnsembleCheckpoint:
        """Where the computation of ``spec``'s scores keeps its progress (probe ensembles' checkpoints), so a killed
        scoring job continues where it stopped; removed once the scores are saved."""

        return EnsembleCheckpoint(self.root / "partial" / self.key(spec), every)

    def load_info(self, spec: dict) -> dict:
        """The ``info`` dict the metric reported when these scores were computed ({} when none or unreadable)."""
        try:
            return dict(json.loads(self.paths(self.key(spec))[1].read_text()).get("info") or {})
        except (OSError, ValueError, AttributeError):
            return {}

    def get_or_compute(
        self, spec: dict, compute: Callable[[], np.ndarray], info: Optional[dict] = None
    ) -> tuple[np.ndarray, bool]:
        """(scores, computed_now). Computes under the key's file lock so concurrent jobs compute once.

        ``info``: a dict the metric fills while computing (e.g. memorization's models per example); it is stored in
        the sidecar under ``"info"``, and filled back from the sidecar when the scores come from the store."""
        cached = self._load_with_info(spec, info)
        if cached is not None:
            return cached, False
        self.root.mkdir(parents=True, exist_ok=True)
        _, _, lock = self.paths(self.key(spec))
        with FileLock(str(lock)):
            cached = self._load_with_info(spec, info)  # another job may have finished while we waited
            if cached is not None:
                return cached, False
            t0 = time.perf_counter()
            scores = np.asarray(compute())
            extra = {"compute_seconds": round(time.perf_counter() - t0, 3)}
            if info:
                extra["info"] = info
            self.save(spec, scores, extra=extra)
            self.partial(spec).clear()
            return scores, True

    def _load_with_info(self, spec: dict, info: Optional[dict]) -> Optional[np.ndarray]:
        cached = self.load(spec)
        if cached is not None and info is not None:
            info.update(self.load_info(spec))
        return cached
