"""Runs that survive being killed: mid-run checkpoints, resuming, SLURM signals, resumable probe ensembles; the
sweep console.

- a sweep killed with SIGKILL in mid-training and relaunched skips the finished run, resumes the killed one from its
  checkpoint (and says from which step), and ends with the records of an uninterrupted sweep, nothing lost or doubled;
- SIGUSR2 (submitit's time-limit/preemption signal) saves a checkpoint at the next step and hands over to submitit's
  own handler, which requeues the job; the requeued run resumes and ends with the uninterrupted record; so does
  SIGTERM, in a step or in a test evaluation; a job forwards a signal to the training processes it spawned;
- a truncated or corrupt checkpoint is passed over (warning) for the previous one, or for a fresh start;
- an interrupted probe ensemble (vectorised or one member at a time, with a step hook) continues where it stopped
  and ends with the same models and forgetting counts;
- checkpoint settings never change the run id; bad ones are rejected before training;
- the SLURM preset's batch script (rendered by the launcher's own code) asks for a signal the guard catches, early
  enough, and a job that times out is requeued;
- a bad setting is one line without a traceback (HYDRA_FULL_ERROR=1 keeps it); wandb prints nothing by default.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, TINY_MNIST1D, compose

from bench.config import validate_config
from bench.errors import ConfigError
from bench.results import run_id
from bench.run import run_pipeline

# 4 epochs on 300 (or 150) examples in batches of 64: 20 (12) steps, a test evaluation every 5 (3) steps
RESUMABLE = [o for o in TINY_MNIST1D if not o.startswith("train.epochs")] + [
    "train.epochs=4",
    "dataset.pool_size=300",
    "train.num_threads=1",
    "train.deterministic=true",
]
TIMING_OR_PLACE = {
    "wall_time_s",
    "score_seconds",
    "scores_computed_now",
    "extra",
    "config",
    "versions",
    "record_path",
    "skipped",
    "sweep",
}


def same_results(a: dict, b: dict) -> None:
    """Every result field of two records is identical (timings, provenance and paths aside)."""
    keys = (set(a) | set(b)) - TIMING_OR_PLACE
    diff = {k: (a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)}
    assert not diff, diff
    assert a["curve"] and a["curve"] == b["curve"]


def reference(overrides: list[str], root: Path) -> dict:
    """The record of an uninterrupted run (no checkpoints), in-process, under ``root``."""
    return run_pipeline(compose([*overrides, "train.checkpoint_every=null", f"paths.root={root}"]))


def bench_run(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "BENCH_HOME": str(home), "HYDRA_FULL_ERROR": "0", **env}
    return subprocess.run(
        [sys.executable, "-m", "bench.run", *args], cwd=home, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_killed_sweep_resumes_from_checkpoint_and_matches_uninterrupted(_isolated_env, tmp_path):
    home = _isolated_env
    sweep = ["-m", *RESUMABLE, "prune.keep=0.5,1.0", "train.checkpoint_every=3steps"]
    # run 1 (keep 0.5) has 12 steps; the kill comes at step 8 of run 2, after its checkpoint at step 6
    proc = bench_run(sweep, home, BENCH_TEST_KILL_AT_STEP="20")
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    recs = {p.name: json.loads(p.read_text()) for p in (home / "records").glob("*.json")}
    assert [r["keep"] for r in recs.values()] == [0.5]
    (killed,) = [d for d in (home / "checkpoints").iterdir()]  # run 1's checkpoints went with its record
    assert sorted(p.name for p in killed.glob("*.pt")) == ["ckpt-0000000003.pt", "ckpt-0000000006.pt"]

    proc = bench_run(sweep, home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming from its checkpoint at step 6 of 20" in proc.stderr + proc.stdout, proc.stdout
    lines = [ln.split("\r")[-1] for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 4, proc.stdout  # the sweep header, one line per run, and the resume warning
    assert "already done" in lines[1] and "(resumed from step 6)" in lines[3] and "keep=1 " in lines[3]
    files = sorted(p.name for p in (home / "records").iterdir() if p.is_file())
    assert len(files) == 2 and not any("failed" in f for f in files)  # nothing lost, nothing doubled
    assert not list((home / "checkpoints").rglob("*.pt"))  # removed once the records were written
    for rec in (json.loads((home / "records" / f).read_text()) for f in files):
        same_results(rec, reference([*RESUMABLE, f"prune.keep={rec['keep']}"], tmp_path / "ref"))


class _Requeueable:
    """Stands in for Hydra's submitit launcher: a callable whose ``checkpoint`` resubmits it (as the launcher's)."""

    def __call__(self, *args):
        return None

    def checkpoint(self, *args):
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args)


def test_sigusr2_saves_a_checkpoint_and_submitit_requeues(_isolated_env, tmp_path, monkeypatch):
    import submitit
    from submitit.core.job_environment import SignalHandler

    cfg = compose([*RESUMABLE, "prune.keep=1.0", "train.checkpoint_every=null"])
    requeued: list[int] = []

    class Env:  # submitit's JobEnvironment, minus SLURM
        global_rank = 0

        def _requeue(self, countdown: int) -> None:
            requeued.append(countdown)

    delayed = submitit.helpers.DelayedSubmission(_Requeueable(), "job")
    delayed.set_timeout(240, 20)
    handler = SignalHandler(Env(), type("Paths", (), {"submitted_pickle": tmp_path / "submitted.pkl"})(), delayed)
    steps = [0]

    def signal_at_step_7() -> None:  # SLURM's signal, sent to this process in the middle of step 7
        steps[0] += 1
        if steps[0] == 7:
            os.kill(os.getpid(), signal.SIGUSR2)

    monkeypatch.setattr("bench.train.resume.test_kill_hook", signal_at_step_7)
    previous = signal.signal(signal.SIGUSR2, handler.checkpoint_and_try_requeue)
    try:
        with pytest.raises(SystemExit):  # submitit exits after requeueing
            run_pipeline(cfg)
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert requeued == [20] and (tmp_path / "submitted.pkl").is_file()
    rid = run_id(cfg)
    assert not (_isolated_env / "records" / f"{rid}.json").exists()
    assert [p.name for p in (_isolated_env / "checkpoints" / rid).glob("*.pt")] == ["ckpt-0000000008.pt"]

    rec = run_pipeline(cfg)  # the requeued job
    assert rec["extra"]["checkpoint"]["resumed_from_step"] == 8
    same_results(rec, reference([*RESUMABLE, "prune.keep=1.0"], tmp_path / "ref"))


@pytest.mark.parametrize(
    "when, saved_at",
    [
        ("step:7", 8),  # after step 7: saved after step 8 (Lightning's own handler ended the run unsaved)
        ("eval:5", 10),  # in the test evaluation after step 10 (its first of 4 batches): saved once it ends
    ],
)
def test_sigterm_in_one_process_saves_and_the_rerun_resumes(_isolated_env, tmp_path, monkeypatch, when, saved_at):
    run = [*RESUMABLE, "prune.keep=1.0", "train.eval_batch_size=50"]  # 200 test examples: 4 batches per evaluation
    cfg = compose([*run, "train.checkpoint_every=null"])
    monkeypatch.setenv("BENCH_TEST_SIGNAL", f"SIGTERM:{when}")
    with pytest.raises(SystemExit) as stopped:
        run_pipeline(cfg)
    assert stopped.value.code == 128 + signal.SIGTERM
    rid = run_id(cfg)
    assert not (_isolated_env / "records" / f"{rid}.json").exists()
    assert [p.name for p in (_isolated_env / "checkpoints" / rid).glob("*.pt")] == [f"ckpt-{saved_at:010d}.pt"]
    monkeypatch.delenv("BENCH_TEST_SIGNAL")
    rec = run_pipeline(cfg)  # the requeued job
    assert rec["extra"]["checkpoint"]["resumed_from_step"] == saved_at
    same_results(rec, reference(run, tmp_path / "ref"))


def test_a_signal_after_the_last_step_stops_the_job_once_its_record_is_written(_isolated_env, monkeypatch):
    cfg = compose([*RESUMABLE, "prune.keep=1.0", "train.checkpoint_every=null"])
    monkeypatch.setenv("BENCH_TEST_SIGNAL", "SIGTERM:step:20")  # the run has 20 steps
    with pytest.raises(SystemExit) as stopped:
        run_pipeline(cfg)
    assert stopped.value.code == 128 + signal.SIGTERM  # the job stops (or submitit requeues it) ...
    rec = json.loads((_isolated_env / "records" / f"{run_id(cfg)}.json").read_text())
    assert rec["status"] == "ok" and rec["steps"] == 20  # ... after writing the finished run's record


def test_a_job_forwards_a_signal_to_the_training_processes_it_spawned(tmp_path):
    """While a job waits for training processes it spawned, a signal goes on to them and stays pending in the job
    (they save; the job acts once they stop); a signal still pending when the job ends is handed on then."""
    from bench.checkpoint import Preempted, PreemptionGuard

    got = tmp_path / "got"
    code = (
        "import pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGUSR1, lambda *a: (pathlib.Path(sys.argv[1]).write_text('usr1'), sys.exit(0)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(got)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        with pytest.raises(Preempted) as stopped:
            with PreemptionGuard() as guard:
                with guard.forwarding([child.pid]):
                    os.kill(os.getpid(), signal.SIGUSR1)
                    assert child.wait(timeout=30) == 0 and got.read_text() == "usr1"
                assert guard.requested == signal.SIGUSR1  # pending: the job was not stopped while waiting
        assert stopped.value.code == 128 + signal.SIGUSR1  # handed on when the job ended
    finally:
        child.kill()
        child.wait()


def test_corrupt_checkpoints_are_passed_over(tmp_path, caplog):
    from bench.checkpoint import CheckpointDir

    ck = CheckpointDir(tmp_path / "run", keep=2)
    for step in (3, 6, 9):
        ck.save(step, lambda p, s=step: torch.save({"step": s}, p), {"run_id": "r"})
    assert [p.name for p in ck._files()] == ["ckpt-0000000009.pt", "ckpt-0000000006.pt"]  # keeps the newest 2
    newest = tmp_path / "run" / "ckpt-0000000009.pt"
    newest.write_bytes(newest.read_bytes()[:-7])  # truncated
    path, side = ck.latest(expect={"run_id": "r"})
    assert side["step"] == 6 and "unusable" in caplog.text and (tmp_path / "run" / (newest.name + ".corrupt")).exists()
    assert ck.latest(expect={"run_id": "other"}) is None  # a checkpoint of other settings is not resumed
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped byte
    path.write_bytes(bytes(data))
    caplog.clear()
    assert ck.latest(expect={"run_id": "r"}) is None and "starting from scratch" in caplog.text


@pytest.mark.parametrize("vectorise,stop_at", [("true", 10), ("false", 20)])
def test_interrupted_probe_ensemble_continues_where_it_stopped(tmp_path, monkeypatch, vectorise, stop_at, caplog):
    from bench.checkpoint import EnsembleCheckpoint, parse_every
    from bench.data import build_dataset, make_pool
    from bench.metrics import ScoreContext
    from bench.metrics.forgetting import ForgettingTracker
    from bench.metrics.probe import PROBE_DEFAULTS, build_members, pool_data, train_ensemble

    torch.set_num_threads(1)
    digits = build_dataset("digits")
    data = pool_data(ScoreContext(digits, make_pool(digits, 200, seed=0), {}, 0, progress=False), "t")
    subsets = np.random.default_rng(0).random((3, 200)) < 0.7
    p = dict(PROBE_DEFAULTS, batch_size=32, vectorise=vectorise)

    def train(checkpoint):
        tracker = ForgettingTracker(3, 200, torch.device("cpu"))
        members = build_members({"name": "mlp", "hidden": [32]}, 10, digits.input_shape, 3, 0, "t")
        train_ensemble(data, members, p, 3, 4, 0, "t", subsets=subsets, on_step=tracker, checkpoint=checkpoint)
        return [m.state_dict() for m in members], tracker.state_dict()

    ref_models, ref_counts = train(None)
    ck = EnsembleCheckpoint(tmp_path / "partial", parse_every("2steps"))
    import bench.metrics.probe as probe

    lr_at, calls = probe.lr_at, [0]

    def stop_after(step, total, params):  # the job dies in the middle of optimiser step ``stop_at``
        calls[0] += 1
        if calls[0] == stop_at:
            raise KeyboardInterrupt
        return lr_at(step, total, params)

    monkeypatch.setattr(probe, "lr_at", stop_after)
    with pytest.raises(KeyboardInterrupt):
        train(ck)
    monkeypatch.setattr(probe, "lr_at", lr_at)
    models, counts = train(ck)
    assert "resuming the probe models" in caplog.text
    assert all(torch.equal(a[k], b[k]) for a, b in zip(ref_models, models) for k in a)
    assert all(torch.equal(ref_counts[k], counts[k]) for k in counts)


def test_score_store_drops_partial_progress_once_the_scores_are_saved(tmp_path):
    from bench.scores import ScoreStore

    store = ScoreStore(tmp_path)
    spec = {"metric": "x"}

    def compute():
        part = store.partial(spec).files("el2n").root
        part.mkdir(parents=True)
        (part / "ckpt-0000000001.pt").write_bytes(b"progress")
        return np.arange(3.0)

    scores, computed = store.get_or_compute(spec, compute)
    assert computed and not store.partial(spec).root.exists()


def test_checkpoint_settings_do_not_change_the_run_id_and_bad_ones_are_rejected():
    base = compose(TINY_MNIST1D)
    for extra in (
        ["train.checkpoint_every=2"],
        ["train.checkpoint_every=30min", "train.keep_checkpoints=true"],
        ["train.checkpoint_every=null"],
        ["train.checkpoint_every=500steps"],
    ):
        cfg = compose([*TINY_MNIST1D, *extra])
        validate_config(cfg)
        assert run_id(cfg) == run_id(base)
    for bad, message in (
        ("train.checkpoint_every=5hours", "train.checkpoint_every='5hours' is not allowed"),
        ("train.checkpoint_every=-1", "train.checkpoint_every=-1 is not allowed"),
        ("train.keep_checkpoints=maybe", "train.keep_checkpoints='maybe' is not allowed"),
    ):
        with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
            validate_config(compose([*TINY_MNIST1D, bad]))


def test_slurm_preset_asks_for_a_signal_the_guard_catches_and_requeues_on_time_out(tmp_path, monkeypatch):
    """What the SLURM preset makes submitit submit (the launcher's own code, up to the point where it would call
    sbatch): a batch script asking SLURM for a signal PreemptionGuard catches, early enough before the time limit;
    and a job that times out is requeued by submitit's handler (its time-out countdown is the preset's)."""
    import submitit
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate
    from submitit.core.job_environment import SignalHandler

    from bench.checkpoint import preemption_signals

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = hydra_compose(
            config_name="config",
            overrides=["hydra/launcher=slurm", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
            return_hydra_config=True,
        )
    launcher = instantiate(cfg.hydra.launcher)
    launcher.config = cfg
    executors = []
    monkeypatch.setattr(submitit.SlurmExecutor, "affinity", classmethod(lambda cls: 1))  # "srun is on the PATH"
    monkeypatch.setattr(submitit.AutoExecutor, "map_array", lambda ex, *a: executors.append(ex._executor) or [])
    launcher.launch([["seed=0"]], 0)
    (slurm,) = executors
    script = slurm._make_submission_file_text("python -m bench.run", "uid")
    (sig,) = [ln.split("=", 1)[1] for ln in script.splitlines() if ln.startswith("#SBATCH --signal=")]
    name, delay = sig.split("@")
    (minutes,) = [int(ln.split("=", 1)[1]) for ln in script.splitlines() if ln.startswith("#SBATCH --time=")]
    assert getattr(signal, f"SIG{name}") in preemption_signals()  # the signal SLURM sends is one the guard catches
    assert 60 <= int(delay) < minutes * 60  # time for a step and a checkpoint, within the job's time

    requeued: list[int] = []

    class Env:  # submitit's JobEnvironment, minus SLURM
        global_rank = 0

        def _requeue(self, countdown: int) -> None:
            requeued.append(countdown)

    delayed = submitit.helpers.DelayedSubmission(_Requeueable(), "job")
    delayed.set_timeout(minutes, slurm.max_num_timeout)  # as submitit's executor sets it on every submission
    handler = SignalHandler(Env(), type("Paths", (), {"submitted_pickle": tmp_path / "submitted.pkl"})(), delayed)
    handler._start_time -= minutes * 60  # the job ran into its time limit
    with pytest.raises(SystemExit):  # submitit exits after requeueing
        handler.checkpoint_and_try_requeue(getattr(signal, f"SIG{name}"))
    assert requeued == [slurm.max_num_timeout - 1] and requeued[0] >= 0  # requeued, with time-outs to spare


def test_bad_setting_is_one_line_without_traceback(monkeypatch, capsys):
    from bench.console import report_setting_errors

    def job():
        validate_config(compose([*TINY_MNIST1D, "prune.keep=1.5"]))

    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    with pytest.raises(SystemExit) as exit_:
        report_setting_errors(job)()
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("Error: prune.keep=1.5 is not allowed")
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ConfigError):  # Hydra prints it with the traceback
        report_setting_errors(job)()


def test_wandb_is_silent_by_default_and_still_writes_its_files(_isolated_env, monkeypatch, capfd):
    monkeypatch.delenv("WANDB_SILENT", raising=False)
    rec = run_pipeline(compose([*TINY_MNIST1D[:-1], "logger=wandb"]))
    out = capfd.readouterr()
    assert rec["status"] == "ok" and "wandb" not in (out.out + out.err).lower()
    assert list((_isolated_env / "wandb").glob("offline-run-*"))
    assert out.out.strip().splitlines()[-1].startswith(rec["run_id"])  # the run's own line


def test_a_resumed_run_logs_into_the_wandb_run_it_started(_isolated_env):
    from bench.run import build_logger, close_logger, run_checkpoint, wandb_run_id

    cfg = compose([*RESUMABLE[:-1], "logger=wandb", "train.checkpoint_every=3steps"])
    rid = run_id(cfg)
    first, resumed = wandb_run_id(cfg, rid)
    second, resumed_again = wandb_run_id(cfg, rid)
    assert not resumed and not resumed_again and first != second  # no checkpoint: a fresh start, a new wandb run
    run_checkpoint(cfg, rid).files.save(3, lambda p: p.write_bytes(b"ckpt"), {"run_id": rid})
    assert wandb_run_id(cfg, rid) == (second, True)  # a checkpoint to resume from: the same wandb run
    logger = build_logger(cfg, rid, None)
    assert logger.experiment.id == second
    close_logger(logger, {"status": "ok"})
    assert [p.name.endswith(second) for p in (_isolated_env / "wandb").glob("offline-run-*")] == [True]
