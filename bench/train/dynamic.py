"""Dynamic pruning in the training loop: the batch stream of an InfoBatch run (``prune.strategy=infobatch``).

:class:`InfoBatchStream` wraps the run's batches (``TensorBatches`` on the device-resident path, a planned folder
loader on the DataLoader path; both iterate over given positions with ``iter_positions``) and plans each data epoch
lazily, when the previous one has been trained, so every plan sees the losses of every example trained so far.
Lightning sees the whole run as one epoch of known length (no read-ahead: the next plan is drawn only after the last
batch of the current epoch has been trained). Each batch is ``(x, y, positions, plan)`` with ``plan`` holding the
batch's loss weights, its data epoch and the data epochs done after it; the LightningModule weights the
per-example losses and feeds them back to :class:`~bench.train.infobatch.InfoBatch` (``LitClassifier.weighted_loss``).

Length of a run:

* ``train.budget=epochs``: ``E`` data epochs, however many steps they take (pruned epochs are shorter);
  ``E = ceil(total steps / full-data steps per epoch)``, so the ``train.min_steps`` floor becomes a floor on epochs.
  The last ``1 - delta`` of the epochs anneal. The lr schedule runs on progress = (epochs done + the fraction of
  the current epoch's plan done) / ``E``, so it ends exactly with the last step.
* ``train.budget=steps``: exactly the step budget (the same optimiser steps as a static run; InfoBatch then makes
  more passes over its plans). An epoch prunes only if, even unpruned, it would end by ``delta`` x the step budget,
  so every step from there on trains on all data (annealing); the lr schedule runs on the step count as for a
  static run.

The stream's position (epoch, plan, offset, augmentation generator) is resumable (``state_after`` /
``load_state_dict``); the InfoBatch scores and generator travel in the checkpoint callback's ``stateful`` slot.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Optional

import torch

from bench.train.infobatch import InfoBatch, validate_infobatch

__all__ = ["DynamicRun", "InfoBatchStream", "infobatch_run"]


class InfoBatchStream:
    """Batches of an InfoBatch run over ``base`` (anything with ``iter_positions``, ``gen_state``,
    ``set_gen_state``): ``epochs`` data epochs, or (``total_steps``) until the step budget."""

    def __init__(
        self,
        base: Any,
        infobatch: InfoBatch,
        batch_size: int,
        epochs: Optional[int] = None,
        total_steps: Optional[int] = None,
    ) -> None:
        if (epochs is None) == (total_steps is None):
            raise ValueError("InfoBatchStream needs exactly one of epochs (epochs budget) and total_steps")
        self.base, self.ib, self.batch_size = base, infobatch, int(batch_size)
        self.epochs, self.total_steps = epochs, total_steps
        self.epoch, self.step, self.offset = 0, 0, 0
        self.plan: Optional[tuple[torch.Tensor, torch.Tensor]] = None  # (positions, weights) of the epoch in hand
        self._after: dict[int, dict] = {}  # batch index (of the run) -> the stream's state once it is trained
        self._resume: Optional[dict] = None

    def __len__(self) -> int:
        """Batches in the run: exact under a step budget, an upper bound (no epoch pruned) under epochs."""
        if self.total_steps is not None:
            return int(self.total_steps)
        return int(self.epochs) * math.ceil(self.ib.n / self.batch_size)

    def prunes(self, epoch: int) -> bool:
        """Whether data epoch ``epoch`` prunes: one of the first ``delta`` of the epochs (epochs budget), or one that
        would end, even unpruned, by ``delta`` x the step budget (so every step after that anneals)."""
        if self.total_steps is None:
            return self.ib.prunes(epoch)
        full = math.ceil(self.ib.n / self.batch_size)
        return self.ib.ratio > 0 and self.step + full <= self.ib.delta * self.total_steps

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]]:
        if self._resume is not None:
            self._restore(self._resume)
            self._resume = None
        while self.total_steps is not None or self.epoch < self.epochs:
            if self.plan is None:
                self.plan, self.offset = self.ib.plan(self.epoch, prune=self.prunes(self.epoch)), 0
            pos, weights = self.plan
            for xb, yb, pb in self.base.iter_positions(pos[self.offset :], self.epoch):
                start, self.offset = self.offset, self.offset + int(pb.shape[0])
                plan = {
                    "weight": weights[start : self.offset],
                    "epoch": self.epoch,
                    "epochs_done": self.epoch + self.offset / len(pos),
                }
                self._remember()
                self.step += 1
                yield xb, yb, pb, plan
            self.plan, self.epoch = None, self.epoch + 1

    def _remember(self) -> None:
        """Keep the state after the batch being yielded (references: a plan is never changed in place)."""
        done = self.offset >= len(self.plan[0])
        self._after[self.step] = {
            "epoch": self.epoch + done,
            "step": self.step + 1,
            "offset": 0 if done else self.offset,
            "plan": None if done else self.plan,
            "gen": self.base.gen_state(),
        }
        self._after.pop(self.step - 4, None)

    def state_after(self, batch_idx: int) -> dict:
        """The state once batch ``batch_idx`` of the run has been trained: what ``load_state_dict`` needs to go on
        exactly as an uninterrupted run would (the InfoBatch scores and generator are checkpointed beside it)."""
        s = dict(self._after[batch_idx])
        if s["plan"] is not None:
            s["plan"] = tuple(t.cpu() for t in s["plan"])
        return s

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state_after(...)`` at the next ``iter()``."""
        self._resume = state

    def _restore(self, state: dict) -> None:
        dev = self.ib.scores.device
        self.epoch, self.step, self.offset = int(state["epoch"]), int(state["step"]), int(state["offset"])
        self.plan = None if state["plan"] is None else tuple(t.to(dev) for t in state["plan"])
        if state.get("gen") is not None:
            self.base.set_gen_state(state["gen"])


@dataclass
class DynamicRun:
    """An InfoBatch run's pieces: its stream, its InfoBatch, the data epochs (None under a step budget) and the
    nominal optimiser steps (the step budget, or ``epochs`` full-data epochs: lr schedule span, evaluations)."""

    stream: InfoBatchStream
    infobatch: InfoBatch
    epochs: Optional[int]
    total_steps: int

    def summary(self, lit: Any) -> dict:
        """What the record keeps: settings, epochs planned and done, examples trained per data epoch."""
        return {
            "ratio": self.infobatch.ratio,
            "delta": self.infobatch.delta,
            "epochs_planned": self.epochs,
            "epochs_done": lit.epochs_done,
            "examples_per_epoch": list(lit.examples_per_epoch),
            "n_kept": self.infobatch.n,
        }


def infobatch_run(
    base: Any,
    n_kept: int,
    cfg: dict,
    total_steps: int,
    steps_per_epoch: int,
    settings: dict,
    seed: int,
    device: torch.device,
) -> DynamicRun:
    """The InfoBatch run of ``n_kept`` examples over ``base`` under ``cfg``'s budget (``total_steps``: the static
    run's steps, floor included); ``settings``: ``ratio``, ``delta``. Bad settings raise ValueError first."""
    ratio, delta = settings.get("ratio", 0.5), settings.get("delta", 0.875)
    validate_infobatch(ratio, delta, n_kept, int(cfg["batch_size"]))
    by_epochs = cfg["budget"] == "epochs"
    epochs = math.ceil(total_steps / steps_per_epoch) if by_epochs else None
    nominal = epochs * steps_per_epoch if by_epochs else total_steps
    ib = InfoBatch(
        n_kept,
        epochs or math.ceil(total_steps / steps_per_epoch),
        ratio=ratio,
        delta=delta,
        seed=int(seed) + 0x1B,
        device=device,
    )  # its own stream of draws, not the batches' generator's
    stream = InfoBatchStream(
        base, ib, int(cfg["batch_size"]), epochs=epochs, total_steps=None if by_epochs else total_steps
    )
    return DynamicRun(stream, ib, epochs, nominal)
