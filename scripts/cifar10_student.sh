#!/usr/bin/env bash
# The airbench student on CIFAR-10 (JPEG copy) on this CPU: model=airbench train=airbench, all 50,000 training images
# (metric=none, keep 1), records in results/cifar10_student/records/ (committed). Resumable: a rerun skips every run
# whose ok record exists (by run id), and a killed run resumes from its mid-run checkpoint (every 5 min).
#   bash scripts/cifar10_student.sh [sanity|widths|full|all] [extra overrides...]
#     sanity  width 0.25, train.epochs=1, so the 200-step floor gives 200 steps of 1024 (4.2 epochs): is it sane?
#     widths  accuracy and CPU wall time against width and epochs: 0.25 x 9.9 epochs, 0.5 x 200 steps (4.2 epochs)
#     full    width 1.0, the full recipe (9.9 epochs, TTA), seeds 0 and 1 (target: mean TTA accuracy >= 90.3%)
#     more    width 0.5 x 9.9 epochs
# Order of `all`: sanity, widths, full, more (the cheap points first). Every run but the sanity one evaluates the
# test split 3 times (train.n_evals=3) instead of once per epoch: on this CPU one evaluation of the full-width
# student costs about a minute; the final one with TTA is always done.
# Data: DATA=/work/data/cifar10-jpeg (mkdir -p /work/data/cifar10-jpeg && tar -xJf ../shared/data/cifar10-jpeg.tar.xz -C /work/data/cifar10-jpeg); decoded once and
# cached under $BENCH_HOME/data. Each run's command and wall time are appended to results/cifar10_student/runs.log.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${DATA:-/work/data/cifar10-jpeg}
export BENCH_HOME=${BENCH_HOME:-outputs/cifar10_student}
out=results/cifar10_student
mkdir -p "$out/records"
stage=${1:-all}
shift || true
common=(dataset=cifar10 "dataset.root=$DATA" model=airbench train=airbench metric=none prune.keep=1.0
        logger=none train.progress_bar=false train.checkpoint_every=5min "paths.results_dir=$out/records")

run() {  # one bench.run invocation, timed and logged
    local start=$SECONDS
    echo "+ python -m bench.run ${common[*]} $*" | tee -a "$out/runs.log"
    $PY -m bench.run "${common[@]}" "$@" 2>&1 | grep -v "^\(GPU\|TPU\|💡\)" | tee -a "$out/runs.log"
    echo "  wall $((SECONDS - start)) s ($(date -u +%FT%TZ), $(uptime | sed 's/.*load/load/'))" | tee -a "$out/runs.log"
}

if [[ $stage == sanity || $stage == all ]]; then
    run model.width=0.25 train.epochs=1 seed=0 "$@"
fi
if [[ $stage == widths || $stage == all ]]; then
    run model.width=0.25 train.n_evals=3 seed=0 "$@"
    run model.width=0.5 train.epochs=1 train.n_evals=3 seed=0 "$@"
fi
if [[ $stage == full || $stage == all ]]; then
    run model.width=1.0 train.n_evals=3 seed=0 "$@"
    run model.width=1.0 train.n_evals=3 seed=1 "$@"
fi
if [[ $stage == more || $stage == all ]]; then
    run model.width=0.5 train.n_evals=3 seed=0 "$@"
fi
