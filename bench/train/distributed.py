"""One run on several devices: data-parallel training (DDP through Lightning), launched by a cluster or here.

A run's world is ``train.devices`` processes per node x ``train.num_nodes`` nodes. The processes come to be in one
of two ways:

- **launched outside** (``external``): ``torchrun --nproc_per_node=N -m bench.run ...``, or SLURM with one task per
  device (the submitit launcher's ``tasks_per_node`` = ``train.devices``, ``nodes`` = ``train.num_nodes``). Every
  process runs the whole job; the score store's lock has the first one compute a score and the others read it, the
  selection is deterministic, and only global rank 0 opens the wandb run and writes the record.
- **spawned here** (``spawn``): a job started on its own (``python -m bench.run train.devices=2``, a local sweep)
  does the data, score and selection stages once, then starts one training process per device
  (``torch.multiprocessing``, start method spawn) that join a process group (gloo on the CPU, NCCL on GPUs).
  Global rank 0 hands its result back to the job, which writes the record; the learning curve goes to wandb when
  training ends (live logging needs the outside launch).

The global batch is ``train.batch_size`` on any number of devices: each rank trains on its equal shard of every batch
(``batch_size / world`` examples; the batch size must divide evenly), DDP averages the gradients, so the optimiser
sees the same batch size, learning rate (no scaling), steps and schedule as on one device. What differs: BatchNorm
statistics are per shard, and each epoch's random order leaves out its last ``n_kept mod world`` examples (fewer
than ``world``; others next epoch) so that every rank gets the same number of batches. Test evaluations are sharded
and summed across ranks, each rank with rank 0's BatchNorm statistics (so a run resumed from a checkpoint, which holds
rank 0's, evaluates as an uninterrupted one); the kept-set error at the end is computed on the whole kept set.
The settings do not change a run's id (like ``train.accelerator``): a run on 1 or 8 GPUs is the same run.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from bench.checkpoint import Preempted, PreemptionGuard, active_guard, preemption_signals
from bench.console import quiet_lightning
from bench.train.module import curve_metrics

STRATEGIES = ("auto", "ddp", "ddp_find_unused_parameters_true")


@dataclass(frozen=True)
class World:
    """This process's place among a run's training processes: ``rank`` of ``size`` (global), ``local_rank`` on its
    node; ``launch`` says who starts the processes: ``single`` (one process), ``external`` or ``spawn``."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    launch: str = "single"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int]:
        return self.rank, self.size


def world_size(train: dict) -> int:
    return int(train.get("devices") or 1) * int(train.get("num_nodes") or 1)


def launched_outside() -> bool:
    """Whether this process is one of several started by torchrun or by SLURM tasks."""
    if int(os.environ.get("WORLD_SIZE") or 1) > 1 and "LOCAL_RANK" in os.environ:
        return True
    return int(os.environ.get("SLURM_NTASKS") or 1) > 1 and "SLURM_PROCID" in os.environ


def current_world(train: dict) -> World:
    """The World of this process for the train settings ``train`` (from the launcher's environment variables):
    ``launch`` is ``single``, ``external`` (torchrun, SLURM tasks), ``spawned`` (a training process this package
    started) or ``spawn`` (the job that must start them)."""
    size = world_size(train)
    env = os.environ
    if size == 1:
        return World()
    if env.get("BENCH_SPAWNED"):
        return World(int(env["RANK"]), size, int(env["LOCAL_RANK"]), "spawned")
    if launched_outside():
        rank = env.get("RANK") or env.get("SLURM_PROCID") or 0
        return World(int(rank), size, int(env.get("LOCAL_RANK") or env.get("SLURM_LOCALID") or 0), "external")
    return World(0, size, 0, "spawn")


def process_rank() -> int:
    """The global rank of this process when a launcher started several (0 otherwise): only rank 0 writes."""
    if not launched_outside():
        return 0
    return int(os.environ.get("RANK") or os.environ.get("SLURM_PROCID") or 0)


def validate_distributed(train: dict) -> Optional[str]:
    """The problem with the multi-device settings in ``train``, or None."""
    for key in ("devices", "num_nodes"):
        v = train.get(key, 1)
        if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
            return f"train.{key}={v!r} is not allowed: a positive integer"
    strategy = train.get("strategy", "auto")
    if strategy not in STRATEGIES:
        return f"unknown train.strategy {strategy!r}; allowed: {', '.join(STRATEGIES)}"
    size, bs = world_size(train), train.get("batch_size")
    if size > 1 and isinstance(bs, int) and bs % size:
        return (
            f"train.batch_size={bs} does not split evenly over {size} processes (train.devices x "
            f"train.num_nodes): the batch size is the global one, give a multiple of {size}"
        )
    return None


def lightning_strategy(train: dict, device: torch.device, world: World) -> tuple[Any, list]:
    """(the Trainer's strategy, its cluster-environment plugins) for ``world``."""
    if world.size == 1:
        return "auto", []
    from lightning_fabric.plugins.environments import LightningEnvironment, SLURMEnvironment
    from pytorch_lightning.strategies import DDPStrategy

    backend = "nccl" if device.type == "cuda" else "gloo"
    strategy = DDPStrategy(
        process_group_backend=backend, find_unused_parameters=train.get("strategy") == "ddp_find_unused_parameters_true"
    )
    if world.launch == "spawned":
        return strategy, [LightningEnvironment()]
    if SLURMEnvironment.detect():
        return strategy, [SLURMEnvironment(auto_requeue=False)]  # submitit requeues; our checkpoints resume
    return strategy, []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(fn: Callable[..., dict], args: tuple, size: int) -> dict:
    """Run ``fn(*args)`` in ``size`` new processes that form one DDP world on this node; rank 0's result.

    A signal this job gets while they train (SIGTERM, SIGUSR1/2) is forwarded to them: they save one checkpoint
    together and stop with 128+signal, and the job then stops for that signal as one process would (its previous
    handler: submitit requeues; else it exits with 128+signal). So does a signal that reached a training process only.
    """
    import torch.multiprocessing as mp

    port = _free_port()
    guard = active_guard()
    with tempfile.TemporaryDirectory(prefix="bench-ddp-") as tmp:
        out = Path(tmp) / "rank0.pt"
        ctx = mp.start_processes(
            _worker, args=(fn, args, size, port, str(out)), nprocs=size, join=False, start_method="spawn"
        )
        with guard.forwarding([p.pid for p in ctx.processes]) if guard else contextlib.nullcontext():
            try:
                while not ctx.join():
                    pass
            except mp.ProcessExitedException as e:
                _stop_for_signal(e, guard)
                raise
        return torch.load(out, weights_only=False)


def _stop_for_signal(exc: Exception, guard: Optional[PreemptionGuard]) -> None:
    """When a training process stopped for a signal (exit status 128+signal after its checkpoint, or killed by a
    forwarded one before it could save), stop this job for that signal too; otherwise return (a failure)."""
    signum = guard.requested if guard is not None else None
    code = getattr(exc, "exit_code", None)
    if signum is None and code is not None and code - 128 in preemption_signals():
        signum = code - 128
    if signum is None:
        return
    if guard is None:
        raise Preempted(128 + signum) from exc
    guard.deliver(signum)


def _worker(rank: int, fn: Callable[..., dict], args: tuple, size: int, port: int, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(size),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        NODE_RANK="0",
        BENCH_SPAWNED="1",
    )

    quiet_lightning()
    # a signal saves a checkpoint and stops this process (128+signal); one that came too late to save at goes to
    # the job, which got it too or learns of it from the exit status, not to this process's end
    with PreemptionGuard(hand_on_at_exit=False):
        result = fn(*args)
    if rank == 0:
        torch.save(result, out)


def log_curve(logger: Any, curve: list[dict]) -> None:
    """Log a finished run's learning curve, point by point at its steps (the spawned processes log nothing)."""

    if logger is None:
        return
    for point in curve:
        logger.log_metrics(curve_metrics(point), step=int(point["step"]))
