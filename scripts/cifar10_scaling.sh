#!/usr/bin/env bash
# The CPU-scale CIFAR-10 study (conf/experiment/cifar10_scaling.yaml) end to end, resumable across sessions: every
# stage skips what is done (students by run id against the committed records in results/cifar10_scaling/records/,
# scores by score key in the store under $BENCH_HOME/cifar10_scaling/scores), and a killed run or scoring resumes
# from its mid-run checkpoint. One training at a time (the machine has 2 cores).
#   bash scripts/cifar10_scaling.sh [stage ...]        DATA=<CIFAR-10 root> (default /work/data/cifar10-jpeg)
# Stages, in the order `all` (the default) runs them:
#   quality    the 6 metrics' scores on a 10,000-image pool with 10% flipped labels (seed 0), exported to
#              results/cifar10_scaling/scores/noise10/: do they put the flipped labels in their hardest fraction?
#   baselines  random pruning (one strategy: a random subset) at every pool x keep x seed (36 students) and the
#              full pool (metric=none, keep 1) at every pool x seed (12), so a study cut short can be compared
#   infobatch  pure InfoBatch at its defaults (ratio 0.5, delta 0.875) on the full 50,000, 3 seeds, against the
#              full-data baselines: results/cifar10_scaling/infobatch.md (test error ± SE, examples seen, wall time)
#   seed0 seed1 seed2
#              that seed's scores (6 metrics x 4 pools), then its 6 x 2 x 4 x 3 = 144 metric students
#   tables     the 50,000-pool scores of every seed exported, and the score-quality tables
#              (results/cifar10_scaling/score_quality.md: seed-to-seed Spearman, flipped-label recall and AUROC)
#   collect    the collector's report, tables and panels into results/cifar10_scaling/. Under the 4-epoch budget
#              no student fits its kept set and errors run 0.2-0.8 (chance 0.9), so the fit flag is off
#              (--max-train-error -1) and fits use every size below chance (--small-data-frac 1)
# Each stage's command, wall time and load are appended to results/cifar10_scaling/runs.log.
#
# Cost model (2 CPU cores, width 0.25, channels_last; see results/cifar10_scaling/README.md for measured figures):
#   students  480 runs; every run trains 4 epochs of its kept set (batch = min(1024, kept // 10), the 40-step floor
#             never binds in the grid), so trained examples = 4 x kept summed over the grid = 4.76 M per seed,
#             14.3 M in all, at ~1,000-1,250 images/s (results/throughput/airbench_w025: 1,257 at batch 1024;
#             the small kept sets' small batches run slower, but they hold few of the images)       ~3.2-4 h
#             + per run: data load ~1 s, one test evaluation, the kept-set evaluation, wandb (offline) ~5 s
#                                                                                                    ~0.7 h
#   scores    per pool example, in passes of the width-0.25 student through the probe loop: EL2N 4 x 2 epochs,
#             forgetting 10, memorization 10 x 3 x 0.7 = 21, SSP and supervised prototypes 2 views x 4 epochs
#             each, GraNd 4 per-example gradients ~= 55 passes; x (5k + 10k + 20k + 50k) x 3 seeds = 255 k pool
#             examples -> 14 M images at ~550-800 images/s (probe loop, batch 256)                   ~5-7 h
#   total ~9-12 h on an idle machine; the quality stage adds ~10k x 55 = 0.55 M images (~15 min), InfoBatch 3 runs
#   of <= 200 k examples each (~10 min).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${DATA:-/work/data/cifar10-jpeg}
export BENCH_HOME=${BENCH_HOME:-outputs}
out=results/cifar10_scaling
mkdir -p "$out/records" "$out/scores"
stages=("$@")
[[ ${#stages[@]} -eq 0 || ${stages[0]} == all ]] && stages=(quality baselines infobatch seed0 seed1 seed2 tables collect)
base=(experiment=cifar10_scaling "dataset.root=$DATA")
metrics=el2n_airbench,grand_airbench,forgetting_airbench,memorization_airbench,ssp_airbench,supervised_prototypes_airbench

step() {  # one command, timed and logged
    local start=$SECONDS
    echo "+ $*" | tee -a "$out/runs.log"
    "$@" 2>&1 | grep --line-buffered -v "^\(GPU\|TPU\|💡\)" | tee -a "$out/runs.log"
    echo "  wall $((SECONDS - start)) s ($(date -u +%FT%TZ), $(uptime | sed 's/.*load/load/'))" | tee -a "$out/runs.log"
}
scores() {  # scores only: the strategy and keep axes do not change a score, so one value of each
    step "$PY" -m bench.score -m "${base[@]}" prune.strategy=keep_hard prune.keep=0.1 "$@"
}

for stage in "${stages[@]}"; do
    case $stage in
    quality)
        scores "metric=$metrics" dataset.pool_size=10000 dataset.label_noise=0.1 seed=0 \
            "export=$out/scores/noise10/\${metric.name}_seed\${seed}.csv" ;;
    baselines)
        step "$PY" -m bench.run -m "${base[@]}" metric=random prune.strategy=keep_hard
        step "$PY" -m bench.run -m "${base[@]}" metric=none prune.keep=1.0 prune.strategy=keep_hard ;;
    infobatch)
        step "$PY" -m bench.run -m "${base[@]}" prune=infobatch prune.strategy=infobatch metric=none prune.keep=1.0 \
            dataset.pool_size=50000 seed=0,1,2
        step "$PY" scripts/infobatch_table.py --records "$out/records" --pool-size 50000 --out "$out/infobatch.md" ;;
    seed[0-9])
        scores "metric=$metrics" "seed=${stage#seed}"
        step "$PY" -m bench.run -m "${base[@]}" "seed=${stage#seed}" ;;
    tables)
        scores "metric=$metrics" dataset.pool_size=50000 seed=0,1,2 \
            "export=$out/scores/pool50000/\${metric.name}_seed\${seed}.npy"
        step "$PY" scripts/cifar10_score_quality.py --scores "$out/scores" --out "$out/score_quality.md" ;;
    collect)  # 4 epochs: no run fits its kept set, errors far above the default power-law region (see above)
        step "$PY" -m bench.collect "$out/records" --out "$out" --wandb --max-train-error -1 --small-data-frac 1 ;;
    *)
        echo "unknown stage $stage: allowed quality, baselines, infobatch, seed0, seed1, seed2, tables, collect, all" >&2
        exit 2 ;;
    esac
done
