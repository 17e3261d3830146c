"""Scores read from a file: precomputed metrics (e.g. the paper's released ImageNet scores) or another tool's.

``file`` settings:

- ``path``: a ``.npy`` file, or a ``.csv`` file (``format: auto`` picks by extension; or ``npy`` / ``csv``).
- ``.npy``: a 1-D array with one score per **train-split id** (length = the train split; the pool's ids are picked
  out) or one per **pool example** in pool order (length = the pool). ``index: auto`` decides by length (train-split
  ids win when the pool is the whole split, where both are the same); ``index: train`` or ``pool`` forces one.
- ``.csv``: columns ``id_column`` (default ``id``) and ``score_column`` (default ``score``). Integer ids are
  train-split ids; string ids (file names, as in ImageNet) are matched against the folder dataset's image paths,
  first as given (relative to the train folder, e.g. ``n01440764/n01440764_10026.JPEG``), then by base name.
  Rows for examples outside the pool are ignored; every pool example needs exactly one row.
- ``higher_is``: what a higher number in the file means.
  ``hard`` (default): higher = harder, the harness's own convention, used as is.
  ``keep``: higher = the example should be kept when pruning, as in the paper's released ImageNet CSVs (where the
  authors sign-flipped some metrics so that higher always means keep, and kept the *hard* examples). It is used as
  is too, so that ``prune=keep_hard`` keeps exactly the examples the file ranks as most worth keeping (the paper's
  selection) and ``keep_easy`` the opposite.
  ``easy``: higher = easier (e.g. raw prototype cosine *similarities*, confidences); the scores are negated.

Returns one float per pool example, higher = harder (after the ``higher_is`` mapping). Never cached: the file may
change under the same path, and reading it is cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.defaults import metric_settings
from bench.metrics import METRIC_DEFAULTS, ScoreContext, register_metric
from bench.metrics.probe import MetricError, resolve_params

FILE_DEFAULTS: dict[str, Any] = metric_settings("file")  # conf/metric/file.yaml: the one source
HIGHER_IS = ("hard", "keep", "easy")


def _npy_scores(arr: np.ndarray, ctx: ScoreContext, index: str, path: str) -> np.ndarray:
    if arr.ndim != 1:
        raise MetricError(f"metric.path={path}: expected a 1-D array of scores, got shape {arr.shape}")
    n_train, n_pool = ctx.splits.n_train, len(ctx.pool)
    if index == "auto":
        index = "train" if arr.size == n_train else "pool" if arr.size == n_pool else "bad"
    if index == "train":
        if arr.size != n_train:
            raise MetricError(
                f"metric.path={path} holds {arr.size} scores; index=train needs one per train-split example ({n_train})"
            )
        return arr[ctx.pool.ids]
    if index == "pool":
        if arr.size != n_pool:
            raise MetricError(
                f"metric.path={path} holds {arr.size} scores; index=pool needs one per pool example ({n_pool})"
            )
        return arr
    raise MetricError(
        f"metric.path={path} holds {arr.size} scores: expected one per train-split example "
        f"({n_train}) or one per pool example ({n_pool})"
    )


def _string_id_map(ctx: ScoreContext) -> dict[str, int]:
    """File name (relative to the train folder, and base name) -> train-split id, for folder datasets."""
    ds = ctx.splits.train_set
    samples = getattr(ds, "samples", None) or getattr(ds, "imgs", None)
    if samples is None:
        raise MetricError(
            f"metric=file: the id column holds strings, but dataset {ctx.splits.name} has no file "
            f"names to match them against; use integer train-split ids"
        )
    root = Path(getattr(ds, "root", ""))
    out: dict[str, int] = {}
    for i, (path, _) in enumerate(samples):
        pth = Path(path)
        try:
            out.setdefault(str(pth.relative_to(root)), i)
        except ValueError:
            pass
        out.setdefault(pth.name, i)
    return out


def _csv_scores(ctx: ScoreContext, p: dict, path: str) -> np.ndarray:
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except Exception as e:
        raise MetricError(f"metric.path={path} could not be read as CSV ({type(e).__name__}: {e})") from e
    for col in (p["id_column"], p["score_column"]):
        if col not in df.columns:
            raise MetricError(
                f"metric.path={path} has no column {col!r}; columns: {', '.join(map(str, df.columns))}"
                f" (set metric.id_column / metric.score_column)"
            )
    raw_ids = df[p["id_column"]]
    scores = pd.to_numeric(df[p["score_column"]], errors="coerce").to_numpy(dtype=np.float64)
    if pd.api.types.is_integer_dtype(raw_ids):
        ids = raw_ids.to_numpy(dtype=np.int64)
    else:
        names = _string_id_map(ctx)
        ids_list = [names.get(str(v), -1) for v in raw_ids]
        unknown = [str(v) for v, i in zip(raw_ids, ids_list) if i < 0]
        if unknown:
            raise MetricError(
                f"metric.path={path}: {len(unknown)} ids match no file of the train split, e.g. "
                f"{', '.join(unknown[:3])}"
            )
        ids = np.asarray(ids_list, dtype=np.int64)
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise MetricError(
            f"metric.path={path}: {int((counts > 1).sum())} ids appear more than once, e.g. "
            f"{uniq[counts > 1][:3].tolist()}"
        )
    lookup = dict(zip(ids.tolist(), range(ids.size)))
    rows = np.asarray([lookup.get(int(i), -1) for i in ctx.pool.ids], dtype=np.int64)
    missing = ctx.pool.ids[rows < 0]
    if missing.size:
        raise MetricError(
            f"metric.path={path} has no score for {missing.size} of the {len(ctx.pool)} pool examples "
            f"(train-split ids, e.g. {missing[:5].tolist()})"
        )
    return scores[rows]


def read_score_file(ctx: ScoreContext, params: dict) -> np.ndarray:
    """The file's scores for ``ctx.pool``, in the file's own direction (before ``higher_is``)."""
    p = resolve_params("file", params, FILE_DEFAULTS)
    if not p["path"]:
        raise MetricError("metric=file needs metric.path=<a .npy or .csv file of scores>")
    path = str(p["path"])
    if p["higher_is"] not in HIGHER_IS:
        raise MetricError(f"metric.higher_is={p['higher_is']!r} is not allowed; allowed: {', '.join(HIGHER_IS)}")
    if p["index"] not in ("auto", "train", "pool"):
        raise MetricError(f"metric.index={p['index']!r} is not allowed; allowed: auto, train, pool")
    if not Path(path).is_file():
        raise MetricError(f"metric.path={path} does not exist")
    fmt = p["format"]
    if fmt == "auto":
        fmt = {".npy": "npy", ".csv": "csv"}.get(Path(path).suffix.lower())
        if fmt is None:
            raise MetricError(
                f"metric.path={path}: cannot tell the format from the extension; set metric.format to npy or csv"
            )
    if fmt == "npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as e:
            raise MetricError(f"metric.path={path} could not be read as .npy ({type(e).__name__}: {e})") from e
        scores = _npy_scores(np.asarray(arr, dtype=np.float64), ctx, p["index"], path)
    elif fmt == "csv":
        scores = _csv_scores(ctx, p, path)
    else:
        raise MetricError(f"metric.format={fmt!r} is not allowed; allowed: auto, npy, csv")
    bad = ~np.isfinite(scores)
    if bad.any():
        raise MetricError(f"metric.path={path}: {int(bad.sum())} pool examples have a missing or non-finite score")
    return scores


METRIC_DEFAULTS["file"] = FILE_DEFAULTS


@register_metric("file", cache=False)
def file_scores(ctx: ScoreContext) -> np.ndarray:
    """Scores from ``metric.path`` mapped to higher = harder (see the module docstring for ``higher_is``)."""
    p = resolve_params("file", ctx.params, FILE_DEFAULTS)
    scores = read_score_file(ctx, p)
    return -scores if p["higher_is"] == "easy" else scores
