"""Several devices per run (DDP), checked on the CPU with 2 processes (gloo):

- every global batch is split into equal, disjoint shards whose union is the one-process batch (same augmentation
  draws), on the device-resident and the folder paths; test evaluations cover every example once; in real
  2-process runs on both paths, traced by example id, the ranks train disjoint shards of the 1-process batches,
  with those examples' labels and inputs, and each epoch covers the kept examples once (less an odd tail);
- a run spawned on 2 processes writes one record with the fields of a 1-process run, the same steps and examples
  seen, and a test error within noise of it; killed mid-run and relaunched, it resumes from its checkpoint and ends
  with the record of an uninterrupted 2-process run; so does one whose rank 1 alone gets SIGTERM (every rank saves
  the same checkpoint and the job exits with 128+SIGTERM, neither hanging nor ending unsaved);
- under torchrun (the launcher starts the processes, as SLURM tasks do) only rank 0 writes the record;
- bad multi-device settings are rejected before training, naming the value.
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
import pytorch_lightning as pl
import torch
from conftest import TINY_MNIST1D, compose

from bench.config import validate_config
from bench.errors import ConfigError
from bench.run import run_pipeline
from bench.train.data import ResumableSampler, ShardBatchSampler, TensorBatches, global_batches

DDP_RUN = [o for o in TINY_MNIST1D if not o.startswith(("model", "dataset.n_train", "train.epochs"))] + [
    "dataset.n_train=1000",
    "model=cnn1d",
    "train.epochs=4",
    "train.num_threads=1",
    "metric=none",
    "prune.keep=1.0",
]


def _shards(n: int, world: int, batch_size: int = 8, augment: str = "shift1d", shuffle: bool = True) -> list:
    x = torch.arange(n * 12, dtype=torch.float32).view(n, 1, 12)
    y = torch.arange(n)
    return [
        list(TensorBatches(x, y, batch_size, shuffle=shuffle, seed=3, augment_kind=augment, shard=(r, world)))
        for r in range(world)
    ]


@pytest.mark.parametrize("n", [37, 40, 41])
def test_tensor_batches_shards_partition_each_global_batch(n):
    (whole,), shards = _shards(n, 1), _shards(n, 2)
    assert len(shards[0]) == len(shards[1])
    for b, (r0, r1) in enumerate(zip(*shards)):
        assert r0[0].shape[0] == r1[0].shape[0] > 0  # equal shards: the same number of batches on each rank
        x, y, pos = whole[b]
        assert torch.equal(torch.cat([r0[2], r1[2]]).sort().values, pos[: r0[2].numel() * 2].sort().values)
        assert torch.equal(r0[0], x[0::2][: r0[0].shape[0]]) and torch.equal(r1[0], x[1::2][: r1[0].shape[0]])
    seen = torch.cat([p for s in shards for _, _, p in s])
    assert seen.numel() == n - n % 2 and seen.unique().numel() == seen.numel()  # an odd tail waits an epoch


def test_evaluation_shards_cover_every_example_once():
    for n in (33, 41):  # 41 = 5 x 8 + 1: the last batch of 1 is folded into the one before
        shards = _shards(n, 2, augment="none", shuffle=False)
        assert len(shards[0]) == len(shards[1])
        pos = torch.cat([p for s in shards for _, _, p in s])
        assert sorted(pos.tolist()) == list(range(n))
    assert global_batches(41, 8, 2) == [(0, 8), (8, 16), (16, 24), (24, 32), (32, 41)]
    assert global_batches(41, 8, 2, drop_tail=True)[-1] == (32, 40)


def test_folder_batch_sampler_shards_the_resumable_order():
    whole = list(iter(torch.utils.data.BatchSampler(ResumableSampler(30, seed=1), 8, drop_last=False)))
    ranks = [list(ShardBatchSampler(ResumableSampler(30, seed=1), 8, r, 2, drop_tail=True)) for r in range(2)]
    assert [len(r) for r in ranks] == [4, 4]
    for b, (r0, r1) in enumerate(zip(*ranks)):
        assert r0 == whole[b][0::2] and r1 == whole[b][1::2]


@pytest.mark.parametrize(
    "bad, needle",
    [
        ("train.devices=0", "train.devices=0"),
        ("train.num_nodes=-1", "train.num_nodes=-1"),
        ("train.strategy=fsdp", "train.strategy 'fsdp'"),
        ("train.batch_size=63", "train.batch_size=63"),
    ],
)
def test_bad_device_settings_are_rejected_before_training(bad, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        validate_config(compose([*TINY_MNIST1D, "train.devices=2", bad]))


def test_infobatch_on_several_devices_is_rejected():
    with pytest.raises(ConfigError, match="one device"):
        validate_config(compose([*TINY_MNIST1D, "prune=infobatch", "metric=none", "train.devices=2"]))


@pytest.fixture(scope="module")
def uninterrupted_two(tmp_path_factory) -> tuple[dict, Path]:
    """The record of an uninterrupted 2-process run (wandb offline) and its paths.root, shared by the tests below."""
    root = tmp_path_factory.mktemp("two")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_MODE", "offline")
        mp.setenv("WANDB_SILENT", "true")
        mp.setenv("WANDB_DISABLE_GIT", "true")
        cfg = compose(
            [*DDP_RUN, "train.devices=2", f"paths.root={root}", "train.checkpoint_every=null", "logger=wandb"]
        )
        return run_pipeline(cfg), root


def same_as_uninterrupted(resumed: dict, two: dict) -> None:
    """The numbers of the uninterrupted 2-process run: every rank evaluates with rank 0's BatchNorm statistics (those
    a checkpoint holds); the running training loss, summed over the ranks into the checkpoint, agrees to float
    rounding (the ranks' partial sums are added in another order)."""
    drop = lambda curve: [{k: v for k, v in p.items() if k != "train_loss"} for p in curve]  # noqa: E731
    assert drop(resumed["curve"]) == drop(two["curve"])
    for a, b in zip(resumed["curve"], two["curve"]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
    for key in ("test_error", "test_loss", "train_error", "train_loss", "examples_seen", "steps"):
        assert resumed[key] == two[key], key


@pytest.mark.slow
def test_two_spawned_processes_match_one_process_and_resume_after_a_kill(
    _isolated_env, tmp_path, monkeypatch, uninterrupted_two
):
    one = run_pipeline(compose([*DDP_RUN, f"paths.root={tmp_path / 'one'}", "train.checkpoint_every=null"]))
    two, two_root = uninterrupted_two
    assert one["status"] == two["status"] == "ok", (one["reason"], two["reason"])
    assert set(one) - {"extra"} == set(two) - {"extra"}
    assert two["extra"]["world_size"] == 2 and two["extra"]["launch"] == "spawned"
    for key in ("steps", "examples_seen", "n_train", "epochs"):  # the record agrees (the shards themselves are
        assert one[key] == two[key], key  # checked by id in test_ranks_train_disjoint_shards_that_partition...)
    # 200 test examples: a binomial s.e. of about 0.034 at these errors; BatchNorm statistics are per shard
    assert abs(one["test_error"] - two["test_error"]) < 0.1, (one["test_error"], two["test_error"])
    assert len(list((two_root / "records").glob("*.json"))) == 1
    runs = list((two_root / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1, runs  # one wandb run, with the curve logged at the end
    assert runs[0].read_bytes().count(b"test/error") >= len(two["curve"])

    # killed at step 12 with a checkpoint every 5 steps, then relaunched: resumes from step 10
    ck = ["train.devices=2", f"paths.root={tmp_path / 'ck'}", "train.checkpoint_every=5steps"]
    monkeypatch.setenv("BENCH_TEST_KILL_AT_STEP", "12")
    killed = run_pipeline(compose([*DDP_RUN, *ck]))
    assert killed["status"] == "failed"
    monkeypatch.delenv("BENCH_TEST_KILL_AT_STEP")
    resumed = run_pipeline(compose([*DDP_RUN, *ck, "force=true"]))
    assert resumed["extra"]["checkpoint"]["resumed_from_step"] == 10
    same_as_uninterrupted(resumed, two)


@pytest.mark.slow
def test_a_signal_to_one_rank_saves_on_every_rank_and_the_requeued_job_resumes(
    _isolated_env, tmp_path, uninterrupted_two
):
    """SIGTERM reaches rank 1 only (rank 0 writes the checkpoint) after its 17th step: at the next agreement (step
    25; the test evaluations at steps 16, 32, 48 agree too) both ranks save the same checkpoint and stop, the job
    exits with 128+SIGTERM instead of hanging or ending unsaved, and the relaunched job resumes and ends with the
    uninterrupted record."""
    root = tmp_path / "sig"
    args = [*DDP_RUN, "train.devices=2", f"paths.root={root}", "train.checkpoint_every=null"]
    env = {**os.environ, "BENCH_HOME": str(root), "OMP_NUM_THREADS": "1", "BENCH_TEST_SIGNAL": "SIGTERM:step:17:1"}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=150
    )
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr[-3000:]
    assert not list((root / "records").glob("*.json"))
    (ckpts,) = [d for d in (root / "checkpoints").iterdir()]
    assert [p.name for p in ckpts.glob("*.pt")] == ["ckpt-0000000025.pt"]
    resumed = run_pipeline(compose(args))
    assert resumed["status"] == "ok" and resumed["extra"]["checkpoint"]["resumed_from_step"] == 25
    same_as_uninterrupted(resumed, uninterrupted_two[0])


@pytest.mark.slow
def test_torchrun_processes_write_one_record_from_rank_zero(_isolated_env, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    args = [*DDP_RUN, "train.devices=2", f"paths.root={tmp_path}", "train.checkpoint_every=null"]
    env = {**os.environ, "BENCH_HOME": str(tmp_path), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "bench.run", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in (tmp_path / "records").glob("*.json")]
    assert len(records) == 1 and records[0]["status"] == "ok"
    assert records[0]["extra"]["world_size"] == 2 and records[0]["extra"]["launch"] == "external"
    assert proc.stdout.count(records[0]["run_id"]) == 1  # one run line, from rank 0


class TraceBatches(pl.Callback):
    """Saves what this rank trained on, batch by batch, to ``<out>/rank<r>.pt``: the kept-set positions, their
    labels and one number per example summarising its (augmented) input."""

    def __init__(self, out: Path) -> None:
        self.out, self.batches = str(out), []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        x, y, pos = batch[0], batch[1], batch[2]
        self.batches.append((pos.cpu().clone(), y.cpu().clone(), x.detach().float().flatten(1).sum(1).cpu()))

    def on_train_end(self, trainer, pl_module) -> None:
        torch.save(self.batches, Path(self.out) / f"rank{trainer.global_rank}.pt")


def _traced_run(cfg: dict, pool, splits, kept: np.ndarray, devices: int, out: Path) -> tuple[dict, list[list]]:
    from bench.train import train_student

    out.mkdir(parents=True)
    train = {**cfg["train"], "devices": devices, "checkpoint_every": None}
    res = train_student(splits, pool, kept, cfg["model"], train, int(cfg["seed"]), callbacks=[TraceBatches(out)])
    return res, [torch.load(out / f"rank{r}.pt") for r in range(devices)]


FOLDER_RUN = [
    "dataset=imagenet",
    "dataset.image_size=8",
    "dataset.test_resize=10",
    "model=mlp",
    "model.hidden=[8]",
    "train.epochs=3",
    "train.batch_size=4",
    "train.num_workers=0",
    "train.min_steps=0",
    "train.progress_bar=false",
    "train.num_threads=1",
    "logger=none",
]
TENSOR_RUN = [*TINY_MNIST1D, "dataset.pool_size=300", "train.batch_size=32", "train.epochs=3", "train.num_threads=1"]


@pytest.mark.slow
@pytest.mark.parametrize("path", ["tensor", "folder"])
def test_ranks_train_disjoint_shards_that_partition_the_kept_examples_by_id(tmp_path, path):
    """The data path of a real 2-process run (device-resident tensors, or a folder dataset through DataLoaders),
    checked by example id against a 1-process run on the same kept set (an odd-sized subset of the pool): at every
    step the ranks train equal, disjoint shards of the 1-process batch, with those examples' labels and inputs (the
    same augmentation draws); every epoch covers the kept examples once, less n_kept mod 2 of them."""
    from conftest import write_image_folder

    from bench.run import build_pool

    if path == "folder":
        write_image_folder(tmp_path / "data", per_class=(8, 2), size=12)  # 24 training images, 3 classes
        cfg = compose([*FOLDER_RUN, f"dataset.root={tmp_path / 'data'}"])
    else:
        cfg = compose([*TENSOR_RUN, f"paths.root={tmp_path}"])
    splits, pool = build_pool(cfg)
    # odd, with a last batch of at least 2 (151 = 4 x 32 + 23, 15 = 3 x 4 + 3): with a last batch of 1 example, as
    # 13 = 3 x 4 + 1 would give, the 2-process epoch is one batch shorter than one process's
    n_kept = 151 if path == "tensor" else 15
    kept = np.sort(np.random.default_rng(0).choice(len(pool), n_kept, replace=False))
    one, (whole,) = _traced_run(cfg, pool, splits, kept, 1, tmp_path / "one")
    two, (r0, r1) = _traced_run(cfg, pool, splits, kept, 2, tmp_path / "two")
    assert one["steps"] == two["steps"] == len(whole) == len(r0) == len(r1)
    # examples seen: what the ranks trained, counted batch by batch (the 2-process run leaves out an odd tail)
    assert one["examples_seen"] == sum(len(p) for p, _, _ in whole)
    assert two["examples_seen"] == sum(len(p) for p, _, _ in r0 + r1)
    ids = lambda pos: pool.ids[kept[pos.numpy()]].tolist()  # noqa: E731  kept-set positions -> example ids
    epoch, seen_one, seen_two = [], 0, []
    for (p, _, f), (p0, y0, f0), (p1, y1, f1) in zip(whole, r0, r1):
        a, b, batch = ids(p0), ids(p1), dict(zip(ids(p), f.tolist()))
        assert len(a) == len(b) > 0 and not set(a) & set(b)  # equal and disjoint
        assert set(a) | set(b) <= set(batch) and len(batch) - len(a) - len(b) <= 1  # the 1-process batch
        for pos_, y_, f_ in ((p0, y0, f0), (p1, y1, f1)):
            assert torch.equal(y_, pool.y[torch.from_numpy(kept[pos_.numpy()])])  # those examples' labels
            assert f_.tolist() == pytest.approx([batch[i] for i in ids(pos_)], rel=1e-5, abs=1e-5)  # and inputs
        seen_two += a + b
        seen_one += len(batch)
        if seen_one % n_kept == 0:  # an epoch ends: every kept example once, but for the odd one out
            assert len(seen_two) == len(set(seen_two)) == n_kept - 1 and set(seen_two) <= set(pool.ids[kept].tolist())
            epoch.append(seen_two)
            seen_two = []
    assert len(epoch) == 3
