"""Time every pruning metric on an mnist1d pool, with a sanity figure per timing, and the vectorised-ensemble
speed-up (``scripts/bench_metrics.py``).

Each metric runs at its default settings on a class-stratified pool with some labels flipped: the AUROC of its
scores for flipped-vs-clean examples comes with its time (SSP uses no labels and is not expected to find them). The
speed-up trains the same K-member EL2N ensemble (same inits, data orders and steps) vectorised with torch.func and
one member after another, in the same process."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from bench.collect.score_quality import auroc
from bench.data import build_dataset, make_pool
from bench.metrics import METRICS, ScoreContext
from bench.metrics.el2n import EL2N_DEFAULTS, el2n_from_logits
from bench.metrics.probe import build_members, pool_data, train_ensemble
from bench.perf import machine_info

ALL_METRICS = ["el2n", "grand", "forgetting", "memorization", "ssp", "supervised_prototypes"]


def time_metric(ctx: ScoreContext, name: str) -> dict:
    """One metric's wall time, the AUROC of its scores for the pool's flipped labels, and its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        s = np.asarray(METRICS.get(name)(ctx), dtype=np.float64)
        wall = time.perf_counter() - t0
    return {
        "model": ctx.model["name"],
        "metric": name,
        "seconds": round(wall, 2),
        "auroc_flipped": round(auroc(s, np.asarray(ctx.pool.noisy)), 3),
        "warnings": [str(w.message) for w in caught],
    }


def ensemble_speedup(ctx: ScoreContext) -> dict:
    """The same EL2N ensemble trained vectorised and sequentially, timed back to back, and how far its scores move."""
    p, seed = dict(EL2N_DEFAULTS), ctx.seed
    data = pool_data(ctx, "bench", use_augment=True)
    times, scores = {}, {}
    for mode in ("true", "false"):
        members = build_members(ctx.model, data.num_classes, data.input_shape, p["n_models"], seed, "el2n")
        t0 = time.perf_counter()
        ens = train_ensemble(data, members, {**p, "vectorise": mode}, p["epochs"], p["total_epochs"], seed, "el2n")
        times[mode] = time.perf_counter() - t0
        scores[mode] = el2n_from_logits(ens.logits(data), data.y).numpy()
    return {
        "model": ctx.model["name"],
        "n_models": p["n_models"],
        "epochs": p["epochs"],
        "vectorised_seconds": round(times["true"], 2),
        "sequential_seconds": round(times["false"], 2),
        "speedup": round(times["false"] / times["true"], 2),
        "max_abs_score_diff": float(np.abs(scores["true"] - scores["false"]).max()),
    }


def run_benchmark(
    *, models: list[str], metrics: list[str], pool_size: int, n_train: int, label_noise: float, seed: int, device: str
) -> dict:
    """Every (probe model, metric) timed, then each probe's ensemble speed-up; rows are printed as they land."""
    splits = build_dataset("mnist1d", n_train=n_train)
    pool = make_pool(splits, pool_size, seed, label_noise=label_noise)
    dev = torch.device(device)
    rows, speedups = [], []
    for model_name in models:
        model = {"name": model_name}
        for name in metrics:
            rows.append(
                time_metric(ScoreContext(splits, pool, {}, seed, device=dev, model=model, progress=False), name)
            )
            print(json.dumps(rows[-1]), flush=True)
        speedups.append(ensemble_speedup(ScoreContext(splits, pool, {}, seed, device=dev, model=model, progress=False)))
        print(json.dumps(speedups[-1]), flush=True)
    data = {"name": "mnist1d", "n_train": n_train, "pool_size": pool_size, "label_noise": label_noise, "seed": seed}
    return {
        "machine": machine_info(),
        "dataset": data,
        "device": str(dev),
        "metrics": rows,
        "ensemble_speedup": speedups,
    }


def write_outputs(info: dict, out: Path) -> None:
    """``<out>.json`` (everything measured) and ``<out>.md`` (the tables)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(info, indent=1))
    write_markdown(info, out.with_suffix(".md"))


def _head(info: dict) -> list[str]:
    m, d = info["machine"], info["dataset"]
    return [
        "# Pruning-metric scoring times",
        "",
        f"Command: `{info['command']}`  ",
        f"Machine: {m['cpu']}, {m['cores_visible']} cores visible, torch threads {m['torch_threads']}, "
        f"device {info['device']}; {m['platform']}  ",
        f"Versions: Python {m['python']}, torch {m['torch']}, numpy {m['numpy']}; git {m['git_commit'] or '?'}  ",
        f"Data: mnist1d train split {d['n_train']}, class-stratified pool of {d['pool_size']} (seed {d['seed']}), "
        f"{d['label_noise']:.0%} of pool labels flipped. Every metric at its default settings; the probe model is "
        f"the harness's `mlp` or `cnn1d` at their defaults. Times include all probe training (scores are cached by "
        f"the score store, so a sweep pays them once per pool and seed).",
        "",
        "AUROC = how well the scores separate flipped from clean examples (1 = all flipped rank above all clean; "
        "0.5 = chance). SSP uses no labels, so ~0.5 is expected there.",
        "",
    ]


_SPEEDUP_NOTE = (
    "On one CPU thread these small probes are compute-bound (the per-member matmuls/convolutions already "
    "run near the core's peak), so batching the members with `vmap` saves little but Python and dispatch "
    "overhead; the gain is expected where the per-step work of one member is too small to fill the device "
    "(GPUs). The two paths run the same algorithm: identical data orders and, for the first epoch, logits "
    "equal to ~1e-6; float rounding differs (vmap runs batched kernels), and with BatchNorm a single "
    "step can amplify it (a channel with tiny batch variance), after which one member's trajectory "
    "drifts: the max score difference, not a mean, is shown."
)


def write_markdown(info: dict, path: Path) -> None:
    lines = _head(info) + ["| probe model | metric | seconds | AUROC flipped vs clean |", "|---|---|---:|---:|"]
    lines += [
        f"| {r['model']} | {r['metric']} | {r['seconds']:.1f} | {r['auroc_flipped']:.3f} |" for r in info["metrics"]
    ]
    lines += [
        "",
        "## Vectorised ensemble vs one member after another",
        "",
        "The same EL2N ensemble (same inits, data orders, number of steps), trained both ways in one process.",
        "",
        "| probe model | members | epochs | vectorised s | sequential s | speed-up | max score diff |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {s['model']} | {s['n_models']} | {s['epochs']} | {s['vectorised_seconds']:.1f} | "
        f"{s['sequential_seconds']:.1f} | {s['speedup']:.2f}x | {s['max_abs_score_diff']:.1e} |"
        for s in info["ensemble_speedup"]
    ]
    lines += ["", _SPEEDUP_NOTE]
    warn = [f"- {r['model']}/{r['metric']}: {w}" for r in info["metrics"] for w in r["warnings"]]
    if warn:
        lines += ["", "Warnings raised while scoring:", ""] + warn
    path.write_text("\n".join(lines) + "\n")
