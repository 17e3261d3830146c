#!/usr/bin/env python
"""Validate the replica theory of data pruning (bench.theory.replica) against direct simulation
(bench.theory.perceptron) and reality-check the claims of Sorscher et al. 2022 (appendix A).

Writes (default --out results/theory):
  sim_vs_theory.csv   one row per (alpha_tot, keep, rule, theta, probe) cell: simulation mean and
                      standard error over seeds next to the theory prediction
  theory_curves.csv   dense theory curves used in the plot + the Pareto frontier over keep fractions
  sim_vs_theory.png   the figure
  README.md           command, wall time, largest simulation-theory gaps, claim checks

Run:  OMP_NUM_THREADS=1 .venv/bin/python scripts/theory_validate.py   (~5 min on one core)
      --quick for a ~30 s smoke run.
The computation is bench.theory.validate, the report bench.theory.validate_report.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from bench.theory.validate import validate  # noqa: E402
from bench.theory.validate_report import write_report  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/theory")
    ap.add_argument("--dim", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="tiny sweep (smoke test)")
    ap.add_argument("--no-finite-size", action="store_true", help="skip the N=400 re-run of the worst cells")
    args = ap.parse_args(argv)
    res = validate(args.dim, args.seeds, args.quick, finite_size=not args.no_finite_size)
    write_report(res, args.out, list(argv if argv is not None else sys.argv[1:]))
    print(f"[theory_validate] done in {res['wall']:.0f}s -> {args.out}", flush=True)


if __name__ == "__main__":
    main()
