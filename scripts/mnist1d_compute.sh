#!/usr/bin/env bash
# The compute-aware mnist1d study (conf/experiment/mnist1d_compute.yaml) end to end, resumable across sessions: one
# fixed pool of 8,000, keep 0.1/0.2/0.4/0.7 x 5 step budgets (250-4,000 steps of 128) x 3 seeds for
#   1. the EL2N scores of the pool (3 seeds), so the student sweeps never wait on one another's score lock;
#   2. the students: random pruning (keep_hard of random scores), the full pool (metric=none, keep 1), EL2N
#      keep_hard and keep_easy, InfoBatch on the same random subsets (prune=infobatch metric=random) and pure
#      InfoBatch on the full pool (prune=infobatch metric=none): 270 runs, 2 joblib jobs of 1 thread each;
#   3. the collector into results/mnist1d_compute/ (x-axis: examples seen; bench/collect/compute.py fits).
# Records land in results/mnist1d_compute/records/ (committed): a rerun skips every run whose ok record exists (by
# run id) and only trains the rest; scores, data and wandb files stay under outputs/mnist1d_compute.
#   bash scripts/mnist1d_compute.sh [extra overrides...]      (JOBS=4 for more parallel jobs)
#
# Cost estimate, 2 CPU cores, from 5 timed single runs (1 thread each, while a study kept both cores busy: load ~3):
#   students  54 (rule, keep, seed) cells x 7,750 steps (250+500+1,000+2,000+4,000) = 419k optimiser steps
#             x 3.3 ms (cnn1d, batch 128: 2.8-3.2 ms static, 3.2-3.4 ms InfoBatch)                ~1,380 core-s
#             + 270 runs x ~1 s (start-up, wandb, 15 test evaluations)                            ~  270 core-s
#   scores    EL2N on 8,000 pool examples x 3 seeds at 0.9 ms each; the 32,000 + 4,000 mnist1d split generated
#             once in ~5 s                                                                          ~   30 core-s
#   total ~0.47 core-hours: ~15 min wall with 2 jobs on an idle machine, up to ~30 min under load like the timing's.
# Measured on 2026-11-25 (2 cores, partly shared with development work): scores 40 s, students 912 s.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
out=results/mnist1d_compute
par=(hydra/launcher=local_parallel "hydra.launcher.n_jobs=${JOBS:-2}" train.num_threads=1)
start=$(date +%s)
# 1. scores only: keep and budget do not change a score, so sweep one value of each
$PY -m bench.score -m experiment=mnist1d_compute metric=el2n prune.keep=0.1 train.steps=250 \
    "${par[@]}" "$@"
echo "scores ready after $(( $(date +%s) - start )) s"
# 2. students (finished runs are skipped): the baselines first (random pruning, the full pool), so that a study cut
#    short by a session's end can already be compared, then EL2N and InfoBatch
$PY -m bench.run -m experiment=mnist1d_compute metric=random "${par[@]}" "$@"
$PY -m bench.run -m experiment=mnist1d_compute metric=none prune.keep=1.0 "${par[@]}" "$@"
$PY -m bench.run -m experiment=mnist1d_compute metric=el2n prune.strategy=keep_hard,keep_easy "${par[@]}" "$@"
$PY -m bench.run -m experiment=mnist1d_compute prune=infobatch metric=random "${par[@]}" "$@"
$PY -m bench.run -m experiment=mnist1d_compute prune=infobatch metric=none prune.keep=1.0 "${par[@]}" "$@"
echo "sweeps finished in $(( $(date +%s) - start )) s"
# 3. tables, fits, plots and the report next to the records
$PY -m bench.collect "$out/records" --out "$out" --wandb
