"""Training throughput of the harness (Lightning + device-resident batches) against a bare PyTorch loop
(``scripts/bench_throughput.py``).

Same model, same data (on-device tensors), same optimiser, schedule, batch size and number of steps, same per-epoch
test evaluation; the two are timed alternately in one process and the median of the back-to-back pairs' ratios is
reported, so that a drifting machine favours neither."""

from __future__ import annotations

import json
import platform
import statistics
import time
from dataclasses import dataclass
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

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Setup:
    """What both loops train: the student, its recipe and the kept set (on the device)."""

    splits: Splits
    model_cfg: dict
    cfg: dict
    pool: object
    x: torch.Tensor
    y: torch.Tensor
    device: torch.device


def _bare_model(setup: Setup, channels_last: bool, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    kwargs = {k: v for k, v in setup.model_cfg.items() if k != "name"}
    splits = setup.splits
    model = create_model(setup.model_cfg["name"], splits.num_classes, splits.input_shape, **kwargs)
    init_from_data(model, normalise(splits.train_x[:5000], splits.mean, splits.std))
    return model.to(setup.device, memory_format=torch.channels_last if channels_last else torch.preserve_format)


def _bare_batches(setup: Setup, cfg: dict, seed: int) -> tuple[TensorBatches, TensorBatches]:
    s = setup.splits
    common = dict(mean=s.mean, std=s.std, channels_last=cfg["channels_last"] is True)
    kind = cfg.get("augment") or s.augment
    train = TensorBatches(setup.x, setup.y, cfg["batch_size"], True, seed, kind, drop_last=cfg["drop_last"], **common)
    test = TensorBatches(s.test_x.to(setup.device), s.test_y.to(setup.device), 1024, shuffle=False, **common)
    return train, test


def bare_loop(setup: Setup, seed: int) -> dict:
    """The reference: a plain loop with the same work as the harness's training run (the same optimiser and schedule
    builders, batches, augmentation, label smoothing, lookahead and per-epoch evaluation)."""
    n = setup.x.shape[0]
    cfg = {**setup.cfg, "batch_size": recipe_batch_size(setup.cfg["batch_size"], n, setup.cfg.get("min_batches"))}
    model = _bare_model(setup, cfg["channels_last"] is True, seed)
    total, spe = plan_steps(n, n, cfg)
    hp = {**cfg, **{k: cfg[k] for k in RECIPE_KEYS}}
    opt = OPTIMIZERS.get(cfg["optimizer"])(model, hp)
    schedule = SCHEDULES.get(cfg["schedule"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: schedule(s, total, hp))
    lookahead = Lookahead(cfg["lookahead_every"], cfg["lookahead_decay"], cfg["lookahead_power"])
    lookahead.start(model) if cfg["lookahead_every"] else None
    train, test = _bare_batches(setup, cfg, seed)
    frozen = getattr(model, "frozen_parameters", None)
    step, t0 = 0, time.perf_counter()
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
    return {"seconds": wall, "steps": step, "test_error": 1 - correct / setup.splits.test_y.numel()}


def random_images(n: int) -> Splits:
    """``n`` random 32x32 training images and 2,000 test images: a step's speed does not depend on the pixels."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n + 2000, 3, 32, 32), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (n + 2000,), generator=g)
    return Splits(
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


def student_setup(args) -> Setup:
    """The student under test (``args.student``: cnn1d on mnist1d, or airbench on CIFAR-10 or random images) and a
    pool of ``args.pool_size``, all kept, on the device."""
    if args.student == "cnn1d":
        splits = build_dataset("mnist1d", n_train=max(args.pool_size, 20000), n_test=4000)
        cfg = {**TRAIN_DEFAULTS, "epochs": args.epochs, "progress_bar": False, "lr": 0.05}
        model_cfg = {"name": "cnn1d"}
    else:
        recipe = yaml.safe_load((REPO / "conf/train/airbench.yaml").read_text())
        recipe.pop("defaults")
        cfg = {**TRAIN_DEFAULTS, **recipe, "epochs": args.epochs, "progress_bar": False, "min_steps": 0, "tta": 0}
        cfg["channels_last"] = args.channels_last
        if args.data_root:
            splits = build_dataset("cifar10", root=args.data_root, cache_dir=args.cache_dir)
        else:
            splits = random_images(max(args.pool_size, 5000))
        model_cfg = {"name": "airbench", "width": args.width}
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    pool = make_pool(splits, args.pool_size, 0)
    x = splits.train_x[torch.from_numpy(pool.ids)].to(device)
    return Setup(splits, model_cfg, cfg, pool, x, pool.y.to(device), device)


def measure(setup: Setup, repeats: int) -> tuple[list[float], list[float]]:
    """Examples/s of the harness and of the bare loop, ``repeats`` pairs after one warm-up pair, which goes first
    alternating."""
    kept = np.arange(len(setup.pool))
    harness, bare = [], []
    for r in range(repeats + 1):  # the first pair warms up and is dropped
        if r % 2:
            ref = bare_loop(setup, r)
            out = train_student(setup.splits, setup.pool, kept, setup.model_cfg, setup.cfg, seed=r)
        else:
            out = train_student(setup.splits, setup.pool, kept, setup.model_cfg, setup.cfg, seed=r)
            ref = bare_loop(setup, r)
        if r:
            harness.append(out["examples_seen"] / out["train_seconds"])
            bare.append(ref["steps"] * out["examples_seen"] / out["steps"] / ref["seconds"])
        print(
            f"repeat {r}: harness {out['train_seconds']:.2f}s ({out['steps']} steps, err {out['test_error']:.3f}); "
            f"bare {ref['seconds']:.2f}s ({ref['steps']} steps, err {ref['test_error']:.3f})",
            flush=True,
        )
    return harness, bare


def command(args) -> str:
    cmd = f"python scripts/bench_throughput.py --pool-size {args.pool_size} --epochs {args.epochs} --repeats {args.repeats}"
    if args.student != "airbench":
        return cmd
    cmd += f" --student airbench --width {args.width} --channels-last {str(args.channels_last).lower()}"
    return cmd + (f" --data-root {args.data_root}" if args.data_root else "")


def result_record(args, setup: Setup, harness: list[float], bare: list[float]) -> dict:
    h, b = statistics.median(harness), statistics.median(bare)
    pairs = [hv / bv for hv, bv in zip(harness, bare)]  # each pair ran back to back: the machine's drift cancels
    return {
        "command": command(args),
        "device": str(setup.device),
        "cpu_threads": torch.get_num_threads(),
        "machine": platform.platform(),
        "torch": torch.__version__,
        "model": setup.model_cfg,
        "dataset": setup.splits.name,
        "pool_size": args.pool_size,
        "epochs": args.epochs,
        "batch_size": setup.cfg["batch_size"],
        "harness_examples_per_s": harness,
        "bare_examples_per_s": bare,
        "harness_median": h,
        "bare_median": b,
        "ratio_of_medians": h / b,
        "pair_ratios": pairs,
        "harness_over_bare": statistics.median(pairs),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def write_report(result: dict, n_kept: int, out: Path) -> None:
    """``throughput.json`` (everything measured) and ``throughput.md`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "throughput.json").write_text(json.dumps(result, indent=1))
    h, b, pairs = result["harness_median"], result["bare_median"], result["pair_ratios"]
    (out / "throughput.md").write_text(
        f"# Training throughput: harness vs bare PyTorch loop\n\n"
        f"`{result['command']}` ({result['date']}, {result['device']}, {result['cpu_threads']} threads, torch "
        f"{result['torch']})\n\n"
        f"Student {result['model']} on {result['dataset']}, {result['epochs']} epochs of {n_kept} examples, batch "
        f"{result['batch_size']}.\n\n"
        f"| loop | median examples/s | runs |\n|---|---|---|\n"
        f"| harness (Lightning, device tensors) | {h:,.0f} | "
        f"{', '.join(f'{v:,.0f}' for v in result['harness_examples_per_s'])} |\n"
        f"| bare PyTorch | {b:,.0f} | {', '.join(f'{v:,.0f}' for v in result['bare_examples_per_s'])} |\n\n"
        f"Ratio harness / bare: **{result['harness_over_bare']:.2f}**, the median of the {len(pairs)} back-to-back "
        f"pairs ({', '.join(f'{v:.2f}' for v in pairs)}; ratio of the medians {h / b:.2f}). Measured alternately in "
        f"one process, which loop goes first alternating; both include one test-split evaluation per epoch.\n"
    )
