#!/usr/bin/env bash
# The imagenet_paper preset (conf/experiment/imagenet_paper.yaml) on a GPU machine; pass dataset.root=... and any override.
#   bash scripts/imagenet_paper.sh dataset.root=/data/... [hydra/launcher=slurm] [more overrides]
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m bench.run -m experiment=imagenet_paper "$@"
