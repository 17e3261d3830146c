"""What a study cost on the machine that ran it (``scripts/study_cost.py``): the seconds each of its scores took to
compute, read from the score store's sidecars (``compute_seconds``) for the score keys its records used, and the
seconds and images of its students, read from the records (``wall_time_s``, ``examples_seen``).

Both are wall-clock seconds of the process that did the work, so they include whatever else the machine was doing
at the time (a pause, a test suite): they measure this run of the study, not the code's best speed. Not counted:
process start-up and the resumable script's skip passes over runs already done."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench.collect.table import load

_STAGE_ORDER = ("baselines", "infobatch")


def student_stage(metric: str, strategy: str, seed: int) -> str:
    """The stage of the study a student belongs to: the baselines (random pruning and the full pool), InfoBatch, or
    one seed's metric students."""
    if strategy == "infobatch":
        return "infobatch"
    if metric in ("random", "none"):
        return "baselines"
    return f"seed {seed}"


def student_costs(records: list[str]) -> pd.DataFrame:
    """Per stage: runs, seconds, images trained on and images per second, from the successful records."""
    ok = load(records).ok
    if ok.empty:
        return pd.DataFrame(columns=["stage", "runs", "seconds", "images", "images_per_s"])
    ok = ok.assign(stage=[student_stage(m, s, int(k)) for m, s, k in zip(ok["metric"], ok["strategy"], ok["seed"])])
    g = ok.groupby("stage").agg(
        runs=("run_id", "size"), seconds=("wall_time_s", "sum"), images=("examples_seen", "sum")
    )
    g["images_per_s"] = g["images"] / g["seconds"]
    order = [s for s in _STAGE_ORDER if s in g.index] + sorted(s for s in g.index if s not in _STAGE_ORDER)
    return g.loc[order].reset_index()


def _settings(spec: dict) -> str:
    """A score's settings apart from its pool, seed and label noise: the metric, its parameters, the probe model and
    the data source."""
    data = {k: v for k, v in (spec.get("dataset") or {}).items() if k not in ("pool_size", "label_noise")}
    return json.dumps([spec.get("metric"), spec.get("params"), spec.get("model"), data], sort_keys=True, default=str)


def score_costs(records: list[str], store: Path) -> tuple[pd.DataFrame, int]:
    """(one row per score array in ``store`` computed with the settings of a score the records used: metric, pool,
    label noise, seed, seconds to compute; the number of other arrays in the store, left out). Settings are matched
    rather than keys so that scores whose students are still to run, and the same scores on a pool with flipped
    labels, count; a try with other settings does not."""
    used = {str(k) for k in load(records).ok.get("score_key", pd.Series(dtype=object)).dropna() if k}
    metas = {}
    for side in sorted(Path(store).glob("*.json")):
        try:
            metas[side.stem] = json.loads(side.read_text())
        except (OSError, ValueError):
            continue
    study = {_settings(metas[k].get("spec") or {}) for k in used if k in metas}
    rows, other = [], 0
    for meta in metas.values():
        spec = meta.get("spec") or {}
        if _settings(spec) not in study:
            other += 1
            continue
        data = spec.get("dataset") or {}
        rows.append(
            {
                "metric": spec.get("metric"),
                "pool_size": int(data.get("pool_size") or 0),
                "label_noise": float(data.get("label_noise") or 0.0),
                "seed": int(spec.get("seed", 0)),
                "seconds": float(meta.get("compute_seconds", np.nan)),
            }
        )
    return pd.DataFrame(rows, columns=["metric", "pool_size", "label_noise", "seed", "seconds"]), other


def _pool_label(pool: int, noise: float) -> str:
    return f"pool {pool:,}" + (f", {noise:.0%} flipped" if noise else "")


def _score_table(scores: pd.DataFrame) -> list[str]:
    """Metric x (pool, label noise), the seconds of each seed; then each seed's total."""
    seeds = sorted(scores["seed"].unique())
    cols = sorted(
        {(int(p), float(q)) for p, q in zip(scores["pool_size"], scores["label_noise"])}, key=lambda c: (c[1], c[0])
    )
    lines = ["| metric | " + " | ".join(_pool_label(*c) for c in cols) + " |", "|---|" + "---|" * len(cols)]
    for metric, g in scores.groupby("metric"):
        cells = []
        for pool, noise in cols:
            by_seed = g.loc[(g["pool_size"] == pool) & (g["label_noise"] == noise)].groupby("seed")["seconds"].sum()
            cells.append(" / ".join(f"{by_seed[k]:,.0f}" if k in by_seed.index else "—" for k in seeds))
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    clean = scores.loc[scores["label_noise"] == 0].groupby("seed")["seconds"].sum()
    noisy = scores.loc[scores["label_noise"] > 0, "seconds"].sum()
    total = ", ".join(f"seed {k}: {clean[k]:,.0f} s" for k in clean.index)
    return lines + [
        "",
        f"Each cell: seconds for seeds {' / '.join(str(k) for k in seeds)} (— not computed yet). Total by seed over "
        f"the clean pools: {total or 'none'}; over the pools with flipped labels: {noisy:,.0f} s.",
    ]


def _student_table(students: pd.DataFrame) -> list[str]:
    lines = ["| stage | runs | seconds | images trained on | images / s |", "|---|---|---|---|---|"]
    for r in students.itertuples():
        lines.append(f"| {r.stage} | {r.runs} | {r.seconds:,.0f} | {r.images:,.0f} | {r.images_per_s:,.0f} |")
    return lines


def cost_markdown(
    scores: pd.DataFrame, students: pd.DataFrame, command: str, budget_h: float | None = None, other_scores: int = 0
) -> str:
    """The report, total first."""
    score_s = float(scores["seconds"].sum()) if len(scores) else 0.0
    student_s = float(students["seconds"].sum()) if len(students) else 0.0
    total_h = (score_s + student_s) / 3600
    answer = (
        f"**{total_h:.1f} h of machine time so far**: {score_s / 3600:.1f} h of scores ({len(scores)} score arrays) "
        f"and {student_s / 3600:.1f} h of students ({int(students['runs'].sum()) if len(students) else 0} runs)"
    )
    if budget_h is not None:
        answer += f", against a budget of {budget_h:g} h"
    lines = [
        "# What the study cost",
        "",
        answer + ".",
        "",
        f"`{command}`",
        "",
        __doc__.split("\n\n", 1)[1].replace("\n", " "),
        "",
        "## Students, by stage",
        "",
        *_student_table(students),
        "",
    ]
    if len(scores):
        lines += [
            "## Scores, by metric and pool (seconds to compute each seed's scores)",
            "",
            *_score_table(scores),
            "",
        ]
    if other_scores:
        lines += [f"Not counted: {other_scores} other score array(s) in the store, computed with other settings.", ""]
    return "\n".join(lines)
