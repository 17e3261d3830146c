"""Forgetting events (Toneva et al., ICLR 2019): how often an example goes from learned to forgotten in training.

Over one full training run of a probe model on the pool (``epochs`` epochs, the whole schedule), every time an
example appears in a minibatch its prediction *in that training step* (the forward pass that computes the loss, on
the augmented input, before the update) is compared with its label; a transition from correct to incorrect between
two consecutive presentations is a forgetting event. No extra passes over the data are made.

``forgetting`` score = number of forgetting events; examples never classified correctly in any presentation
("never learned", the most forgettable in Toneva et al.) get ``floor(epochs / 2) + 1``, one more than the largest
possible count (an example can be forgotten at most every second presentation). With ``n_models`` > 1 the scores of
independent runs (own init and data order, trained together) are averaged. Higher = more forgettable = harder.
Many examples tie at 0 (never forgotten): selection breaks ties with its seeded permutation.
"""

from __future__ import annotations

import numpy as np
import torch

from bench.defaults import metric_settings
from bench.metrics import METRIC_DEFAULTS, ScoreContext, register_metric
from bench.metrics.probe import check_int, check_probe_params, resolve_params, train_probe_ensemble

FORGETTING_DEFAULTS = metric_settings("forgetting")  # conf/metric/forgetting.yaml: the one source


class ForgettingTracker:
    """Counts correct -> incorrect transitions per (member, example) from training-step predictions."""

    def __init__(self, n_models: int, n: int, device: torch.device) -> None:
        self.prev = torch.zeros(n_models, n, dtype=torch.bool, device=device)
        self.ever = torch.zeros(n_models, n, dtype=torch.bool, device=device)
        self.forgot = torch.zeros(n_models, n, dtype=torch.int64, device=device)
        self.seen = torch.zeros(n_models, n, dtype=torch.int64, device=device)

    def __call__(self, ks, idx, w, logits, y) -> None:
        correct = logits.argmax(-1) == y
        rows = torch.as_tensor(list(ks), device=idx.device)[:, None].expand_as(idx)
        r, c, cur = rows[w], idx[w], correct[w]
        prev = self.prev[r, c]
        self.forgot[r, c] += (prev & ~cur).long()
        self.prev[r, c] = cur
        self.ever[r, c] |= cur
        self.seen[r, c] += 1

    def state_dict(self) -> dict:
        """The counters, for a checkpoint of the probe training (bench.metrics.probe)."""
        return {k: getattr(self, k).cpu().clone() for k in ("prev", "ever", "forgot", "seen")}

    def load_state_dict(self, state: dict) -> None:
        for k in ("prev", "ever", "forgot", "seen"):
            getattr(self, k).copy_(state[k])

    def scores(self, never_learned: float) -> torch.Tensor:
        """(n,) mean over members of forgetting counts, ``never_learned`` for examples never correct."""
        s = torch.where(self.ever, self.forgot.double(), torch.full_like(self.forgot, 0).double() + never_learned)
        return s.mean(0)


METRIC_DEFAULTS["forgetting"] = FORGETTING_DEFAULTS


@register_metric("forgetting")
def forgetting_scores(ctx: ScoreContext) -> np.ndarray:
    """Forgetting-event counts over one training run (higher = forgotten more often = harder)."""
    p = resolve_params("forgetting", ctx.params, FORGETTING_DEFAULTS)
    check_probe_params("forgetting", p)
    k = check_int("forgetting", p, "n_models", 1)
    epochs = check_int("forgetting", p, "epochs", 1)
    tracker = ForgettingTracker(k, len(ctx.pool), torch.device(ctx.device))
    train_probe_ensemble(ctx, "forgetting", p, k, epochs, epochs, tag="forgetting", on_step=tracker)
    if not bool((tracker.seen == epochs).all()):
        raise RuntimeError("forgetting: an example was not seen once per epoch")
    return tracker.scores(float(epochs // 2 + 1)).cpu().numpy()
