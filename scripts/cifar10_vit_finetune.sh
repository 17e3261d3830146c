#!/usr/bin/env bash
# The cifar10_vit_finetune preset (conf/experiment/cifar10_vit_finetune.yaml) on a GPU machine; pass dataset.root=... and any override.
#   bash scripts/cifar10_vit_finetune.sh dataset.root=/data/... [hydra/launcher=slurm] [more overrides]
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m bench.run -m experiment=cifar10_vit_finetune "$@"
