#!/usr/bin/env bash
# The mnist1d scaling study (conf/experiment/mnist1d_scaling.yaml) end to end: five metrics, memorization with a
# smaller ensemble (12 probes x 20 epochs, to fit the CPU budget), the full-data baseline (metric=none, keep=1),
# then the collector. Finished runs are skipped, so an interrupted study resumes where it stopped.
#   bash scripts/mnist1d_scaling.sh [extra overrides...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
root=${BENCH_HOME:-outputs}/mnist1d_scaling
start=$(date +%s)
$PY -m bench.run -m experiment=mnist1d_scaling metric=random,el2n,forgetting,ssp,supervised_prototypes "$@"
$PY -m bench.run -m experiment=mnist1d_scaling metric=memorization metric.n_models=12 metric.epochs=20 "$@"
$PY -m bench.run -m experiment=mnist1d_scaling metric=none prune.keep=1.0 prune.strategy=keep_hard "$@"
echo "sweeps finished in $(( $(date +%s) - start )) s"
$PY -m bench.collect "$root/records" --out "$root/collect" --wandb
