#!/usr/bin/env bash
# Upload offline wandb runs once you are online: bash scripts/wandb_sync.sh [wandb dir, default outputs/wandb]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-${BENCH_HOME:-outputs}/wandb}
shopt -s nullglob
runs=("$dir"/offline-run-* "$dir"/*/wandb/offline-run-*)
[ ${#runs[@]} -gt 0 ] || { echo "no offline wandb runs under $dir"; exit 1; }
.venv/bin/wandb sync --include-offline "${runs[@]}"
