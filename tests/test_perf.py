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


def _cost_record(i: int, metric: str, strategy: str, seed: int, seconds: float, images: int, key: str) -> dict:
    return {
        "run_id": f"r{i}",
        "status": "ok",
        "dataset": "cifar10",
        "model": "airbench",
        "metric": metric,
        "strategy": strategy,
        "keep": 0.5,
        "n_train": 100,
        "pool_size": 200,
        "seed": seed,
        "test_error": 0.5,
        "wall_time_s": seconds,
        "examples_seen": images,
        "score_key": key,
    }


def _sidecar(store, key: str, metric: str, seed: int, seconds: float, noise: float = 0.0, epochs: int = 2) -> None:
    spec = {
        "dataset": {"name": "cifar10", "pool_size": 200, "label_noise": noise, "source": "folder:x"},
        "metric": metric,
        "params": {"epochs": epochs},
        "model": {"name": "airbench", "width": 0.25},
        "seed": seed,
    }
    (store / f"{key}.json").write_text(json.dumps({"key": key, "spec": spec, "compute_seconds": seconds}))


def test_study_cost_counts_the_study_s_scores_by_settings_and_its_students_by_stage(tmp_path):
    from bench.perf.study_cost import cost_markdown, score_costs, student_costs

    rec, store = tmp_path / "records", tmp_path / "scores"
    rec.mkdir()
    store.mkdir()
    rows = [
        ("random", "keep_hard", 0, 10.0, 1000, "rand0"),  # baselines: random has no sidecar
        ("none", "keep_hard", 1, 20.0, 2000, ""),
        ("none", "infobatch", 0, 30.0, 1500, ""),
        ("el2n", "keep_hard", 0, 40.0, 4000, "e0"),
        ("el2n", "keep_easy", 0, 60.0, 4000, "e0"),
    ]
    for i, row in enumerate(rows):
        (rec / f"r{i}.json").write_text(json.dumps(_cost_record(i, *row)))
    _sidecar(store, "e0", "el2n", 0, 100.0)
    _sidecar(store, "e1", "el2n", 1, 110.0)  # seed 1's scores: no student has used them yet, same settings
    _sidecar(store, "noisy", "el2n", 0, 50.0, noise=0.1)  # the same metric on a pool with flipped labels
    _sidecar(store, "try", "el2n", 0, 999.0, epochs=10)  # a try with other settings: left out
    students = student_costs([str(rec)]).set_index("stage")
    assert list(students.index) == ["baselines", "infobatch", "seed 0"]
    assert students.loc["baselines", "seconds"] == 30.0 and students.loc["seed 0", "images"] == 8000
    assert students.loc["seed 0", "images_per_s"] == 80.0
    scores, other = score_costs([str(rec)], store)
    assert other == 1 and sorted(scores["seconds"]) == [50.0, 100.0, 110.0]
    md = cost_markdown(scores, student_costs([str(rec)]), "cmd", budget_h=12, other_scores=other)
    assert f"**{(260 + 160) / 3600:.1f} h of machine time so far**" in md and "budget of 12 h" in md
    assert "| el2n | 100 / 110 | 50 / — |" in md and "seed 0: 100 s, seed 1: 110 s" in md
    assert "Not counted: 1 other score array" in md
