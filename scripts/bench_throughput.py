"""Training throughput of the harness (Lightning + device-resident batches) against a bare PyTorch loop.

Same model, same data (on-device tensors), same optimiser, schedule, batch size and number of steps, same per-epoch
test evaluation; the two are timed alternately, ``--repeats`` times each, in one process, and the median of the
back-to-back pairs' ratios is reported. Two students:

- ``--student cnn1d`` (default): the mnist1d student with the default recipe;
- ``--student airbench``: model=airbench (``--width``) with train=airbench's recipe (airbench_sgd, triangular
  schedule, alternating flips + translation, lookahead; the final TTA evaluation is left out of both), on CIFAR-10
  read from ``--data-root`` (a folder tree or torchvision's files) or, without it, on random 32x32 images of the
  same shape (the speed of a step does not depend on the pixels). ``--channels-last`` runs both in that layout.

    python scripts/bench_throughput.py --out results/throughput
    python scripts/bench_throughput.py --student airbench --width 0.25 --pool-size 3072 --epochs 2 --out ...
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
import yaml

from bench.data import Splits, build_dataset, make_pool
from bench.models import create_model, init_from_data
from bench.train import RECIPE_KEYS, TRAIN_DEFAULTS, plan_steps, train_student
from bench.train.data import TensorBatches, normalise
from bench.train.optim import OPTIMIZERS, SCHEDULES
from bench.train.recipe import Lookahead, recipe_batch_size

REPO = Path(__file__).resolve().parents[1]


def bare_loop(splits, kept_x, kept_y, cfg, model_cfg, seed, device):
    """The reference: a plain loop with the same work as the harness's training run (the same optimiser and schedule
    builders, batches, augmentation, label smoothing, lookahead and per-epoch evaluation)."""
    torch.manual_seed(seed)
    kwargs = {k: v for k, v in model_cfg.items() if k != "name"}
    model = create_model(model_cfg["name"], splits.num_classes, splits.input_shape, **kwargs)
    init_from_data(model, normalise(splits.train_x[:5000], splits.mean, splits.std))
    channels_last = cfg["channels_last"] is True
    model = model.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)
    cfg = {**cfg, "batch_size": recipe_batch_size(cfg["batch_size"], kept_x.shape[0], cfg.get("min_batches"))}
    total, spe = plan_steps(kept_x.shape[0], kept_x.shape[0], cfg)
    hp = {**cfg, **{k: cfg[k] for k in RECIPE_KEYS}}
    opt = OPTIMIZERS.get(cfg["optimizer"])(model, hp)
    schedule = SCHEDULES.get(cfg["schedule"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: schedule(s, total, hp))
    lookahead = Lookahead(cfg["lookahead_every"], cfg["lookahead_decay"], cfg["lookahead_power"])
    lookahead.start(model) if cfg["lookahead_every"] else None
    common = dict(mean=splits.mean, std=splits.std, channels_last=channels_last)
    kind = cfg.get("augment") or splits.augment
    train = TensorBatches(kept_x, kept_y, cfg["batch_size"], True, seed, kind, drop_last=cfg["drop_last"], **common)
    test = TensorBatches(splits.test_x.to(device), splits.test_y.to(device), 1024, shuffle=False, **common)
    frozen = getattr(model, "frozen_parameters", None)
    step = 0
    t0 = time.perf_counter()
    while step < total:
        model.train()
        for xb, yb, _ in train:
            loss = F.cross_entropy(model(xb), yb, label_smoothing=cfg["label_smoothing"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for p in frozen(step / spe) if frozen else ():
                p.grad = None
            opt.step()
            sched.step()
            step += 1
            lookahead.after_step(model, step, total)
            if step >= total:
                break
        model.eval()
        with torch.no_grad():
            correct = sum(int((model(xb).argmax(1) == yb).sum()) for xb, yb, _ in test)
    wall = time.perf_counter() - t0
    return {"seconds": wall, "steps": step, "test_error": 1 - correct / splits.test_y.numel()}


def student_setup(args) -> tuple[Splits, dict, dict]:
    """(splits, model config, train config) of the student under test."""
    if args.student == "cnn1d":
        splits = build_dataset("mnist1d", n_train=max(args.pool_size, 20000), n_test=4000)
        cfg = {**TRAIN_DEFAULTS, "epochs": args.epochs, "progress_bar": False, "lr": 0.05}
        return splits, {"name": "cnn1d"}, cfg
    recipe = yaml.safe_load((REPO / "conf/train/airbench.yaml").read_text())
    recipe.pop("defaults")
    cfg = {**TRAIN_DEFAULTS, **recipe, "epochs": args.epochs, "progress_bar": False, "min_steps": 0, "tta": 0}
    cfg["channels_last"] = args.channels_last
    if args.data_root:
        splits = build_dataset("cifar10", root=args.data_root, cache_dir=args.cache_dir)
    else:
        g = torch.Generator().manual_seed(0)
        n = max(args.pool_size, 5000)
        x = torch.randint(0, 256, (n + 2000, 3, 32, 32), generator=g, dtype=torch.uint8)
        y = torch.randint(0, 10, (n + 2000,), generator=g)
        splits = Splits(
            name="random32",
            num_classes=10,
            input_shape=(3, 32, 32),
            train_x=x[:n],
            train_y=y[:n],
            test_x=x[n:],
            test_y=y[n:],
            mean=(0.49, 0.48, 0.45),
            std=(0.25, 0.24, 0.26),
            augment="crop_flip",
        )
    return splits, {"name": "airbench", "width": args.width}, cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool-size", type=int, default=16000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="results/throughput")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--student", choices=("cnn1d", "airbench"), default="cnn1d")
    ap.add_argument("--width", type=float, default=1.0, help="airbench: model.width")
    ap.add_argument("--data-root", default=None, help="airbench: CIFAR-10's dataset.root (default: random images)")
    ap.add_argument("--cache-dir", default=None, help="airbench: where the decoded CIFAR folder tree is cached")
    ap.add_argument("--channels-last", type=lambda v: v == "true", default=False, help="airbench: true | false")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    splits, model_cfg, cfg = student_setup(args)
    pool = make_pool(splits, args.pool_size, 0)
    kept = np.arange(len(pool))
    x = splits.train_x[torch.from_numpy(pool.ids)].to(device)
    y = pool.y.to(device)
    harness, bare = [], []
    for r in range(args.repeats + 1):  # the first pair warms up and is dropped
        if r % 2:  # alternate which loop goes first, so that a drifting machine favours neither
            ref = bare_loop(splits, x, y, cfg, model_cfg, r, device)
            out = train_student(splits, pool, kept, model_cfg, cfg, seed=r)
        else:
            out = train_student(splits, pool, kept, model_cfg, cfg, seed=r)
            ref = bare_loop(splits, x, y, cfg, model_cfg, r, device)
        if r:
            harness.append(out["examples_seen"] / out["train_seconds"])
            bare.append(ref["steps"] * out["examples_seen"] / out["steps"] / ref["seconds"])
        print(
            f"repeat {r}: harness {out['train_seconds']:.2f}s ({out['steps']} steps, err {out['test_error']:.3f}); "
            f"bare {ref['seconds']:.2f}s ({ref['steps']} steps, err {ref['test_error']:.3f})",
            flush=True,
        )
    h, b = statistics.median(harness), statistics.median(bare)
    pairs = [hv / bv for hv, bv in zip(harness, bare)]  # each pair ran back to back: the machine's drift cancels
    result = {
        "command": f"python scripts/bench_throughput.py --pool-size {args.pool_size} --epochs {args.epochs} "
        f"--repeats {args.repeats}"
        + (
            f" --student airbench --width {args.width} --channels-last {str(args.channels_last).lower()}"
            + (f" --data-root {args.data_root}" if args.data_root else "")
            if args.student == "airbench"
            else ""
        ),
        "device": str(device),
        "cpu_threads": torch.get_num_threads(),
        "machine": platform.platform(),
        "torch": torch.__version__,
        "model": model_cfg,
        "dataset": splits.name,
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
        f"Student {model_cfg} on {splits.name}, {cfg['epochs']} epochs of {len(pool)} examples, batch "
        f"{cfg['batch_size']}.\n\n"
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
