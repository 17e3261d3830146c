"""Collector: turn run-record JSON files into tables, scaling-law fits, plots and reports.

The collector only *reads* records written by the harness (``<results_dir>/**/<run_id>.json``)
and never re-trains; it does not import torch.

Public API::

    from bench.collect import collect, load_records, fit_curve
    out = collect(["runs/"], tolerance=0.005)        # writes runs.csv, fits.csv, report.html, ...
    ok, failed = load_records("runs/")                # tidy frames
    fit = fit_curve(n, err)                           # power law vs exponential, bootstrap CI on nu

Command line: ``python -m bench.collect RUNS_DIR [MORE_DIRS] [--out DIR] [--tolerance T] [--wandb]``.
"""

from bench.collect.fit import CurveFit, ModelFit, fit_curve, fit_exponential, fit_power_law, fit_power_law_e0
from bench.collect.frontier import (
    add_x,
    class_balance,
    droppable_fraction,
    error_vs_keep,
    fit_frontiers,
    fit_learning_curves,
    learning_curves,
    pareto_frontier,
)
from bench.collect.report import NoRecordsError, collect
from bench.collect.table import class_imbalance, load, load_curves, load_records

__all__ = [
    "CurveFit",
    "ModelFit",
    "NoRecordsError",
    "add_x",
    "class_balance",
    "class_imbalance",
    "collect",
    "droppable_fraction",
    "error_vs_keep",
    "fit_curve",
    "fit_exponential",
    "fit_frontiers",
    "fit_learning_curves",
    "fit_power_law",
    "fit_power_law_e0",
    "learning_curves",
    "load",
    "load_curves",
    "load_records",
    "pareto_frontier",
]
