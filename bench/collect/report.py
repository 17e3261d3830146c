"""End-to-end collection: records -> tables, fits, plots, Markdown/HTML report (+ optional wandb).

Outputs written to ``out_dir`` by :func:`collect`:

=====================  ====================================================================
``runs.csv``           one row per successful run (see :mod:`bench.collect.table`)
``failed.csv``         every failed / unreadable / invalid record, with ``reason``
``fits.csv``           one row per fitted curve (``kind`` = ``curve`` or ``frontier``)
``frontier.csv``       per-x best cell of each (dataset, model, metric, strategy) group
``curves.csv``         seed-aggregated learning curves
``error_vs_keep.csv``  seed-aggregated error per keep at fixed pool size
``droppable.csv``      droppable fraction per metric and pool size
``class_balance.csv``  class-imbalance summary per metric x keep
``collect_config.json`` the arguments of this collection
``plots/*.png|svg``    figures
``report.md``          Markdown report (images linked from ``plots/``)
``report.html``        self-contained HTML report (images embedded as base64)
=====================  ====================================================================
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.collect import budgets as bg
from bench.collect import compute as cp
from bench.collect import crossover as cx
from bench.collect import frontier as fr
from bench.collect import panels, plots
from bench.collect import verdict as vd

# a cell whose seeds' median final error on their kept set is above MAX_TRAIN_ERROR is flagged as a whole and left
# out of the scaling fits, frontiers and verdicts (never a seed on its own; compute-budget analyses keep every run)
from bench.collect.flagged import MAX_TRAIN_ERROR, flag_cells, flagged_cells_table
from bench.collect.score_settings import score_settings_table
from bench.collect.table import LoadResult, load, markdown_table

__all__ = ["FITS_COLUMNS", "NoRecordsError", "collect"]

#: Leading columns of fits.csv (group keys are inserted after ``kind``).
FITS_COLUMNS: tuple[str, ...] = (
    "nu",
    "nu_lo",
    "nu_hi",
    "a",
    "e_inf",
    "n_points",
    "aic_power",
    "aic_exp",
    "bic_power",
    "bic_exp",
    "preferred",
    "fit_status",
    "note",
)


class NoRecordsError(ValueError):
    """Raised when the given paths contain no run records at all, or none that succeeded."""


# =========================================================================== main entry
def collect(
    paths: Sequence[str | os.PathLike] | str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    command: str | None = None,
    tolerance: float = 0.005,
    log_wandb: bool | str = False,
    *,
    x: str | Mapping[str, str] | None = None,
    n_boot: int = 200,
    seed: int = 0,
    baseline_metric: str = "random",
    context: Sequence[str] = fr.CONTEXT_KEYS,
    formats: Sequence[str] = ("png", "svg"),
    max_train_error: float | None = MAX_TRAIN_ERROR,
    small_data_frac: float | None = fr.SMALL_DATA_FRAC,
) -> dict[str, Any]:
    """Collect run records under ``paths`` and write every table, plot and report.

    ``paths``: result directories (searched recursively) and/or record files. ``out_dir``: default
    ``<first path>/collect``. ``command``: the command line quoted in the report. ``tolerance``: absolute
    error tolerance of the droppable fraction. ``log_wandb``: ``False``, ``True`` (project
    ``$WANDB_PROJECT`` or ``data-pruning``) or a project name. ``x``: x-variable spec (see
    :mod:`bench.collect.frontier`). ``n_boot``/``seed``: bootstrap replicates per fit and the base RNG seed
    (deterministic). ``baseline_metric``: the reference of gains and verdicts (random pruning). ``context``:
    settings that split curves (runs differing in them are never pooled). ``max_train_error``: a cell whose
    seeds' median final error on their kept set exceeds it is flagged (``flagged_cell``) and left out of the
    scaling fits, frontiers and verdicts as a whole; the answer is also given with it (``answer_with_flagged``);
    compute-budget analyses keep every run (``None``: flag nothing). ``small_data_frac``: learning-curve and
    frontier fits use the sizes whose mean error is at most this fraction of chance error (the power-law region;
    ``None``: every size); gains and the frontier table use every size.

    Returns a dict with ``out_dir``, ``files``, ``plots``, ``n_ok``, ``n_failed``, the frames (``runs``,
    ``failed``, ``fits``, ``frontier``, ``curves``, ``gains``, ``verdicts``, ``droppable``, ...), ``answer``
    (the report's leading sentences) and ``wandb``. Raises ``FileNotFoundError`` for a missing path and
    :class:`NoRecordsError` when there is no record, or no successful one (``failed.csv`` is still written).
    """
    paths, out_dir = _resolve_paths(paths, out_dir)
    loaded = _load_inputs(paths, out_dir)
    cfg = {
        "paths": paths,
        "out_dir": str(out_dir),
        "tolerance": tolerance,
        "x": x if x is not None else "auto (n_train; alpha_prune for dataset=perceptron)",
        "n_boot": n_boot,
        "seed": seed,
        "baseline_metric": baseline_metric,
        "context": list(context),
        "formats": list(formats),
        "log_wandb": log_wandb,
        "max_train_error": max_train_error,
        "small_data_frac": small_data_frac,
    }
    command = command or (
        f"bench.collect.collect({paths!r}, out_dir={str(out_dir)!r}, "
        f"tolerance={tolerance!r}, x={x!r}, n_boot={n_boot!r}, seed={seed!r})"
    )
    ok, ctx_cols, res = _flag_and_analyse(loaded, x, cfg)
    files, plot_paths, wb = _write_outputs(out_dir, loaded, ok, res, cfg, command, ctx_cols)
    return {
        "out_dir": str(out_dir),
        "files": files,
        "plots": plot_paths,
        "n_ok": len(ok),
        "n_failed": len(loaded.failed),
        "runs": ok,
        "failed": loaded.failed,
        "wandb": wb,
        "command": command,
        "config": cfg,
        **res,
    }


def _flag_and_analyse(loaded: LoadResult, x, cfg: dict) -> tuple[pd.DataFrame, list[str], dict]:
    """The successful runs with their cells flagged (and ``examples_seen``, usable as x), the context columns
    present, and the analyses (:func:`_analyse`) under ``cfg``'s settings."""
    context = cfg["context"]
    ok = flag_undertrained(loaded.ok, cfg["max_train_error"], fr.resolve_context(loaded.ok, context))
    ok["examples_seen"] = cp.examples_seen(ok) if len(ok) else pd.Series(dtype=float)
    ctx_cols = fr.resolve_context(ok, context)
    res = _analyse(
        ok,
        x=x,
        n_boot=cfg["n_boot"],
        seed=cfg["seed"],
        tolerance=cfg["tolerance"],
        context=context,
        baseline=cfg["baseline_metric"],
        small_data_frac=cfg["small_data_frac"],
    )
    res["fits"] = _order_fits(res["fits"], ctx_cols)
    return ok, ctx_cols, res


def _load_inputs(paths: list[str], out_dir: Path) -> LoadResult:
    """The records under ``paths``; the output folder is not searched for records, unless the records live inside
    it (records/ under the study). Raises :class:`NoRecordsError` when none is usable."""
    inside = any(Path(p).resolve().is_relative_to(out_dir.resolve()) for p in paths)
    loaded = load(paths, exclude=[] if inside else [out_dir])
    _require_records(loaded, paths, out_dir)
    return loaded


def _write_outputs(
    out_dir: Path, loaded: LoadResult, ok: pd.DataFrame, res: dict, cfg: dict, command: str, ctx_cols: list[str]
) -> tuple[dict[str, str], list[str], dict]:
    """Tables, plots, report.md / report.html and (with ``cfg['log_wandb']``) the wandb run: (files, plot paths,
    wandb status)."""
    tolerance, baseline = cfg["tolerance"], cfg["baseline_metric"]
    files = _write_tables(out_dir, ok, loaded.failed, res, {"command": command, **cfg})
    plot_paths = _make_plots(res, out_dir / "plots", tolerance, baseline, cfg["formats"], ctx_cols)
    sections = _sections(loaded, ok, res, cfg, command, plot_paths, ctx_cols)
    files.update(_write_reports(sections, out_dir))
    wb = {"status": "disabled"}
    if cfg["log_wandb"]:
        wb = _log_wandb(cfg["log_wandb"], out_dir, ok, res["fits"], plot_paths, {"command": command, **cfg})
    return files, plot_paths, wb


def _resolve_paths(paths, out_dir) -> tuple[list[str], Path]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [str(p) for p in paths]
    if not paths:
        raise NoRecordsError("no records path given")
    for p in paths:
        if not Path(p).exists():
            raise FileNotFoundError(f"records path does not exist: {p}")
    if out_dir is None:
        first = Path(paths[0])
        out_dir = (first if first.is_dir() else first.parent) / "collect"
    return paths, Path(out_dir)


def _require_records(loaded: LoadResult, paths: list[str], out_dir: Path) -> None:
    """No records, or no successful one: a clear error (the failed list is written first)."""
    if loaded.n_records == 0:
        raise NoRecordsError(
            f"no run records (JSON objects with 'run_id' and 'status') found under: {', '.join(paths)} "
            f"({loaded.files_scanned} JSON file(s) scanned)"
        )
    if loaded.ok.empty:
        out_dir.mkdir(parents=True, exist_ok=True)
        loaded.failed.to_csv(out_dir / "failed.csv", index=False)
        reasons = loaded.failed["reason"].fillna(loaded.failed["status"]).astype(str).value_counts()
        raise NoRecordsError(
            f"all {loaded.n_records} record(s) under {', '.join(paths)} failed or are unusable; nothing to fit. "
            f"Most common reasons: "
            + "; ".join(f"{n}x {r}" for r, n in reasons.head(3).items())
            + f". Listed in {out_dir / 'failed.csv'}"
        )


def flag_undertrained(ok: pd.DataFrame, max_train_error: float | None, context: Sequence[str] = ()) -> pd.DataFrame:
    """Copy of ``ok`` with the run-level ``undertrained`` and the cell-level ``flagged_cell`` (median train error
    of the cell's seeds above ``max_train_error``): :func:`bench.collect.flagged.flag_cells`."""
    return flag_cells(ok, max_train_error, context)


def _write_tables(out_dir: Path, ok: pd.DataFrame, failed: pd.DataFrame, res: dict, cfg: dict) -> dict[str, str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    tables = {
        "runs.csv": ok,
        "failed.csv": failed,
        "summary.csv": res["verdicts"],
        "gains.csv": res["gains"],
        "fits.csv": res["fits"],
        "frontier.csv": res["frontier"],
        "curves.csv": res["curves"],
        "error_vs_keep.csv": res["error_vs_keep"],
        "droppable.csv": res["droppable"],
        "compute_fits.csv": res["compute"],
        "compute_rule_fits.csv": res["compute_rules"],
        "budgets.csv": res["budgets"],
        "budget_holdout.csv": res["budget_holdout"],
        "class_balance.csv": res["class_balance"],
        "crossover.csv": res["crossover"],
    }
    for name, df in tables.items():
        df.to_csv(out_dir / name, index=False)
        files[name] = str(out_dir / name)
    cfg_path = out_dir / "collect_config.json"
    cfg_path.write_text(json.dumps(cfg, indent=2, default=str))
    files["collect_config.json"] = str(cfg_path)
    return files


def _write_reports(sections, out_dir: Path) -> dict[str, str]:
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    md_path.write_text(_render_md(sections, out_dir), encoding="utf-8")
    html_path.write_text(_render_html(sections), encoding="utf-8")
    return {"report.md": str(md_path), "report.html": str(html_path)}


# =========================================================================== analysis
def _empty_analysis() -> dict[str, Any]:
    empty = pd.DataFrame()
    names = ("curves", "frontier", "error_vs_keep", "gains", "verdicts", "droppable", "class_balance", "compute")
    names += ("compute_rules", "crossover")
    return {
        **{n: empty for n in names},
        "fits": pd.DataFrame(columns=["kind", *FITS_COLUMNS]),
        "answer": [],
        "answer_with_flagged": [],
        "budget_cells": empty,
        "budgets": empty,
        "budget_holdout": empty,
        "flagged_cells": empty,
    }


def _analyse(
    runs: pd.DataFrame,
    *,
    x,
    n_boot: int,
    seed: int,
    tolerance: float,
    context: Sequence[str],
    baseline: str,
    small_data_frac: float | None = fr.SMALL_DATA_FRAC,
) -> dict[str, pd.DataFrame]:
    """Scaling analyses on the runs of unflagged cells; compute-budget analyses on every run."""
    flagged = runs["flagged_cell"].astype(bool) if "flagged_cell" in runs else pd.Series(False, index=runs.index)
    ok = runs.loc[~flagged]
    if ok.empty:  # every cell flagged: nothing left for the scaling analyses, but the report says why
        return {
            **_empty_analysis(),
            "flagged_cells": flagged_cells_table(runs, fr.resolve_context(runs, context)),
            "answer_with_flagged": _answer_with_flagged(runs, flagged, x=x, context=context, baseline=baseline),
        }
    curves = fr.learning_curves(ok, x=x, context=context)
    fit_kw = dict(x=x, context=context, n_boot=n_boot, seed=seed, small_data_frac=small_data_frac)
    fc, _ = fr.fit_learning_curves(ok, **fit_kw)
    ff, _ = fr.fit_frontiers(ok, **fit_kw)
    front = fr.pareto_frontier(ok, x=x, context=context)
    fits = (
        pd.concat([f for f in (fc, ff) if not f.empty], ignore_index=True)
        if not (fc.empty and ff.empty)
        else pd.DataFrame(columns=["kind", *FITS_COLUMNS])
    )
    ctx_cols = fr.resolve_context(ok, context)
    gains = vd.gains_vs_baseline(front, baseline, context=ctx_cols)
    verdicts = vd.verdict_table(front, fits, gains, context=ctx_cols)
    budget = _budget_analysis(runs, n_boot=n_boot, seed=seed)
    crossover = cx.crossover_table(ok, ctx_cols)
    return {
        "curves": curves,
        "fits": fits,
        "frontier": front,
        "gains": gains,
        "verdicts": verdicts,
        "answer": (bg.answer_lines(budget["budgets"]) if not budget["budgets"].empty else [])
        + vd.answer_lines(verdicts, gains, baseline, ctx_cols)
        + cx.crossover_lines(crossover, ctx_cols),
        "crossover": crossover,
        "answer_with_flagged": _answer_with_flagged(runs, flagged, x=x, context=context, baseline=baseline),
        "error_vs_keep": fr.error_vs_keep(ok, context=context),
        "droppable": fr.droppable_fraction(ok, tolerance, context=context),
        "class_balance": fr.class_balance(ok),
        "flagged_cells": flagged_cells_table(runs, ctx_cols),
        **budget,
    }


def _budget_analysis(runs: pd.DataFrame, *, n_boot: int, seed: int) -> dict[str, pd.DataFrame]:
    """Compute fits, best keep per budget and the held-out check, on every run (flagged cells too)."""
    compute = cp.fit_compute_laws(runs, n_boot=n_boot, seed=seed)
    cells = bg.budget_cells(runs)
    empty = pd.DataFrame()
    rule_fits = bg.fit_rule_laws(runs, n_boot=n_boot, seed=seed) if not cells.empty else empty
    return {
        "compute": compute,
        "compute_rules": rule_fits,
        "budget_cells": cells,
        "budgets": bg.best_keep_by_budget(cells, rule_fits) if not cells.empty else empty,
        "budget_holdout": bg.holdout_largest_budget(runs, n_boot=n_boot, seed=seed) if not cells.empty else empty,
    }


def _answer_with_flagged(runs: pd.DataFrame, flagged: pd.Series, *, x, context, baseline: str) -> list[str]:
    """The gain part of the answer with the flagged cells included (empty when no cell is flagged)."""
    if not flagged.any():
        return []
    front = fr.pareto_frontier(runs, x=x, context=context)
    ctx_cols = fr.resolve_context(runs, context)
    gains = vd.gains_vs_baseline(front, baseline, context=ctx_cols)
    verdicts = vd.verdict_table(front, pd.DataFrame(columns=["kind"]), gains, context=ctx_cols)
    return vd.answer_lines(verdicts, gains, baseline, ctx_cols, shape=False)


def _order_fits(fits: pd.DataFrame, ctx_cols: Sequence[str]) -> pd.DataFrame:
    keys = [c for c in (*fr.CURVE_KEYS, *ctx_cols, "x_var", "y") if c in fits.columns]
    lead = ["kind", *keys, *FITS_COLUMNS]
    for c in lead:
        if c not in fits.columns:
            fits[c] = np.nan
    return fits[lead + [c for c in fits.columns if c not in lead]]


_PLOT_PREFIXES = (
    "panels_",
    "budgets_",
    "learning_curves_",
    "frontier_",
    "error_vs_keep_",
    "class_balance_",
    "theory_vs_sim_",
)


def _make_plots(
    res: dict, plot_dir: Path, tolerance: float, baseline_metric: str, formats: Sequence[str], ctx_cols: Sequence[str]
) -> list[str]:
    if res["curves"].empty:
        return []
    c = list(ctx_cols)
    # Remove figures of a previous collection into the same folder (only our own file names),
    # so that plots/ never shows stale groups next to fresh ones.
    if plot_dir.is_dir():
        for f in plot_dir.iterdir():
            if f.is_file() and f.name.startswith(_PLOT_PREFIXES) and f.suffix.lstrip(".") in formats:
                f.unlink()
    out = panels.plot_metric_panels(
        res["curves"],
        res["frontier"],
        res["fits"],
        plot_dir,
        res["verdicts"],
        baseline=baseline_metric,
        context=c,
        formats=formats,
    )
    out += plots.plot_learning_curves(res["curves"], res["fits"], plot_dir, formats, context=c)
    out += plots.plot_frontiers(
        res["frontier"],
        res["fits"],
        plot_dir,
        curves=res["curves"],
        baseline_metric=baseline_metric,
        formats=formats,
        context=c,
    )
    out += plots.plot_error_vs_keep(res["error_vs_keep"], res["droppable"], plot_dir, tolerance, formats, context=c)
    out += plots.plot_class_balance(res["class_balance"], plot_dir, formats)
    out += bg.plot_budgets(res["budget_cells"], plot_dir, formats) if not res["budget_cells"].empty else []
    out += plots.plot_theory_vs_simulation(res["curves"], plot_dir, formats, context=c)
    return out


# =========================================================================== report building
def _f(v, fmt=".4g") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, (float, np.floating)):
        return format(float(v), fmt)
    return str(v)


def _nu_cell(r) -> str:
    if r["fit_status"] == "insufficient_data" or pd.isna(r["nu"]):
        return "—"
    s = f"{r['nu']:.3f}"
    if pd.notna(r.get("nu_lo")):
        s += f" [{r['nu_lo']:.3f}, {r['nu_hi']:.3f}]"
    return s if r["fit_status"] == "ok" else f"⚠ {s}"


def _fits_table(fits: pd.DataFrame, kind: str, ctx_cols: Sequence[str]) -> pd.DataFrame:
    f = fits.loc[fits["kind"] == kind]
    if f.empty:
        return f
    keys = [
        c for c in (*fr.CURVE_KEYS, *ctx_cols, "x_var") if c in f.columns and not (kind == "frontier" and c == "keep")
    ]
    rows = []
    for _, r in f.iterrows():
        row = {k: _f(r[k], "g") for k in keys}
        ci = f"{int(round(100 * r['ci_level']))}% CI" if pd.notna(r.get("ci_level")) else "CI"
        row[f"ν [{ci}]"] = _nu_cell(r)
        row["ν (E∞=0 fit)"] = _f(r.get("nu_e0"), ".3f")
        row["a"] = _f(r["a"])
        row["E∞"] = _f(r["e_inf"])
        row["form"] = "E∞=0" if r.get("power_variant") == "power_law_e0" else "E∞ free"
        row["points"] = f"{_f(r['n_points'], 'g')} ({_f(r.get('n_obs'), 'g')} obs)"
        row["preferred (ΔAICc)"] = (
            f"{r['preferred']} ({r['delta_aic']:+.1f})" if pd.notna(r.get("delta_aic")) else _f(r["preferred"])
        )
        row["status"] = r["fit_status"]
        row["note"] = _f(r["note"])
        rows.append(row)
    return pd.DataFrame(rows)


def _pretty(df: pd.DataFrame, drop: Sequence[str] = (), fmt: str = ".4g") -> pd.DataFrame:
    if df is None or df.empty:
        return pd.DataFrame()
    d = df.drop(columns=[c for c in drop if c in df.columns])
    return pd.DataFrame({c: [_f(v, fmt) for v in d[c]] for c in d.columns})


def _distinct(ok: pd.DataFrame, col: str, limit: int = 20) -> str:
    if col not in ok or ok.empty:
        return ""
    vals = sorted({_f(v, "g") for v in ok[col].dropna()}, key=lambda s: (len(s), s))
    return ", ".join(vals[:limit]) + (f" … ({len(vals)} values)" if len(vals) > limit else "")


def _summary_table(verdicts: pd.DataFrame, ctx_cols: Sequence[str]) -> pd.DataFrame:
    """The headline table: per (metric, strategy), best error at the largest n, gain, exponent, shape."""
    if verdicts is None or verdicts.empty:
        return pd.DataFrame()
    keys = [c for c in ("dataset", "model", *ctx_cols, "metric", "strategy") if c in verdicts.columns]
    rows = []
    for _, r in verdicts.iterrows():
        row = {k: _f(r[k], "g") for k in keys}
        row["n range (fitted)"] = (
            f"{_f(r['x_min'], 'g')}–{_f(r['x_max'], 'g')} "
            f"({_f(r['fit_x_min'], 'g')}–{_f(r['fit_x_max'], 'g')}, {_f(r['fit_points'], 'g')} n)"
        )
        row["at n: error vs random (keep)"] = (
            ""
            if pd.isna(r["gain"])
            else f"{_f(r['gain_x'], 'g')}: {r['gain_error']:.4f} vs "
            f"{r['gain_baseline_error']:.4f} (k={_f(r['gain_keep'], 'g')})"
        )
        row["gain vs random"] = (
            ""
            if pd.isna(r["gain"])
            else f"{r['gain']:+.4f}"
            + (f" [{r['gain_lo']:+.4f}, {r['gain_hi']:+.4f}]" if pd.notna(r["gain_lo"]) else "")
        )
        row["per-n better / worse (of n; exploratory)"] = (
            f"{int(r['n_better'])} / {int(r['n_worse'])} (of {int(r['n_shared_x'])})" if r["n_shared_x"] else ""
        )
        row["mean relative gain over n [simultaneous CI]; Holm p"] = _pooled_cell(r)
        row["ν [95% CI]"] = _nu_cell(r) if pd.notna(r.get("fit_status")) else ""
        row["shape"] = r["shape"]
        row["p power / p exp"] = f"{_f(r['p_power'], '.2g')} / {_f(r['p_exp'], '.2g')}"
        rows.append(row)
    return _drop_constant(pd.DataFrame(rows), keys)


def _pooled_cell(r) -> str:
    """The pooled test of a rule: mean gain over the n where it is in play, its interval simultaneous over the
    rules, the Holm-adjusted p and the verdict (empty for the baseline and untested rules)."""
    if pd.isna(r.get("pooled_gain")) or pd.isna(r.get("p_holm")):
        return ""
    return (
        f"{100 * r['pooled_gain']:+.1f}% [{100 * r['pooled_lo']:+.1f}, {100 * r['pooled_hi']:+.1f}]; "
        f"p={r['p_holm']:.2g} ({r['beats']}; {int(r['pooled_n'])} n, mde {100 * r['mde']:.1f}%)"
    )


def _drop_constant(df: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Leave out key columns with one value in every row (the report states them once, above the tables)."""
    if len(df) <= 1:
        return df.drop(columns=[k for k in keys if k not in ("metric", "strategy")])
    return df.drop(columns=[k for k in keys if k not in ("metric", "strategy") and df[k].nunique() <= 1])


def _constant_settings(verdicts: pd.DataFrame, ctx_cols: Sequence[str]) -> str:
    keys = [c for c in ("dataset", "model", *ctx_cols) if c in verdicts.columns]
    same = [f"{k}={_f(verdicts[k].iloc[0], 'g')}" for k in keys if verdicts[k].nunique(dropna=False) <= 1]
    return ("Every row: " + ", ".join(same) + ".") if same else ""


def _best_keep_table(gains: pd.DataFrame, ctx_cols: Sequence[str], max_cols: int = 8) -> pd.DataFrame:
    """Per (metric, strategy) row and up to ``max_cols`` n columns: best keep, error and gain."""
    if gains is None or gains.empty:
        return pd.DataFrame()
    xs = np.sort(vd.pruned_gains(gains)["x"].unique())  # the n where pruning is in play
    if len(xs) > max_cols:
        xs = xs[np.unique(np.round(np.linspace(0, len(xs) - 1, max_cols)).astype(int))]
    keys = [c for c in ("dataset", "model", *ctx_cols, "metric", "strategy") if c in gains.columns]
    rows = []
    for key, g in gains.groupby(keys, dropna=False, sort=True):
        row = {k: _f(v, "g") for k, v in zip(keys, key if isinstance(key, tuple) else (key,))}
        for xv in xs:
            c = g.loc[g["x"] == xv]
            row[f"n={xv:g}"] = (
                ""
                if c.empty
                else (
                    f"k={c['keep'].iloc[0]:g}: {c['error'].iloc[0]:.4f} ({c['gain'].iloc[0]:+.4f}"
                    + ("*" if c["gain_lo"].iloc[0] > 0 else "†" if c["gain_hi"].iloc[0] < 0 else "")
                    + ")"
                )
            )
        rows.append(row)
    return _drop_constant(pd.DataFrame(rows), keys)


def _flag_answer(ok: pd.DataFrame, res: dict) -> list:
    """How many cells are flagged, by which criterion, and the answer with them included."""
    cells = res.get("flagged_cells")
    n_runs = int(ok["undertrained"].sum()) if "undertrained" in ok else 0
    if cells is None or cells.empty:
        if not n_runs:
            return []
        return [
            (
                "p",
                f"{n_runs} run(s) ended above the training-error threshold, but no cell's median did: every run is "
                "in the analysis (no seed is ever dropped on its own; see 'Flagged cells').",
                None,
            )
        ]
    S = [
        (
            "p",
            f"⚠ {len(cells)} cell(s) ({int(cells['seeds'].sum())} runs) did not fit their training data: the median "
            "training error of the cell's seeds is above the threshold. The answer above leaves these cells out "
            "of the scaling fits, frontiers and verdicts, all seeds together (compute-budget tables keep every "
            "run); see 'Flagged cells'. With the flagged cells included:",
            None,
        )
    ]
    return S + [("p", line, None) for line in res.get("answer_with_flagged") or []]


def _answer_sections(ok: pd.DataFrame, res: dict, ctx_cols: Sequence[str], plot_paths: list[str]) -> list:
    S: list[tuple[str, str, Any]] = [("h2", "Answer", None)]
    for line in res.get("answer") or []:
        S.append(("p", line, None))
    S += _flag_answer(ok, res)
    for note in _mixed_settings_notes(ok):
        S.append(("p", "⚠ " + note, None))
    S.append(("h2", "Summary: each rule against random pruning", None))
    S.append(("p", _SUMMARY_NOTE, None))
    if not res["verdicts"].empty:
        S.append(("p", _constant_settings(res["verdicts"], ctx_cols), None))
    S.append(("table", "", _summary_table(res["verdicts"], ctx_cols)))
    S.append(("h3", "Best keep fraction at each n (error, gain over random; * better, † worse at 95%)", None))
    S.append(("table", "", _best_keep_table(res["gains"], ctx_cols)))
    S += _budget_sections(res)
    S += _crossover_sections(res["crossover"])
    S.append(("h2", "Key figures", None))
    S.append(
        (
            "images",
            "",
            [
                p
                for p in plot_paths
                if p.endswith(".png") and Path(p).name.startswith(("panels_", "budgets_", "error_vs_keep_"))
            ],
        )
    )
    return S


_CROSSOVER_NOTE = (
    "Per metric and pool: the mean over keeps < 1 of log error(keep_hard) − log error(keep_easy), paired by seed "
    "(positive: keep_easy is better; 0.05 ≈ 5% lower error), with the seed variance shared across keeps. The "
    "smallest and largest pools are the test (Holm over every metric × the two ends; intervals simultaneous over "
    "that family; mde = the smallest difference detected with 80% power); the pools between are exploratory (plain "
    "95% intervals, uncorrected). The paper's crossover is keep_easy at the smallest pool and keep_hard at the "
    "largest (bench/collect/crossover.py)."
)


def _crossover_table(t: pd.DataFrame) -> pd.DataFrame:
    varying = [c for c in t.columns[: list(t.columns).index("metric")] if t[c].nunique(dropna=False) > 1]
    rows = []
    for _, r in t.iterrows():
        p = r.get("p_holm") if r["end"] else r["p"]
        rows.append(
            {
                **{c: _f(r[c], "g") for c in varying},
                "metric": r["metric"],
                "pool": f"{r['pool_size']:g}" + (f" ({r['end']})" if r["end"] else ""),
                "keeps": int(r["keeps"]),
                "hard − easy, log error [CI]": _diff_cell(r),
                "p (Holm at the ends)": _f(p, ".2g"),
                "mde": _f(r["mde"], ".3f") if r["end"] else "",
                "favours": r["favours"],
            }
        )
    return pd.DataFrame(rows)


def _diff_cell(r) -> str:
    """The mean difference and its interval; '—' where no seed has both strategies."""
    if not np.isfinite(r["pooled_gain"]):
        return "—"
    interval = f" [{_f(r['lo'], '+.3f')}, {_f(r['hi'], '+.3f')}]" if np.isfinite(r["lo"]) else ""
    return f"{r['pooled_gain']:+.3f}{interval}"


def _crossover_sections(t: pd.DataFrame) -> list:
    if t.empty:
        return []
    return [
        ("h3", "Crossover: keep_easy against keep_hard at each pool size", None),
        ("p", _CROSSOVER_NOTE, None),
        ("table", "", _crossover_table(t)),
    ]


_BUDGET_NOTE = (
    "Every steps-budget run is used (flagged cells too). A budget fixes the optimiser steps; examples seen differ "
    "by partial last batches (examples_seen_ratio: smallest over largest among a budget's cells). Best keep is "
    "chosen among the rule's keeps and its full pool (keep 1: the static full pool; pure InfoBatch for an "
    "InfoBatch rule). The prediction is the rule's compute law (one b and τ across its keeps and full pool, a "
    "scale per keep), drawn only where its bootstrap intervals identify b and τ (fit_status ok). At one pool a keep "
    "has one kept-set size, so a per-keep fit pins down only a·S^b and how fast repeats lose value; it cannot "
    "say what a different kept-set size would give."
)


def _budget_sections(res: dict) -> list:
    """At a fixed pool under several step budgets: every rule at equal optimiser steps, the best keep per budget
    (observed among all keeps and the full pool, and predicted by the identified rule laws) and the held-out check
    against the trivial predictors."""
    if res["budgets"].empty:
        return []
    return [
        ("h3", "Equal optimiser steps: best error over keep and the full pool at each step budget", None),
        ("p", _BUDGET_NOTE, None),
        ("table", "", _pretty(bg.rules_at_budget(res["budgets"]))),
        ("h3", "Best keep at each budget: observed (keeps and full pool) and predicted by the rule's law", None),
        ("table", "", _pretty(res["budgets"], fmt=".4g")),
        ("h3", "Compute laws per rule (shared b and τ, a scale per keep; 95% bootstrap intervals)", None),
        ("table", "", _pretty(res.get("compute_rules", pd.DataFrame()), fmt=".3g")),
        ("h3", "Prediction check: laws fitted without each rule's largest budget, against trivial predictors", None),
        (
            "p",
            "Regret = observed error at the chosen keep − best observed error at the held-out budget, for the fit's "
            "keep, the largest pruned keep and the full pool; fit_beats_trivial says whether the fit's regret is "
            "below both.",
            None,
        ),
        ("table", "", _pretty(res["budget_holdout"], fmt=".4g")),
    ]


def _mixed_settings_notes(ok: pd.DataFrame) -> list[str]:
    """Say when one dataset's runs differ in test split or other never-pooled settings."""
    notes = []
    for col, what in (("test_key", "test splits"), ("budget", "budgets"), ("label_noise", "label-noise levels")):
        if col not in ok or ok.empty:
            continue
        for ds, g in ok.groupby("dataset"):
            vals = sorted({str(v) for v in g[col].dropna()})
            if len(vals) > 1:
                notes.append(
                    f"dataset {ds} mixes {len(vals)} {what} ({', '.join(vals[:4])}): "
                    "they are analysed as separate groups, never pooled."
                )
    return notes


def _detail_sections(
    loaded: LoadResult, ok: pd.DataFrame, res: dict, cfg: dict, ctx_cols: Sequence[str], plot_paths: list[str]
) -> list:
    fits, tolerance = res["fits"], cfg["tolerance"]
    S: list[tuple[str, str, Any]] = [("h2", "Detailed fits", None), ("p", _method_note(cfg["small_data_frac"]), None)]
    S.append(("h3", "Pareto frontiers (best over keep and pool size at each n)", None))
    S.append(("table", "", _fits_table(fits, "frontier", ctx_cols)))
    S.append(("h3", "Learning curves (fixed keep, n varies with pool size)", None))
    S.append(("table", "", _fits_table(fits, "curve", ctx_cols)))
    S.append(("h3", f"Droppable fraction (tolerance {tolerance:g} absolute error)", None))
    S.append(
        (
            "p",
            "Smallest tested keep such that every keep at or above it has mean error ≤ "
            "full-data (keep=1) error + tolerance; droppable = 1 − min_keep.",
            None,
        )
    )
    S.append(("table", "", _pretty(res["droppable"], drop=("tolerance",))))
    if not res["compute"].empty:
        S.append(("h3", "Compute-aware fits (Goyal et al. 2024)", None))
        S.append(
            (
                "p",
                "Per keep: error = a·e^b over the first pass of the kept set, each later pass j worth "
                "b·0.5^(j/τ) (τ = half-life in passes), fitted on runs of different sizes and budgets "
                "(e = examples seen); 95% bootstrap intervals. Needs ≥ 4 distinct (n, e) cells. Status 'ok' only "
                "when the intervals are finite, b's below 0 and τ's inside the grid; otherwise 'not identified' ('no "
                "replicates' when every cell holds one run) and no prediction is drawn from it. With one kept-set "
                "size per keep (one pool) a and b trade off: only a·S^b and the decay of repeats are constrained.",
                None,
            )
        )
        S.append(("table", "", _pretty(res["compute"], fmt=".3g")))
    S.append(("h3", "How the scores were computed (from the records)", None))
    S.append(
        (
            "table",
            "Each metric's probe and the settings that set its cost and resolution, with what the metric reported "
            "while scoring, over its distinct score arrays (bench/collect/score_settings.py).",
            score_settings_table(ok),
        )
    )
    S.append(("h3", "Class balance of the kept sets", None))
    S.append(("table", "", _pretty(res["class_balance"], fmt=".3g")))
    S.append(("h3", "More figures", None))
    S.append(
        (
            "images",
            "",
            [
                p
                for p in plot_paths
                if p.endswith(".png") and not Path(p).name.startswith(("panels_", "error_vs_keep_"))
            ],
        )
    )
    S += _flagged_sections(loaded, ok, cfg["max_train_error"])
    return S


def _flagged_sections(loaded: LoadResult, ok: pd.DataFrame, max_train_error: float | None) -> list:
    S: list[tuple[str, str, Any]] = []
    cells = flagged_cells_table(ok, [c for c in fr.CONTEXT_KEYS if c in ok.columns])
    n_runs = int(cells["seeds"].sum()) if len(cells) else 0
    counts = f"{len(cells)} cells, {n_runs} runs" if max_train_error is not None else "flag off: --max-train-error < 0"
    S.append(("h2", f"Flagged cells: did not fit their training data ({counts})", None))
    S.append(
        (
            "table",
            "A cell (metric, strategy, keep, pool, context) is flagged when the median training error of its seeds "
            "is above the threshold; flagged cells are left out of the scaling fits, frontiers and verdicts with "
            "all their seeds, and kept in the compute-budget tables. No seed is dropped on its own."
            if len(cells)
            else "",
            _pretty(cells.drop(columns=[c for c in ("dataset", "model") if c in cells]).head(100)),
        )
    )
    failed = loaded.failed
    S.append(("h2", f"Failed or unusable records ({len(failed)})", None))
    if len(failed):
        cols = [
            c
            for c in (
                "run_id",
                "status",
                "reason",
                "superseded",
                "dataset",
                "metric",
                "keep",
                "pool_size",
                "seed",
                "source",
            )
            if c in failed
        ]
        S.append(
            ("table", "" if len(failed) <= 50 else "First 50 shown; see failed.csv.", _pretty(failed[cols].head(50)))
        )
    return S


def _config_sections(loaded: LoadResult, cfg: dict, command: str) -> list:
    ok, failed = loaded.ok, loaded.failed
    summary = pd.DataFrame(
        [
            ("JSON files scanned", loaded.files_scanned),
            ("non-record JSON skipped", loaded.non_record_json),
            ("duplicate record files ignored", len(loaded.duplicates)),
            ("successful runs", len(ok)),
            ("failed / unusable records", len(failed)),
            (
                "… of which superseded by an ok record of the same run",
                int(failed["superseded"].fillna(False).astype(bool).sum()) if "superseded" in failed else 0,
            ),
            *[
                (c, _distinct(ok, c))
                for c in (
                    "dataset",
                    "model",
                    "metric",
                    "strategy",
                    "keep",
                    "pool_size",
                    "seed",
                    "budget",
                    "label_noise",
                    "test_key",
                    "sweep",
                )
                if c in ok and ok[c].notna().any()
            ],
        ],
        columns=["item", "value"],
    )
    return [
        ("h2", "Inputs", None),
        ("table", "", _pretty(summary)),
        ("h2", "Command and configuration", None),
        ("code", command, None),
        ("code", json.dumps(cfg, indent=2, default=str), None),
    ]


def _sections(
    loaded: LoadResult,
    ok: pd.DataFrame,
    res: dict,
    cfg: dict,
    command: str,
    plot_paths: list[str],
    ctx_cols: Sequence[str],
) -> list[tuple[str, str, Any]]:
    """The report, answer first: answer, summary, key figures; then details, flagged runs, configuration."""
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    S: list[tuple[str, str, Any]] = [
        ("h1", "Data-pruning benchmark report", None),
        (
            "p",
            f"Generated {now} by bench.collect from {len(ok)} successful run(s) in {len(cfg['paths'])} path(s).",
            None,
        ),
    ]
    S += _answer_sections(ok, res, ctx_cols, plot_paths)
    S += _detail_sections(loaded, ok, res, cfg, ctx_cols, plot_paths)
    S += _config_sections(loaded, cfg, command)
    return S


_SUMMARY_NOTE = (
    "Per rule (metric × strategy): its Pareto frontier (best keep fraction at each number n of kept "
    "examples) against random pruning's at the same n. Gain = error(random) − error(rule), positive = the "
    "rule is better, with a 95% t interval paired by seed (Welch's where the seeds differ), at the largest "
    "n where either side prunes; 'per-n better / worse' counts the n where that interval is above / below 0, "
    "uncorrected for the number of n per rule: exploratory. The test to quote is the pooled one: the rule's mean "
    "relative gain (log error of random − log error of the rule) over the n where it is in play, with a seed "
    "variance shared across n, its interval simultaneous over the "
    "rules compared and its p Holm-corrected across them; 'mde' is the smallest mean relative gain it detects with 80% "
    "power (bench/collect/pooled.py). ν is the frontier's "
    "power-law exponent with a bootstrap interval. Shape: 'power law' when a·n^−ν + E∞ fits and an "
    "exponential does not, 'bends below' when the power law is rejected, the curve steepens and an exponential "
    "fits (the paper's claim), else 'not determinable' — by lack-of-fit F-tests against the seeds' own scatter "
    "(p-values shown; calibration on synthetic curves in results/shape_calibration/)."
)


def _region_note(small_data_frac: float | None) -> str:
    """Which sizes the fits use, as the collect run set it (``--small-data-frac``)."""
    if small_data_frac is None:
        return "at every size"
    return f"in the power-law region (sizes whose mean error is above {small_data_frac:g} × chance are left out, noted)"


def _method_note(small_data_frac: float | None) -> str:
    return _METHOD_NOTE.format(region=_region_note(small_data_frac))


_METHOD_NOTE = (
    "Fits of E(x) = a·x^(−ν) + E∞ (E∞ ≥ 0, or fixed at 0 — the column 'form' says which, chosen by AICc) by "
    "bounded least squares on log-errors over all seed-level runs, multi-start, {region}. 'preferred (ΔAICc)' compares with "
    "E(x) = b·exp(−(x−x_min)/n0) + E∞ (> 0 favours the power law; empty below 5 sizes); the verdict to quote is "
    "'shape' in the summary (lack-of-fit F-tests). ν intervals: percentile bootstrap resampling x points and "
    "seeds (frontiers: seeds within each (keep, pool) cell, frontier re-selected, then points); none below 5 "
    "sizes. ⚠ marks fits whose status is not 'ok' (few points, flat curve, parameter at bound, CI wider than "
    "the estimate): do not quote those numbers."
)


def _render_md(sections, out_dir: Path) -> str:
    out = []
    for kind, text, payload in sections:
        if kind == "h1":
            out.append(f"# {text}\n")
        elif kind == "h2":
            out.append(f"## {text}\n")
        elif kind == "h3":
            out.append(f"### {text}\n")
        elif kind == "p":
            out.append(text + "\n")
        elif kind == "code":
            out.append("```\n" + text + "\n```\n")
        elif kind == "table":
            if text:
                out.append(text + "\n")
            out.append(markdown_table(payload) + "\n")
        elif kind == "images":
            for p in payload:
                rel = os.path.relpath(p, out_dir)
                out.append(f"![{Path(p).stem}]({rel})\n")
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1400px;
padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:12px;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3} tr:nth-child(even){background:#fafafa}
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;font-size:12px}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}
figure{margin:1em 0} figcaption{font-size:12px;color:#555}
"""


def _render_html(sections) -> str:
    body = []
    title = "Data-pruning benchmark report"
    for kind, text, payload in sections:
        t = html.escape(text)
        if kind == "h1":
            title = text
            body.append(f"<h1>{t}</h1>")
        elif kind in ("h2", "h3"):
            body.append(f"<{kind}>{t}</{kind}>")
        elif kind == "p":
            body.append("<p>" + re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", t) + "</p>")
        elif kind == "code":
            body.append(f"<pre>{t}</pre>")
        elif kind == "table":
            if text:
                body.append(f"<p>{t}</p>")
            if payload is None or payload.empty:
                body.append("<p><em>(none)</em></p>")
            else:
                body.append(payload.to_html(index=False, escape=True, border=0, na_rep=""))
        elif kind == "images":
            for p in payload:
                data = base64.b64encode(Path(p).read_bytes()).decode("ascii")
                cap = html.escape(Path(p).stem)
                body.append(
                    f'<figure><img alt="{cap}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{cap}</figcaption></figure>"
                )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n"
        + _LOADED_SCRIPT
        + "\n</body></html>\n"
    )


#: Marks the body with how many images decoded (``data-images-loaded``): a browser test reads it back.
_LOADED_SCRIPT = (
    "<script>window.addEventListener('load',function(){document.body.dataset.imagesLoaded="
    "Array.prototype.filter.call(document.images,function(i){return i.complete&&i.naturalWidth>0;})"
    ".length;});</script>"
)


# =========================================================================== wandb
def _wandb_frame(df: pd.DataFrame) -> pd.DataFrame:
    d = df.astype(object)
    return d.where(pd.notna(d), None)


def _sweep_project_and_group(runs: pd.DataFrame) -> tuple[str, str | None]:
    """The wandb project and group of the sweep(s) a collection summarises, so its run sits with theirs: the
    runs' logger project (the most common one) and their sweep name (several sweeps: their names joined by '+')."""

    def logger_project(blob: Any) -> str | None:
        try:
            return ((json.loads(blob) or {}).get("logger") or {}).get("project")
        except (TypeError, ValueError):
            return None

    projects = runs["config_json"].map(logger_project).dropna() if "config_json" in runs else pd.Series([])
    project = str(projects.mode().iloc[0]) if len(projects) else "data-pruning"
    sweeps = sorted(runs["sweep"].dropna().astype(str).unique()) if "sweep" in runs else []
    return project, "+".join(sweeps) or None


def _log_wandb(
    log_wandb: bool | str, out_dir: Path, runs: pd.DataFrame, fits: pd.DataFrame, plot_paths: list[str], config: dict
) -> dict:
    """Log runs/fits tables and PNG plots to a wandb ``collect`` run; never raises."""
    try:
        import wandb  # noqa: PLC0415 - optional dependency, imported lazily
    except ImportError:
        warnings.warn("wandb logging requested but wandb is not installed; skipping", stacklevel=3)
        return {"status": "skipped", "reason": "wandb not installed"}
    mode = os.environ.get("WANDB_MODE", "offline")
    project, group = _sweep_project_and_group(runs)
    project = log_wandb if isinstance(log_wandb, str) else os.environ.get("WANDB_PROJECT", project)
    try:
        run = wandb.init(
            project=project,
            group=group,
            job_type="collect",
            mode=mode,
            dir=str(out_dir),
            config=json.loads(json.dumps(config, default=str)),
        )
        try:
            payload: dict[str, Any] = {
                "runs": wandb.Table(dataframe=_wandb_frame(runs)),
                "fits": wandb.Table(dataframe=_wandb_frame(fits)),
            }
            for p in plot_paths:
                if p.endswith(".png"):
                    payload[f"plots/{Path(p).stem}"] = wandb.Image(p)
            wandb.log(payload)
            info = {
                "status": "logged",
                "mode": mode,
                "project": project,
                "run_dir": getattr(run, "dir", None) if run is not None else None,
            }
        finally:
            wandb.finish()
        return info
    except Exception as e:  # noqa: BLE001 - logging must not lose the written outputs
        warnings.warn(f"wandb logging failed: {type(e).__name__}: {e}", stacklevel=3)
        return {"status": "error", "error": f"{type(e).__name__}: {e}"}
