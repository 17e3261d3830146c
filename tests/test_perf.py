"""The speed benchmarks (bench/perf, scripts/bench_throughput.py, scripts/bench_metrics.py) measure what they say:
the same work in both loops, and a metric timing whose sanity figure finds flipped labels."""

from __future__ import annotations

import json
from argparse import Namespace

from bench.perf import machine_info
from bench.perf.metric_timing import run_benchmark, write_outputs
from bench.perf.throughput import bare_loop, measure, result_record, student_setup, write_report


def _args(**kw) -> Namespace:
    base = dict(student="cnn1d", pool_size=1024, epochs=1, repeats=1, width=1.0, channels_last=False)
    return Namespace(**{**base, "data_root": None, "cache_dir": None, **kw})


def test_both_loops_take_the_same_steps_and_the_report_states_the_pair_ratio(tmp_path):
    args = _args()
    setup = student_setup(args)
    harness, bare = measure(setup, args.repeats)
    assert len(harness) == len(bare) == 1 and min(harness + bare) > 0
    result = result_record(args, setup, harness, bare)
    assert result["harness_over_bare"] == harness[0] / bare[0]
    write_report(result, len(setup.pool), tmp_path)
    md = (tmp_path / "throughput.md").read_text()
    assert f"**{harness[0] / bare[0]:.2f}**" in md and "--pool-size 1024 --epochs 1 --repeats 1" in md
    assert json.loads((tmp_path / "throughput.json").read_text())["pool_size"] == 1024


def test_the_bare_loop_plans_the_steps_of_the_harness_recipe():
    setup = student_setup(_args(pool_size=1000, epochs=2))
    ref = bare_loop(setup, seed=0)
    batch = setup.cfg["batch_size"]
    per_epoch = 1000 // batch if setup.cfg["drop_last"] else -(-1000 // batch)
    assert ref["steps"] == max(2 * per_epoch, setup.cfg.get("min_steps") or 0)


def test_a_metric_timing_finds_the_flipped_labels_and_writes_its_tables(tmp_path):
    kw = dict(models=["mlp"], metrics=["el2n"], n_train=4000, label_noise=0.1, seed=0, device="cpu")
    info = run_benchmark(pool_size=1000, **kw)
    (row,) = info["metrics"]
    assert row["metric"] == "el2n" and row["seconds"] > 0 and row["auroc_flipped"] > 0.7
    (speed,) = info["ensemble_speedup"]
    assert speed["vectorised_seconds"] > 0 and speed["sequential_seconds"] > 0
    write_outputs({"command": "python scripts/bench_metrics.py (test)", **info}, tmp_path / "m")
    md = (tmp_path / "m.md").read_text()
    assert f"| mlp | el2n | {row['seconds']:.1f} | {row['auroc_flipped']:.3f} |" in md
    assert machine_info()["cores_visible"] >= 1
