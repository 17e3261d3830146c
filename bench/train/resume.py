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

from bench.checkpoint import CheckpointDir, Every, active_guard, test_kill_hook

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
        self._pending: Optional[int] = None  # batch index of a save deferred until the step's test evaluation
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

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = int(trainer.global_step)
        signalled = self.guard is not None and self.guard.requested is not None
        periodic = self.spec.every is not None and self.spec.every.due(
            step, self.spe, time.perf_counter() - self._t_last
        )
        if trainer.world_size > 1:  # act on a signal only once every rank saves at the same step
            periodic = self._agree(trainer, step, signalled, periodic)
            signalled = signalled and periodic
        if (signalled or periodic) and step < self.total_steps and hasattr(self.batches, "state_after"):
            if step % self.val_every == 0:  # a test evaluation follows this step: save once it is in the curve
                self._pending = batch_idx
            else:
                self.save(trainer, batch_idx)
        if signalled and self._pending is None:
            self.guard.after_checkpoint()
        test_kill_hook()

    def _agree(self, trainer: pl.Trainer, step: int, signalled: bool, periodic: bool) -> bool:
        """Under DDP every rank must save at the same step: a schedule by steps or epochs agrees by itself; one by
        minutes, and a signal, are settled every SYNC_EVERY steps (a one-flag all-reduce): any rank due, all save."""
        if self.spec.every is not None and self.spec.every.kind != "minutes":
            return periodic or (
                step % SYNC_EVERY == 0 and trainer.strategy.reduce_boolean_decision(signalled, all=False)
            )
        if step % SYNC_EVERY:
            return False
        return bool(trainer.strategy.reduce_boolean_decision(signalled or periodic, all=False))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._pending is None or trainer.sanity_checking:
            return
        batch_idx, self._pending = self._pending, None
        self.save(trainer, batch_idx)
        if self.guard is not None and self.guard.requested is not None:
            self.guard.after_checkpoint()

    def save(self, trainer: pl.Trainer, batch_idx: int) -> Path:
        t0 = time.perf_counter()
        self._data_state = self.batches.state_after(batch_idx)
        step = int(trainer.global_step)
        if not trainer.is_global_zero:  # DDP: every rank takes part in the checkpoint; rank 0 writes the file
            trainer.save_checkpoint(self.spec.root / "unused", weights_only=False)
            self._t_last = time.perf_counter()  # every rank's "Nmin" clock restarts, or it would vote for every sync
            return self.spec.root
        path = self.spec.files.save(
            step, lambda p: trainer.save_checkpoint(p, weights_only=False), {**self.spec.meta, "global_step": step}
        )
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
