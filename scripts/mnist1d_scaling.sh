#!/usr/bin/env bash
# The mnist1d scaling study (conf/experiment/mnist1d_scaling.yaml) end to end, resumable across sessions:
#   1. fill the score store: every metric x pool x seed once (6 x 6 x 3 = 108 jobs), so the student sweeps never
#      wait on one another's score lock;
#   2. the students: 6 metrics x keep_hard/keep_easy (1,728 runs), random pruning keep_hard (144), the keep = 1
#      full-data baseline metric=none under both budgets (36): 1,908 runs, 2 joblib jobs of 1 thread each;
#   3. the collector into results/mnist1d_scaling/.
# Records land in results/mnist1d_scaling/records/ (committed): a rerun, in this session or a later one, skips every
# run whose ok record exists (by run id) and only trains the rest; scores, data and wandb files stay under
# outputs/mnist1d_scaling (a fresh clone recomputes the scores of the runs still to do).
#   bash scripts/mnist1d_scaling.sh [extra overrides...]      (JOBS=4 for more parallel jobs)
#
# Cost estimate, 2 CPU cores (from timed runs, 1 thread each, measured while other jobs shared the machine):
#   students  1.68M optimiser steps (epochs budget 0.49M, steps budget 1.19M; 15 epochs, floor 200) x 2.45 ms
#             + 1,908 runs x ~0.8 s overhead (wandb, evaluations)                                  ~1.55 core-hours
#   scores    per pool example, pool 4000: EL2N 0.75 ms, GraNd 0.8, forgetting 0.33, SSP 1.13, supervised
#             prototypes 1.13, memorization (34 models x 40 epochs) 21.7; x 63k pool examples x 3 seeds
#                                                                                                  ~1.35 core-hours
#   total ~2.9 core-hours: ~1.6 h wall with 2 jobs on an idle machine; a sample of 8 runs here took 1.5x the model
#   under load, i.e. up to ~2.4 h. The mnist1d split (32,000 + 4,000) is generated once in ~5 s and cached.
# Measured on 2026-11-25 (2 cores shared with development work): scores 39 min for all but memorization at pool
#   32,000 (memorization: 47-56 s at pool 2k, ~250 s at 8k, ~600 s at 16k per seed, so ~20 min per seed at 32k);
#   students 1,860 runs in 80 min; then memorization at 32,000 in 578-912 s per seed (2 jobs) and its 48 students:
#   28 min. The whole study took ~2.5 h here.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
out=results/mnist1d_scaling
par=(hydra/launcher=local_parallel "hydra.launcher.n_jobs=${JOBS:-2}" train.num_threads=1)
start=$(date +%s)
# 1. scores only: the strategy / keep / budget axes do not change a score, so sweep one value of each
$PY -m bench.score -m experiment=mnist1d_scaling prune.strategy=keep_hard prune.keep=0.1 train.budget=epochs \
    "${par[@]}" "$@"
echo "scores ready after $(( $(date +%s) - start )) s"
# 2. students (finished runs are skipped): the baselines first (random pruning, full data), so that a study cut
#    short by a session's end can already be compared, then the metrics
$PY -m bench.run -m experiment=mnist1d_scaling metric=random prune.strategy=keep_hard "${par[@]}" "$@"
$PY -m bench.run -m experiment=mnist1d_scaling metric=none prune.keep=1.0 prune.strategy=keep_hard "${par[@]}" "$@"
$PY -m bench.run -m experiment=mnist1d_scaling "${par[@]}" "$@"
echo "sweeps finished in $(( $(date +%s) - start )) s"
# 3. tables, fits, plots and the report next to the records
$PY -m bench.collect "$out/records" --out "$out" --wandb
