"""Where a running study stands, from its records: runs recorded per rule against the plan, and the seed table of
reference rules, as markdown for the study's README.

    python scripts/study_status.py results/cifar10_scaling/records --plan random:keep_hard=36 none:keep_hard=12 \
        --seeds random:keep_hard none:keep_hard [--update results/cifar10_scaling/README.md]

``--update``: write the tables between the README's ``<!-- status -->`` and ``<!-- /status -->`` lines instead of
printing them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.collect.status import progress_table, seed_table, unplanned
from bench.collect.table import load, markdown_table


def _plan(items: list[str]) -> dict[tuple[str, str], int]:
    out = {}
    for item in items:
        try:
            rule, n = item.split("=")
            metric, strategy = rule.split(":")
            out[(metric, strategy)] = int(n)
        except ValueError:
            msg = f"--plan {item!r} is not allowed: metric:strategy=count, e.g. random:keep_hard=36"
            raise SystemExit(msg) from None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("records")
    ap.add_argument("--plan", nargs="*", default=[], help="metric:strategy=planned runs")
    ap.add_argument("--seeds", nargs="*", default=[], help="metric:strategy rules whose per-seed errors to tabulate")
    ap.add_argument("--update", type=Path, help="a README with <!-- status --> ... <!-- /status --> lines")
    args = ap.parse_args()
    ok = load(args.records).ok
    progress = progress_table(ok, _plan(args.plan))
    stray = unplanned(progress) if args.plan else []
    if stray:
        raise SystemExit(
            f"records of {', '.join(stray)} have no --plan entry: name rules as the records do (metric.name, e.g. "
            f"el2n, not el2n_airbench); planned: {', '.join(args.plan)}"
        )
    parts = [markdown_table(progress)]
    for rule in args.seeds:
        metric, _, strategy = rule.partition(":")
        table = markdown_table(seed_table(ok, metric, strategy or None))
        parts.append(f"{metric} {strategy}, every pool and keep:\n\n{table}")
    text = "\n\n".join(parts)
    if args.update is None:
        print(text)
        return
    readme = args.update.read_text()
    head, sep, rest = readme.partition("<!-- status -->\n")
    _, end, tail = rest.partition("<!-- /status -->")
    if not (sep and end):
        raise SystemExit(f"{args.update} has no '<!-- status -->' ... '<!-- /status -->' lines to replace")
    args.update.write_text(f"{head}{sep}{text}\n{end}{tail}")


if __name__ == "__main__":
    main()
