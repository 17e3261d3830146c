#!/usr/bin/env bash
# The cifar10_paper preset (conf/experiment/cifar10_paper.yaml) on a GPU machine; pass dataset.root=... and any override.
#   bash scripts/cifar10_paper.sh dataset.root=/data/... [hydra/launcher=slurm] [more overrides]
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m bench.run -m experiment=cifar10_paper "$@"
