"""InfoBatch against full data on one pool, from a study's run records (``bench.collect.infobatch``).

    python scripts/infobatch_table.py --records results/cifar10_scaling/records --pool-size 50000 \
        --out results/cifar10_scaling/infobatch.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.collect.infobatch import infobatch_rows, within_one_se
from bench.collect.table import load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", default="results/cifar10_scaling/records")
    ap.add_argument("--pool-size", type=int, default=50000)
    ap.add_argument("--out", default="results/cifar10_scaling/infobatch.md")
    args = ap.parse_args()
    df = load(args.records).ok
    rows = infobatch_rows(df, args.pool_size)
    verdict = "within" if within_one_se(df, args.pool_size) else "not within (or too few paired seeds to say)"
    lines = [
        f"# InfoBatch against full data: pool {args.pool_size:,}",
        "",
        f"InfoBatch's mean test error is **{verdict}** one standard error of full data's (paired by seed).",
        "",
        f"`python scripts/infobatch_table.py --records {args.records} --pool-size {args.pool_size} --out {args.out}`"
        f" ({time.strftime('%Y-%m-%d %H:%M')}); runs from `bash scripts/cifar10_scaling.sh infobatch`.",
        "",
        *rows,
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
