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
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from . import frontier as fr
from . import plots
from .table import LoadResult, load

__all__ = ["FITS_COLUMNS", "NoRecordsError", "collect"]

#: Leading columns of fits.csv (group keys are inserted after ``kind``).
FITS_COLUMNS: tuple[str, ...] = (
    "nu", "nu_lo", "nu_hi", "a", "e_inf", "n_points", "aic_power", "aic_exp", "bic_power",
    "bic_exp", "preferred", "fit_status", "note",
)


class NoRecordsError(ValueError):
    """Raised when the given paths contain no run records at all."""


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
) -> dict[str, Any]:
    """Collect run records under ``paths`` and write every table, plot and report.

    Parameters
    ----------
    paths
        Result directories (searched recursively) and/or record files.
    out_dir
        Output directory; default ``<first path>/collect`` (``<parent>/collect`` for a file).
    command
        The command line to record in the report (the CLI passes its own; default: a
        description of this Python call).
    tolerance
        Absolute error tolerance for the droppable fraction (0.005 = 0.5 points).
    log_wandb
        ``False``; ``True`` to log to wandb (project ``$WANDB_PROJECT`` or ``bench``);
        or a project name.  Mode is ``$WANDB_MODE`` if set, else ``offline``.
        Skipped with a warning if wandb is not installed.
    x
        x-variable spec (see :mod:`bench.collect.frontier`); default ``n_train``,
        ``alpha_prune`` for ``dataset == "perceptron"``.
    n_boot, seed
        Bootstrap replicates per fit and the base RNG seed (results are deterministic).
    baseline_metric
        Metric drawn as the baseline in the frontier plot.
    context
        Columns that split curves in addition to the group keys.
    formats
        Image formats to write.

    Returns
    -------
    dict with ``out_dir``, ``files`` (name -> path), ``plots`` (paths), ``n_ok``,
    ``n_failed``, the frames ``runs``, ``failed``, ``fits``, ``frontier``, ``curves``,
    ``droppable``, ``class_balance``, ``error_vs_keep``, and ``wandb`` (status dict).

    Raises
    ------
    FileNotFoundError
        A path does not exist.
    NoRecordsError
        No run record was found.
    """
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
    out_dir = Path(out_dir)

    loaded = load(paths, exclude=[out_dir])
    if loaded.n_records == 0:
        raise NoRecordsError(
            f"no run records (JSON objects with 'run_id' and 'status') found under: {', '.join(paths)} "
            f"({loaded.files_scanned} JSON file(s) scanned)")
    out_dir.mkdir(parents=True, exist_ok=True)

    cfg = {
        "paths": paths, "out_dir": str(out_dir), "tolerance": tolerance,
        "x": x if x is not None else "auto (n_train; alpha_prune for dataset=perceptron)",
        "n_boot": n_boot, "seed": seed, "baseline_metric": baseline_metric,
        "context": list(context), "formats": list(formats), "log_wandb": log_wandb,
    }
    if command is None:
        command = (f"bench.collect.collect({paths!r}, out_dir={str(out_dir)!r}, "
                   f"tolerance={tolerance!r}, log_wandb={log_wandb!r}, x={x!r}, n_boot={n_boot!r}, "
                   f"seed={seed!r})")

    ok = loaded.ok
    ctx_cols = fr.resolve_context(ok, context)
    res = _analyse(ok, x=x, n_boot=n_boot, seed=seed, tolerance=tolerance, context=context)
    res["fits"] = _order_fits(res["fits"], ctx_cols)

    files: dict[str, str] = {}

    def write_csv(name: str, df: pd.DataFrame) -> None:
        p = out_dir / name
        df.to_csv(p, index=False)
        files[name] = str(p)

    write_csv("runs.csv", ok)
    write_csv("failed.csv", loaded.failed)
    write_csv("fits.csv", res["fits"])
    write_csv("frontier.csv", res["frontier"])
    write_csv("curves.csv", res["curves"])
    write_csv("error_vs_keep.csv", res["error_vs_keep"])
    write_csv("droppable.csv", res["droppable"])
    write_csv("class_balance.csv", res["class_balance"])
    cfg_path = out_dir / "collect_config.json"
    cfg_path.write_text(json.dumps({"command": command, **cfg}, indent=2, default=str))
    files["collect_config.json"] = str(cfg_path)

    plot_paths = _make_plots(res, out_dir / "plots", tolerance, baseline_metric, formats, ctx_cols)

    sections = _sections(loaded, res, cfg, command, plot_paths, tolerance, ctx_cols)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    md_path.write_text(_render_md(sections, out_dir), encoding="utf-8")
    html_path.write_text(_render_html(sections), encoding="utf-8")
    files["report.md"], files["report.html"] = str(md_path), str(html_path)

    wb = {"status": "disabled"}
    if log_wandb:
        wb = _log_wandb(log_wandb, out_dir, ok, res["fits"], plot_paths, {"command": command, **cfg})

    return {"out_dir": str(out_dir), "files": files, "plots": plot_paths, "n_ok": len(ok),
            "n_failed": len(loaded.failed), "runs": ok, "failed": loaded.failed, "wandb": wb,
            "command": command, "config": cfg, **res}


# =========================================================================== analysis
def _analyse(ok: pd.DataFrame, *, x, n_boot: int, seed: int, tolerance: float,
             context: Sequence[str]) -> dict[str, pd.DataFrame]:
    empty = pd.DataFrame()
    if ok.empty:
        fits = pd.DataFrame(columns=["kind", *FITS_COLUMNS])
        return {"curves": empty, "fits": fits, "frontier": empty, "error_vs_keep": empty,
                "droppable": empty, "class_balance": empty}
    curves = fr.learning_curves(ok, x=x, context=context)
    fc, _ = fr.fit_learning_curves(ok, x=x, context=context, n_boot=n_boot, seed=seed)
    ff, _ = fr.fit_frontiers(ok, x=x, context=context, n_boot=n_boot, seed=seed)
    front = fr.pareto_frontier(ok, x=x, context=context)
    fits = pd.concat([f for f in (fc, ff) if not f.empty], ignore_index=True) if not (
        fc.empty and ff.empty) else pd.DataFrame(columns=["kind", *FITS_COLUMNS])
    return {
        "curves": curves,
        "fits": fits,
        "frontier": front,
        "error_vs_keep": fr.error_vs_keep(ok, context=context),
        "droppable": fr.droppable_fraction(ok, tolerance, context=context),
        "class_balance": fr.class_balance(ok),
    }


def _order_fits(fits: pd.DataFrame, ctx_cols: Sequence[str]) -> pd.DataFrame:
    keys = [c for c in (*fr.CURVE_KEYS, *ctx_cols, "x_var", "y") if c in fits.columns]
    lead = ["kind", *keys, *FITS_COLUMNS]
    for c in lead:
        if c not in fits.columns:
            fits[c] = np.nan
    return fits[lead + [c for c in fits.columns if c not in lead]]


_PLOT_PREFIXES = ("learning_curves_", "frontier_", "error_vs_keep_", "class_balance_", "theory_vs_sim_")


def _make_plots(res: dict, plot_dir: Path, tolerance: float, baseline_metric: str,
                formats: Sequence[str], ctx_cols: Sequence[str]) -> list[str]:
    if res["curves"].empty:
        return []
    c = list(ctx_cols)
    # Remove figures of a previous collection into the same folder (only our own file names),
    # so that plots/ never shows stale groups next to fresh ones.
    if plot_dir.is_dir():
        for f in plot_dir.iterdir():
            if f.is_file() and f.name.startswith(_PLOT_PREFIXES) and f.suffix.lstrip(".") in formats:
                f.unlink()
    out = []
    out += plots.plot_learning_curves(res["curves"], res["fits"], plot_dir, formats, context=c)
    out += plots.plot_frontiers(res["frontier"], res["fits"], plot_dir, curves=res["curves"],
                                baseline_metric=baseline_metric, formats=formats, context=c)
    out += plots.plot_error_vs_keep(res["error_vs_keep"], res["droppable"], plot_dir, tolerance, formats,
                                    context=c)
    out += plots.plot_class_balance(res["class_balance"], plot_dir, formats)
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
    keys = [c for c in (*fr.CURVE_KEYS, *ctx_cols, "x_var")
            if c in f.columns and not (kind == "frontier" and c == "keep")]
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
        row["preferred (ΔAIC)"] = (f"{r['preferred']} ({r['delta_aic']:+.1f})"
                                   if pd.notna(r.get("delta_aic")) else _f(r["preferred"]))
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


def _sections(loaded: LoadResult, res: dict, cfg: dict, command: str, plot_paths: list[str],
              tolerance: float, ctx_cols: Sequence[str]) -> list[tuple[str, str, Any]]:
    ok, failed = loaded.ok, loaded.failed
    S: list[tuple[str, str, Any]] = []
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    S.append(("h1", "Data-pruning benchmark report", None))
    S.append(("p", f"Generated {now} by bench.collect from {len(cfg['paths'])} path(s).", None))
    S.append(("h2", "Command and configuration", None))
    S.append(("code", command, None))
    S.append(("code", json.dumps(cfg, indent=2, default=str), None))

    S.append(("h2", "Inputs", None))
    summary = pd.DataFrame([
        ("JSON files scanned", loaded.files_scanned),
        ("non-record JSON skipped", loaded.non_record_json),
        ("duplicate record files ignored", len(loaded.duplicates)),
        ("successful runs", len(ok)),
        ("failed / unusable records", len(failed)),
        ("… of which superseded by an ok record of the same run",
         int(failed["superseded"].fillna(False).astype(bool).sum()) if "superseded" in failed else 0),
        *[(c, _distinct(ok, c)) for c in ("dataset", "model", "metric", "strategy", "keep",
                                          "pool_size", "seed", "budget", "label_noise", "sweep")
          if c in ok and ok[c].notna().any()],
    ], columns=["item", "value"])
    S.append(("table", "", _pretty(summary)))
    if len(failed):
        S.append(("h2", f"Failed records ({len(failed)})", None))
        cols = [c for c in ("run_id", "status", "reason", "superseded", "dataset", "metric", "keep",
                            "pool_size", "seed", "source") if c in failed]
        S.append(("table", "" if len(failed) <= 50 else "First 50 shown; see failed.csv.",
                  _pretty(failed[cols].head(50))))

    if ok.empty:
        S.append(("p", "No successful runs: nothing to fit.", None))
        return S
    fits = res["fits"]
    S.append(("h2", "Scaling exponents", None))
    S.append(("p", _METHOD_NOTE, None))
    S.append(("h3", "Learning curves (fixed keep, x varies with pool size)", None))
    S.append(("table", "", _fits_table(fits, "curve", ctx_cols)))
    S.append(("h3", "Pareto frontiers (best over keep and pool size at each x)", None))
    S.append(("table", "", _fits_table(fits, "frontier", ctx_cols)))

    S.append(("h2", f"Droppable fraction (tolerance {tolerance:g} absolute error)", None))
    S.append(("p", "Smallest tested keep such that every keep at or above it has mean error ≤ "
                   "full-data (keep=1) error + tolerance; droppable = 1 − min_keep.", None))
    S.append(("table", "", _pretty(res["droppable"], drop=("tolerance",))))
    S.append(("h2", "Class balance of the kept sets", None))
    S.append(("table", "", _pretty(res["class_balance"], fmt=".3g")))
    S.append(("h2", "Figures", None))
    S.append(("images", "", [p for p in plot_paths if p.endswith(".png")]))
    return S


_METHOD_NOTE = (
    "Fits of E(x) = a·x^(−ν) + E∞ (E∞ ≥ 0, or fixed at 0 — the column 'form' says which, chosen by AIC) "
    "by bounded least squares on log-errors over all seed-level runs, multi-start; compared by AIC with "
    "E(x) = b·exp(−(x−x_min)/n0) + E∞ (ΔAIC = AIC_exp − AIC_power; > 0 favours the power law). "
    "ν intervals: percentile bootstrap resampling x points and seeds (frontiers: seeds within each "
    "(keep, pool) cell, frontier re-selected, then points). ⚠ marks fits whose status is not 'ok' "
    "(few points, flat curve, parameter at bound, CI wider than the estimate): do not quote those numbers."
)


def _md_escape(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _md_table(df: pd.DataFrame) -> str:
    if df is None or df.empty:
        return "_(none)_"
    cols = list(df.columns)
    lines = ["| " + " | ".join(_md_escape(c) for c in cols) + " |",
             "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(_md_escape(r[c]) for c in cols) + " |")
    return "\n".join(lines)


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
            out.append(_md_table(payload) + "\n")
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
            body.append(f"<p>{t}</p>")
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
                body.append(f'<figure><img alt="{cap}" src="data:image/png;base64,{data}">'
                            f"<figcaption>{cap}</figcaption></figure>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


# =========================================================================== wandb
def _wandb_frame(df: pd.DataFrame) -> pd.DataFrame:
    d = df.astype(object)
    return d.where(pd.notna(d), None)


def _log_wandb(log_wandb: bool | str, out_dir: Path, runs: pd.DataFrame, fits: pd.DataFrame,
               plot_paths: list[str], config: dict) -> dict:
    """Log runs/fits tables and PNG plots to a wandb ``collect`` run; never raises."""
    try:
        import wandb  # noqa: PLC0415 - optional dependency, imported lazily
    except ImportError:
        warnings.warn("wandb logging requested but wandb is not installed; skipping", stacklevel=3)
        return {"status": "skipped", "reason": "wandb not installed"}
    mode = os.environ.get("WANDB_MODE", "offline")
    project = log_wandb if isinstance(log_wandb, str) else os.environ.get("WANDB_PROJECT", "data-pruning")
    try:
        run = wandb.init(project=project, job_type="collect", mode=mode, dir=str(out_dir),
                         config=json.loads(json.dumps(config, default=str)))
        try:
            payload: dict[str, Any] = {
                "runs": wandb.Table(dataframe=_wandb_frame(runs)),
                "fits": wandb.Table(dataframe=_wandb_frame(fits)),
            }
            for p in plot_paths:
                if p.endswith(".png"):
                    payload[f"plots/{Path(p).stem}"] = wandb.Image(p)
            wandb.log(payload)
            info = {"status": "logged", "mode": mode, "project": project,
                    "run_dir": getattr(run, "dir", None) if run is not None else None}
        finally:
            wandb.finish()
        return info
    except Exception as e:  # noqa: BLE001 - logging must not lose the written outputs
        warnings.warn(f"wandb logging failed: {type(e).__name__}: {e}", stacklevel=3)
        return {"status": "error", "error": f"{type(e).__name__}: {e}"}
