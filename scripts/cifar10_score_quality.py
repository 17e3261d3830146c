"""Score-quality tables from exported scores (``bench.score ... export=``), for reading before any frontier.

    python scripts/cifar10_score_quality.py --scores results/cifar10_scaling/scores --out results/cifar10_scaling/score_quality.md

Reads ``<scores>/noise10/<metric>_seed<k>.csv`` (a pool with flipped labels: which metrics put them in their
hardest fraction) and ``<scores>/pool50000/<metric>_seed<k>.npy`` (the largest pool, every seed: how stable each
metric's ranking is); either folder may be missing. Scripts/cifar10_scaling.sh (stages quality, tables) writes them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.collect.score_quality import noise_table, stability_table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scores", default="results/cifar10_scaling/scores")
    ap.add_argument("--out", default="results/cifar10_scaling/score_quality.md")
    args = ap.parse_args()
    scores = Path(args.scores)
    lines = [
        "# Score quality on CIFAR-10 (JPEG copy), the airbench student as probe",
        "",
        f"`python scripts/cifar10_score_quality.py --scores {args.scores} --out {args.out}` "
        f"({time.strftime('%Y-%m-%d %H:%M')}); scores from `bash scripts/cifar10_scaling.sh quality tables` "
        "(metric settings: `conf/metric/*_airbench.yaml`). Higher score = harder.",
        "",
    ]
    if (scores / "noise10").is_dir():
        lines += [
            "## Flipped labels: a pool of 10,000 with 10% of its labels flipped (seed 0)",
            "",
            "Recall = the share of the flipped examples found in the hardest q of the pool (chance: q); precision = "
            "the share of the hardest q that is flipped (chance: 0.10); AUROC of the scores for flipped against "
            "clean examples (chance: 0.5).",
            "",
            *noise_table(scores / "noise10"),
            "",
        ]
    if (scores / "pool50000").is_dir():
        lines += [
            "## Stability: the largest pool (all 50,000 training images), one score array per seed",
            "",
            *stability_table(scores / "pool50000"),
            "",
        ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
