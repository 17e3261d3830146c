#!/usr/bin/env bash
# Upload offline wandb runs once you are online.
#   bash scripts/wandb_sync.sh [--dry-run] [DIR ...]
# With no DIR, every offline run under $BENCH_HOME (default outputs/) is found: the sweeps' runs
# (<paths.root>/wandb/offline-run-*) and the collectors' (<records>/collect/wandb/offline-run-*), at any depth.
# --dry-run lists them, one path a line, and uploads nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
dry=0
dirs=()
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry=1 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) dirs+=("$arg") ;;
  esac
done
[ ${#dirs[@]} -gt 0 ] || dirs=("${BENCH_HOME:-outputs}")
runs=()
for d in "${dirs[@]}"; do
  [ -d "$d" ] || { echo "no such folder: $d" >&2; exit 1; }
  while IFS= read -r run; do runs+=("$run"); done < <(find "$d" -type d -name 'offline-run-*' -prune | sort)
done
[ ${#runs[@]} -gt 0 ] || { echo "no offline wandb runs under ${dirs[*]}" >&2; exit 1; }
if [ "$dry" = 1 ]; then
  printf '%s\n' "${runs[@]}"
  exit 0
fi
WANDB=${WANDB:-.venv/bin/wandb}
"$WANDB" sync --include-offline "${runs[@]}"
