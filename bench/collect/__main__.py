"""``python -m bench.collect RUNS_DIR [MORE ...] [--out DIR] [--tolerance T] [--wandb [PROJECT]]``."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from bench.collect.frontier import CONTEXT_KEYS
from bench.collect.reference import DuplicateRunsError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.collect",
        description="Collect data-pruning run records (JSON) into tables, scaling-law fits, "
        "plots and a Markdown/HTML report. Never re-trains.",
    )
    _add_io_args(p.add_argument_group("records in, outputs out"))
    _add_analysis_args(p.add_argument_group("fits, gains and verdicts"))
    return p


def _add_io_args(p) -> None:
    p.add_argument(
        "paths",
        nargs="+",
        metavar="RECORDS",
        help="results directories (searched recursively for *.json run records) or files",
    )
    p.add_argument("--out", default=None, metavar="DIR", help="output directory (default: <first RECORDS>/collect)")
    p.add_argument(
        "--wandb",
        nargs="?",
        const=True,
        default=False,
        metavar="PROJECT",
        help="also log tables and plots to wandb (offline unless WANDB_MODE is set); optional project name",
    )
    p.add_argument("--formats", default="png,svg", help="comma-separated image formats (default png,svg)")


def _add_analysis_args(p) -> None:
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.005,
        metavar="T",
        help="absolute test-error tolerance for the droppable fraction (default 0.005 = 0.5 percentage points)",
    )
    p.add_argument(
        "--x",
        default=None,
        metavar="SPEC",
        help="x-variable: a column for all datasets (e.g. n_train) or per dataset "
        "'perceptron=alpha_prune,cifar10=n_train' (default: n_train; "
        "alpha_prune for dataset perceptron)",
    )
    p.add_argument(
        "--context",
        default=",".join(CONTEXT_KEYS),
        metavar="COLS",
        help="comma-separated settings that split curves and are never pooled "
        "(default: label_noise,budget,step_budget,test_key; e.g. add probe_angle_deg for a perceptron "
        "probe sweep; names also match extra.<name>)",
    )
    p.add_argument("--n-boot", type=int, default=200, help="bootstrap replicates per fit (default 200)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap RNG seed (default 0)")
    p.add_argument(
        "--baseline-metric", default="random", help="the reference of gains and shape verdicts (default: random)"
    )
    p.add_argument(
        "--max-train-error",
        type=float,
        default=0.05,
        metavar="E",
        help="a cell whose seeds' median final error on their own kept set exceeds E is flagged and left out of "
        "the scaling fits as a whole (default 0.05; a negative value flags nothing)",
    )
    p.add_argument(
        "--small-data-frac",
        type=float,
        default=0.3,
        metavar="F",
        help="learning-curve and frontier fits use the sizes whose mean error is at most F x chance error (the "
        "power-law region; default 0.3; 1 drops only sizes at chance; a negative value fits every size)",
    )


def _parse_x(spec: str | None, parser: argparse.ArgumentParser):
    if spec is None or "=" not in spec:
        return spec
    out = {}
    for item in spec.split(","):
        ds, sep, col = item.partition("=")
        if not sep or not ds.strip() or not col.strip():
            parser.error(f"bad --x item {item!r}: expected DATASET=COLUMN")
        out[ds.strip()] = col.strip()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        parser.error("records path does not exist: " + ", ".join(missing))
    if args.tolerance < 0:
        parser.error("--tolerance must be >= 0")
    if args.n_boot < 0:
        parser.error("--n-boot must be >= 0")

    x_spec = _parse_x(args.x, parser)

    from bench.collect.report import NoRecordsError, collect  # after argument checks: fast --help / errors

    argv_used = sys.argv[1:] if argv is None else argv
    command = "python -m bench.collect " + " ".join(shlex.quote(a) for a in argv_used)
    try:
        out = collect(
            args.paths,
            out_dir=args.out,
            command=command,
            tolerance=args.tolerance,
            log_wandb=args.wandb,
            x=x_spec,
            n_boot=args.n_boot,
            seed=args.seed,
            baseline_metric=args.baseline_metric,
            context=tuple(c.strip() for c in args.context.split(",") if c.strip()),
            formats=tuple(f.strip() for f in args.formats.split(",") if f.strip()),
            max_train_error=None if args.max_train_error < 0 else args.max_train_error,
            small_data_frac=None if args.small_data_frac < 0 else args.small_data_frac,
        )
    except (NoRecordsError, DuplicateRunsError) as e:
        print(f"bench.collect: {e}", file=sys.stderr)
        return 1

    n_flag = int(out["runs"]["flagged_cell"].sum())
    print(
        f"collected {out['n_ok']} ok run(s) ({n_flag} in flagged cells, left out of the scaling fits), "
        f"{out['n_failed']} failed/unusable record(s)"
    )
    for line in out["answer"]:
        print("  " + line.replace("**", ""))
    fits = out["fits"]
    if len(fits):
        counts = fits["fit_status"].value_counts().to_dict()
        print("fits: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    print(f"outputs in {out['out_dir']}:")
    for name, path in out["files"].items():
        print(f"  {name:22s} {path}")
    if out["plots"]:
        print(f"  plots ({len(out['plots'])} files) {Path(out['plots'][0]).parent}")
    if out["wandb"].get("status") not in ("disabled", None):
        print(f"wandb: {out['wandb']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
