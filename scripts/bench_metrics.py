"""Time every pruning metric on the default mnist1d pool, and the vectorised-ensemble speed-up.

    python scripts/bench_metrics.py                       # mnist1d, pool 4000, probes mlp and cnn1d, 1 thread
    python scripts/bench_metrics.py --models cnn1d --metrics el2n,grand --threads 2

Each metric runs with its default settings (``bench/metrics/<name>.py``) on a class-stratified pool of
``--pool-size`` examples of the mnist1d train split (20,000), with ``--label-noise`` of its labels flipped so that a
sanity figure comes with each timing: the AUROC of the scores for flipped-vs-clean examples (0.5 = chance; SSP uses no
labels and is not expected to find them). The speed-up compares training the same K-member EL2N ensemble (same
inits, data orders and steps) vectorised with torch.func against one member after another, in the same process.
Writes ``<out>.md`` and ``<out>.json`` (bench/perf/metric_timing.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from bench.perf.metric_timing import ALL_METRICS, run_benchmark, write_markdown, write_outputs


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pool-size", type=int, default=4000)
    ap.add_argument("--n-train", type=int, default=20000)
    ap.add_argument("--label-noise", type=float, default=0.1)
    ap.add_argument("--models", default="mlp,cnn1d")
    ap.add_argument("--metrics", default=",".join(ALL_METRICS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/metrics/bench_metrics")
    ap.add_argument("--render-only", action="store_true", help="rewrite <out>.md from an existing <out>.json")
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    out = Path(args.out)
    if args.render_only:
        write_markdown(json.loads(out.with_suffix(".json").read_text()), out.with_suffix(".md"))
        return
    torch.set_num_threads(args.threads)
    info = run_benchmark(
        models=args.models.split(","),
        metrics=args.metrics.split(","),
        pool_size=args.pool_size,
        n_train=args.n_train,
        label_noise=args.label_noise,
        seed=args.seed,
        device=args.device,
    )
    write_outputs({"command": "python " + " ".join(sys.argv), **info}, out)
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
