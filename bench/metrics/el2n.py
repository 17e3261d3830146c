"""EL2N (Paul, Ganguli & Dziugaite, NeurIPS 2021): the error L2-norm early in training.

``el2n`` score of pool example i = mean over K probe models of || softmax(f_k(x_i)) - onehot(y_i) ||_2, with y_i the
pool's training label (the noisy one when the pool has label noise) and f_k the k-th model after ``epochs`` epochs of
a schedule that spans ``total_epochs``, evaluated on clean (unaugmented) inputs in eval mode.
Higher = larger error = harder. Range [0, sqrt(2)].

The paper's CIFAR-10 setting: K=10 models, scored at epoch t=20 of a 200-epoch ResNet-18 run. The defaults here are
scaled to mnist1d with a small probe (K=10, epoch 4 of a 40-epoch schedule: the same 10% point of the run).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from bench.defaults import metric_settings
from bench.metrics import METRIC_DEFAULTS, ScoreContext, register_metric
from bench.metrics.probe import check_int, check_probe_params, resolve_params, train_probe_ensemble

EL2N_DEFAULTS = metric_settings("el2n")  # conf/metric/el2n.yaml: the one source


def el2n_from_logits(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(K, N, C) logits, (N,) labels -> (N,) mean over models of ||softmax - onehot||_2."""
    prob = logits.float().softmax(-1)
    onehot = F.one_hot(y.long(), prob.shape[-1]).to(prob.dtype)
    return (prob - onehot).norm(dim=-1).mean(0)


METRIC_DEFAULTS["el2n"] = EL2N_DEFAULTS


@register_metric("el2n")
def el2n_scores(ctx: ScoreContext) -> np.ndarray:
    """EL2N scores of the pool (higher = harder); see the module docstring for the parameters."""
    p = resolve_params("el2n", ctx.params, EL2N_DEFAULTS)
    check_probe_params("el2n", p)
    k = check_int("el2n", p, "n_models", 1)
    t = check_int("el2n", p, "epochs", 1)
    total = check_int("el2n", p, "total_epochs", 1)
    ens, data = train_probe_ensemble(ctx, "el2n", p, k, t, total, tag="el2n")
    return el2n_from_logits(ens.logits(data, int(p["eval_batch_size"])), data.y).cpu().numpy().astype(np.float64)
