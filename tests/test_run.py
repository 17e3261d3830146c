"""The pipeline end to end: Hydra multirun, records, reruns, bad input, NaN runs, loggers, launchers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, TINY_MNIST1D, compose, write_cifar10

from bench.results import run_id
from bench.run import ConfigError, run_pipeline

RECORD_FIELDS = {
    "run_id",
    "status",
    "dataset",
    "pool_size",
    "metric",
    "strategy",
    "keep",
    "n_train",
    "model",
    "seed",
    "budget",
    "epochs",
    "steps",
    "test_error",
    "test_accuracy",
    "test_loss",
    "curve",
    "class_hist_kept",
    "wall_time_s",
    "versions",
    "noisy_kept",
    "label_noise",
}


def bench_run(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "BENCH_HOME": str(home), "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, "-m", "bench.run", *args], cwd=home, env=env, capture_output=True, text=True, timeout=600
    )


def records(home: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in (home / "records").glob("*.json")}


def test_multirun_writes_records_and_rerun_skips(_isolated_env):
    home = _isolated_env
    args = ["-m", *TINY_MNIST1D, "dataset.pool_size=300", "prune.keep=0.5,1.0", "dataset.label_noise=0.1"]
    proc = bench_run([*args, "collect=true"], home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (home / "records" / "collect" / "report.md").is_file()  # the end-of-multirun callback fired
    assert "runs.csv" in {p.name for p in (home / "records" / "collect").iterdir()}
    recs = records(home)
    assert len(recs) == 2
    for r in recs.values():
        assert RECORD_FIELDS <= set(r) and r["status"] == "ok"
        assert r["pool_size"] == 300 and r["n_train"] == round(r["keep"] * 300)
        assert sum(r["class_hist_kept"]) == r["n_train"] and 0 <= r["noisy_kept"] <= 30
        assert 0.0 <= r["test_error"] <= 1.0 and r["curve"][-1]["test_error"] == r["test_error"]
        assert r["sweep"] and r["versions"]["torch"]
    assert {r["keep"] for r in recs.values()} == {0.5, 1.0}
    full = next(r for r in recs.values() if r["keep"] == 1.0)
    assert full["noisy_kept"] == 30  # keep=1 keeps every flipped example
    mtimes = {p: p.stat().st_mtime_ns for p in (home / "records").glob("*.json")}

    proc = bench_run(args, home)  # the same sweep again: both runs are found and skipped
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "already done" in proc.stderr + proc.stdout
    assert {p: p.stat().st_mtime_ns for p in (home / "records").glob("*.json")} == mtimes

    proc = bench_run(
        [*TINY_MNIST1D, "dataset.pool_size=300", "prune.keep=1.0", "dataset.label_noise=0.1", "force=true"], home
    )
    assert proc.returncode == 0 and "already done" not in proc.stderr + proc.stdout


def test_bad_sweep_value_fails_before_any_training(_isolated_env):
    home = _isolated_env
    proc = bench_run(["-m", *TINY_MNIST1D, "prune.keep=0.5,1.5"], home)
    assert proc.returncode != 0
    assert "prune.keep=1.5 is not allowed" in proc.stderr
    assert not (home / "records").exists() or not list((home / "records").glob("*.json"))


@pytest.mark.parametrize(
    "override,message",
    [
        ("dataset=imaginary", "Could not find 'dataset/imaginary'"),
        (
            "model.name=transformerXL",
            "unknown model 'transformerXL'; allowed: airbench, cnn1d, mlp, perceptron, resnet18",
        ),
        ("metric.name=vibes", "unknown metric 'vibes'; allowed:"),
        ("prune.strategy=keep_middle", "unknown prune.strategy 'keep_middle'; allowed: keep_hard, keep_easy"),
        ("prune.keep=0", "prune.keep=0 is not allowed: it must lie in (0, 1]"),
        ("prune.keep=1.2", "prune.keep=1.2 is not allowed"),
        ("train.budget=forever", "unknown train.budget 'forever'; allowed: epochs, steps"),
        ("logger.name=tensorboard", "unknown logger 'tensorboard'; allowed: wandb, csv, none"),
    ],
)
def test_bad_config_is_rejected_before_training(override, message):
    if override.startswith("dataset="):  # an unknown config choice: Hydra lists the options itself
        with pytest.raises(Exception, match=message):
            compose([*TINY_MNIST1D, override])
        return
    with pytest.raises(ConfigError) as e:
        run_pipeline(compose([*TINY_MNIST1D, override]))
    assert message in str(e.value)


def test_metric_none_needs_full_keep():
    with pytest.raises(ConfigError, match="metric=none trains on the full pool"):
        run_pipeline(compose([*TINY_MNIST1D, "metric=none", "prune.keep=0.5"]))


def test_pool_size_too_large_or_too_small(_isolated_env):
    from bench.data import DatasetError

    for size in (601, 5):
        with pytest.raises(DatasetError, match=f"dataset.pool_size={size} is not allowed"):
            run_pipeline(compose([*TINY_MNIST1D, f"dataset.pool_size={size}"]))
    assert not (_isolated_env / "records").exists()


def test_missing_cifar_root_fails_before_training(_isolated_env, tmp_path):
    from bench.data import DatasetError

    with pytest.raises(DatasetError, match=r"(?s)dataset.root=.*download=true"):
        run_pipeline(compose(["dataset=cifar10", f"dataset.root={tmp_path}/none", "model=mlp", "logger=none"]))


def test_cifar_format_end_to_end(tmp_path):
    write_cifar10(tmp_path)
    rec = run_pipeline(
        compose(
            [
                "dataset=cifar10",
                f"dataset.root={tmp_path}",
                "model=mlp",
                "model.hidden=[16]",
                "train.epochs=1",
                "train.batch_size=32",
                "train.progress_bar=false",
                "logger=none",
                "prune.keep=0.5",
                "dataset.pool_size=60",
            ]
        )
    )
    assert rec["status"] == "ok" and rec["n_train"] == 30


def test_nan_loss_writes_failed_record_and_keeps_ok_ones(_isolated_env):
    cfg = compose([*TINY_MNIST1D, "train.lr=1e30", "train.momentum=0.0", "train.weight_decay=0"])
    rec = run_pipeline(cfg)
    assert rec["status"] == "failed" and "NaN or infinite" in rec["reason"]
    on_disk = json.loads(Path(rec["record_path"]).read_text())
    assert on_disk["status"] == "failed" and on_disk["test_error"] is None


def test_failed_rerun_never_overwrites_a_good_record(_isolated_env, monkeypatch):
    good = run_pipeline(compose(TINY_MNIST1D))
    assert good["status"] == "ok"
    path = Path(good["record_path"])
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise RuntimeError("training crashed on rerun")

    monkeypatch.setattr("bench.train.train_student", crash)
    bad = run_pipeline(compose([*TINY_MNIST1D, "force=true"]))  # the same run id, rerun on purpose
    assert bad["run_id"] == good["run_id"] and bad["status"] == "failed" and "crashed on rerun" in bad["reason"]
    assert path.read_bytes() == before  # the ok record is untouched, byte for byte
    assert Path(bad["record_path"]) != path and json.loads(Path(bad["record_path"]).read_text())["status"] == "failed"


def test_run_id_ignores_paths_and_logging_but_not_results():
    a = compose(TINY_MNIST1D)
    b = compose([*TINY_MNIST1D, "logger=csv", "paths.root=/elsewhere", "train.progress_bar=true"])
    assert run_id(a) == run_id(b)
    assert run_id(a) != run_id(compose([*TINY_MNIST1D, "seed=1"]))
    assert run_id(a) != run_id(compose([*TINY_MNIST1D, "prune.keep=0.5"]))


def test_wandb_offline_run_holds_final_test_error(_isolated_env):
    home = _isolated_env
    rec = run_pipeline(compose([*TINY_MNIST1D[:-1], "logger=wandb", "sweep=wandb_test"]))
    runs = list((home / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1, runs
    blob = runs[0].read_bytes()
    i = blob.find(b"test_error")
    assert i >= 0 and json.dumps(rec["test_error"]).encode() in blob[i : i + 64]
    assert b"wandb_test" in blob  # the group
    import wandb

    assert wandb.run is None  # finished: the next job starts its own run


def test_csv_logger_writes_metrics(_isolated_env):
    rec = run_pipeline(compose([*TINY_MNIST1D[:-1], "logger=csv"]))
    files = list((_isolated_env / "csv").rglob("metrics.csv"))
    assert files and "test/error" in files[0].read_text().splitlines()[0]
    assert rec["status"] == "ok"


def test_launcher_presets_compose():
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    for preset, target in (
        ("local_parallel", "JoblibLauncher"),
        ("slurm", "SlurmLauncher"),
        ("joblib", "JoblibLauncher"),
        ("submitit_slurm", "SlurmLauncher"),
    ):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=[f"hydra/launcher={preset}"], return_hydra_config=True)
        assert cfg.hydra.launcher._target_.endswith(target)


def test_joblib_parallel_multirun(_isolated_env):
    home = _isolated_env
    proc = bench_run(["-m", "hydra/launcher=local_parallel", *TINY_MNIST1D, "train.num_threads=1", "seed=0,1"], home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(r["seed"] for r in records(home).values()) == [0, 1]


def test_missing_mandatory_value_names_the_key():
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from bench.run import plain_config

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = hydra_compose(config_name="config", overrides=["metric=file"])
    with pytest.raises(ConfigError, match=r"metric.path is required but not set: pass metric.path=<value>"):
        plain_config(cfg)
