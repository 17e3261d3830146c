"""Training FLOPs of a full-data CIFAR-10 run: the airbench student (train=airbench, by width) against
cifar10_paper's ResNet-18 x 200 epochs, by the harness's own counter (bench.train.cost, torch's FlopCounterMode:
forward + backward matrix products and convolutions, 2 FLOPs per multiply-add), without training either.

    python scripts/student_flops.py --out results/cifar10_student
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from bench.models import create_model
from bench.train import TRAIN_DEFAULTS, plan_steps
from bench.train.cost import flops_per_example

REPO = Path(__file__).resolve().parents[1]
N_TRAIN, SHAPE = 50000, (3, 32, 32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/cifar10_student")
    args = ap.parse_args()
    recipe = yaml.safe_load((REPO / "conf/train/airbench.yaml").read_text())
    recipe.pop("defaults")
    steps, _ = plan_steps(N_TRAIN, N_TRAIN, {**TRAIN_DEFAULTS, **recipe})
    examples = steps * recipe["batch_size"]  # every epoch drops its last partial batch
    resnet = flops_per_example(create_model("resnet18", 10, SHAPE), SHAPE, 10)
    resnet_run = resnet * N_TRAIN * 200  # cifar10_paper: train=cifar, 200 epochs of all 50,000
    rows = []
    for width in (1.0, 0.5, 0.25):
        fpe = flops_per_example(create_model("airbench", 10, SHAPE, width=width), SHAPE, 10)
        rows.append(
            {
                "width": width,
                "flops_per_example": fpe,
                "train_flops": fpe * examples,
                "ratio": resnet_run / (fpe * examples),
            }
        )
    result = {
        "airbench_steps": steps,
        "airbench_examples_seen": examples,
        "resnet18_flops_per_example": resnet,
        "resnet18_200_epochs_train_flops": resnet_run,
        "airbench": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "flops.json").write_text(json.dumps(result, indent=1))
    lines = [
        "# Training FLOPs of a full-data CIFAR-10 run\n",
        "`python scripts/student_flops.py --out results/cifar10_student` (bench.train.cost's counter, no training)\n",
        "| student | FLOPs per example (fwd + bwd) | examples seen | train FLOPs | ResNet-18 x 200 epochs / it |",
        "|---|---|---|---|---|",
        f"| ResNet-18, 200 epochs (cifar10_paper) | {resnet / 1e9:.3f} G | {N_TRAIN * 200:,} | {resnet_run / 1e15:.1f} P | 1 |",
    ]
    for r in rows:
        lines.append(
            f"| airbench width {r['width']}, 9.9 epochs | {r['flops_per_example'] / 1e9:.3f} G | {examples:,} "
            f"| {r['train_flops'] / 1e15:.3f} P | {r['ratio']:.0f}x |"
        )
    (out / "flops.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
