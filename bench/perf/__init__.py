"""Benchmarks of the harness's own speed (``scripts/bench_throughput.py``, ``scripts/bench_metrics.py``): the
measurement and the reports live here, the scripts only parse their arguments."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import numpy as np
import torch


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _git_commit() -> str:
    try:
        run = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return run.stdout.strip()


def machine_info() -> dict:
    """What a timing depends on: CPU, cores, threads, versions, CUDA and the commit measured."""
    return {
        "cpu": _cpu_name(),
        "cores_visible": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cuda": torch.cuda.is_available(),
        "git_commit": _git_commit(),
    }
