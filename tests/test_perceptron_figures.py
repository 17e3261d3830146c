"""The perceptron study (bench.theory.study / study_report, scripts/perceptron_figures.py): its numbers.

Two sources of truth. (1) A handful of real runs produced by ``bench.run``: every table must equal the same quantity
recomputed here from the raw rows with plain pandas, and the stored theory must equal ``bench.theory.replica``.
(2) The committed ``results/perceptron/``: its tables and README must follow from the committed ``runs.csv``
(recomputed here independently of the module), and the hand-written reading may quote no number that is not filled
in from those tables.
"""

from __future__ import annotations

import copy
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, compose

from bench.run import run_pipeline
from bench.theory import replica as rp
from bench.theory import study, study_report

BASE = [
    "dataset=perceptron",
    "model=perceptron",
    "logger=none",
    "dataset.dim=50",
    "dataset.n_test=0",
    "train.progress_bar=false",
]
COMMITTED = REPO / "results" / "perceptron"


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """~40 tiny runs: f = 1, random, keep_hard/keep_easy at theta = 0 and keep_hard at theta = 20."""
    root = tmp_path_factory.mktemp("perceptron_records")
    base = {m: compose([*BASE, f"paths.root={root}", f"metric={m}"]) for m in ("random", "margin")}

    def run(metric, alpha_tot, keep, seed, strategy="keep_hard", theta=0.0):
        cfg = copy.deepcopy(base[metric])
        cfg["dataset"].update(alpha_tot=alpha_tot, probe_angle_deg=theta)
        cfg["prune"].update(keep=keep, strategy=strategy)
        cfg["seed"] = cfg["dataset"]["seed"] = seed
        rec = run_pipeline(cfg)
        assert rec["status"] == "ok"

    for seed in (0, 1):
        for at in (1, 4, 16):
            run("random", at, 1.0, seed)
            for keep in (0.2, 0.6):
                run("random", at, keep, seed)
                run("margin", at, keep, seed, "keep_hard")
                run("margin", at, keep, seed, "keep_easy")
                if at >= 4:
                    run("margin", at, keep, seed, "keep_hard", theta=20.0)
    return root / "records"


@pytest.fixture(scope="module")
def small(records):
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    return study.analyse([records], x_min=1.0, n_boot=20, alpha_fixed=(4.0,))


def _mean_sem(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Seed mean and s.e. of test_error per ``by``, written out independently of the module."""
    g = df.groupby(by)["test_error"]
    return pd.DataFrame({"mean": g.mean(), "sem": g.std(ddof=1) / np.sqrt(g.count()), "n": g.count()})


# =========================================================================== on real runs
def test_runs_csv_round_trip(records, small, tmp_path):
    """The committed form (runs.csv) reloads to the same analysis: pool sizes and every cell survive."""
    df = small["df"]
    study_report.write_tables(small, tmp_path)
    back = study.load_perceptron(tmp_path / "runs.csv")
    key = ["run_id", "theta"]
    a, b = df.set_index(key).sort_index(), back.set_index(key).sort_index()
    assert len(a) == len(b) == 50  # 2 seeds x (3 alpha_tot x 7 + 2 alpha_tot x 2 at theta = 20)
    assert (a["pool_size"].astype(int) == b["pool_size"]).all()  # N * alpha_tot, N = 50
    assert (b["pool_size"] == 50 * b["alpha_tot"]).all()
    pd.testing.assert_frame_equal(study.cells(df), study.cells(back))
    fr = study.frontiers(back, 1.0, 0)[0]
    pd.testing.assert_frame_equal(small["frontier"][fr.columns], fr, check_dtype=False)


def test_tables_equal_raw_recomputation(small):
    df = small["df"]
    # claim 1: f = 1 means/s.e. from the raw rows; theory recomputed by the replica solver, not read back
    raw = _mean_sem(df.loc[df["keep"] == 1.0], ["alpha_tot"])
    cl = small["classical"].set_index("alpha")
    assert np.allclose(cl["sim"], raw["mean"]) and np.allclose(cl["sem"], raw["sem"])
    for a in cl.index:
        assert cl.loc[a, "theory"] == pytest.approx(rp.theory_error(a, 1.0, "random")["eps"], rel=1e-6)
    # claim 2: z and winner from the raw rows
    th0 = df.loc[(df["theta"] == 0.0) & (df["keep"] < 1)]
    h = _mean_sem(th0.loc[th0["strategy"].eq("keep_hard") & th0["metric"].eq("margin")], ["keep", "alpha_tot"])
    e = _mean_sem(th0.loc[th0["strategy"].eq("keep_easy")], ["keep", "alpha_tot"])
    z = (h["mean"] - e["mean"]) / np.sqrt(h["sem"] ** 2 + e["sem"] ** 2)
    eh = small["easy_hard"].set_index(["keep", "alpha_tot"])
    assert np.allclose(eh["z"], z.loc[eh.index])
    assert (eh["winner"] == np.where(z.loc[eh.index] < 0, "hard", "easy")).all()
    # keep easy wins at alpha_tot = 1 in theory: recomputed from the solver at alpha_prune = f * 1
    for keep in (0.2, 0.6):
        assert rp.theory_error(keep, keep, "keep_easy")["eps"] < rp.theory_error(keep, keep, "keep_hard")["eps"]
        assert eh.loc[(keep, 1.0), "winner_theory"] == "easy"
    ag = small["agreement"]
    assert ag["resolved"] == int((z.abs() > 2).sum()) and ag["cells"] == len(z)


def test_theory_gaps_and_ratios_equal_raw_recomputation(small):
    df = small["df"]
    gaps = small["gaps"]
    for r in gaps.itertuples():
        rows = df.loc[(df["keep"] == r.keep) & (df["alpha_tot"] == r.alpha_tot)]
        rows = rows.loc[rows["rule"] == r.rule] if r.rule != "full" else rows.drop_duplicates("seed")
        rows = rows.loc[rows["theta"] == r.theta] if r.rule != "full" else rows
        v = rows["test_error"].to_numpy()
        assert r.gap == pytest.approx(v.mean() - r.theory, abs=1e-12)
        assert r.gap_se == pytest.approx((v.mean() - r.theory) / (v.std(ddof=1) / np.sqrt(len(v))), rel=1e-9)
    # random / keep_hard ratio at each alpha_prune: best cell means recomputed from the raw rows
    th0 = df.loc[df["theta"] == 0.0]
    hard = _mean_sem(th0.loc[(th0["rule"] == "keep_hard") | (th0["keep"] == 1)], ["alpha_prune", "alpha_tot"])
    rand = _mean_sem(th0.loc[th0["metric"] == "random"], ["alpha_prune", "alpha_tot"])
    for r in small["ratios"].itertuples():
        best_h = hard.xs(r.alpha_prune, level="alpha_prune")["mean"].min()
        best_r = rand.xs(r.alpha_prune, level="alpha_prune")["mean"].min()
        assert r.ratio == pytest.approx(best_r / best_h, rel=1e-12)


@pytest.mark.slow
def test_write_outputs_numbers_in_readme(small, tmp_path):
    files = study_report.write_outputs(
        small,
        tmp_path,
        {"perceptron_theory": "1 s"},
        ["python -m bench.run ..."],
        {"analysis": 0.0},
        theory_lines=False,
    )
    for name in ("fig1_classical", "fig2_easy_vs_hard", "fig3_frontier", "fig4_probe", "fig5_theory_vs_sim"):
        assert (tmp_path / f"{name}.png").stat().st_size > 0 and (tmp_path / f"{name}.svg").exists()
    assert "README.md" in files
    text = (tmp_path / "README.md").read_text()
    gs = small["gap_summary"]
    assert f"{gs['cells']} cells" in text and f"{gs['frac_lt2']:.0%} of cells < 2" in text
    ag = small["agreement"]
    assert f"same winner in {ag['same']} of the {ag['cells']} cells" in text
    saved = pd.read_csv(tmp_path / "frontier_ratios.csv")
    assert np.allclose(saved["ratio"], small["ratios"]["ratio"])


# =========================================================================== the committed results
@pytest.fixture(scope="module")
def committed():
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    runs = pd.read_csv(COMMITTED / "runs.csv")
    res = study.analyse([COMMITTED / "runs.csv"], n_boot=200)
    return runs, res, (COMMITTED / "README.md").read_text()


def _best_by_alpha_prune(runs: pd.DataFrame, mask) -> pd.Series:
    """Best (lowest) seed-mean error per alpha_prune over the (keep, alpha_tot) cells selected by ``mask``."""
    m = runs.loc[mask].groupby(["alpha_prune", "keep", "alpha_tot"])["test_error"].mean()
    return m.groupby(level="alpha_prune").min()


def test_committed_ratio_claims(committed):
    """The keep_hard vs random ratios the READMEs quote, recomputed from runs.csv with plain pandas."""
    runs, res, text = committed
    th0 = runs.loc[runs["theta"] == 0.0]
    full = th0["rule"] == "full"
    hard = _best_by_alpha_prune(th0, (th0["rule"] == "keep_hard") | full)
    rand = _best_by_alpha_prune(th0, (th0["rule"] == "random") | full)
    ratio = rand / hard
    # the numbers: 17.8x at 3.2, 20.5x at 6.4, 10.7x at 12.8, about 5x at 25.6 (not "15-20x" throughout)
    assert [round(ratio[a], 1) for a in (3.2, 6.4, 12.8, 25.6)] == [17.8, 20.5, 10.7, 5.0]
    saved = pd.read_csv(COMMITTED / "frontier_ratios.csv").set_index("alpha_prune")
    assert np.allclose(saved["ratio"], ratio.loc[saved.index], rtol=1e-9)
    assert "17.8x at 3.2, 20.5x at 6.4, 10.7x at 12.8, 5.0x at 25.6" in text
    root = (REPO / "README.md").read_text()
    assert "15-20x" not in text and "15–20×" not in root
    assert (
        f"{ratio[3.2]:.1f}× and {ratio[6.4]:.1f}× below random pruning at α_prune 3.2 and 6.4, but only "
        f"{ratio[12.8]:.1f}× at 12.8\n  and {ratio[25.6]:.1f}× at 25.6"
    ) in root
    drop = hard[2.8] / hard[3.2]
    assert f"drops {drop:.0f}× at the transition" in root and f"drops {drop:.0f}x" in text
    rnd = res["fits"].set_index("group").loc["random"]
    assert f"random pruning's frontier has ν = {rnd['nu']:.2f}" in root


def test_committed_gap_and_agreement_claims(committed):
    runs, res, text = committed
    # theory vs simulation: cells with >= 2 seeds, keep = 1 counted once (per alpha_tot), recomputed here
    pruned = runs.loc[runs["rule"] != "full"].groupby(["rule", "theta", "keep", "alpha_tot"])
    full = runs.loc[runs["rule"] == "full"].drop_duplicates(["alpha_tot", "seed"]).groupby("alpha_tot")
    z = []
    for g in [g for _, g in pruned] + [g for _, g in full]:
        v = g["test_error"].to_numpy()
        z.append((v.mean() - g["eps_theory"].mean()) / (v.std(ddof=1) / np.sqrt(len(v))))
    z = np.abs(np.array(z))
    n, lt2, lt3 = len(z), f"{np.mean(z < 2):.0%}", f"{np.mean(z < 3):.0%}"
    assert (n, lt2, lt3) == (198, "86%", "94%")
    assert f"{n} cells" in text and f"{lt2} of cells < 2, {lt3} < 3" in text
    root = (REPO / "README.md").read_text()
    assert f"{lt2} of {n} cells within 2 s.e." in root and "88% of 128" not in root
    # easy vs hard: 40 cells, agreement counted honestly (|z| > 2 resolved)
    eh = pd.read_csv(COMMITTED / "easy_vs_hard.csv")
    resolved = int((eh["z"].abs() > 2).sum())
    assert f"resolves it (|z| > 2) in {resolved} cells" in text
    # crossover alpha_prune = f * alpha_tot where log(hard/easy) changes sign (log-interpolated in alpha_tot)
    cross = []
    for keep, g in eh.sort_values("alpha_tot").groupby("keep"):
        r, la = np.log(g["hard"] / g["easy"]).to_numpy(), np.log(g["alpha_tot"]).to_numpy()
        i = int(np.flatnonzero((r[:-1] > 0) & (r[1:] <= 0))[0])
        cross.append(keep * np.exp(la[i] + (la[i + 1] - la[i]) * r[i] / (r[i] - r[i + 1])))
    assert f"crossover at α_prune ≈ {min(cross):.2g}–{max(cross):.2g}" in root
    assert f"between\n  {min(cross):.2g} and {max(cross):.2g}" in text or f"between {min(cross):.2g} and" in text


def test_committed_theory_column_is_the_replica_theory(committed):
    """eps_theory stored in the runs = bench.theory.replica recomputed now, on cells across rules and angles."""
    runs = committed[0]
    cells = runs.groupby(["rule", "theta", "keep", "alpha_prune"])["eps_theory"].mean().reset_index()
    pick = cells.loc[cells["alpha_prune"].isin([0.8, 3.2, 12.8, 16.0])].groupby(["rule", "theta"]).head(1)
    assert len(pick) >= 6
    for r in pick.itertuples():
        rule = "random" if r.rule == "full" else r.rule
        assert r.eps_theory == pytest.approx(rp.theory_error(r.alpha_prune, r.keep, rule, r.theta)["eps"], rel=1e-5)
    big = runs.loc[(runs["rule"] == "full") & (runs["alpha_tot"] == 128)]
    assert 128 * big["eps_theory"].mean() == pytest.approx(0.5005, abs=1e-3)  # literature asymptote


def test_committed_readme_is_generated_from_runs_csv(committed):
    """Sections 1-5 and the reading of the committed README are exactly what runs.csv gives today.

    If this fails after a change of the collector's fits, regenerate: the command is in the README header.
    """
    runs, res, text = committed
    notes = (COMMITTED / "notes.md").read_text()
    files = list(study_report.TABLES) + [
        f"{f}.png" for f in ("fig1_classical", "fig2_easy_vs_hard", "fig3_frontier", "fig4_probe", "fig5_theory_vs_sim")
    ]
    fresh = study_report.readme(res, {}, [], None, files, notes)
    start = "## 1. f = 1"
    assert text[text.index(start) :] == fresh[fresh.index(start) :]


def test_reading_quotes_only_generated_numbers():
    """Every number in the hand-written reading is a {placeholder}, except these constants of the setting/literature."""
    allowed = {
        "0.5005": "maximally stable perceptron asymptote (Opper et al. 1990)",
        "1/2": "chance error",
        "0.5": "0.5 f / alpha_prune, the theory line above the transition",
        "1": "asymptotic exponent",
        "2": "Gardner capacity; |z| and s.e. thresholds",
        "3": "s.e. threshold",
        "10": "probe angle of the sweep (deg)",
        "30": "probe angle of the sweep (deg)",
    }
    template = (COMMITTED / "notes.md").read_text()
    literal = re.sub(r"\{[a-z0-9_]+\}|\*\*\d\. ", " ", template)  # placeholders and the section numbers
    numbers = set(re.findall(r"(?<![\w.])\d+(?:[./]\d+)?", literal))
    assert numbers <= set(allowed), f"hand-typed numbers in notes.md: {sorted(numbers - set(allowed))}"
    # and every placeholder is computed
    res_fields = set(study_report.template_fields(template))
    assert res_fields and all(re.fullmatch(r"[a-z0-9_]+", f) for f in res_fields)
