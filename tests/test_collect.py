"""Tests for bench.collect (reads run records, never trains)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.collect import (
    add_x,
    class_imbalance,
    collect,
    droppable_fraction,
    fit_curve,
    learning_curves,
    load,
    load_records,
    pareto_frontier,
)
from bench.collect.__main__ import main as cli_main
from bench.collect.reference import DuplicateRunsError
from bench.collect.report import FITS_COLUMNS, _log_wandb
from bench.collect.table import flatten_record
from bench.collect.verdict import gains_vs_baseline


# =========================================================================== synthetic data
def _powerlaw_obs(rng, nu=0.5, a=3.0, e_inf=0.05, noise=0.03, n_x=7, seeds=3, lo=100, hi=1e5):
    x = np.repeat(np.geomspace(lo, hi, n_x), seeds)
    y = (a * x**-nu + e_inf) * np.exp(rng.normal(0.0, noise, len(x)))
    return x, y


def _record(
    run_id,
    *,
    dataset="synth",
    metric="el2n",
    strategy="keep_hard",
    keep=1.0,
    pool=1000,
    seed=0,
    err=0.2,
    status="ok",
    model="mlp",
    extra=None,
    n_classes=4,
):
    n_train = int(round(keep * pool))
    pool_hist = [pool // n_classes] * n_classes
    # Hard-example pruning skews the kept class mix a little more at small keep.
    skew = (1.0 - keep) * (0.3 if metric != "random" else 0.0)
    w = np.array([1.0 + skew * (i - (n_classes - 1) / 2) for i in range(n_classes)])
    kept_hist = list(np.round(n_train * w / w.sum()).astype(int))
    ok = status == "ok"
    return {
        "run_id": run_id,
        "status": status,
        "reason": None if ok else "CUDA out of memory",
        "sweep": "unit",
        "dataset": dataset,
        "pool_size": pool,
        "metric": metric,
        "strategy": strategy,
        "keep": keep,
        "n_train": n_train,
        "model": model,
        "seed": seed,
        "budget": "epochs",
        "epochs": 10,
        "steps": 10 * max(1, n_train // 32),
        "label_noise": 0.0,
        "noisy_kept": 0,
        "test_error": err if ok else None,
        "test_accuracy": (1 - err) if ok else None,
        "test_loss": 2.0 * err if ok else None,
        "curve": [
            {"epoch": e, "step": e * 10, "test_error": err * (1 + 1 / (e + 1)), "test_loss": 2 * err} for e in range(3)
        ]
        if ok
        else [],
        "class_hist_kept": [int(v) for v in kept_hist],
        "class_hist_pool": pool_hist,
        "kept_score_stats": {"mean": 0.5, "std": 0.1, "min": 0.0, "max": 1.0},
        "wall_time_s": 1.0,
        "versions": {"torch": "2.x", "bench": "0.1.0"},
        "config": {"dataset": {"name": dataset}, "train": {"lr": 0.1}},
        "extra": extra or {},
        "pool_score_stats": {"mean": 0.4, "std": 0.2, "min": 0.0, "max": 1.0},
    }


def _write_records(root: Path, seed: int = 0) -> dict:
    """A small sweep: 3 metrics x 3 keeps x 5 pool sizes x 2 seeds + perceptron + 1 failed."""
    rng = np.random.default_rng(seed)
    # Full-data error is metric independent: E(n) = n^-0.35 + 0.02 (below 0.3 x chance).  Keeping hard examples
    # hurts at small pools and helps at large ones (more so for "el2n" than "forgetting").
    gain = {"el2n": 0.4, "forgetting": 0.25, "random": 0.0}
    n = 0
    for metric, c in gain.items():
        strategy = "random" if metric == "random" else "keep_hard"
        for keep in (0.25, 0.5, 1.0):
            for pool in (500, 1000, 2000, 4000, 8000):
                for s in (0, 1):
                    n_train = keep * pool
                    factor = 1.0 - c * (1.0 - keep) * math.log10(pool / 1000)
                    err = (1.0 * n_train**-0.35 + 0.02) * factor * math.exp(rng.normal(0, 0.02))
                    if keep == 1.0 and metric != "random":
                        continue  # the full pool is one experiment: recorded once, as metric none (canonical form)
                    m, st = ("none", "keep_hard") if keep == 1.0 else (metric, strategy)
                    rid = f"synth-{m}-k{keep}-p{pool}-s{s}"
                    sub = root / "synth" / m
                    sub.mkdir(parents=True, exist_ok=True)
                    (sub / f"{rid}.json").write_text(
                        json.dumps(_record(rid, metric=m, strategy=st, keep=keep, pool=pool, seed=s, err=err))
                    )
                    n += 1
    # perceptron theory runs: x = alpha_prune, theory curve recorded in extra.eps_theory
    for keep in (0.5, 1.0):
        for alpha_tot in (1.0, 2.0, 4.0, 8.0):
            for s in (0, 1):
                alpha_prune = keep * alpha_tot
                eps = 0.4 * alpha_prune**-1.0 * (0.8 if keep < 1 else 1.0)
                rid = f"perc-k{keep}-a{alpha_tot}-s{s}"
                (root / "perceptron").mkdir(exist_ok=True)
                (root / "perceptron" / f"{rid}.json").write_text(
                    json.dumps(
                        _record(
                            rid,
                            dataset="perceptron",
                            model="teacher_student",
                            metric="margin",
                            strategy="keep_hard",
                            keep=keep,
                            pool=int(alpha_tot * 200),
                            seed=s,
                            err=eps * math.exp(rng.normal(0, 0.03)),
                            n_classes=2,
                            extra={
                                "alpha_tot": alpha_tot,
                                "alpha_prune": alpha_prune,
                                "probe_angle_deg": 0.0,
                                "eps_theory": eps,
                            },
                        )
                    )
                )
                n += 1
    (root / "synth" / "failed-1.json").write_text(
        json.dumps(_record("synth-el2n-k0.25-p8000-s0", keep=0.25, pool=8000, status="failed"))
    )
    (root / "synth" / "sweep_config.json").write_text(json.dumps({"name": "not a record"}))
    return {"n_ok": n, "failed_id": "synth-el2n-k0.25-p8000-s0"}


# =========================================================================== fit
def test_fit_recovers_power_law_exponent_and_ci_covers_truth():
    x, y = _powerlaw_obs(np.random.default_rng(1), nu=0.5, a=3.0, e_inf=0.05)
    f = fit_curve(x, y, n_boot=150, seed=0)
    assert f.fit_status == "ok", f.note
    assert abs(f.nu - 0.5) < 0.05
    assert f.nu_lo <= 0.5 <= f.nu_hi
    assert f.nu_hi - f.nu_lo < 0.2
    assert abs(f.e_inf - 0.05) < 0.01
    assert f.preferred == "power_law" and f.delta_aic > 10
    assert f.n_points == 7 and f.n_obs == 21


def test_fit_pure_power_law_selects_e_inf_zero_variant():
    x, y = _powerlaw_obs(np.random.default_rng(2), nu=0.35, a=2.0, e_inf=0.0)
    f = fit_curve(x, y, n_boot=100, seed=0)
    assert f.power_variant == "power_law_e0"
    assert abs(f.nu - 0.35) < 0.03 and f.nu_lo <= 0.35 <= f.nu_hi
    assert f.preferred == "power_law"


def test_exponential_data_prefers_exponential():
    rng = np.random.default_rng(3)
    x = np.repeat(np.linspace(200, 10000, 8), 3)
    y = (0.4 * np.exp(-x / 2000) + 0.05) * np.exp(rng.normal(0, 0.03, len(x)))
    f = fit_curve(x, y, n_boot=0)
    assert f.preferred == "exponential"
    assert f.delta_aic < -10
    assert abs(f.exp_n0 - 2000) / 2000 < 0.2
    assert abs(f.exp_e_inf - 0.05) < 0.01


def test_poorly_determined_fits_are_flagged():
    rng = np.random.default_rng(4)
    x = np.repeat(np.geomspace(100, 1e4, 5), 3)
    flat = 0.2 * np.exp(rng.normal(0, 0.03, len(x)))
    f = fit_curve(x, flat, n_boot=50)
    assert f.fit_status == "poorly_determined"
    assert "flat" in f.note or "increases" in f.note

    f2 = fit_curve([100, 1000], [0.3, 0.2], n_boot=10)
    assert f2.fit_status == "insufficient_data" and math.isnan(f2.nu)

    # three points, high noise: too few points and a wide interval
    x3 = np.repeat([100.0, 300.0, 1000.0], 2)
    y3 = np.array([0.30, 0.22, 0.25, 0.21, 0.20, 0.24])
    f3 = fit_curve(x3, y3, n_boot=60)
    assert f3.fit_status == "poorly_determined"
    assert "distinct x" in f3.note


def test_class_imbalance_tv_distance():
    assert class_imbalance([10, 10], [50, 50]) == pytest.approx(0.0)
    assert class_imbalance([10, 0], [50, 50]) == pytest.approx(0.5)
    assert class_imbalance([3, 1], [1, 1]) == pytest.approx(0.25)
    assert math.isnan(class_imbalance(None, [1, 1]))
    assert math.isnan(class_imbalance([1, 2, 3], [1, 1]))


# =========================================================================== frontier & droppable
def _hand_table(rows):
    df = pd.DataFrame(rows, columns=["metric", "keep", "pool_size", "seed", "test_error"])
    df["dataset"], df["model"], df["strategy"] = "d", "m", "s"
    df["label_noise"], df["budget"] = 0.0, "epochs"
    df["n_train"] = (df["keep"] * df["pool_size"]).round().astype(int)
    return df


def test_pareto_frontier_of_hand_made_table():
    df = _hand_table(
        [
            ("a", 1.0, 100, 0, 0.30),
            ("a", 0.5, 100, 0, 0.35),
            ("a", 1.0, 200, 0, 0.25),
            ("a", 0.5, 200, 0, 0.27),
            ("a", 0.5, 200, 1, 0.29),  # mean .28
            ("a", 1.0, 400, 0, 0.20),
            ("a", 0.5, 400, 0, 0.21),
            ("a", 0.25, 400, 0, 0.32),
            ("a", 0.5, 600, 0, 0.22),  # n=300: dominated by n=200 (0.21)
            # metric b has no keep=1 runs: it borrows metric a's at the pool sizes it used
            ("b", 0.5, 200, 0, 0.26),
            ("b", 0.5, 400, 0, 0.24),
        ]
    )
    fr = pareto_frontier(df).set_index(["metric", "x"])
    a = fr.loc["a"]
    assert list(a.index) == [50, 100, 200, 300, 400]
    assert a.loc[100, "mean"] == pytest.approx(0.28) and a.loc[100, "keep"] == 0.5
    assert a.loc[100, "pool_size"] == 200 and a.loc[100, "n_candidates"] == 3
    assert a.loc[100, "count"] == 2
    assert a.loc[200, "mean"] == pytest.approx(0.21) and a.loc[200, "pool_size"] == 400
    assert list(a["pareto"]) == [True, True, True, False, True]
    assert not a["borrowed_full"].any()
    b = fr.loc["b"]
    # b: n=100 -> own 0.26; n=200 -> own 0.24 beats borrowed keep=1 0.25; n=400 -> borrowed 0.20
    assert b.loc[100, "mean"] == pytest.approx(0.26)
    assert b.loc[200, "mean"] == pytest.approx(0.24) and not b.loc[200, "borrowed_full"]
    assert b.loc[400, "mean"] == pytest.approx(0.20) and b.loc[400, "borrowed_full"]


def test_droppable_fraction_on_hand_made_table():
    df = _hand_table(
        [
            ("a", 1.0, 1000, 0, 0.100),
            ("a", 1.0, 1000, 1, 0.102),  # ref mean 0.101
            ("a", 0.8, 1000, 0, 0.103),
            ("a", 0.6, 1000, 0, 0.105),
            ("a", 0.4, 1000, 0, 0.120),
            ("a", 0.2, 1000, 0, 0.104),  # within tolerance again, but below a failing keep: not counted
            ("b", 0.8, 1000, 0, 0.110),  # its reference is the same full-pool runs, recorded under metric a
        ]
    )
    d = droppable_fraction(df, tolerance=0.005).set_index("metric")
    assert d.loc["a", "ref_error"] == pytest.approx(0.101)
    assert d.loc["a", "min_keep"] == pytest.approx(0.6)
    assert d.loc["a", "droppable_fraction"] == pytest.approx(0.4)
    assert (d["ref_source"] == "full-data reference (static, keep=1)").all()
    assert d.loc["b", "ref_error"] == pytest.approx(0.101)
    assert d.loc["b", "droppable_fraction"] == pytest.approx(0.0)
    strict = droppable_fraction(df, tolerance=0.001).set_index("metric")
    assert strict.loc["a", "min_keep"] == 1.0 and strict.loc["a", "droppable_fraction"] == 0.0


def _reference_table():
    """random keep_hard at keep 0.5, the full pool (static, metric none) and pure InfoBatch on the full pool."""
    rows = []
    for s in (0, 1, 2):
        rows += [
            ("random", "keep_hard", 0.5, 400, s, 0.30 + 0.01 * s),
            ("none", "keep_hard", 1.0, 400, s, 0.20 + 0.01 * s),  # the full-data reference
            ("none", "infobatch", 1.0, 400, s, 0.10 + 0.01 * s),  # a rule: pure InfoBatch, not the reference
        ]
    df = pd.DataFrame(rows, columns=["metric", "strategy", "keep", "pool_size", "seed", "test_error"])
    df["dataset"], df["model"], df["label_noise"], df["budget"] = "d", "m", 0.0, "epochs"
    df["n_train"] = (df["keep"] * df["pool_size"]).round().astype(int)
    return df


def test_full_data_reference_is_static_only_and_infobatch_is_never_its_own_baseline():
    df = _reference_table()
    fr = pareto_frontier(df).set_index(["metric", "strategy", "x"])
    # random's frontier at the full pool is the static reference (0.21), not averaged with pure InfoBatch (0.11)
    assert fr.loc[("random", "keep_hard", 400), "mean"] == pytest.approx(0.21)
    assert fr.loc[("random", "keep_hard", 400), "count"] == 3
    assert fr.loc[("none", "infobatch", 400), "mean"] == pytest.approx(0.11)
    g = gains_vs_baseline(pareto_frontier(df))
    ib = g.loc[(g["strategy"] == "infobatch") & (g["x"] == 400)].iloc[0]
    assert ib["baseline_error"] == pytest.approx(0.21) and ib["gain"] == pytest.approx(0.10)
    d = droppable_fraction(df).set_index(["metric", "strategy"])
    assert d.loc[("random", "keep_hard"), "ref_error"] == pytest.approx(0.21)
    assert d.loc[("none", "infobatch"), "ref_error"] == pytest.approx(0.21)


def test_duplicate_seeds_in_a_cell_are_an_error_not_overwritten():
    df = _reference_table()
    dup = df.loc[(df["metric"] == "none") & (df["strategy"] == "keep_hard")].assign(metric="el2n", test_error=0.5)
    with pytest.raises(DuplicateRunsError, match=r"keep=1.0.*seed\(s\) \[0, 1, 2\]"):
        pareto_frontier(pd.concat([df, dup], ignore_index=True))
    with pytest.raises(DuplicateRunsError):
        droppable_fraction(pd.concat([df, dup], ignore_index=True))


# =========================================================================== loading
def test_load_records_lists_failed_unreadable_and_skips_non_records(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "r1.json").write_text(json.dumps(_record("r1", err=0.2)))
    (tmp_path / "a" / "r2.json").write_text(json.dumps(_record("r2", status="failed")))
    (tmp_path / "a" / "r3.json").write_text(json.dumps({**_record("r3"), "test_error": None}))
    (tmp_path / "trunc.json").write_text('{"run_id": "r4", "status": "o')
    (tmp_path / "other.json").write_text(json.dumps([1, 2, 3]))
    ok, failed = load_records([tmp_path, tmp_path / "a"])  # overlapping paths: no double count
    assert list(ok["run_id"]) == ["r1"]
    assert ok.loc[0, "class_imbalance"] == pytest.approx(0.0)
    assert ok.loc[0, "versions.torch"] == "2.x" and ok.loc[0, "curve_points"] == 3
    st = dict(zip(failed["run_id"], failed["status"]))
    assert st == {"r2": "failed", "r3": "invalid", "trunc": "unreadable"}
    assert failed.set_index("run_id").loc["r2", "reason"] == "CUDA out of memory"

    # a failed rerun of an ok run (the harness writes <id>.failed.json): the ok record is the
    # result, the failure is still listed but marked superseded; a second ok copy is a duplicate
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "r1.failed.json").write_text(json.dumps(_record("r1", status="failed")))
    (tmp_path / "b" / "r1.json").write_text(json.dumps(_record("r1", err=0.2)))
    with pytest.warns(UserWarning, match="duplicate"):
        res = load(tmp_path)
    assert list(res.ok["run_id"]) == ["r1"]
    sup = res.failed.set_index("run_id")["superseded"]
    assert sup["r1"] and not sup["r2"]
    assert len(res.duplicates) == 1 and res.non_record_json == 1
    assert res.ok.loc[0, "pool_score_stats.mean"] == pytest.approx(0.4)
    res = load(tmp_path, exclude=[tmp_path / "a"])
    assert list(res.ok["run_id"]) == ["r1"] and set(res.failed["run_id"]) == {"r1", "trunc"}


def test_x_variable_defaults_to_alpha_prune_for_perceptron():
    recs = [
        flatten_record(
            _record("p1", dataset="perceptron", keep=0.5, pool=400, extra={"alpha_prune": 1.0, "alpha_tot": 2.0})
        ),
        flatten_record(_record("p2", dataset="perceptron", keep=0.5, pool=800)),  # no alpha
        flatten_record(_record("s1", dataset="synth", keep=0.5, pool=400)),
    ]
    df = pd.DataFrame(recs)
    with pytest.warns(UserWarning, match="lack 'alpha_prune'"):
        d = add_x(df).set_index("run_id")
    assert d.loc["p1", "x_var"] == "alpha_prune" and d.loc["p1", "x"] == 1.0
    assert d.loc["p2", "x_var"] == "n_train" and d.loc["p2", "x"] == 400
    assert d.loc["s1", "x_var"] == "n_train" and d.loc["s1", "x"] == 200
    assert (add_x(df, x="n_train")["x_var"] == "n_train").all()
    with pytest.raises(KeyError):
        add_x(df, x="no_such_column")


def test_context_keys_keep_settings_apart():
    recs = [
        flatten_record(
            _record(
                f"p{a}-{t}",
                dataset="perceptron",
                keep=0.5,
                pool=100 * t,
                err=0.1,
                extra={"alpha_prune": t / 2, "probe_angle_deg": a},
            )
        )
        for a in (0.0, 10.0)
        for t in (1, 2, 4)
    ]
    df = pd.DataFrame(recs)
    pooled = learning_curves(df)
    assert len(pooled) == 3 and (pooled["count"] == 2).all()
    split = learning_curves(df, context=("label_noise", "budget", "probe_angle_deg"))
    assert len(split) == 6 and "extra.probe_angle_deg" in split.columns and (split["count"] == 1).all()


# =========================================================================== end to end
@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    info = _write_records(root)
    with pytest.MonkeyPatch.context() as mp, pytest.warns(UserWarning, match="wandb"):
        mp.setitem(sys.modules, "wandb", None)  # `import wandb` -> ImportError: skipped with a warning
        out = collect([str(root)], tolerance=0.005, n_boot=30, command="pytest-collect", log_wandb="pytest-project")
    return root, info, out


@pytest.fixture(autouse=True)
def _no_wandb(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)


def test_collect_writes_every_output(collected):
    root, info, out = collected
    od = Path(out["out_dir"])
    assert od == root / "collect"
    for name in (
        "runs.csv",
        "failed.csv",
        "fits.csv",
        "frontier.csv",
        "report.md",
        "report.html",
        "curves.csv",
        "droppable.csv",
        "class_balance.csv",
        "error_vs_keep.csv",
        "collect_config.json",
    ):
        assert (od / name).is_file() and (od / name).stat().st_size > 0, name
    assert out["n_ok"] == info["n_ok"] and out["n_failed"] == 1
    assert out["wandb"]["status"] == "skipped"

    runs = pd.read_csv(od / "runs.csv")
    assert len(runs) == info["n_ok"] and "extra.alpha_prune" in runs.columns
    assert "sweep_config" not in " ".join(runs["source"])

    fits = pd.read_csv(od / "fits.csv")
    for c in ("kind", "dataset", "model", "metric", "strategy", "keep", *FITS_COLUMNS):
        assert c in fits.columns, c
    assert set(fits["kind"]) == {"curve", "frontier"}
    # 3 metrics x 2 pruned keeps + the full pool (metric none) + perceptron 2 keeps; frontiers: 3 + none + 1
    assert (fits["kind"] == "curve").sum() == 9 and (fits["kind"] == "frontier").sum() == 5
    # the random frontier is the true power law n^-0.35 + 0.02 with 2% noise; perceptron curves have < 3 sizes
    rnd_front = fits[(fits.kind == "frontier") & (fits.metric == "random")].iloc[0]
    assert rnd_front["shape"] == "power law", rnd_front["shape_reason"]
    perc_curves = fits[(fits.dataset == "perceptron") & (fits.kind == "curve")]
    assert (perc_curves["fit_status"] == "insufficient_data").all() and perc_curves["nu"].isna().all()
    rnd = fits[(fits.kind == "curve") & (fits.metric == "none") & (fits.keep == 1.0)].iloc[0]  # the full pool
    assert abs(rnd["nu"] - 0.35) < 0.1 and rnd["nu_lo"] <= rnd["nu"] <= rnd["nu_hi"]
    perc = fits[(fits.dataset == "perceptron") & (fits.kind == "curve")]
    assert (perc["x_var"] == "alpha_prune").all()

    fr = pd.read_csv(od / "frontier.csv")
    # each frontier point is the lowest seed-mean cell at its n, recomputed here from runs.csv: every metric's
    # candidates are its pruned runs and the full pool (recorded once, as metric none)
    full = runs[runs.keep == 1.0]
    assert set(full.loc[full.dataset == "synth", "metric"]) == {"none"}
    cand = pd.concat(
        [runs[runs.keep < 1.0]]
        + [full[full.dataset == "synth"].assign(metric=m) for m in ("el2n", "forgetting", "random")]
        + [full]
    )
    cell_means = cand.groupby(["dataset", "metric", "n_train", "keep", "pool_size"])["test_error"].mean()
    best = cell_means.groupby(level=["dataset", "metric", "n_train"]).min()
    synth = fr[fr.dataset == "synth"]
    for r in synth.itertuples():
        assert r.mean == pytest.approx(best.loc[("synth", r.metric, r.x)], rel=1e-12)
    assert len(synth) == best.loc["synth"].shape[0]

    failed = pd.read_csv(od / "failed.csv")
    assert info["failed_id"] in set(failed["run_id"])
    assert failed.set_index("run_id").loc[info["failed_id"], "reason"] == "CUDA out of memory"

    pngs = [p for p in out["plots"] if p.endswith(".png")]
    svgs = [p for p in out["plots"] if p.endswith(".svg")]
    assert len(pngs) == len(svgs) > 0
    names = " ".join(Path(p).name for p in pngs)
    for kind in ("learning_curves", "frontier", "error_vs_keep", "class_balance", "theory_vs_sim"):
        assert kind in names, kind

    html = (od / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(pngs)
    assert "pytest-collect" in html and 'src="plots/' not in html
    md = (od / "report.md").read_text()
    assert "pytest-collect" in md and "](plots/" in md and info["failed_id"] in md


def test_cli_errors_on_missing_dir_and_no_records(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli_main([str(tmp_path / "does-not-exist")])
    assert e.value.code == 2
    assert "does not exist" in capsys.readouterr().err

    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "x.json").write_text("{}")
    assert cli_main([str(tmp_path / "empty")]) == 1
    assert "no run records" in capsys.readouterr().err

    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "f.json").write_text(json.dumps(_record("f1", status="failed")))
    assert cli_main([str(tmp_path / "bad")]) == 1
    err = capsys.readouterr().err
    assert "all 1 record(s)" in err and "CUDA out of memory" in err
    assert (tmp_path / "bad" / "collect" / "failed.csv").is_file()


def test_cli_runs_and_prints_outputs(tmp_path, capsys):
    d = tmp_path / "runs"
    d.mkdir()
    for i, pool in enumerate((500, 1000, 2000, 4000)):
        for keep in (0.5, 1.0):
            rid = f"r{i}-{keep}"
            (d / f"{rid}.json").write_text(
                json.dumps(_record(rid, keep=keep, pool=pool, err=2.0 * (keep * pool) ** -0.4))
            )
    rc = cli_main([str(d), "--out", str(tmp_path / "o"), "--n-boot", "10", "--formats", "png", "--tolerance", "0.01"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "fits.csv" in text and str(tmp_path / "o") in text
    assert (tmp_path / "o" / "report.html").is_file()
    cfg = json.loads((tmp_path / "o" / "collect_config.json").read_text())
    assert cfg["tolerance"] == 0.01 and "--n-boot 10" in cfg["command"]


def test_wandb_logging_with_fake_module(tmp_path, monkeypatch):
    calls = {}
    fake = types.ModuleType("wandb")

    class _Run:
        dir = str(tmp_path)

    def init(**kw):
        calls["init"] = kw
        return _Run()

    fake.init = init
    fake.Table = lambda dataframe: ("table", len(dataframe))
    fake.Image = lambda p: ("image", p)
    fake.log = lambda payload: calls.setdefault("log", payload)
    fake.finish = lambda: calls.setdefault("finish", True)
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    png = tmp_path / "p.png"
    png.write_bytes(b"\x89PNG")
    runs = pd.DataFrame({"run_id": ["a"], "x": [np.nan]})
    info = _log_wandb(True, tmp_path, runs, pd.DataFrame({"nu": [0.5]}), [str(png)], {"k": 1})
    assert info["status"] == "logged"
    assert calls["init"]["job_type"] == "collect" and calls["init"]["mode"] == "offline"
    assert calls["init"]["dir"] == str(tmp_path)
    assert set(calls["log"]) == {"runs", "fits", "plots/p"} and calls["finish"]
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert _log_wandb("proj", tmp_path, runs, runs, [], {})["mode"] == "disabled"
    assert calls["init"]["project"] == "proj"


def test_import_does_not_pull_torch_or_pyplot():
    code = (
        "import sys, bench.collect, bench.collect.plots; "
        "bad=[m for m in ('torch','matplotlib.pyplot','wandb') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def test_panel_reference_line_is_static_random_pruning_on_infobatch_panels():
    """InfoBatch on random subsets (metric=random, strategy=infobatch) is a rule: the grey line stays static random."""
    import pandas as pd

    from bench.collect.panels import _baseline_fit

    fits = pd.DataFrame(
        [
            {"kind": "frontier", "metric": "random", "strategy": "infobatch", "a": 1.0},
            {"kind": "frontier", "metric": "random", "strategy": "keep_hard", "a": 2.0},
            {"kind": "frontier", "metric": "random", "strategy": "keep_easy", "a": 3.0},
        ]
    )
    assert _baseline_fit(fits, {}, "random", "infobatch")["a"] == 2.0
    assert _baseline_fit(fits, {}, "random", "keep_easy")["a"] == 3.0


def test_log_axis_tick_labels_are_short_enough_for_a_narrow_panel():
    from bench.collect.plots import _compact

    assert [_compact(v) for v in (500, 2000, 50000, 1.5e6, 0.2)] == ["500", "2k", "50k", "1.5M", "0.2"]
