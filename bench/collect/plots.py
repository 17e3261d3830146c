"""Matplotlib figures for the collector (Agg, no pyplot global state).

Every ``plot_*`` function writes one figure per group into ``out_dir`` in each
of ``formats`` (PNG and SVG by default) and returns the written paths (PNG
first for each figure).  Inputs are the frames produced by
:mod:`bench.collect.frontier` and the ``fits`` frame of :mod:`bench.collect.report`.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bench.collect.fit import EXP, predict
from bench.collect.frontier import CONTEXT_KEYS

__all__ = [
    "plot_class_balance",
    "plot_error_vs_keep",
    "plot_frontiers",
    "plot_learning_curves",
    "plot_theory_vs_simulation",
]

FORMATS = ("png", "svg")


# =========================================================================== helpers
def _figure(n_panels: int, ncols: int = 3, size=(4.6, 3.6)):
    """A Figure with ``n_panels`` axes on a grid and fixed margins.

    Margins are set in inches rather than by a layout engine: constrained/tight
    layout re-measures every tick label and dominates the cost of saving.
    """
    from matplotlib.figure import Figure  # lazy: keep `import bench.collect` light

    ncols = max(1, min(ncols, n_panels))
    nrows = max(1, math.ceil(n_panels / ncols))
    w, h = size[0] * ncols, size[1] * nrows + 0.35
    fig = Figure(figsize=(w, h))
    left, right, bottom, top = 0.9, 0.15, 0.55, 0.65  # inches
    fig.subplots_adjust(
        left=left / w,
        right=1 - right / w,
        bottom=bottom / h,
        top=1 - top / h,
        wspace=1.0 / (size[0] - 1.05),
        hspace=1.0 / (size[1] - 1.2),
    )
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _compact(v: float) -> str:
    """A tick label short enough for a narrow panel: 500, 2k, 50k, 1.5M; 0.2 stays 0.2."""
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:g}{suffix}"
    return f"{v:g}"


def _loglog(ax) -> None:
    """Log-log axes with short plain-number tick labels (2k, 50k) that do not collide.

    Minor ticks at 2x and 5x each decade are labelled when an axis spans at most
    ~2 decades (otherwise only decades are labelled).
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    fmt = FuncFormatter(lambda v, _: _compact(v))
    for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        axis.set_major_formatter(fmt)
        axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        small = lo > 0 and hi > lo and math.log10(hi / lo) <= 2.2
        axis.set_minor_formatter(fmt if small else NullFormatter())


def _slug(*parts) -> str:
    s = "_".join(_fmt(p) for p in parts if not _isnan(p))
    return re.sub(r"[^A-Za-z0-9._=+-]+", "-", s).strip("-")[:150] or "plot"


def _name(prefix: str, key: dict) -> str:
    """File name for a figure: dataset/model/x_var values, other keys as k=v."""
    parts = [prefix]
    for k, v in key.items():
        if _isnan(v):
            continue
        parts.append(_fmt(v) if k in ("dataset", "model", "x_var") else f"{k}={_fmt(v)}")
    return _slug(*parts)


def _wrap(fig, text: str, fontsize: float) -> str:
    """Wrap ``text`` to the figure width (approximate glyph width 0.6 em)."""

    width_in = fig.get_figwidth()
    chars = max(20, int(width_in * 72 / (0.6 * fontsize)))
    return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))


def _suptitle(fig, text: str, fontsize: float = 10) -> None:
    """Figure title wrapped to the figure width, with the top margin grown to fit it."""
    t = _wrap(fig, text, fontsize)
    fig.suptitle(t, fontsize=fontsize, y=1 - 0.08 / fig.get_figheight(), va="top")
    n = t.count("\n") + 1
    fig.subplots_adjust(top=1 - (0.45 + n * fontsize * 1.3 / 72) / fig.get_figheight())


def _isnan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _fmt(v) -> str:
    if _isnan(v):
        return "-"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _norm(v):
    """Hashable, NaN-safe key component."""
    if _isnan(v) or (not isinstance(v, str) and pd.isna(v)):
        return None
    if isinstance(v, (np.floating, float)):
        return float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def _key(row, cols) -> tuple:
    return tuple(_norm(row[c]) for c in cols)


def _save(fig, out_dir: Path, name: str, formats: Sequence[str]) -> list[str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        p = out_dir / f"{name}.{fmt}"
        fig.savefig(p, dpi=110 if fmt == "png" else None)
        paths.append(str(p))
    return paths


def _ctx(df: pd.DataFrame, context: Sequence[str] | None = None) -> list[str]:
    """Context columns of a frame made by :mod:`bench.collect.frontier`.

    ``context`` is the resolved list used to build it; by default the standard
    context keys and any ``extra.*`` columns are taken.
    """
    if context is not None:
        return [c for c in context if c in df.columns]
    known = set(CONTEXT_KEYS)
    return [c for c in df.columns if c in known or c.startswith("extra.")]


def _title(key: dict) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in key.items() if not _isnan(v))


def _groups(df: pd.DataFrame, cols: Sequence[str]) -> Iterable[tuple[dict, pd.DataFrame]]:
    if df is None or df.empty:
        return []
    out = []
    for k, g in df.groupby(list(cols), dropna=False, sort=True):
        k = k if isinstance(k, tuple) else (k,)
        out.append((dict(zip(cols, k)), g))
    return out


def _ci_label(fit) -> str:
    if fit is None or _isnan(fit.get("nu")):
        return ""
    s = f"ν={fit['nu']:.2f}"
    if not _isnan(fit.get("nu_lo")):
        s += f" [{fit['nu_lo']:.2f},{fit['nu_hi']:.2f}]"
    if fit.get("preferred") == EXP:
        s += ", exp preferred"
    if fit.get("fit_status") != "ok":
        s += " (?)"
    return s


def _fit_lines(ax, fit: dict, color, x_lo: float, x_hi: float) -> None:
    """Draw the fitted power law (dashed) and, if preferred, the exponential (dotted)."""
    if fit is None or _isnan(fit.get("nu")) or _isnan(fit.get("a")):
        return
    xs = np.geomspace(x_lo, x_hi, 100)
    ax.plot(
        xs,
        predict("power_law", {"a": fit["a"], "nu": fit["nu"], "e_inf": fit["e_inf"]}, xs),
        ls="--",
        lw=1.1,
        color=color,
        alpha=0.9,
    )
    if fit.get("preferred") == EXP and not _isnan(fit.get("exp_n0")):
        ax.plot(
            xs,
            predict(
                EXP, {"b": fit["exp_b"], "n0": fit["exp_n0"], "e_inf": fit["exp_e_inf"], "x_min": fit["x_min"]}, xs
            ),
            ls=":",
            lw=1.3,
            color=color,
        )


def _fit_index(fits: pd.DataFrame | None, kind: str, cols: Sequence[str]) -> dict:
    if fits is None or fits.empty:
        return {}
    f = fits.loc[fits["kind"] == kind]
    cols = [c for c in cols if c in f.columns]
    return {_key(r, cols): r.to_dict() for _, r in f.iterrows()}


def _errorbar(ax, x, m, s, **kw):
    s = np.where(np.isfinite(s), s, 0.0)
    return ax.errorbar(x, m, yerr=s, capsize=2, ms=4, lw=1.2, **kw)


# =========================================================================== plots
def plot_learning_curves(
    curves: pd.DataFrame,
    fits: pd.DataFrame | None,
    out_dir,
    formats: Sequence[str] = FORMATS,
    context: Sequence[str] | None = None,
) -> list[str]:
    """Error vs x on log-log axes, one panel per (metric, strategy), one line per keep.

    Points are seed means with ±1 SEM; dashed lines are the fitted power laws
    (dotted: exponential, when AIC prefers it).  ``(?)`` marks fits whose
    ``fit_status`` is not ``ok``.
    """
    out_dir = Path(out_dir)
    ctx = _ctx(curves, context)
    fig_cols = ["dataset", "model"] + ctx + ["x_var"]
    fit_cols = ["dataset", "model", "metric", "strategy", "keep"] + ctx + ["x_var"]
    idx = _fit_index(fits, "curve", fit_cols)
    paths = []
    for fkey, g in _groups(curves, fig_cols):
        panels = _groups(g, ["metric", "strategy"])
        fig, axes = _figure(len(panels))
        keeps = sorted(set(g["keep"].dropna()))
        from matplotlib import colormaps

        cmap = colormaps["viridis"]
        for ax, (pkey, pg) in zip(axes, panels):
            for kg_key, kg in _groups(pg, ["keep"]):
                keep = kg_key["keep"]
                kg = kg.sort_values("x")
                i = keeps.index(keep) if keep in keeps else 0
                color = cmap(0.9 * i / max(1, len(keeps) - 1))
                fit = idx.get(_key({**fkey, **pkey, "keep": keep, **{c: kg[c].iloc[0] for c in ctx}}, fit_cols))
                label = f"{_fmt(pkey['metric'])}/{_fmt(pkey['strategy'])} keep={_fmt(keep)}"
                lab_fit = _ci_label(fit)
                _errorbar(
                    ax,
                    kg["x"],
                    kg["mean"],
                    kg["sem"],
                    fmt="o",
                    color=color,
                    label=label + (f": {lab_fit}" if lab_fit else ""),
                )
                _fit_lines(ax, fit, color, kg["x"].min(), kg["x"].max())
            _loglog(ax)
            ax.set_xlabel(fkey["x_var"])
            ax.set_ylabel("test error")
            ax.set_title(f"{_fmt(pkey['metric'])} / {_fmt(pkey['strategy'])}", fontsize=9)
            ax.grid(True, which="both", alpha=0.25)
            ax.legend(fontsize=6.5)
        _suptitle(fig, "Learning curves: " + _title(fkey))
        paths += _save(fig, out_dir, _name("learning_curves", fkey), formats)
    return paths


def plot_frontiers(
    frontier: pd.DataFrame,
    fits: pd.DataFrame | None,
    out_dir,
    curves: pd.DataFrame | None = None,
    baseline_metric: str = "random",
    formats: Sequence[str] = FORMATS,
    context: Sequence[str] | None = None,
) -> list[str]:
    """Pareto frontier per (metric, strategy) vs the random-pruning baseline.

    The baseline is the frontier of ``metric == baseline_metric`` (black); if no
    such runs exist, the keep = 1 learning curve ("no pruning") from ``curves``.
    Filled markers are Pareto-optimal points, hollow ones the per-x best that
    are dominated; dashed lines are frontier fits.
    """
    out_dir = Path(out_dir)
    ctx = _ctx(frontier, context)
    fig_cols = ["dataset", "model"] + ctx + ["x_var"]
    fit_cols = ["dataset", "model", "metric", "strategy"] + ctx + ["x_var"]
    idx = _fit_index(fits, "frontier", fit_cols)
    paths = []
    for fkey, g in _groups(frontier, fig_cols):
        fig, axes = _figure(1, size=(6.4, 4.6))
        ax = axes[0]
        lines = _groups(g, ["metric", "strategy"])
        style_of = _rule_styles(g)
        has_base = any(k["metric"] == baseline_metric for k, _ in lines)
        for lkey, lg in lines:
            lg = lg.sort_values("x")
            base = lkey["metric"] == baseline_metric
            color, fmt = style_of[_key(lkey, _RULE_COLS)]
            color = "black" if base else color
            fit = idx.get(_key({**fkey, **lkey}, fit_cols))
            lab = f"{_fmt(lkey['metric'])}/{_fmt(lkey['strategy'])}"
            if _ci_label(fit):
                lab += f": {_ci_label(fit)}"
            par = lg.loc[lg["pareto"]]
            _errorbar(
                ax,
                par["x"],
                par["mean"],
                par["sem"],
                fmt="D" if base else fmt[0],
                color=color,
                label=lab + (" (baseline)" if base else ""),
            )
            dom = lg.loc[~lg["pareto"]]
            if len(dom):
                ax.plot(dom["x"], dom["mean"], "o", mfc="none", color=color, alpha=0.5, ms=4)
            if len(par):
                _fit_lines(ax, fit, color, par["x"].min(), par["x"].max())
        if not has_base and curves is not None and not curves.empty:
            sel = curves
            for c, v in fkey.items():
                sel = sel.loc[sel[c].isna()] if _isnan(v) else sel.loc[sel[c] == v]
            sel = sel.loc[np.isclose(sel["keep"].astype(float), 1.0)]
            if len(sel):
                agg = sel.groupby("x", as_index=False)["mean"].mean().sort_values("x")
                ax.plot(agg["x"], agg["mean"], "k--", marker="s", ms=4, label="no pruning (keep=1, all metrics pooled)")
        _loglog(ax)
        ax.set_xlabel(fkey["x_var"])
        ax.set_ylabel("test error (best over keep, pool)")
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=7)
        ax.set_title(_wrap(fig, "Pareto frontier vs random pruning\n" + _title(fkey), 9), fontsize=9)
        paths += _save(fig, out_dir, _name("frontier", fkey), formats)
    return paths


_RULE_COLS = ["metric", "strategy"]
_STRATEGY_FMT = {"keep_hard": "o-", "keep_easy": "s--"}
_REFERENCE_COLORS = {"random": "black", "none": "dimgrey"}  # the baselines every rule is read against


def _rule_styles(df: pd.DataFrame) -> dict[tuple, tuple]:
    """(color, fmt) per (metric, strategy) of ``df``: one color per metric, the line and marker by strategy (keep_hard solid
    circles, keep_easy dashed squares, any other dash-dotted triangles), so that 15 rules stay tellable apart; random
    pruning black and the full pool grey."""
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    rules = df[_RULE_COLS].drop_duplicates().to_dict("records")
    metrics = sorted({str(r["metric"]) for r in rules} - set(_REFERENCE_COLORS))

    def color(metric: str):
        return _REFERENCE_COLORS.get(metric) or palette(metrics.index(metric) % 10)

    return {_key(r, _RULE_COLS): (color(str(r["metric"])), _STRATEGY_FMT.get(str(r["strategy"]), "^-.")) for r in rules}


def _shared_legend(fig, axes, width: float = 2.6) -> None:
    """One legend for every panel's lines: in the grid's first empty slot when there is one, else in a column of
    ``width`` inches added to the right of the grid (the panels keep their size)."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    if not seen:
        return
    handles, labels = list(seen.values()), list(seen.keys())
    spare = [a for a in fig.axes if not a.get_visible()]
    if spare:
        spare[0].set_visible(True)
        spare[0].axis("off")
        spare[0].legend(handles, labels, loc="upper left", fontsize=7, ncol=2 if len(seen) > 8 else 1)
        return
    w0 = fig.get_figwidth()
    sp = fig.subplotpars
    fig.set_figwidth(w0 + width)
    fig.subplots_adjust(left=sp.left * w0 / (w0 + width), right=sp.right * w0 / (w0 + width))
    top = axes[0].get_position().y1
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=((w0 + 0.1) / (w0 + width), top), fontsize=7)


def plot_error_vs_keep(
    ek: pd.DataFrame,
    droppable: pd.DataFrame | None,
    out_dir,
    tolerance: float = 0.005,
    formats: Sequence[str] = FORMATS,
    context: Sequence[str] | None = None,
) -> list[str]:
    """Error vs keep fraction, one panel per pool size, one line per (metric, strategy).

    The grey band is [reference, reference + tolerance] around the full-data
    (keep = 1) error; dotted verticals mark each metric's ``min_keep``.
    """
    out_dir = Path(out_dir)
    ctx = _ctx(ek, context)
    fig_cols = ["dataset", "model"] + ctx
    d_cols = ["dataset", "model", "metric", "strategy", "pool_size"] + ctx
    didx = {}
    if droppable is not None and not droppable.empty:
        didx = {_key(r, d_cols): r.to_dict() for _, r in droppable.iterrows()}
    paths = []
    for fkey, g in _groups(ek, fig_cols):
        style_of = _rule_styles(g)
        panels = _groups(g, ["pool_size"])
        fig, axes = _figure(len(panels), ncols=3, size=(4.4, 3.4))
        for ax, (pkey, pg) in zip(axes, panels):
            refs = []
            for lkey, lg in _groups(pg, ["metric", "strategy"]):
                lg = lg.sort_values("keep")
                color, fmt = style_of[_key(lkey, _RULE_COLS)]
                label = f"{_fmt(lkey['metric'])}/{_fmt(lkey['strategy'])}"
                _errorbar(ax, lg["keep"], lg["mean"], lg["sem"], fmt=fmt, color=color, label=label)
                dr = didx.get(_key({**fkey, **pkey, **lkey}, d_cols))
                if dr and not _isnan(dr.get("ref_error")):
                    refs.append((dr["ref_error"], color))
                    if not _isnan(dr.get("min_keep")) and dr["min_keep"] < 1:
                        ax.axvline(dr["min_keep"], color=color, ls=":", lw=1)
            values = [r for r, _ in refs]
            if values and max(values) - min(values) <= 1e-9 + 1e-3 * tolerance:
                r = values[0]
                ax.axhspan(r, r + tolerance, color="grey", alpha=0.2, label=f"keep=1 error .. +{tolerance:g}")
                ax.axhline(r, color="grey", lw=0.8)
            else:  # metrics have different full-data references: one threshold line each
                for i, (r, color) in enumerate(refs):
                    ax.axhline(
                        r + tolerance,
                        color=color,
                        ls="--",
                        lw=0.8,
                        label=f"keep=1 error +{tolerance:g}" if i == 0 else None,
                    )
            ax.set_xlabel("keep fraction")
            ax.set_ylabel("test error")
            ax.grid(True, alpha=0.25)
            ax.set_title(f"pool_size={_fmt(pkey['pool_size'])}", fontsize=9)
        _shared_legend(fig, axes)
        _suptitle(fig, "Error vs keep fraction: " + _title(fkey))
        paths += _save(fig, out_dir, _name("error_vs_keep", fkey), formats)
    return paths


def plot_class_balance(cb: pd.DataFrame, out_dir, formats: Sequence[str] = FORMATS) -> list[str]:
    """Class imbalance (TV distance kept vs pool) vs keep, one line per (metric, strategy)."""
    out_dir = Path(out_dir)
    paths = []
    if cb is None or cb.empty or cb["class_imbalance_mean"].notna().sum() == 0:
        return paths
    for fkey, g in _groups(cb, ["dataset"]):
        if g["class_imbalance_mean"].notna().sum() == 0:
            continue
        fig, axes = _figure(1, size=(6.4, 4.4))
        ax = axes[0]
        style_of = _rule_styles(g)
        for lkey, lg in _groups(g, _RULE_COLS):
            lg = lg.sort_values("keep")
            color, fmt = style_of[_key(lkey, _RULE_COLS)]
            _errorbar(
                ax,
                lg["keep"],
                lg["class_imbalance_mean"],
                lg["class_imbalance_std"],
                fmt=fmt,
                color=color,
                label=f"{_fmt(lkey['metric'])}/{_fmt(lkey['strategy'])}",
            )
        ax.set_xlabel("keep fraction")
        ax.set_ylabel("class imbalance (TV distance kept vs pool)")
        ax.grid(True, alpha=0.25)
        ax.legend(fontsize=7)
        ax.set_title(_wrap(fig, "Class imbalance vs keep: " + _title(fkey), 9), fontsize=9)
        paths += _save(fig, out_dir, _name("class_balance", fkey), formats)
    return paths


def plot_theory_vs_simulation(
    curves: pd.DataFrame, out_dir, formats: Sequence[str] = FORMATS, context: Sequence[str] | None = None
) -> list[str]:
    """Simulated error (markers, ±1 SEM) vs the recorded theory prediction (lines).

    Drawn for every curve whose records carry ``extra.eps_theory`` (aggregated
    into the ``theory`` column of :func:`bench.collect.frontier.learning_curves`).
    """
    out_dir = Path(out_dir)
    if curves is None or curves.empty or "theory" not in curves.columns:
        return []
    th = curves.loc[curves["theory"].notna()]
    ctx = _ctx(th, context)
    from matplotlib import colormaps

    cmap = colormaps["plasma"]
    paths = []
    for fkey, g in _groups(th, ["dataset", "model"] + ctx + ["x_var"]):
        panels = _groups(g, ["metric", "strategy"])
        fig, axes = _figure(len(panels))
        keeps = sorted(set(g["keep"].dropna()))
        for ax, (pkey, pg) in zip(axes, panels):
            for kk, kg in _groups(pg, ["keep"]):
                kg = kg.sort_values("x")
                i = keeps.index(kk["keep"]) if kk["keep"] in keeps else 0
                color = cmap(0.85 * i / max(1, len(keeps) - 1))
                _errorbar(
                    ax, kg["x"], kg["mean"], kg["sem"], fmt="o", color=color, label=f"sim keep={_fmt(kk['keep'])}"
                )
                ax.plot(kg["x"], kg["theory"], "-", color=color, lw=1.2, label=f"theory keep={_fmt(kk['keep'])}")
            _loglog(ax)
            ax.set_xlabel(fkey["x_var"])
            ax.set_ylabel("test error")
            ax.grid(True, which="both", alpha=0.25)
            ax.set_title(f"{_fmt(pkey['metric'])} / {_fmt(pkey['strategy'])}", fontsize=9)
            ax.legend(fontsize=6.5, ncol=2)
        _suptitle(fig, "Theory vs simulation: " + _title(fkey))
        paths += _save(fig, out_dir, _name("theory_vs_sim", fkey), formats)
    return paths
