"""The report's key figure: small multiples, one panel per (metric, strategy).

Each panel shows that rule's learning curves (error vs kept examples, one line per keep fraction, coloured
by keep), its Pareto frontier (black), and the baseline's (random pruning's) fitted frontier power law as
a grey dashed reference, on shared log-log axes so panels compare at a glance. The panel title carries the
shape verdict and the gain over the baseline at the largest shared n.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bench.collect.fit import predict
from bench.collect.plots import FORMATS, _figure, _fmt, _groups, _isnan, _loglog, _name, _save, _suptitle, _title
from bench.collect.reference import DYNAMIC_STRATEGIES
from bench.collect.verdict import match_mask as _match

__all__ = ["plot_metric_panels"]


def _baseline_fit(fits: pd.DataFrame, key: dict, baseline: str, strategy: str):
    """The baseline's frontier fit: static random pruning (InfoBatch on random subsets is a rule, not the baseline),
    with the panel's strategy where it has one."""
    f = fits.loc[_match(fits, {**key, "kind": "frontier", "metric": baseline})]
    f = f.loc[~f["strategy"].isin(DYNAMIC_STRATEGIES)]
    same = f.loc[f["strategy"] == strategy]
    f = same if len(same) else f
    return f.iloc[0].to_dict() if len(f) else None


def _panel_title(metric, strategy, verdicts: pd.DataFrame | None, key: dict) -> str:
    t = f"{metric} / {strategy}"
    if verdicts is None or verdicts.empty:
        return t
    v = verdicts.loc[_match(verdicts, {**key, "metric": metric, "strategy": strategy})]
    if v.empty:
        return t
    r = v.iloc[0]
    t += f"\n{r['shape'] or 'no fit'}"
    if not _isnan(r.get("gain")) and pd.notna(r.get("gain")):
        lo, hi = r.get("gain_lo"), r.get("gain_hi")
        t += f"; gain {r['gain']:+.3f}" + (f" [{lo:+.3f},{hi:+.3f}]" if pd.notna(lo) else "")
    return t


def _draw_panel(ax, curves: pd.DataFrame, front: pd.DataFrame, base_fit, cmap, keeps) -> None:
    for k, cg in curves.groupby("keep", sort=True):
        cg = cg.sort_values("x")
        color = cmap(keeps.index(k) / max(len(keeps) - 1, 1))
        ax.plot(cg["x"], cg["mean"], "o-", ms=3, lw=1, color=color, label=f"keep {k:g}")
    if not front.empty:
        fp = front.loc[front["pareto"].astype(bool)].sort_values("x")
        ax.plot(fp["x"], fp["mean"], "-", color="black", lw=2, label="frontier")
    if base_fit is not None and not _isnan(base_fit.get("a")) and pd.notna(base_fit.get("a")):
        xs = np.geomspace(curves["x"].min(), curves["x"].max(), 100)
        ys = predict("power_law", {"a": base_fit["a"], "nu": base_fit["nu"], "e_inf": base_fit["e_inf"]}, xs)
        ax.plot(xs, ys, "--", color="grey", lw=1.4, label="random: power-law fit")


def plot_metric_panels(
    curves: pd.DataFrame,
    frontier: pd.DataFrame,
    fits: pd.DataFrame,
    out_dir,
    verdicts: pd.DataFrame | None = None,
    *,
    baseline: str = "random",
    context: Sequence[str] = (),
    formats: Sequence[str] = FORMATS,
) -> list[str]:
    """One figure per (dataset, model, context): panels per (metric, strategy), baseline first."""
    from matplotlib import colormaps

    if curves is None or curves.empty:
        return []
    ctx = [c for c in context if c in curves.columns]
    fig_cols = ["dataset", "model", *ctx, "x_var"]
    cmap, paths = colormaps["viridis"], []
    for fkey, g in _groups(curves, fig_cols):
        rules = sorted({(m, s) for m, s in zip(g["metric"], g["strategy"])}, key=lambda ms: (ms[0] != baseline, ms))
        keeps = sorted(set(g["keep"]))
        fig, axes = _figure(len(rules), ncols=4, size=(3.9, 3.3))
        for ax, (m, s) in zip(axes, rules):
            cg = g.loc[(g["metric"] == m) & (g["strategy"] == s)]
            fr = (
                frontier.loc[_match(frontier, {**fkey, "metric": m, "strategy": s})] if not frontier.empty else frontier
            )
            _draw_panel(ax, cg, fr, _baseline_fit(fits, fkey, baseline, s), cmap, keeps)
            ax.set_ylim(g["mean"].min() * 0.85, g["mean"].max() * 1.15)
            _loglog(ax)
            ax.grid(True, which="both", alpha=0.2)
            ax.set_title(_panel_title(m, s, verdicts, fkey), fontsize=8)
            ax.set_xlabel(_fmt(fkey.get("x_var")), fontsize=8)
        axes[0].set_ylabel("test error")
        axes[0].legend(fontsize=6, loc="lower left")
        _suptitle(
            fig,
            "Learning curves by keep fraction, frontier (black) and random's power law (grey): "
            + _title({k: v for k, v in fkey.items() if k != "x_var"}),
        )
        paths += _save(fig, Path(out_dir), _name("panels", fkey), formats)
    return paths
