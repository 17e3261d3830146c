"""Figures, tables and README for the teacher-student perceptron runs (Sorscher et al. 2022, Fig. 1-2).

Reads the run records written by

    BENCH_HOME=outputs OMP_NUM_THREADS=1 python -m bench.run -m experiment=perceptron_theory
    BENCH_HOME=outputs OMP_NUM_THREADS=1 python -m bench.run -m experiment=perceptron_probe

or, without re-running the sweeps, the committed table of those runs (``--runs results/perceptron/runs.csv``; also
the fallback when no record directory exists), and writes ``results/perceptron/``: five figures (PNG + SVG), CSV
tables and ``README.md`` (its reading is ``<out>/notes.md`` with every number filled in from the tables). The
analysis lives in ``bench.theory.study`` (tables), ``bench.theory.study_figures`` and ``bench.theory.study_report``.

Scaling fits are restricted to ``alpha_prune >= --x-min`` (default 2): below that the error saturates towards 1/2.

    python scripts/perceptron_figures.py [--theory-dir DIR] [--probe-dir DIR] [--runs CSV] [--out results/perceptron]
        [--x-min 2] [--n-boot 200] [--wall perceptron_theory=TEXT --wall perceptron_probe=TEXT]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.theory import study_report  # noqa: E402


def _inputs(args) -> list[str]:
    """--runs if given, else the record directories that exist, else the committed <out>/runs.csv."""
    if args.runs:
        return list(args.runs)
    dirs = [d for d in (args.theory_dir, args.probe_dir) if d and Path(d).is_dir()]
    if dirs:
        return dirs
    fallback = Path(args.out) / "runs.csv"
    print(f"no record directory found; using the committed {fallback}")
    return [str(fallback)]


def main(argv=None) -> int:
    home = Path(os.environ.get("BENCH_HOME", REPO / "outputs"))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--theory-dir", default=str(home / "perceptron_theory" / "records"))
    ap.add_argument("--probe-dir", default=str(home / "perceptron_probe" / "records"))
    ap.add_argument("--runs", nargs="+", default=None, help="runs.csv file(s) to read instead of record directories")
    ap.add_argument("--out", default=str(REPO / "results" / "perceptron"))
    ap.add_argument("--x-min", type=float, default=2.0)
    ap.add_argument("--alpha-fixed", type=float, nargs="+", default=[3.2, 6.4])
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--wall", action="append", default=[], help="SWEEP=TEXT: measured wall time of a sweep command")
    ap.add_argument(
        "--notes",
        default=None,
        help="reading template appended to the README ({name} placeholders filled from the tables); "
        "default <out>/notes.md if present",
    )
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    argv_ = list(argv if argv is not None else sys.argv[1:])
    shown = [a if a.startswith("--") else "..." for a in argv_ if not a.startswith("--notes")]
    files = study_report.run(
        _inputs(args),
        args.out,
        x_min=args.x_min,
        n_boot=args.n_boot,
        alpha_fixed=args.alpha_fixed,
        walls=dict(w.split("=", 1) for w in args.wall),
        shown_args=shown,
        notes=args.notes,
    )
    print(f"wrote {len(files)} files to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
