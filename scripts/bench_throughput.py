"""Training throughput of the harness (Lightning + device-resident batches) against a bare PyTorch loop.

Same model (the default mnist1d student, cnn1d), same data (on-device tensors), same optimiser, schedule, batch size
and number of steps, same per-epoch test evaluation; the two are timed alternately, ``--repeats`` times each, in one
process, and the ratio of medians is reported.

    python scripts/bench_throughput.py --out results/throughput
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.data import build_dataset, make_pool
from bench.models import create_model
from bench.train import TRAIN_DEFAULTS, plan_steps, train_student
from bench.train.data import TensorBatches
from bench.train.module import lr_factor, param_groups


def bare_loop(splits, kept_x, kept_y, cfg, seed, device):
    """The reference: a plain loop with the same work as the harness's training run."""
    torch.manual_seed(seed)
    model = create_model("cnn1d", splits.num_classes, splits.input_shape).to(device)
    total, spe = plan_steps(kept_x.shape[0], kept_x.shape[0], cfg)
    opt = torch.optim.SGD(param_groups(model, cfg["weight_decay"], False), lr=cfg["lr"], momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, "cosine", 0.0, (), 0.1))
    train = TensorBatches(kept_x, kept_y, cfg["batch_size"], shuffle=True, seed=seed)
    test = TensorBatches(splits.test_x.to(device), splits.test_y.to(device), 1024, shuffle=False)
    step = 0
    t0 = time.perf_counter()
    for _ in range(cfg["epochs"]):
        model.train()
        for xb, yb, _ in train:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
        model.eval()
        with torch.no_grad():
            correct = sum(int((model(xb).argmax(1) == yb).sum()) for xb, yb, _ in test)
    wall = time.perf_counter() - t0
    return {"seconds": wall, "steps": step, "test_error": 1 - correct / splits.test_y.numel()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool-size", type=int, default=16000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="results/throughput")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    splits = build_dataset("mnist1d", n_train=max(args.pool_size, 20000), n_test=4000)
    pool = make_pool(splits, args.pool_size, 0)
    kept = np.arange(len(pool))
    cfg = {**TRAIN_DEFAULTS, "epochs": args.epochs, "progress_bar": False, "lr": 0.05}
    x = splits.train_x[torch.from_numpy(pool.ids)].to(device)
    y = pool.y.to(device)
    harness, bare = [], []
    for r in range(args.repeats + 1):  # the first pair warms up and is dropped
        if r % 2:  # alternate which loop goes first, so that a drifting machine favours neither
            ref = bare_loop(splits, x, y, cfg, r, device)
            out = train_student(splits, pool, kept, {"name": "cnn1d"}, cfg, seed=r)
        else:
            out = train_student(splits, pool, kept, {"name": "cnn1d"}, cfg, seed=r)
            ref = bare_loop(splits, x, y, cfg, r, device)
        if r:
            harness.append(out["steps"] * cfg["batch_size"] / out["train_seconds"])
            bare.append(ref["steps"] * cfg["batch_size"] / ref["seconds"])
        print(
            f"repeat {r}: harness {out['train_seconds']:.2f}s ({out['steps']} steps, err {out['test_error']:.3f}); "
            f"bare {ref['seconds']:.2f}s ({ref['steps']} steps, err {ref['test_error']:.3f})",
            flush=True,
        )
    h, b = statistics.median(harness), statistics.median(bare)
    pairs = [hv / bv for hv, bv in zip(harness, bare)]  # each pair ran back to back: the machine's drift cancels
    result = {
        "command": f"python scripts/bench_throughput.py --pool-size {args.pool_size} --epochs {args.epochs} "
        f"--repeats {args.repeats}",
        "device": str(device),
        "cpu_threads": torch.get_num_threads(),
        "machine": platform.platform(),
        "torch": torch.__version__,
        "model": "cnn1d",
        "dataset": "mnist1d",
        "pool_size": args.pool_size,
        "epochs": args.epochs,
        "batch_size": cfg["batch_size"],
        "harness_examples_per_s": harness,
        "bare_examples_per_s": bare,
        "harness_median": h,
        "bare_median": b,
        "ratio_of_medians": h / b,
        "pair_ratios": pairs,
        "harness_over_bare": statistics.median(pairs),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "throughput.json").write_text(json.dumps(result, indent=1))
    (out / "throughput.md").write_text(
        f"# Training throughput: harness vs bare PyTorch loop\n\n"
        f"`{result['command']}` ({result['date']}, {device}, {result['cpu_threads']} threads, torch {torch.__version__})\n\n"
        f"| loop | median examples/s | runs |\n|---|---|---|\n"
        f"| harness (Lightning, device tensors) | {h:,.0f} | {', '.join(f'{v:,.0f}' for v in harness)} |\n"
        f"| bare PyTorch | {b:,.0f} | {', '.join(f'{v:,.0f}' for v in bare)} |\n\n"
        f"Ratio harness / bare: **{statistics.median(pairs):.2f}**, the median of the {len(pairs)} back-to-back pairs "
        f"({', '.join(f'{v:.2f}' for v in pairs)}; ratio of the medians {h / b:.2f}). Measured alternately in one "
        f"process, which loop goes first alternating; both include one test-split evaluation per epoch.\n"
    )
    print(json.dumps({k: result[k] for k in ("harness_median", "bare_median", "harness_over_bare", "pair_ratios")}))


if __name__ == "__main__":
    main()
