"""The report says how each metric's scores were computed, from the records themselves (bench/collect/score_settings.py):
the probe, the settings that set a score's cost and resolution, and what the metric reported while scoring."""

from __future__ import annotations

import json

from bench.collect import collect
from bench.collect.score_settings import score_settings_table
from bench.collect.table import load


def _record(i: int, metric: str, pool: int, seed: int, metric_cfg: dict, info: dict | None = None) -> dict:
    rec = {
        "run_id": f"r{i}",
        "status": "ok",
        "dataset": "synth",
        "model": "airbench",
        "metric": metric,
        "strategy": "keep_hard",
        "keep": 0.5,
        "pool_size": pool,
        "n_train": pool // 2,
        "seed": seed,
        "budget": "epochs",
        "label_noise": 0.0,
        "test_error": 0.5 * (pool / 1000) ** -0.3,
        "test_key": "synth:n_test=1000",
        "score_key": f"{metric}-{pool}-{seed}",
        "config": {"model": {"name": "airbench", "width": 0.25}, "metric": {"name": metric, **metric_cfg}},
        "extra": {"metric_info": info} if info else {},
    }
    return rec


MEMO = {"n_models": 10, "epochs": 3, "subset_fraction": 0.7, "min_count": 3, "model": None}


def _write(rec_dir, infos=((7, 3), (6, 2))) -> None:
    rec_dir.mkdir()
    i = 0
    for pool in (1000, 2000, 4000):
        for seed, (n_in, n_out) in enumerate(infos):
            info = {"n_models": 10, "models_out_min": n_out, "models_out_median": n_out, "models_out_max": n_out + 1}
            info["models_in_min"] = n_in
            for metric, cfg, inf in (
                ("memorization", MEMO, info),
                ("ssp", {"encoder": "simclr", "ssl_epochs": 4}, None),
            ):
                (rec_dir / f"r{i}.json").write_text(json.dumps(_record(i, metric, pool, seed, cfg, inf)))
                i += 1
            (rec_dir / f"r{i}.json").write_text(json.dumps(_record(i, "random", pool, seed, {})))
            i += 1


def test_the_table_names_each_metric_s_probe_settings_and_its_own_report(tmp_path):
    _write(tmp_path / "records")
    table = score_settings_table(load(str(tmp_path / "records")).ok).set_index("metric")
    assert list(table.index) == ["memorization", "ssp"]  # random has no scores to describe
    memo = table.loc["memorization"]
    assert memo["probe"] == "the student (airbench, width 0.25)"
    assert memo["settings"] == "n_models 10, epochs 3, subset_fraction 0.7, min_count 3"
    assert memo["runs"] == 6 and memo["score arrays"] == 6
    # held-out models per example over the score arrays: min 2 (seed 1) to max 4 (seed 0's max); in: 6-7
    assert "models_out 2–4" in memo["reported while scoring"] and "models_in 6–7" in memo["reported while scoring"]
    assert (
        table.loc["ssp", "settings"] == "encoder simclr, ssl_epochs 4"
        and table.loc["ssp", "reported while scoring"] == ""
    )


def test_a_setting_that_differs_between_runs_gets_its_own_row_and_the_report_shows_the_section(tmp_path):
    rec = tmp_path / "records"
    _write(rec)
    other = _record(99, "memorization", 1000, 5, {**MEMO, "epochs": 10})
    (rec / "r99.json").write_text(json.dumps(other))
    table = score_settings_table(load(str(rec)).ok)
    memo = table.loc[table["metric"] == "memorization"]
    assert sorted(memo["runs"]) == [1, 6] and any("epochs 10" in s for s in memo["settings"])
    collect([str(rec)], out_dir=str(tmp_path / "out"), n_boot=0, formats=())
    md = (tmp_path / "out" / "report.md").read_text()
    assert "### How the scores were computed (from the records)" in md
    assert "| memorization | the student (airbench, width 0.25) | n_models 10, epochs 10," in md
