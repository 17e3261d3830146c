"""InfoBatch (Qin et al., ICLR 2024): dynamic pruning during training with an unbiased, rescaled loss.

Each example carries a score, its most recent training loss (from the training forward pass: no extra pass;
examples not yet seen score +inf, so the first epoch uses everything). At the start of every epoch:

* the examples whose score is below the mean of the finite scores are "well learned"; a random fraction
  ``ratio`` of them is skipped this epoch;
* the well-learned examples that are kept have their loss multiplied by ``1 / (1 - ratio)``, so the expected
  gradient over the epoch equals the full-data gradient (the skipped ones contribute zero, the kept ones make up
  for them in expectation);
* the last ``1 - delta`` of the epochs use all examples with weight 1 (annealing), so the final epochs see an
  unbiased, unpruned gradient.

:class:`InfoBatch` holds the scores and draws each epoch's plan; it works on positions ``0..n-1`` of the kept set
(the static selection, if any, happened before). It is pure torch and knows nothing of Lightning.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

__all__ = ["InfoBatch", "validate_infobatch"]


def validate_infobatch(ratio: float, delta: float, n_kept: int, batch_size: int) -> None:
    """Errors for bad settings, raised before any training (name the value and what is allowed)."""
    if not (isinstance(ratio, (int, float)) and 0.0 <= float(ratio) < 1.0):
        raise ValueError(f"prune.ratio={ratio!r} is not allowed; InfoBatch needs 0 <= ratio < 1")
    if not (isinstance(delta, (int, float)) and 0.0 < float(delta) <= 1.0):
        raise ValueError(
            f"prune.delta={delta!r} is not allowed; InfoBatch needs 0 < delta <= 1 (the fraction "
            "of epochs that prune; the rest anneal on all data)"
        )
    if n_kept < batch_size:
        raise ValueError(
            f"InfoBatch on a kept set of {n_kept} examples is smaller than one batch "
            f"(train.batch_size={batch_size}); keep more examples or use a smaller batch"
        )


class InfoBatch:
    """Scores and per-epoch plans for ``n`` examples over ``epochs`` epochs."""

    def __init__(
        self,
        n: int,
        epochs: int,
        ratio: float = 0.5,
        delta: float = 0.875,
        seed: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        self.n, self.epochs, self.ratio, self.delta = int(n), int(epochs), float(ratio), float(delta)
        self.scores = torch.full((self.n,), math.inf, device=device)
        self.gen = torch.Generator(device="cpu").manual_seed(int(seed))

    def prunes(self, epoch: int) -> bool:
        """Whether ``epoch`` (0-based) prunes: the first ``delta`` of the epochs do, the rest anneal."""
        return epoch < math.floor(self.delta * self.epochs) and self.ratio > 0

    def plan(self, epoch: int, prune: Optional[bool] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(positions to train on this epoch, in random order; their loss weights). ``prune`` overrides
        :meth:`prunes` (a step budget anneals by steps, not by epoch index)."""
        dev = self.scores.device
        weights = torch.ones(self.n, device=dev)
        keep = torch.ones(self.n, dtype=torch.bool, device=dev)
        finite = torch.isfinite(self.scores)
        prune = self.prunes(epoch) if prune is None else bool(prune) and self.ratio > 0
        if prune and finite.any():
            low = finite & (self.scores < self.scores[finite].mean())
            drop = low & (torch.rand(self.n, generator=self.gen).to(dev) < self.ratio)
            keep &= ~drop
            weights[low & keep] = 1.0 / (1.0 - self.ratio)
        pos = torch.nonzero(keep).squeeze(1)
        pos = pos[torch.randperm(len(pos), generator=self.gen).to(dev)]
        return pos, weights[pos]

    def update(self, positions: torch.Tensor, losses: torch.Tensor) -> None:
        """Record the per-example training losses of ``positions`` (detached)."""
        self.scores[positions.to(self.scores.device)] = losses.detach().float().to(self.scores.device)

    def state_dict(self) -> dict:
        """The scores and the generator: all that the next plans depend on (the examples trained are counted by
        the training module, per data epoch)."""
        return {"scores": self.scores.cpu(), "gen": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.scores = state["scores"].to(self.scores.device)
        self.gen.set_state(state["gen"])
