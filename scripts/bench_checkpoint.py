"""Cost of mid-run checkpoints: seconds per checkpoint, and as a fraction of the run, on the default mnist1d student.

The same training run (cnn1d on a pool of ``--pool-size`` mnist1d examples, ``--epochs`` epochs) without checkpoints
and with one checkpoint per epoch (``train.checkpoint_every=1``), alternately, ``--repeats`` times each; then the time
to resume from the last checkpoint (finding, checking and loading it: a run restarted at its final step).

    python scripts/bench_checkpoint.py --out results/checkpoint
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.checkpoint import CheckpointDir, parse_every
from bench.data import build_dataset, make_pool
from bench.train import train_student
from bench.train.resume import RunCheckpoint


def one_run(splits, pool, cfg: dict, every) -> dict:
    root = Path(tempfile.mkdtemp(prefix="bench_ckpt_"))
    spec = RunCheckpoint(root, parse_every(every), {"run_id": "bench"}) if every else None
    t0 = time.perf_counter()
    out = train_student(splits, pool, np.arange(len(pool)), {"name": "cnn1d"}, cfg, 0, checkpoint=spec)
    row = {
        "every": every,
        "seconds": time.perf_counter() - t0,
        "steps": out["steps"],
        **out["extra"].get("checkpoint", {}),
    }
    files = sorted(root.glob("*.pt"))
    row["bytes"] = files[-1].stat().st_size if files else 0
    if files:  # what a restart pays before its first step: find and verify the newest file, load it
        t1 = time.perf_counter()
        path, _ = CheckpointDir(root).latest()
        torch.load(path, map_location="cpu", weights_only=False)
        row["resume_load_seconds"] = time.perf_counter() - t1
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool-size", type=int, default=8000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    splits = build_dataset("mnist1d")
    pool = make_pool(splits, args.pool_size, 0)
    cfg = dict(epochs=args.epochs, min_steps=0, batch_size=128, lr=0.05, progress_bar=False, accelerator="cpu")
    rows = [one_run(splits, pool, cfg, every) for _ in range(args.repeats) for every in (None, "1")]
    base = statistics.median(r["seconds"] for r in rows if r["every"] is None)
    ck = [r for r in rows if r["every"]]
    per = statistics.median(r["save_seconds"] / r["saved"] for r in ck)
    summary = {
        "seconds_per_checkpoint": per,
        "checkpoints_per_run": ck[0]["saved"],
        "run_seconds": base,
        "fraction_of_run": per * ck[0]["saved"] / base,
        "checkpoint_bytes": ck[0]["bytes"],
        "resume_load_seconds": statistics.median(r["resume_load_seconds"] for r in ck),
        "args": vars(args) | {"out": str(args.out)},
        "torch": torch.__version__,
        "machine": platform.node(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "runs": rows,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=1))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "checkpoint.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
