"""GraNd (Paul, Ganguli & Dziugaite, NeurIPS 2021): the norm of the per-example loss gradient.

``grand`` score of pool example i = mean over K probe models of || d loss(f_k(x_i), y_i) / d theta_k ||_2, with y_i
the pool's training label, on clean inputs, no dropout. Higher = larger gradient = harder.

Default = the paper's GraNd: at initialisation (``epochs: 0``), averaged over K = 10 independently initialised models
(Paul et al. score CIFAR-10 with 10 ResNet-18 initialisations). ``epochs: t > 0`` trains the K models for t epochs of a
``total_epochs`` schedule first (the paper's "GraNd after t epochs"; scores then read the trained models in eval mode,
BatchNorm with its running statistics from training).

BatchNorm at initialisation: the running statistics of a fresh model are 0 / 1, so an eval-mode network is not the one
training sees (training normalises with batch statistics). At ``epochs: 0`` every BatchNorm layer therefore normalises
with the pool's batch statistics: a copy of each model runs forward (BatchNorm in train mode, nothing else) over the
pool in seeded random mini-batches of ``batch_size`` (the probe training batch; the last partial batch is skipped when
there is a full one), its BatchNorm layers keep the average of those batch means and (unbiased) variances, and the
per-example gradients are taken with those statistics held fixed (the O(1/batch_size) path of the gradient through
the batch statistics is left out). The models themselves are untouched.

- Full gradients (``last_layer: false``): per-example gradients w.r.t. every parameter, vectorised with
  ``torch.func`` (``vmap(grad(loss))`` over examples, in chunks of ``chunk_size`` examples; 0 = sized from
  ``max_chunk_elements`` and the parameter count).
- ``last_layer: true``: the gradient w.r.t. the final linear layer only, in closed form: for logits = W h + b,
  dL/dW = (p - y) h^T and dL/db = p - y, so the norm is ||p - y|| * sqrt(||h||^2 + 1) (sqrt(.) -> ||h|| without a
  bias). Cheap for large models; needs a model whose output is its last nn.Linear.

At initialisation nothing is learned yet, so GraNd does not single out mislabelled examples: on a 4,000-example
mnist1d pool with 10% flipped labels it ranks them at chance (AUROC 0.52, mlp and cnn1d probes), against 0.81 / 0.94
for K=4 models after 4 of 40 epochs; set ``epochs`` for that trained-model variant.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn import functional as F

from bench.defaults import metric_settings
from bench.metrics import METRIC_DEFAULTS, ScoreContext, register_metric
from bench.metrics.probe import (
    MetricError,
    PoolData,
    build_members,
    check_int,
    check_probe_params,
    derive_seed,
    pool_data,
    resolve_params,
    train_ensemble,
)

# The paper's setting: at initialisation (epochs 0), averaged over 10 initialisations.
GRAND_DEFAULTS = metric_settings("grand")  # conf/metric/grand.yaml: the one source


def _batchnorms(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def with_pool_batch_statistics(model: nn.Module, data: PoolData, batch_size: int, seed: int) -> nn.Module:
    """A copy of ``model`` (eval mode) whose BatchNorm layers hold the pool's batch statistics: the average over
    seeded random mini-batches of ``batch_size`` pool examples of what train-mode BatchNorm normalises with. ``model``
    itself is untouched; a model without BatchNorm is returned as is."""
    if not _batchnorms(model):
        return model
    out = copy.deepcopy(model).eval()
    for bn in _batchnorms(out):
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches below
        bn.train()  # batch statistics; dropout and everything else stay in eval mode
    n = data.x.shape[0]
    g = torch.Generator().manual_seed(derive_seed(seed, "grand", "bn-stats"))
    order = torch.randperm(n, generator=g).to(data.x.device)
    bs = max(2, min(int(batch_size), n))
    n_batches = max(1, n // bs)  # full batches only (one partial batch when the pool is smaller than one)
    for i in range(n_batches):
        out(data.batch(order[i * bs : (i + 1) * bs]))
    return out.eval()


def per_example_grad_norms(model: nn.Module, data: PoolData, chunk_size: int) -> torch.Tensor:
    """(N,) norms of the per-example cross-entropy gradients w.r.t. the trainable parameters of ``model`` (eval mode)."""

    model.eval()
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = {k: v.detach() for k, v in model.named_buffers()}  # frozen parameters count as constants
    buffers.update({k: v.detach() for k, v in model.named_parameters() if not v.requires_grad})

    def loss_fn(p, x, y):
        out = functional_call(model, (p, buffers), (x.unsqueeze(0),))
        return F.cross_entropy(out.float(), y.unsqueeze(0))

    per_ex = vmap(grad(loss_fn), in_dims=(None, 0, 0))
    n = data.x.shape[0]
    out = []
    for i in range(0, n, chunk_size):
        pos = torch.arange(i, min(n, i + chunk_size), device=data.x.device)
        g = per_ex(params, data.batch(pos), data.y[pos])
        sq = sum(t.float().flatten(1).pow(2).sum(1) for t in g.values())
        out.append(sq.sqrt())
    return torch.cat(out)


def _last_linear(model: nn.Module) -> nn.Linear:
    lin = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not lin:
        raise MetricError("metric.last_layer=true needs a model with an nn.Linear output layer")
    return lin[-1]


@torch.no_grad()
def last_layer_grad_norms(model: nn.Module, data: PoolData, batch_size: int) -> torch.Tensor:
    """(N,) closed-form norms of the gradient w.r.t. the final linear layer: ||p - y|| * sqrt(||h||^2 + [bias])."""
    model.eval()
    head = _last_linear(model)
    seen: dict = {}
    hook = head.register_forward_hook(lambda m, inp, out: seen.update(h=inp[0], out=out))
    try:
        n = data.x.shape[0]
        out = []
        for i in range(0, n, batch_size):
            pos = torch.arange(i, min(n, i + batch_size), device=data.x.device)
            logits = model(data.batch(pos))
            if seen.get("out") is None or seen["out"].shape != logits.shape or not torch.equal(seen["out"], logits):
                raise MetricError(
                    "metric.last_layer=true needs a model whose output is its last nn.Linear layer; "
                    f"{type(model).__name__}'s is not"
                )
            h = seen["h"].float().flatten(1)
            err = logits.float().softmax(-1) - F.one_hot(data.y[pos], logits.shape[-1]).float()
            hsq = h.pow(2).sum(1) + (1.0 if head.bias is not None else 0.0)
            out.append(err.norm(dim=1) * hsq.sqrt())
        return torch.cat(out)
    finally:
        hook.remove()


METRIC_DEFAULTS["grand"] = GRAND_DEFAULTS


@register_metric("grand")
def grand_scores(ctx: ScoreContext) -> np.ndarray:
    """GraNd scores (mean per-example gradient norm; higher = harder)."""
    p = resolve_params("grand", ctx.params, GRAND_DEFAULTS)
    check_probe_params("grand", p)
    k = check_int("grand", p, "n_models", 1)
    t = check_int("grand", p, "epochs", 0)
    total = check_int("grand", p, "total_epochs", 1)
    chunk = check_int("grand", p, "chunk_size", 0)
    data = pool_data(ctx, "grand", use_augment=bool(p["augment"]))
    members = build_members(ctx.model, data.num_classes, data.input_shape, k, ctx.seed, "grand", data)
    members = [m.to(data.x.device) for m in members]
    if t > 0:
        members = train_ensemble(
            data,
            members,
            p,
            t,
            total,
            ctx.seed,
            "grand",
            progress=bool(ctx.progress),
            desc="grand",
            checkpoint=ctx.checkpoint,
        ).members
    else:  # at initialisation BatchNorm normalises with batch statistics, as in training
        members = [with_pool_batch_statistics(m, data, int(p["batch_size"]), ctx.seed) for m in members]
    if chunk == 0:
        n_params = sum(q.numel() for q in members[0].parameters())
        chunk = max(1, min(4096, int(p["max_chunk_elements"]) // max(n_params, 1)))
    norms = []
    it = members
    if ctx.progress and not p["last_layer"]:
        from tqdm.auto import tqdm

        it = tqdm(members, desc="grand: per-example gradients", leave=False)
    for m in it:
        m.eval()
        if p["last_layer"]:
            norms.append(last_layer_grad_norms(m, data, int(p["eval_batch_size"])))
        else:
            norms.append(per_example_grad_norms(m, data, chunk))
    return torch.stack(norms).mean(0).cpu().numpy().astype(np.float64)
