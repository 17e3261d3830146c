"""Run records: one JSON file per run, named by a run id that hashes the settings that change the result.

The run id is never a timestamp, so a rerun of a sweep finds the finished runs (``status == "ok"``) and skips them.
Records are written atomically (temp file + rename): a crash never leaves a half-written record, and a failed
rerun never overwrites an ``ok`` record.
"""

from __future__ import annotations

import copy
import json
import platform
import subprocess
from pathlib import Path
from typing import Any, Optional

from bench.scores import atomic_write_bytes, stable_hash

# Settings that never change a run's result: where things live, how they are logged, how fast they run.
NON_RESULT_KEYS = {
    "dataset": ("root", "download", "cache_dir", "verify_images"),
    "train": (
        "progress_bar",
        "num_workers",
        "num_threads",
        "eval_batch_size",
        "accelerator",
        "checkpoint_every",
        "keep_checkpoints",
        "devices",
        "num_nodes",
        "strategy",
    ),
    "metric": ("progress", "eval_batch_size", "num_workers"),
}
RESULT_SECTIONS = ("dataset", "model", "metric", "prune", "train")


def result_settings(cfg: dict) -> dict:
    """The part of a resolved config that determines a run's result (the run id's content)."""
    out: dict[str, Any] = {}
    for section in RESULT_SECTIONS:
        sub = copy.deepcopy(cfg.get(section) or {})
        for key in NON_RESULT_KEYS.get(section, ()):
            sub.pop(key, None)
        out[section] = sub
    out["seed"] = cfg.get("seed")
    return out


def run_id(cfg: dict) -> str:
    """A 16-hex-digit hash of ``result_settings(cfg)``, prefixed by readable names."""
    s = result_settings(cfg)
    return f"{s['dataset'].get('name')}-{s['model'].get('name')}-{s['metric'].get('name')}-{stable_hash(s)}"


def record_path(results_dir: str | Path, rid: str) -> Path:
    return Path(results_dir) / f"{rid}.json"


def read_record(path: str | Path) -> Optional[dict]:
    """The record at ``path``, or None when absent or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def is_done(results_dir: str | Path, rid: str) -> bool:
    rec = read_record(record_path(results_dir, rid))
    return bool(rec) and rec.get("status") == "ok"


def write_record(results_dir: str | Path, record: dict) -> Path:
    """Atomically write ``record`` as ``<results_dir>/<run_id>.json``.

    A ``failed`` record never replaces an ``ok`` one (a crashed rerun with force=true keeps the good result).
    """
    path = record_path(results_dir, record["run_id"])
    if record.get("status") != "ok":
        old = read_record(path)
        if old and old.get("status") == "ok":
            path = path.with_name(f"{record['run_id']}.failed.json")
    atomic_write_bytes(path, json.dumps(record, indent=1, default=_json_default).encode())
    return path


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def library_versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("bench", "torch", "torchvision", "pytorch-lightning", "hydra-core", "timm", "wandb", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    try:
        out["git_commit"] = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                cwd=Path(__file__).parent,
                timeout=5,
            ).stdout.strip()
            or None
        )
    except Exception:
        out["git_commit"] = None
    return out
