"""Load run-record JSON files into tidy pandas frames.

A *run record* is one JSON file per training run, written by the harness as
``<results_dir>/<run_id>.json`` (possibly nested in sub-folders).  Any ``*.json``
file whose top-level object is a dict holding both a ``run_id`` and a
``status`` key is a record; every other JSON file is skipped (and counted).

The collector never re-trains: everything here is a pure function of the files.

Flattening rules (one row per record):

* top-level scalars become columns of the same name; other top-level dicts of
  scalars become ``<key>.<sub>`` columns; any other nested value a JSON string;
* ``extra`` scalars become ``extra.<key>`` columns (nested values are stored as
  JSON strings); use :func:`resolve_column` to look a name up with or without
  the prefix;
* ``versions`` scalars become ``versions.<key>``;
* ``kept_score_stats`` becomes ``kept_score_mean`` / ``_std`` / ``_min`` / ``_max``;
* ``class_hist_kept`` / ``class_hist_pool`` are kept as JSON strings and
  summarised by ``n_classes``, ``class_imbalance`` (total-variation distance
  between the normalised kept and pool histograms, in [0, 1]) and
  ``class_min_ratio`` (min over classes present in the pool of
  p_kept(c) / p_pool(c); 1 = perfectly balanced, 0 = some class dropped);
* ``config`` is kept verbatim as a compact JSON string in ``config_json``;
* ``curve`` is summarised by ``curve_points`` (see :func:`load_curves` for the
  long-format curves);
* ``source`` is the path of the file the record came from.

Records that are not usable are *listed*, never silently dropped: they go to
the ``failed`` frame with their ``status`` (``failed``, any unknown status,
``unreadable`` for files that are not valid JSON, or ``invalid`` for an ``ok``
record without a finite ``test_error``) and a ``reason``.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.collect.reference import DYNAMIC_STRATEGIES

__all__ = [
    "CORE_COLUMNS",
    "LoadResult",
    "class_imbalance",
    "class_min_ratio",
    "find_record_files",
    "flatten_record",
    "load",
    "load_curves",
    "load_records",
    "markdown_escape",
    "markdown_table",
    "resolve_column",
]

#: Columns guaranteed to exist in both frames returned by :func:`load_records`
#: (filled with NaN/None when a record lacks them), in this order.
CORE_COLUMNS: tuple[str, ...] = (
    "run_id",
    "status",
    "reason",
    "sweep",
    "dataset",
    "pool_size",
    "metric",
    "strategy",
    "keep",
    "n_train",
    "model",
    "seed",
    "budget",
    "epochs",
    "steps",
    "min_steps",
    "steps_floor_applied",
    "label_noise",
    "noisy_kept",
    "noisy_kept_frac",
    "test_error",
    "test_accuracy",
    "test_loss",
    "train_error",
    "train_loss",
    "test_key",
    "n_test",
    "n_classes",
    "class_imbalance",
    "class_min_ratio",
    "kept_score_mean",
    "kept_score_std",
    "kept_score_min",
    "kept_score_max",
    "curve_points",
    "wall_time_s",
    "source",
)

_NUMERIC = (
    "pool_size",
    "keep",
    "n_train",
    "seed",
    "epochs",
    "steps",
    "min_steps",
    "label_noise",
    "noisy_kept",
    "noisy_kept_frac",
    "test_error",
    "test_accuracy",
    "test_loss",
    "train_error",
    "train_loss",
    "n_test",
    "n_classes",
    "class_imbalance",
    "class_min_ratio",
    "kept_score_mean",
    "kept_score_std",
    "kept_score_min",
    "kept_score_max",
    "curve_points",
    "wall_time_s",
)

#: Fields an ``ok`` record needs to be placed on a curve; one without them is listed as ``invalid``.
REQUIRED_OK_FIELDS: tuple[str, ...] = ("dataset", "model", "metric", "strategy", "keep", "n_train", "pool_size")

# Top-level fields that get special treatment in flatten_record.
_STRUCTURED = {"curve", "class_hist_kept", "class_hist_pool", "config", "extra", "versions", "kept_score_stats"}

# Keep fractions are floats read from JSON; round them so that 0.1 written by
# two different code paths groups together.
_KEEP_DECIMALS = 9


@dataclass
class LoadResult:
    """Everything :func:`load` found. ``ok``/``failed`` are the two tidy frames."""

    ok: pd.DataFrame
    failed: pd.DataFrame
    files_scanned: int = 0
    non_record_json: int = 0
    duplicates: list[str] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)

    @property
    def n_records(self) -> int:
        return len(self.ok) + len(self.failed)


# --------------------------------------------------------------------------- helpers
def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, bool, int, float))


def _as_hist(v: Any) -> np.ndarray | None:
    if not isinstance(v, (list, tuple)) or len(v) == 0:
        return None
    try:
        h = np.asarray(v, dtype=float)
    except (TypeError, ValueError):
        return None
    if h.ndim != 1 or not np.all(np.isfinite(h)) or np.any(h < 0) or h.sum() <= 0:
        return None
    return h


def class_imbalance(kept: Any, pool: Any) -> float:
    """Total-variation distance ``0.5 * sum_c |p_kept(c) - p_pool(c)|``.

    Both histograms are normalised to probabilities first, so the value measures
    how much pruning *changed* the class mix (0 = unchanged, 1 = disjoint).
    Returns NaN when either histogram is missing, empty, has negative/non-finite
    counts, or the two lengths differ.
    """
    k, p = _as_hist(kept), _as_hist(pool)
    if k is None or p is None or len(k) != len(p):
        return math.nan
    return float(0.5 * np.abs(k / k.sum() - p / p.sum()).sum())


def class_min_ratio(kept: Any, pool: Any) -> float:
    """``min_c p_kept(c) / p_pool(c)`` over classes present in the pool (NaN if undefined)."""
    k, p = _as_hist(kept), _as_hist(pool)
    if k is None or p is None or len(k) != len(p):
        return math.nan
    pk, pp = k / k.sum(), p / p.sum()
    present = pp > 0
    return float(np.min(pk[present] / pp[present]))


def resolve_column(df: pd.DataFrame, name: str) -> str:
    """Return the column of ``df`` meant by ``name``: ``name`` itself or ``extra.<name>``."""
    if name in df.columns:
        return name
    if f"extra.{name}" in df.columns:
        return f"extra.{name}"
    raise KeyError(f"no column {name!r} (nor 'extra.{name}') in the run table")


def _to_float(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


# --------------------------------------------------------------------------- discovery
def find_record_files(
    paths: str | os.PathLike | Iterable[str | os.PathLike], exclude: Iterable[str | os.PathLike] = ()
) -> list[Path]:
    """All ``*.json`` files under ``paths`` (directories are searched recursively).

    Files given explicitly are included whatever their suffix.  Files under any
    directory in ``exclude`` (e.g. the collector's own output folder) are skipped.
    Overlapping inputs are de-duplicated by resolved path; the result is sorted.
    Raises ``FileNotFoundError`` for a path that does not exist.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    excluded = [Path(e).resolve() for e in exclude]
    seen: dict[Path, None] = {}
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise FileNotFoundError(f"records path does not exist: {p}")
        if p.is_file():
            seen[p.resolve()] = None
            continue
        for f in sorted(p.rglob("*.json")):
            r = f.resolve()
            if f.is_file() and not any(r.is_relative_to(e) for e in excluded):
                seen[r] = None
    return sorted(seen)


def _read_json(path: Path) -> tuple[Any, str | None]:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh), None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return None, f"{type(e).__name__}: {e}"


def _is_record(obj: Any) -> bool:
    return isinstance(obj, dict) and "run_id" in obj and "status" in obj


# --------------------------------------------------------------------------- flattening
def flatten_record(rec: dict, source: str | os.PathLike | None = None) -> dict[str, Any]:
    """Flatten one run record into a dict of scalars (see module docstring)."""
    row: dict[str, Any] = {}
    for k, v in rec.items():
        if k in _STRUCTURED:
            continue
        if isinstance(v, dict) and v and all(_is_scalar(u) for u in v.values()):
            for sk, sv in v.items():  # e.g. pool_score_stats -> pool_score_stats.mean
                row[f"{k}.{sk}"] = sv
        else:
            row[k] = v if _is_scalar(v) else json.dumps(v, sort_keys=True, default=str)

    extra = rec.get("extra") or {}
    if isinstance(extra, dict):
        for k, v in extra.items():
            row[f"extra.{k}"] = v if _is_scalar(v) else json.dumps(v, sort_keys=True, default=str)

    versions = rec.get("versions") or {}
    if isinstance(versions, dict):
        for k, v in versions.items():
            row[f"versions.{k}"] = v if _is_scalar(v) else json.dumps(v, sort_keys=True, default=str)

    stats = rec.get("kept_score_stats")
    for s in ("mean", "std", "min", "max"):
        row[f"kept_score_{s}"] = _to_float(stats.get(s)) if isinstance(stats, dict) else math.nan

    hk, hp = rec.get("class_hist_kept"), rec.get("class_hist_pool")
    row["class_hist_kept"] = json.dumps(hk) if hk is not None else None
    row["class_hist_pool"] = json.dumps(hp) if hp is not None else None
    row["n_classes"] = len(hp) if isinstance(hp, (list, tuple)) else math.nan
    row["class_imbalance"] = class_imbalance(hk, hp)
    row["class_min_ratio"] = class_min_ratio(hk, hp)

    n_train, noisy = _to_float(rec.get("n_train")), _to_float(rec.get("noisy_kept"))
    row["noisy_kept_frac"] = noisy / n_train if n_train and n_train > 0 else math.nan

    curve = rec.get("curve")
    row["curve_points"] = len(curve) if isinstance(curve, list) else 0
    cfg = rec.get("config")
    fixed_steps = ((cfg or {}).get("train") or {}).get("steps") if isinstance(cfg, dict) else None
    prune = ((cfg or {}).get("prune") or {}) if isinstance(cfg, dict) else {}
    strategy = rec.get("strategy")
    # the static selection that picked the kept set (a dynamic strategy prunes on top of prune.static's)
    row["static_strategy"] = prune.get("static", "keep_hard") if strategy in DYNAMIC_STRATEGIES else strategy
    if fixed_steps is not None:  # a fixed optimiser-step budget (train.steps): runs of different ones never pool
        row["step_budget"] = int(fixed_steps)
    row["config_json"] = (
        json.dumps(cfg, sort_keys=True, separators=(",", ":"), default=str) if cfg is not None else None
    )
    if source is not None:
        row["source"] = str(source)
    return row


def _frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for c in CORE_COLUMNS:
        if c not in df.columns:
            df[c] = np.nan
    for c in _NUMERIC:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    df["keep"] = df["keep"].round(_KEEP_DECIMALS)
    for c in df.columns:
        if c.startswith("extra."):
            conv = pd.to_numeric(df[c], errors="coerce")
            # Only convert columns that are entirely numeric (ignoring missing values).
            if conv.notna().sum() == df[c].notna().sum():
                df[c] = conv
    rest = sorted(c for c in df.columns if c not in CORE_COLUMNS)
    ordered = [c for c in CORE_COLUMNS if c != "source"] + rest + ["source"]
    return df[ordered].reset_index(drop=True)


# --------------------------------------------------------------------------- loading
def _iter_raw(files: list[Path]) -> Iterator[tuple[Path, Any, str | None]]:
    for f in files:
        obj, err = _read_json(f)
        yield f, obj, err


def load(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    dedupe: bool = True,
    exclude: Iterable[str | os.PathLike] = (),
) -> LoadResult:
    """Load all run records under ``paths``; see :func:`load_records` for the frames.

    Duplicated ``run_id`` s are resolved per kind: the newest ``ok`` file is the
    run's result and the newest non-``ok`` file is listed in ``failed`` (with
    ``superseded = True`` when an ``ok`` record of the same run exists, as after a
    failed rerun); other copies are reported in ``LoadResult.duplicates`` and a
    warning.
    Directories in ``exclude`` are not searched.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    files = find_record_files(paths, exclude)
    ok_rows: list[dict] = []
    bad_rows: list[dict] = []
    non_record = 0
    for f, obj, err in _iter_raw(files):
        if err is not None:
            # A truncated/half-written record is far more likely than a corrupt
            # unrelated JSON file, so list it rather than skipping it.
            bad_rows.append(
                {"run_id": f.stem, "status": "unreadable", "reason": err, "source": str(f), "_mtime": _mtime(f)}
            )
            continue
        if not _is_record(obj):
            non_record += 1
            continue
        row = flatten_record(obj, f)
        row["_mtime"] = _mtime(f)
        (ok_rows if str(obj.get("status")) == "ok" and _usable(obj, row) else bad_rows).append(row)

    duplicates: list[str] = []
    if dedupe:
        ok_rows, bad_rows, duplicates = _dedupe(ok_rows, bad_rows)
        if duplicates:
            warnings.warn(
                f"{len(duplicates)} duplicate run record file(s) ignored (same run_id): "
                + ", ".join(duplicates[:5])
                + (" ..." if len(duplicates) > 5 else ""),
                stacklevel=2,
            )
    for r in ok_rows + bad_rows:
        r.pop("_mtime", None)
    ok = _frame(ok_rows)
    failed = _frame(bad_rows)
    ok = ok.sort_values(
        ["dataset", "model", "metric", "strategy", "pool_size", "keep", "seed", "run_id"],
        na_position="last",
        kind="stable",
    ).reset_index(drop=True)
    return LoadResult(
        ok=ok,
        failed=failed,
        files_scanned=len(files),
        non_record_json=non_record,
        duplicates=duplicates,
        roots=[str(p) for p in paths],
    )


def _usable(obj: dict, row: dict) -> bool:
    """Whether an ``ok`` record has every required field and a finite test error; if not, its ``row`` becomes
    ``invalid`` with the reason."""
    missing = [k for k in REQUIRED_OK_FIELDS if obj.get(k) is None]
    if missing:
        row["status"], row["reason"] = "invalid", "status 'ok' but missing field(s): " + ", ".join(missing)
        return False
    if not math.isfinite(_to_float(obj.get("test_error"))):
        row["reason"] = (
            f"status 'ok' but test_error={obj.get('test_error')!r}; "
            + (str(row.get("reason")) if row.get("reason") else "")
        ).rstrip("; ")
        row["status"] = "invalid"
        return False
    return True


def _mtime(f: Path) -> float:
    try:
        return f.stat().st_mtime
    except OSError:
        return 0.0


def _dedupe(ok_rows: list[dict], bad_rows: list[dict]) -> tuple[list[dict], list[dict], list[str]]:
    """One ok and at most one non-ok record per run_id (the newest file of each kind).

    A non-ok record whose run_id also has an ok record (e.g. a failed rerun that the
    harness wrote next to the good result) stays in the failed list, marked
    ``superseded = True``.  Other copies are returned as dropped sources.
    """
    dropped: list[str] = []

    def newest(rows: list[dict]) -> dict[str, dict]:
        best: dict[str, dict] = {}
        for r in rows:
            rid = str(r.get("run_id"))
            if rid in best:
                keep, drop = (r, best[rid]) if r.get("_mtime", 0.0) > best[rid].get("_mtime", 0.0) else (best[rid], r)
                dropped.append(str(drop.get("source")))
                best[rid] = keep
            else:
                best[rid] = r
        return best

    ok, bad = newest(ok_rows), newest(bad_rows)
    for rid, r in bad.items():
        r["superseded"] = rid in ok
    return list(ok.values()), list(bad.values()), dropped


def load_records(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read every run record under ``paths`` into ``(ok_df, failed_df)``.

    ``ok_df`` has one row per successful run (``status == "ok"`` with a finite
    ``test_error``); ``failed_df`` lists every other record (failed, unknown
    status, unreadable JSON, ``ok`` without a result) with its ``reason``.
    Both frames have at least :data:`CORE_COLUMNS`.  Non-record JSON is skipped.
    """
    res = load(paths)
    return res.ok, res.failed


def load_curves(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Long-format per-epoch curves of all ``ok`` records.

    Columns: ``run_id``, ``dataset``, ``model``, ``metric``, ``strategy``, ``keep``,
    ``pool_size``, ``n_train``, ``seed`` and every key found in the curve entries
    (``epoch``, ``step``, ``test_error``, ``test_loss``, ...).
    """
    ids = ("run_id", "dataset", "model", "metric", "strategy", "keep", "pool_size", "n_train", "seed")
    rows: list[dict] = []
    for _f, obj, err in _iter_raw(find_record_files(paths)):
        if err is not None or not _is_record(obj) or obj.get("status") != "ok":
            continue
        for pt in obj.get("curve") or []:
            if isinstance(pt, dict):
                rows.append({**{k: obj.get(k) for k in ids}, **pt})
    df = pd.DataFrame(rows, columns=list(ids) if not rows else None)
    return df


def markdown_escape(s: Any) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-markdown table of ``df`` (``_(none)_`` when empty)."""
    if df is None or df.empty:
        return "_(none)_"
    cols = list(df.columns)
    lines = ["| " + " | ".join(markdown_escape(c) for c in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(markdown_escape(r[c]) for c in cols) + " |")
    return "\n".join(lines)
