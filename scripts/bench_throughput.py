"""Training throughput of the harness (Lightning + device-resident batches) against a bare PyTorch loop.

Same model, same data (on-device tensors), same optimiser, schedule, batch size and number of steps, same per-epoch
test evaluation; the two are timed alternately, ``--repeats`` times each, in one process, and the median of the
back-to-back pairs' ratios is reported (bench/perf/throughput.py). Two students:

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
from pathlib import Path

import torch

from bench.perf.throughput import measure, result_record, student_setup, write_report


def parse_args() -> argparse.Namespace:
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
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    setup = student_setup(args)
    harness, bare = measure(setup, args.repeats)
    result = result_record(args, setup, harness, bare)
    write_report(result, len(setup.pool), Path(args.out))
    print(json.dumps({k: result[k] for k in ("harness_median", "bare_median", "harness_over_bare", "pair_ratios")}))


if __name__ == "__main__":
    main()
