"""InfoBatch against full-data training on mnist1d, in one script: test error, examples seen and wall time.

The issue's check: InfoBatch at its defaults (ratio 0.5, delta 0.875) on a pool of at least 16,000 mnist1d examples,
3 seeds, must reach the full-data test error within one standard error while its student sees at most 70% of the
examples the full-data run sees. Both are the default mnist1d student (cnn1d) under the epochs budget
(``--epochs``, as mnist1d_scaling), one thread each, run alternately per seed so that machine load hits both alike.

    python scripts/check_infobatch.py --out results/infobatch
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bench.paired import paired_runs, write_result
from bench.train import train_student

RULES = {"full data": None, "infobatch": {"ratio": 0.5, "delta": 0.875}}


def one_run(splits, pool, rule: str, epochs: int, seed: int) -> dict:
    cfg = dict(
        epochs=epochs,
        budget="epochs",
        min_steps=200,
        batch_size=128,
        progress_bar=False,
        num_threads=1,
        checkpoint_every=None,
    )
    t0 = time.perf_counter()
    out = train_student(splits, pool, np.arange(len(pool)), {"name": "cnn1d"}, cfg, seed, infobatch=RULES[rule])
    return {
        "rule": rule,
        "seed": seed,
        "test_error": out["test_error"],
        "examples_seen": out["examples_seen"],
        "steps": out["steps"],
        "train_s": round(out["train_seconds"], 2),
        "wall_s": round(time.perf_counter() - t0, 2),
    }


def summarise(rows: list[dict]) -> dict:
    by = {r: [x for x in rows if x["rule"] == r] for r in RULES}
    err = {r: np.array([x["test_error"] for x in v]) for r, v in by.items()}
    se_full = float(err["full data"].std(ddof=1) / np.sqrt(len(err["full data"])))
    seen = np.mean([x["examples_seen"] for x in by["infobatch"]]) / np.mean(
        [x["examples_seen"] for x in by["full data"]]
    )
    wall = np.mean([x["wall_s"] for x in by["infobatch"]]) / np.mean([x["wall_s"] for x in by["full data"]])
    gap = float(err["infobatch"].mean() - err["full data"].mean())
    return {
        "full_error": float(err["full data"].mean()),
        "full_error_se": se_full,
        "infobatch_error": float(err["infobatch"].mean()),
        "error_gap": gap,
        "within_one_se": bool(gap <= se_full),
        "examples_seen_ratio": float(seen),
        "at_most_70pct": bool(seen <= 0.70),
        "wall_time_ratio": float(wall),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=int, default=16000)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", default="results/infobatch")
    args = ap.parse_args()
    rows = paired_runs(
        tuple(RULES),
        lambda splits, pool, rule, seed: one_run(splits, pool, rule, args.epochs, seed),
        args.pool,
        args.seeds,
    )
    summary = summarise(rows)
    write_result(args.out, "infobatch.json", "scripts/check_infobatch.py", args, {"runs": rows, "summary": summary})
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
