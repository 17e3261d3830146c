"""One run on 1 process against the same run on 2 data-parallel processes (DDP, gloo on the CPU, spawned by the job).

The default mnist1d student (cnn1d) on a pool of ``--pool`` examples for ``--epochs`` epochs, per seed: training
seconds (the Lightning loop), wall seconds (the 2-process figure includes starting the processes), test error and
the examples trained on. On a 2-core CPU the 2 processes share the cores one each; on GPUs each takes one.

    python scripts/bench_ddp.py --out results/ddp
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bench.paired import paired_runs, write_result
from bench.train import train_student


def one_run(splits, pool, devices: int, epochs: int, seed: int) -> dict:
    cfg = dict(
        epochs=epochs,
        min_steps=0,
        batch_size=128,
        progress_bar=False,
        num_threads=1,
        devices=devices,
        checkpoint_every=None,
        accelerator="cpu",
    )
    t0 = time.perf_counter()
    out = train_student(splits, pool, np.arange(len(pool)), {"name": "cnn1d"}, cfg, seed)
    return {
        "devices": devices,
        "seed": seed,
        "wall_s": round(time.perf_counter() - t0, 2),
        "train_s": round(out["train_seconds"], 2),
        "test_error": out["test_error"],
        "examples_seen": out["examples_seen"],
        "steps": out["steps"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=int, default=8000)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", default="results/ddp")
    args = ap.parse_args()
    rows = paired_runs(
        (1, 2),
        lambda splits, pool, devices, seed: one_run(splits, pool, devices, args.epochs, seed),
        args.pool,
        args.seeds,
    )
    summary = {
        d: {k: float(np.mean([r[k] for r in rows if r["devices"] == d])) for k in ("wall_s", "train_s", "test_error")}
        for d in (1, 2)
    }
    write_result(args.out, "ddp.json", "scripts/bench_ddp.py", args, {"runs": rows, "mean": summary})
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
