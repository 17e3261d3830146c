"""The crossover test (bench/collect/crossover.py) on planted data where the answer is known."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench.collect.crossover import EASY, HARD, crossover_lines, crossover_table, strategy_differences
from bench.collect.report import collect

POOLS = (1000, 4000, 16000)
KEEPS = (0.1, 0.3, 0.6)


def _runs(effects: dict[str, dict[int, float]], seeds=(0, 1, 2), noise=0.01, rng_seed=0) -> pd.DataFrame:
    """Runs of keep_easy and keep_hard per metric, pool, keep and seed: log error(hard) - log error(easy) =
    ``effects[metric][pool]`` plus seed noise (sd ``noise``) around a base error falling with n."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for metric, by_pool in effects.items():
        for pool in POOLS:
            for keep in KEEPS:
                for seed in seeds:
                    base = 0.6 * (keep * pool / 100) ** -0.3
                    shared = rng.normal(0, noise)  # a seed's pool draw moves both strategies
                    for strategy, shift in ((EASY, 0.0), (HARD, by_pool[pool])):
                        log_err = np.log(base) + shared + shift + rng.normal(0, noise)
                        rows.append(
                            {
                                "dataset": "synth",
                                "model": "mlp",
                                "metric": metric,
                                "strategy": strategy,
                                "pool_size": pool,
                                "keep": keep,
                                "seed": seed,
                                "test_error": float(np.exp(log_err)),
                            }
                        )
    return pd.DataFrame(rows)


PLANTED = {
    "crosses": {1000: 0.2, 4000: 0.0, 16000: -0.2},  # easy better small, hard better large
    "hard_always": {1000: -0.2, 4000: -0.2, 16000: -0.2},
    "null": {1000: 0.0, 4000: 0.0, 16000: 0.0},
}


def _ends(t: pd.DataFrame, metric: str) -> tuple[str, str]:
    r = t.loc[t["metric"] == metric].set_index("end")
    return r.loc["smallest", "favours"], r.loc["largest", "favours"]


def test_differences_are_paired_by_seed_and_signed_hard_minus_easy():
    runs = _runs({"m": {1000: 0.3, 4000: 0.3, 16000: 0.3}}, noise=0.0)
    d = strategy_differences(runs)
    assert len(d) == len(POOLS) * len(KEEPS) and (d["seeds"] == 3).all()
    assert np.allclose(d["mean_diff"], 0.3)
    seeds = json.loads(d["seed_log_diffs"].iloc[0])
    assert sorted(seeds) == ["0", "1", "2"]


def test_a_planted_crossover_is_found_and_the_others_are_not():
    t = crossover_table(_runs(PLANTED))
    assert _ends(t, "crosses") == (EASY, HARD)
    assert _ends(t, "hard_always") == (HARD, HARD)
    assert _ends(t, "null") == ("neither shown", "neither shown")
    ends = t.loc[t["end"] != ""]
    assert (ends["family"] == 6).all() and ends["p_holm"].notna().all()
    assert (ends["p_holm"] >= ends["p"]).all()
    middle = t.loc[t["end"] == ""]
    assert (middle["pool_size"] == 4000).all() and middle["p_holm"].isna().all()
    line = crossover_lines(t)[0]
    assert "shown for 1 of 3 metrics (crosses)" in line
    assert "at pool 16000 keep_hard is better for crosses and hard_always, and keep_easy for no metric." in line
    assert "At pool 1000 keep_easy is better for crosses, and keep_hard for hard_always;" in line


def test_with_no_effect_the_ends_keep_the_family_wise_error_rate():
    """Under the null, some end of some metric claims a strategy in about alpha of the studies (Holm over 4 metrics
    x 2 ends); uncorrected, 8 tests at 5% would claim one in about a third of them."""
    claims = 0
    for rep in range(40):
        t = crossover_table(_runs({f"m{i}": PLANTED["null"] for i in range(4)}, noise=0.05, rng_seed=rep))
        claims += bool(t.loc[t["end"] != "", "favours"].isin([EASY, HARD]).any())
    assert claims <= 5


def test_an_unpaired_seed_does_not_count_and_a_single_seed_is_untested():
    runs = _runs({"m": PLANTED["crosses"]}, seeds=(0,))
    runs = pd.concat([runs, _runs({"m": PLANTED["crosses"]}, seeds=(5,)).query("strategy == @EASY")])
    d = strategy_differences(runs)
    assert (d["seeds"] == 1).all()
    t = crossover_table(runs)
    assert (t["favours"] == "untested").all()
    (line,) = crossover_lines(t)
    assert "the crossover**: not tested" in line and "nan" not in line


@pytest.mark.parametrize("strategies", [(HARD,), (EASY, HARD)])
def test_the_collector_reports_the_crossover_when_both_strategies_ran(tmp_path, strategies):
    runs = _runs({"el2n": PLANTED["crosses"]}).query("strategy in @strategies")
    rec = tmp_path / "records"
    rec.mkdir()
    for i, r in enumerate(runs.to_dict("records")):
        n = int(round(r["keep"] * r["pool_size"]))
        r.update(run_id=f"r{i}", status="ok", n_train=n, budget="epochs", label_noise=0.0, test_key="synth:t")
        (rec / f"r{i}.json").write_text(json.dumps(r))
    for i, pool in enumerate(POOLS):  # the random baseline at every cell
        for keep in KEEPS:
            for seed in (0, 1, 2):
                r = dict(run_id=f"b{i}{keep}{seed}", status="ok", dataset="synth", model="mlp", metric="random")
                r.update(strategy=HARD, keep=keep, pool_size=pool, n_train=int(keep * pool), seed=seed)
                r.update(test_error=0.6 * (keep * pool / 100) ** -0.3, budget="epochs", label_noise=0.0)
                (rec / f"{r['run_id']}.json").write_text(json.dumps({**r, "test_key": "synth:t"}))
    collect([str(rec)], out_dir=str(tmp_path), n_boot=0, formats=("png",))
    report = (tmp_path / "report.md").read_text()
    table = pd.read_csv(tmp_path / "crossover.csv") if len(strategies) == 2 else None
    if len(strategies) == 2:
        assert "the crossover** (keep_easy better" in report and "shown for 1 of 1 metrics (el2n)" in report
        assert set(table["favours"]) >= {EASY, HARD}
    else:
        assert "the crossover" not in report


def test_the_report_cell_shows_a_dash_without_pairs_and_no_empty_interval_with_one():
    from bench.collect.report import _diff_cell

    nan = float("nan")
    assert _diff_cell({"pooled_gain": nan, "lo": nan, "hi": nan}) == "—"
    assert _diff_cell({"pooled_gain": 0.05, "lo": nan, "hi": nan}) == "+0.050"
    assert _diff_cell({"pooled_gain": 0.05, "lo": 0.01, "hi": 0.09}) == "+0.050 [+0.010, +0.090]"
