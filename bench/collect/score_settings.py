"""How each metric's scores were computed, read from the records: the probe, the settings that set a score's cost
and resolution (ensemble size, probe epochs, subsets, the self-supervised encoder's training, clusters), and what
the metric reported while it scored (memorization's models per example, in and held out). A study that reduces a
metric's protocol to fit its budget says so in its report, from the runs themselves."""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pandas as pd

#: The metric settings a reader needs to judge a score (the optimiser's settings are left to the records).
SETTING_FIELDS = (
    "n_models",
    "epochs",
    "total_epochs",
    "subset_fraction",
    "min_count",
    "encoder",
    "ssl_epochs",
    "k",
    "batch_size",
)
_NO_SCORES = ("none", "random")


def _probe(cfg: dict) -> str:
    metric, model = cfg.get("metric") or {}, cfg.get("model") or {}
    if metric.get("model"):
        return str(metric["model"])
    if metric.get("encoder") == "checkpoint":
        return f"checkpoint {metric.get('arch', '')} {metric.get('checkpoint', '')}".strip()
    width = f", width {model['width']:g}" if isinstance(model.get("width"), (int, float)) else ""
    return f"the student ({model.get('name', '?')}{width})"


def _settings(cfg: dict) -> str:
    metric = cfg.get("metric") or {}
    return ", ".join(f"{k} {metric[k]}" for k in SETTING_FIELDS if metric.get(k) is not None)


def _info(value) -> dict:
    """A record's ``extra.metric_info``: a dict, or the JSON text the loader flattens it to."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _reported(infos: list[dict]) -> str:
    """The metric's own report over its score arrays: each numeric field's range over them, a field reported as
    ``<name>_min`` / ``_median`` / ``_max`` shown once as its range."""
    values: dict[str, list[float]] = defaultdict(list)
    for info in infos:
        for k, v in info.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                name = k.removesuffix("_min").removesuffix("_max")
                if not k.endswith("_median"):
                    values[name].append(float(v))
    parts = []
    for k, v in values.items():
        lo, hi = np.min(v), np.max(v)
        parts.append(f"{k} {lo:.3g}" if lo == hi else f"{k} {lo:.3g}–{hi:.3g}")
    return ", ".join(parts)


def score_settings_table(ok: pd.DataFrame) -> pd.DataFrame:
    """One row per (metric, probe, settings) among the successful runs: how many runs and score arrays used it, and
    what the metric reported while scoring (over its distinct score arrays)."""
    cols = ["metric", "probe", "settings", "runs", "score arrays", "reported while scoring"]
    if ok.empty or "config_json" not in ok:
        return pd.DataFrame(columns=cols)
    groups: dict[tuple[str, str, str], dict] = {}
    for _, r in ok.loc[~ok["metric"].isin(_NO_SCORES)].iterrows():
        cfg = json.loads(r["config_json"]) if isinstance(r["config_json"], str) else {}
        g = groups.setdefault((r["metric"], _probe(cfg), _settings(cfg)), {"runs": 0, "infos": {}})
        g["runs"] += 1
        key = r.get("score_key") or r["run_id"]
        g["infos"][key] = _info(r.get("extra.metric_info"))
    rows = [
        [metric, probe, settings, g["runs"], len(g["infos"]), _reported(list(g["infos"].values()))]
        for (metric, probe, settings), g in sorted(groups.items())
    ]
    return pd.DataFrame(rows, columns=cols)
