"""Run ids and score keys of the committed studies do not move.

A rerun of a study finds its finished runs by run id and its cached scores by score key. A refactor that changes
either orphans them silently: the next session retrains everything. These tests recompute both from each committed
record's stored config with today's code. A deliberate change of identity migrates the committed records (and says
so in the commit) in the same change as the code.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from bench.results import run_id
from bench.scores import stable_hash

RESULTS = Path(__file__).resolve().parents[1] / "results"


def committed_records() -> list[tuple[Path, dict]]:
    """Every run record committed under results/ (JSON files holding a run_id and the config it ran with)."""
    out = []
    for path in sorted(RESULTS.rglob("*.json")):
        try:
            rec = json.loads(path.read_text())
        except ValueError:
            continue
        if isinstance(rec, dict) and "run_id" in rec and isinstance(rec.get("config"), dict):
            out.append((path, rec))
    return out


RECORDS = committed_records()


def test_there_are_committed_records_to_check():
    studies = {p.relative_to(RESULTS).parts[0] for p, _ in RECORDS}
    assert len(RECORDS) > 1000 and {"mnist1d_scaling", "mnist1d_compute"} <= studies


def test_every_committed_run_id_is_recomputed_from_its_config():
    moved = [
        f"{p.relative_to(RESULTS)}: stored {r['run_id']}, recomputed {run_id(r['config'])}"
        for p, r in RECORDS
        if run_id(r["config"]) != r["run_id"]
    ]
    assert not moved, f"{len(moved)} of {len(RECORDS)} committed run ids moved, e.g.\n" + "\n".join(moved[:5])


def test_record_files_are_named_by_their_run_id():
    misnamed = [str(p) for p, r in RECORDS if p.stem.split(".")[0] != r["run_id"] and p.parent.name == "records"]
    assert not misnamed, misnamed[:5]


def _one_record_per_score(limit_per_study: int = 6) -> list[dict]:
    """A few records per study, one per distinct (dataset settings, metric) with a cached score: enough to catch a
    change of the spec's shape or of any part of it, cheap enough to rebuild their pools."""
    seen, picked, per_study = set(), [], defaultdict(int)
    for path, rec in RECORDS:
        study = path.relative_to(RESULTS).parts[0]
        cfg = rec["config"]
        if not rec.get("score_key") or per_study[study] >= limit_per_study:
            continue
        key = (study, cfg["metric"]["name"], json.dumps(cfg["dataset"], sort_keys=True))
        if key not in seen:
            seen.add(key)
            per_study[study] += 1
            picked.append(rec)
    return picked


@pytest.fixture(scope="module")
def data_cache(tmp_path_factory) -> Path:
    """One data cache for the module: each distinct dataset is generated once."""
    return tmp_path_factory.mktemp("identity_data")


@pytest.mark.slow
@pytest.mark.parametrize("rec", _one_record_per_score(), ids=lambda r: r["run_id"])
def test_committed_score_keys_are_recomputed(rec, data_cache):
    from bench.run import build_pool, score_spec

    cfg = json.loads(json.dumps(rec["config"]))
    cfg["dataset"]["cache_dir"] = str(data_cache)  # where the data are cached is not part of any identity
    _, pool = build_pool(cfg)
    assert stable_hash(score_spec(cfg, pool), 24) == rec["score_key"]


def test_a_changed_setting_moves_the_run_id():
    """The check above can fail: a result-relevant setting changes the id, a logging setting does not."""
    _, rec = next((p, r) for p, r in RECORDS if r["config"]["prune"]["keep"] < 1)
    cfg = json.loads(json.dumps(rec["config"]))
    cfg["prune"]["keep"] = 0.123
    assert run_id(cfg) != rec["run_id"]
    cfg = json.loads(json.dumps(rec["config"]))
    cfg["logger"]["project"] = "elsewhere"
    cfg["train"]["progress_bar"] = not cfg["train"].get("progress_bar")
    assert run_id(cfg) == rec["run_id"]
