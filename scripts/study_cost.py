"""What a study cost on the machine that ran it: score seconds from the score store, student seconds and images
from the records (bench/perf/study_cost.py).

    python scripts/study_cost.py --records results/cifar10_scaling/records \
        --store outputs/cifar10_scaling/scores --budget-h 12 --out results/cifar10_scaling/cost.md
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from bench.perf.study_cost import cost_markdown, score_costs, student_costs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", required=True, help="the study's records folder")
    ap.add_argument("--store", required=True, help="the score store the study used ($BENCH_HOME/<study>/scores)")
    ap.add_argument(
        "--budget-h", type=float, default=None, help="the study's wall-time budget, quoted beside the total"
    )
    ap.add_argument("--out", default=None, help="write the markdown here (default: print only)")
    args = ap.parse_args()
    if not Path(args.store).is_dir():
        sys.exit(f"--store {args.store}: no such folder (the score store is $BENCH_HOME/<study>/scores)")
    command = "python scripts/study_cost.py " + shlex.join(sys.argv[1:])
    scores, other = score_costs([args.records], Path(args.store))
    text = cost_markdown(scores, student_costs([args.records]), command, args.budget_h, other)
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
