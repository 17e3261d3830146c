"""Benchmark scripts' common frame: the same mnist1d pools, every arm run in turn per seed (so that load on a shared
machine hits all arms alike), and a JSON of the runs with the command that made them."""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.console import quiet_lightning
from bench.data import build_dataset, make_pool


def paired_runs(arms: Sequence[Any], run: Callable[..., dict], pool_size: int, seeds: int) -> list[dict]:
    """``run(splits, pool, arm, seed)`` for every seed and arm, arms alternated within a seed; each row printed."""
    quiet_lightning()
    splits = build_dataset("mnist1d", n_train=32000, n_test=4000)
    rows = []
    for seed in range(seeds):
        pool = make_pool(splits, pool_size, seed, 0.0)
        for arm in arms:
            rows.append(run(splits, pool, arm, seed))
            print(rows[-1], flush=True)
    return rows


def write_result(out_dir: str | Path, name: str, script: str, args: argparse.Namespace, payload: dict) -> Path:
    """``<out_dir>/<name>``: the command (``script`` with ``args``), the machine and ``payload``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    command = f"python {script} " + " ".join(f"--{k} {v}" for k, v in vars(args).items())
    path = out / name
    path.write_text(json.dumps({"command": command, "machine": platform.platform(), **payload}, indent=1))
    return path
