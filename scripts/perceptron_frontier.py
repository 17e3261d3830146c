"""The perceptron's Pareto frontier (issue 19): theory tables, and the report of the simulated sweep.

    python scripts/perceptron_frontier.py theory [--out results/perceptron/frontier]
        replica frontier over theta x alpha_prune (optimal f, f_min, solver convergence) and the theta = 0 cliff
        -> theory_frontier.csv, theory_grid.csv, theory_cliffs.csv (minutes: the theta > 0 solver takes ~0.3 s a point)
    python scripts/perceptron_frontier.py preset [--cost TEXT]
        conf/experiment/perceptron_frontier.yaml from theory_frontier.csv (the theory's optimal f and f_min)
    python scripts/perceptron_frontier.py report RECORDS... [--out results/perceptron/frontier] [--wall TEXT]
        the records of `python -m bench.run -m experiment=perceptron_frontier` (record directories or a runs.csv)
        -> runs.csv, sim_vs_theory.csv, f_opt.csv, f_min.csv, ratios.csv, frontier.png/.svg, README.md

The analysis lives in bench.theory.frontier (theory), bench.theory.frontier_study (tables, figure) and
bench.theory.frontier_report (README, files).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.theory import frontier_report, frontier_study  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=("theory", "preset", "report"))
    ap.add_argument("records", nargs="*", help="report: record directories and/or a runs.csv")
    ap.add_argument("--out", default=str(REPO / "results" / "perceptron" / "frontier"))
    ap.add_argument("--cost", default="not measured yet", help="preset: the sweep's measured cost (header line)")
    ap.add_argument("--wall", action="append", default=[], help="report: the sweep command's measured wall time")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.step == "theory":
        files = frontier_study.write_theory(out)
    elif args.step == "preset":
        front = frontier_study.load_theory(out)[0]
        path = REPO / "conf" / "experiment" / "perceptron_frontier.yaml"
        path.write_text(frontier_study.preset_yaml(frontier_study.preset_points(front), args.cost))
        files = [path]
    else:
        if not args.records:
            ap.error("report needs the sweep's records (directories or a runs.csv)")
        files = frontier_report.write_report(args.records, out, walls=args.wall)
    print(f"wrote {len(files)} files to {out} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
