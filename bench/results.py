"""Run records: one JSON file per run, named by a run id that hashes the settings that change the result.

The run id is never a timestamp, so a rerun of a sweep finds the finished runs (``status == "ok"``) and skips them.
Records are written atomically (temp file + rename): a crash never leaves a half-written record, and a failed
rerun never overwrites an ``ok`` record.
"""

from __future__ import annotations

import copy
import importlib.metadata as md
import json
import platform
import subprocess
from pathlib import Path
from typing import Any, Optional

import numpy as np

from bench.prune import STRATEGIES
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

# The full-data reference. A static strategy at prune.keep=1 keeps the whole pool whatever metric ranks it and
# whichever static rule reads the ranking, so every such run is one experiment: it runs, and is identified, as
# metric=none under conf/prune/keep_hard.yaml's settings, the form the committed full-pool records carry (their ids
# must not move). Not InfoBatch (dynamic: it prunes during training), not the perceptron (its record carries the
# replica theory of the rule it was run under).
FULL_POOL_METRIC = {"name": "none"}
FULL_POOL_PRUNE = {"keep": 1.0, "strategy": "keep_hard", "within": "hard", "beta": 0.0, "n_bins": 50}


def is_full_pool_static(cfg: dict) -> bool:
    """Whether ``cfg`` is a run of a static strategy on the whole pool (``prune.keep == 1``)."""
    prune, model = cfg.get("prune") or {}, cfg.get("model") or {}
    keep = prune.get("keep")
    return (
        prune.get("strategy") in STRATEGIES
        and isinstance(keep, (int, float))
        and not isinstance(keep, bool)
        and float(keep) == 1.0
        and model.get("name") != "perceptron"
    )


def canonical_config(cfg: dict) -> dict:
    """``cfg`` itself, or for a full-pool static run (``is_full_pool_static``) a copy whose metric and prune
    sections are the canonical full-data ones: metric none (no scores computed) and keep_hard at keep 1."""
    if not is_full_pool_static(cfg):
        return cfg
    return {**cfg, "metric": copy.deepcopy(FULL_POOL_METRIC), "prune": copy.deepcopy(FULL_POOL_PRUNE)}


def result_settings(cfg: dict) -> dict:
    """The part of a resolved config that determines a run's result (the run id's content); a full-pool static run
    is taken in its canonical form (``canonical_config``), so its id does not depend on the metric or strategy named."""
    out: dict[str, Any] = {}
    cfg = canonical_config(cfg)
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

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def library_versions() -> dict:

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
