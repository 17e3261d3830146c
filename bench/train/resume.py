"""Mid-run checkpoints of a student's training, and resuming from them.

``RunCheckpoint`` says where a run keeps its checkpoints and how often it writes one; ``Checkpointer`` is the
Lightning callback that writes them (at the end of an optimiser step, or after that step's test evaluation when
one follows: Lightning's own checkpoint with the model, optimiser, scheduler and loop counters, plus the batch
stream's position and generator, the global RNG states, the learning curve, the training seconds so far, and any
``stateful`` extras such as a dynamic-pruning schedule) and restores its part when ``trainer.fit(ckpt_path=...)``
resumes. On the device-resident data path a resumed run takes exactly the batches, augmentations and optimiser
steps of an uninterrupted one, so (on the CPU; ``train.deterministic=true`` on a GPU) it ends with the same numbers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytorch_lightning as pl
import torch
from pytorch_lightning.trainer.states import TrainerFn

from bench.checkpoint import CheckpointDir, Every, Preempted, active_guard, test_kill_hook, test_signal_hook

log = logging.getLogger("bench.train")
SYNC_EVERY = 25  # optimiser steps between two DDP agreements on a timed or signalled checkpoint


@dataclass
class RunCheckpoint:
    """Where one run keeps its checkpoints (``root``), how often it writes them (``every``: None = only when a
    signal asks), and what must match for a checkpoint to be resumed (``meta``: run id, step plan)."""

    root: Path
    every: Optional[Every]
    meta: dict = field(default_factory=dict)

    @property
    def files(self) -> CheckpointDir:
        return CheckpointDir(self.root)


class Checkpointer(pl.Callback):
    """Writes ``RunCheckpoint`` checkpoints during ``fit`` and restores the stream/RNG state on resume."""

    def __init__(
        self,
        spec: RunCheckpoint,
        train_batches: Any,
        steps_per_epoch: int,
        total_steps: int,
        val_every: int,
        stateful: Optional[dict] = None,
    ) -> None:
        self.spec, self.batches = spec, train_batches
        self.stateful = dict(stateful or {})  # more state to carry (state_dict/load_state_dict): dynamic pruning
        self.spe, self.total_steps, self.val_every = steps_per_epoch, total_steps, val_every
        self._pending: Optional[tuple[int, int]] = None  # (batch index, signal or 0) of a save deferred until the
        # step's test evaluation
        self._last_batch = -1  # index of the last trained batch (a save after a test evaluation resumes after it)
        self._events = {"step": 0, "eval": 0}  # for the test signal hook
        self.saved, self.save_seconds = 0, 0.0
        self.prior_train_seconds = 0.0  # training time of the interrupted segments, from the checkpoint
        self._t_fit = self._t_last = time.perf_counter()
        self._data_state: Optional[dict] = None
        self.guard = active_guard()

    @property
    def state_key(self) -> str:
        return "bench.Checkpointer"

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._t_fit = self._t_last = time.perf_counter()
        if self.guard is not None:  # Lightning's SIGTERM handler would end the run at the step's end, unsaved
            self.guard.reclaim()

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = int(trainer.global_step)
        self._last_batch = batch_idx
        periodic = self.spec.every is not None and self.spec.every.due(
            step, self.spe, time.perf_counter() - self._t_last
        )
        save, signum = self._decide(trainer, periodic, at_sync=step % SYNC_EVERY == 0)
        if (save or signum) and step < self.total_steps:  # after the last step the run ends by itself
            if step % self.val_every == 0:  # a test evaluation follows this step: save once it is in the curve
                self._pending = (batch_idx, signum)
            else:
                self._save_and_stop(trainer, batch_idx, signum)
        self._events["step"] += 1
        test_signal_hook("step", self._events["step"], trainer.global_rank)
        test_kill_hook()

    def on_validation_batch_end(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        if not trainer.sanity_checking and trainer.state.fn == TrainerFn.FITTING:
            self._events["eval"] += 1
            test_signal_hook("eval", self._events["eval"], trainer.global_rank)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Save a deferred checkpoint now that the evaluation is in the curve; a signal that came during the
        evaluation saves here too (under DDP once all ranks agree, which they settle here)."""
        pending, self._pending = self._pending, None
        fitting = trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking
        if not fitting or int(trainer.global_step) >= self.total_steps or self._last_batch < 0:
            return
        _, signum = self._decide(trainer, False, at_sync=True)
        signum = max(signum, pending[1] if pending else 0)
        if pending is not None or signum:
            self._save_and_stop(trainer, pending[0] if pending else self._last_batch, signum)

    def _decide(self, trainer: pl.Trainer, periodic: bool, at_sync: bool) -> tuple[bool, int]:
        """(save a checkpoint now, the signal to stop for after it or 0). Under DDP every rank must save, and stop,
        at the same step: a schedule by steps or epochs agrees by itself; one by minutes, and a signal (which may
        reach one rank only), are settled at ``at_sync`` points (every SYNC_EVERY steps, and after each test
        evaluation) by one all-reduce: any rank due, all save; any rank signalled, all save and stop."""
        signum = int(self.guard.requested or 0) if self.guard is not None else 0
        if trainer.world_size == 1:
            return periodic or signum > 0, signum
        by_count = self.spec.every is not None and self.spec.every.kind != "minutes"  # the same on every rank
        if not at_sync:
            return periodic and by_count, 0
        flags = torch.tensor([signum, int(periodic and not by_count)], device=trainer.strategy.root_device)
        torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
        signum, due = int(flags[0]), bool(flags[1])
        return (periodic and by_count) or due or signum > 0, signum

    def _save_and_stop(self, trainer: pl.Trainer, batch_idx: int, signum: int) -> None:
        """Save the checkpoint after batch ``batch_idx``; with a signal, stop this process after it: the guard hands
        the signal on (submitit requeues the job; else exit 128+signal). Under DDP every rank stops, signalled or
        not, even where the previous handler lets the process go on (submitit's on ranks other than 0), since a rank
        cannot train alone."""
        if hasattr(self.batches, "state_after"):
            self.save(trainer, batch_idx)
        if not signum:
            return
        if self.guard is not None:
            self.guard.deliver(signum)
        if trainer.world_size > 1:
            raise Preempted(0 if self.guard is not None else 128 + signum)

    def save(self, trainer: pl.Trainer, batch_idx: int) -> Path:
        t0 = time.perf_counter()
        self._data_state = self.batches.state_after(batch_idx)
        step = int(trainer.global_step)
        if not trainer.is_global_zero:  # DDP: every rank takes part in the checkpoint; rank 0 writes the file
            trainer.save_checkpoint(self.spec.root / "unused", weights_only=False)
            trainer.strategy.barrier("bench.checkpoint")  # no rank goes on, or stops, before the file is complete
            self._t_last = time.perf_counter()  # every rank's "Nmin" clock restarts, or it would vote for every sync
            return self.spec.root
        path = self.spec.files.save(
            step, lambda p: trainer.save_checkpoint(p, weights_only=False), {**self.spec.meta, "global_step": step}
        )
        if trainer.world_size > 1:
            trainer.strategy.barrier("bench.checkpoint")
        self._t_last = time.perf_counter()
        self.saved += 1
        self.save_seconds += self._t_last - t0
        log.debug("checkpoint at step %d -> %s (%.3f s)", step, path, self._t_last - t0)
        return path

    def train_seconds(self) -> float:
        """Seconds of training so far, interrupted segments included."""
        return self.prior_train_seconds + time.perf_counter() - self._t_fit

    def state_dict(self) -> dict:
        from lightning_fabric.utilities.seed import _collect_rng_states

        return {
            "data": self._data_state,
            "rng": _collect_rng_states(),
            "train_seconds": self.train_seconds(),
            "meta": dict(self.spec.meta),
            "stateful": {k: v.state_dict() for k, v in self.stateful.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        from lightning_fabric.utilities.seed import _set_rng_states

        if state.get("data") is not None:
            self.batches.load_state_dict(state["data"])
        _set_rng_states(state["rng"])
        for k, v in (state.get("stateful") or {}).items():
            self.stateful[k].load_state_dict(v)
        self.prior_train_seconds = float(state.get("train_seconds") or 0.0)


def resume_path(spec: Optional[RunCheckpoint]) -> Optional[tuple[Path, int]]:
    """(checkpoint file, its step) to resume ``spec``'s run from, or None (start from scratch)."""
    if spec is None:
        return None
    found = spec.files.latest(expect=spec.meta)
    if found is None:
        return None
    path, side = found
    return path, int(side["global_step"])
