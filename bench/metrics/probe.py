"""Probe models for the training-based metrics (EL2N, GraNd, forgetting, memorization).

A metric trains an *ensemble* of K small probe models on the pool (or on one subset of the pool per member) and
reads scores off them. ``train_ensemble`` trains the K members **together**: their parameters and buffers are
stacked (``torch.func.stack_module_state``) and one ``vmap``-ed ``functional_call`` runs all K forward/backward
passes as batched tensor ops, so K models cost far less than K times one model on small networks. Each member still
has its own initialisation, its own data order, its own augmentation draws and (optionally) its own subset of the
pool; an element-wise optimiser (SGD, Adam, AdamW) on the stacked parameters is exactly K independent optimisers.
BatchNorm works in train mode because its running statistics are stacked too. Models that ``vmap`` cannot run fall
back (``vectorise: auto``) to training the members one after another on the same data streams; ``vectorise: false``
forces that path. Both paths give the same models up to floating-point rounding (and dropout draws).
Given a ``checkpoint`` (the score store's ``partial`` folder for the score being computed), the training saves its
progress (each finished member; the member group in training every ``train.checkpoint_every`` and on a SLURM
signal) and a rerun continues from it with the same models as an uninterrupted run.

Shared probe settings (every training-based metric accepts them, see ``PROBE_DEFAULTS``):

- ``optimizer`` (sgd | adam | adamw), ``lr``, ``momentum``, ``nesterov``, ``weight_decay`` (not on biases and
  norm parameters), ``batch_size``, ``schedule`` (cosine | linear | constant | multistep, over ``total_epochs``),
  ``warmup`` (fraction of the run), ``milestones``/``gamma`` (multistep),
- ``augment``: true = the dataset's own training augmentation (``splits.augment``), false = none,
- ``vectorise``: auto | true | false, ``eval_batch_size``.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bench.checkpoint import active_guard
from bench.defaults import metric_settings
from bench.errors import MetricError  # noqa: F401 (re-exported)
from bench.models import auto_channels_last, create_model, data_init_positions, init_from_data, needs_data_init
from bench.registry import Registry
from bench.train.data import augment as batch_augment
from bench.train.data import normalise
from bench.train.optim import SCHEDULES, lr_factor

log = logging.getLogger(__name__)

PROBE_DEFAULTS: dict[str, Any] = metric_settings("_probe_training")  # conf/metric/_probe_training.yaml: the one source
# Probe ensembles build their own optimisers (over the members' stacked, vmapped parameters): their registry; the
# schedules are the training loop's (bench.train.optim.SCHEDULES).
PROBE_OPTIMIZERS = Registry("metric.optimizer")
DEFAULT_PROBE_MODEL = {"name": "mlp"}
# Keys the harness may leave in a metric's config that are not metric settings.
_IGNORED_KEYS = ("name", "model", "cache")


def resolve_params(metric: str, params: Optional[dict], defaults: dict) -> dict:
    """``defaults`` updated with ``params``; an unknown key raises a MetricError naming the allowed keys."""
    params = dict(params or {})
    unknown = sorted(k for k in params if k not in defaults and k not in _IGNORED_KEYS)
    if unknown:
        raise MetricError(
            f"unknown setting(s) {', '.join(f'metric.{k}' for k in unknown)} for metric {metric!r}; "
            f"allowed: {', '.join(sorted(defaults))}"
        )
    out = {**defaults, **{k: v for k, v in params.items() if k not in _IGNORED_KEYS}}
    return out


def check_probe_params(metric: str, p: dict) -> None:
    """Validate the shared probe settings (raises MetricError before any training)."""
    for key, registry in (("optimizer", PROBE_OPTIMIZERS), ("schedule", SCHEDULES)):
        if p[key] not in registry:
            raise MetricError(
                f"metric.{key}={p[key]!r} is not allowed for {metric}; allowed: {', '.join(registry.names())}"
            )
    if str(p["vectorise"]).lower() not in ("auto", "true", "false"):
        raise MetricError(
            f"metric.vectorise={p['vectorise']!r} is not allowed for {metric}; allowed: auto, true, false"
        )
    for key in ("lr", "batch_size", "eval_batch_size"):
        if not float(p[key]) > 0:
            raise MetricError(f"metric.{key}={p[key]} is not allowed for {metric}: it must be > 0")


def check_int(metric: str, p: dict, key: str, low: int) -> int:
    v = p[key]
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
        raise MetricError(f"metric.{key}={v!r} is not allowed for {metric}: it must be an integer >= {low}")
    return int(v)


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from the run seed and string/int tags (stable across processes and platforms)."""

    ints = [
        abs(int(p))
        if isinstance(p, (int, np.integer))
        else int.from_bytes(hashlib.sha256(str(p).encode()).digest()[:8], "little")
        for p in parts
    ]
    return int(np.random.SeedSequence(ints).generate_state(1, dtype=np.uint64)[0] >> 1)


def probe_model_cfg(model: Optional[dict]) -> dict:
    """The probe model config: the context's model config, or a default MLP when the harness gave none."""
    cfg = dict(model or {})
    return cfg if cfg.get("name") else dict(DEFAULT_PROBE_MODEL)


def build_members(
    model_cfg: dict,
    num_classes: int,
    input_shape: Sequence[int],
    n_models: int,
    seed: int,
    tag: str,
    data: Optional[PoolData] = None,
) -> list[nn.Module]:
    """``n_models`` freshly initialised probe models, member k seeded by (seed, tag, k); global RNG untouched.
    Models with a data-dependent init (airbench's whitening layer) read up to 5,000 of ``data``'s pool images
    (clean, normalised; which ones depends on ``seed`` alone), the same for every member."""
    cfg = probe_model_cfg(model_cfg)
    name = cfg.pop("name")
    members = []
    for k in range(n_models):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(seed, tag, "init", k))
            members.append(create_model(name, num_classes, input_shape, **cfg))
    if data is not None:
        init_members_from_data(members, data, seed)
    return members


def init_members_from_data(members: Sequence[nn.Module], data: PoolData, seed: int) -> None:
    """Set the data-dependent part of each model (airbench's whitening layer) from up to 5,000 of ``data``'s pool
    images (clean, normalised; which ones depends on ``seed`` alone); models without one are left alone."""
    if not members or not needs_data_init(members[0]):
        return
    pos = torch.from_numpy(data_init_positions(int(data.x.shape[0]), seed)).to(data.x.device)
    inputs = data.batch(pos).float().cpu()
    for m in members:
        init_from_data(m, inputs)


@dataclass
class PoolData:
    """The pool's inputs (raw, on the device; normalised per batch) and training labels."""

    x: torch.Tensor
    y: torch.Tensor
    mean: Any
    std: Any
    augment_kind: str
    num_classes: int
    input_shape: tuple

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        return normalise(self.x[idx], self.mean, self.std)


def pool_data(ctx: Any, metric: str, use_augment: bool = True) -> PoolData:
    """The pool of ``ctx`` as device tensors; raises MetricError for datasets that are not in memory."""
    splits, pool = ctx.splits, ctx.pool
    if not splits.in_memory:
        raise MetricError(
            f"metric {metric} trains probe models on in-memory datasets only; dataset {splits.name} "
            f"is read from folders (use metric=file with precomputed scores, or an embedding metric)"
        )
    ids = torch.from_numpy(np.asarray(pool.ids, dtype=np.int64))
    dev = torch.device(ctx.device)
    return PoolData(
        x=splits.train_x[ids].to(dev),
        y=pool.y.to(dev).long(),
        mean=splits.mean,
        std=splits.std,
        augment_kind=splits.augment if use_augment else "none",
        num_classes=int(pool.num_classes),
        input_shape=tuple(splits.input_shape),
    )


def _param_groups(named: dict[str, torch.Tensor], weight_decay: float, stacked: bool) -> list[dict]:
    """Weight decay on weight matrices/kernels; none on biases and 1-D (norm) parameters."""
    decay, no_decay = [], []
    for _, p in named.items():
        ndim = p.ndim - (1 if stacked else 0)
        (decay if ndim > 1 else no_decay).append(p)
    return [
        g
        for g in ({"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0})
        if g["params"]
    ]


def _make_optimizer(groups: list[dict], p: dict) -> torch.optim.Optimizer:
    return PROBE_OPTIMIZERS.get(p["optimizer"])(groups, p)


@PROBE_OPTIMIZERS.register("sgd")
def _probe_sgd(groups: list[dict], p: dict) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        groups, lr=p["lr"], momentum=p["momentum"], nesterov=bool(p["nesterov"]) and p["momentum"] > 0
    )


@PROBE_OPTIMIZERS.register("adam")
def _probe_adam(groups: list[dict], p: dict) -> torch.optim.Optimizer:
    return torch.optim.Adam(groups, lr=p["lr"])


@PROBE_OPTIMIZERS.register("adamw")
def _probe_adamw(groups: list[dict], p: dict) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=p["lr"])


def lr_at(step: int, total: int, p: dict) -> float:
    return p["lr"] * lr_factor(
        step, total, p["schedule"], float(p["warmup"]), tuple(p["milestones"]), float(p["gamma"])
    )


# on_step(members, idx, weight, logits, y): members = the member indices in this call (all K when vectorised),
# idx (k, b) pool positions of the batch, weight (k, b) 1 for real entries and 0 for padding, logits (k, b, C)
# detached training-mode outputs on the (augmented) batch, y (k, b) labels.
StepHook = Callable[[Sequence[int], torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], None]


class Ensemble:
    """K trained probe models; ``logits(x)`` evaluates all of them (vmap-ed when trained vectorised)."""

    def __init__(self, members: list[nn.Module], vectorised: bool) -> None:
        self.members = members
        self.vectorised = vectorised

    def __len__(self) -> int:
        return len(self.members)

    @torch.no_grad()
    def logits(self, data: PoolData, batch_size: int = 1024, positions: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(K, N, C) eval-mode logits of the pool (or of ``positions``) on clean, normalised inputs."""
        n = data.x.shape[0] if positions is None else positions.numel()
        pos_all = torch.arange(n, device=data.x.device) if positions is None else positions
        for m in self.members:
            m.eval()
        if self.vectorised:
            params, buffers = torch.func.stack_module_state(self.members)
            base = copy.deepcopy(self.members[0]).to("meta").eval()

            def f(p, b, x):
                return torch.func.functional_call(base, (p, b), (x,))

            run = torch.func.vmap(f, in_dims=(0, 0, None))
            outs = [run(params, buffers, data.batch(pos_all[i : i + batch_size])) for i in range(0, n, batch_size)]
        else:
            outs = [
                torch.stack([m(data.batch(pos_all[i : i + batch_size])) for m in self.members])
                for i in range(0, n, batch_size)
            ]
        return torch.cat(outs, 1).float()


def _member_orders(
    gens: list[torch.Generator], subsets: list[torch.Tensor], spe: int, bs: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One epoch of per-member shuffled positions, (K, spe*bs) plus a validity mask.

    A member whose subset is shorter than the longest pads its epoch by repeating its own shuffled examples with
    weight 0 (so train-mode BatchNorm statistics only ever see the member's own examples)."""
    length = spe * bs
    orders, valid = [], []
    for g, sub in zip(gens, subsets):
        perm = sub[torch.randperm(sub.numel(), generator=g, device=g.device).to(sub.device)]
        reps = math.ceil(length / perm.numel())
        full = perm.repeat(reps)[:length]
        v = torch.zeros(length, dtype=torch.bool, device=sub.device)
        v[: perm.numel()] = True
        orders.append(full)
        valid.append(v)
    return torch.stack(orders), torch.stack(valid)


def _trim_last(idx: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop trailing columns that are padding for every member (the last, partial batch)."""
    keep = w.any(0)
    if bool(keep.all()):
        return idx, w
    last = int(torch.nonzero(keep).max()) + 1 if bool(keep.any()) else 0
    return idx[:, :last], w[:, :last]


def _cpu_channels_last(members: list[nn.Module], data: PoolData) -> bool:
    """Whether these probes train faster one at a time in channels_last here (bench.models.CPU_CHANNELS_LAST)."""
    dev = data.x.device.type
    return bool(members) and dev == "cpu" and auto_channels_last(members[0], dev, data.input_shape)


def _can_vmap(members: list[nn.Module], data: PoolData) -> Optional[str]:
    """None when a vmap-ed forward/backward works on these members, else the error message."""
    try:
        probe = [copy.deepcopy(m) for m in members[:2]]
        params, buffers = torch.func.stack_module_state(probe)
        base = copy.deepcopy(probe[0]).to("meta").train()
        xb = data.batch(torch.arange(min(4, data.x.shape[0]), device=data.x.device))
        xb = xb.unsqueeze(0).expand(len(probe), *xb.shape)
        out = torch.func.vmap(lambda p, b, x: torch.func.functional_call(base, (p, b), (x,)), randomness="different")(
            params, buffers, xb
        )
        out.float().sum().backward()
        return None
    except Exception as e:  # any failure means: train sequentially
        return f"{type(e).__name__}: {e}"


def train_ensemble(
    data: PoolData,
    members: list[nn.Module],
    p: dict,
    epochs: int,
    total_epochs: int,
    seed: int,
    tag: str,
    subsets: Optional[np.ndarray] = None,
    on_step: Optional[StepHook] = None,
    progress: bool = False,
    desc: str = "probe",
    checkpoint: Any = None,
) -> Ensemble:
    """Train ``members`` for ``epochs`` epochs of a schedule that spans ``total_epochs``; return the Ensemble.

    ``subsets``: optional (K, N) boolean mask, member k trains on the pool positions where ``subsets[k]``; an
    "epoch" is one pass over the largest subset. Member k's data order and augmentation come from its own
    generator seeded by (seed, tag, k), identical in the vectorised and the sequential path.
    ``checkpoint`` (a bench.checkpoint.EnsembleCheckpoint): save progress there (every finished member, on its
    schedule, on a signal) and continue from it, so that an interrupted scoring ends with the same models."""
    if epochs > total_epochs:
        raise MetricError(f"{desc}: scoring epoch {epochs} lies beyond total_epochs={total_epochs}")
    K, n = len(members), data.x.shape[0]
    subs = _member_subsets(subsets, K, n, data.x.device, desc)
    spe = math.ceil(max(s.numel() for s in subs) / int(p["batch_size"]))
    members = [m.to(data.x.device) for m in members]
    mode = str(p["vectorise"]).lower()
    # CPU models measured faster in channels_last (airbench) train one member at a time in that layout under auto
    channels_last = mode != "true" and _cpu_channels_last(members, data)
    vectorised = mode in ("auto", "true") and K > 1 and not channels_last
    if vectorised and mode == "auto":
        err = _can_vmap(members, data)
        if err is not None:
            warnings.warn(
                f"{desc}: cannot train the {K} probe models vectorised ({err}); training them one after "
                f"another instead",
                RuntimeWarning,
                stacklevel=2,
            )
            vectorised = False
    loop = _ProbeLoop(
        data, p, subs, spe, epochs, spe * int(total_epochs), seed, tag, on_step, desc, vectorised, channels_last
    )
    loop.attach(checkpoint, progress)
    try:
        if vectorised:
            loop.train_vectorised(members)
        else:
            loop.train_sequential(members)
    finally:
        loop.close()
    for m in members:
        m.eval()
    return Ensemble(members, vectorised)


def _member_subsets(subsets: Optional[np.ndarray], K: int, n: int, dev: torch.device, desc: str) -> list[torch.Tensor]:
    """Each member's pool positions (all of them without ``subsets``)."""
    if subsets is None:
        return [torch.arange(n, device=dev)] * K
    subsets = np.asarray(subsets, dtype=bool)
    if subsets.shape != (K, n):
        raise ValueError(f"subsets has shape {subsets.shape}, expected {(K, n)}")
    subs = [torch.from_numpy(np.flatnonzero(s)).to(dev) for s in subsets]
    if min(s.numel() for s in subs) == 0:
        raise MetricError(f"{desc}: a probe member got an empty subset of the pool")
    return subs


class _ProbeLoop:
    """The training loop of ``train_ensemble``, with its checkpoints: a member group ``ks`` (all K when
    vectorised, one member at a time otherwise) trains step by step; its state (parameters, optimiser, data
    generators, the epoch's order, the global RNG, the step hook's counters) can be saved after any step."""

    def __init__(
        self,
        data: PoolData,
        p: dict,
        subs: list,
        spe: int,
        epochs: int,
        total_steps: int,
        seed: int,
        tag: str,
        on_step: Optional[StepHook],
        desc: str,
        vectorised: bool,
        channels_last: bool = False,
    ) -> None:
        self.data, self.p, self.subs, self.spe, self.epochs = data, p, subs, spe, epochs
        self.total_steps, self.seed, self.tag, self.on_step, self.desc = total_steps, seed, tag, on_step, desc
        self.vectorised, self.bs, self.K = vectorised, int(p["batch_size"]), len(subs)
        self.gen_dev = data.x.device if data.x.device.type == "cuda" else torch.device("cpu")
        self.files, self.every, self.resume, self.bar = None, None, None, None
        self.finished: dict[int, dict] = {}
        self.channels_last = channels_last  # sequential members train in channels_last
        self._t_last = time.perf_counter()

    def attach(self, checkpoint: Any, progress: bool) -> None:
        """Use ``checkpoint`` (EnsembleCheckpoint or None), load the state to resume from, open the progress bar."""
        hook_ok = self.on_step is None or hasattr(self.on_step, "state_dict")
        if checkpoint is not None and hook_ok:  # a hook whose counters cannot be saved cannot be resumed
            self.files, self.every = checkpoint.files(self.tag), checkpoint.every
            self.resume = self._load()
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=self.epochs * self.spe * (1 if self.vectorised else self.K),
                desc=f"{self.desc} ({self.K} models{', vectorised' if self.vectorised else ''})",
                leave=False,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def _meta(self) -> dict:
        return {
            "tag": self.tag,
            "K": self.K,
            "n": int(self.data.x.shape[0]),
            "spe": self.spe,
            "epochs": self.epochs,
            "total_steps": self.total_steps,
            "vectorised": self.vectorised,
            "seed": int(self.seed),
        }

    def _load(self) -> Optional[dict]:
        found = self.files.latest(expect=self._meta())
        if found is None:
            return None
        state = torch.load(found[0], map_location="cpu", weights_only=False)
        self.finished = dict(state.get("finished") or {})
        log.warning(
            "%s: resuming the probe models from their checkpoint (%d of %d members finished, member group "
            "at step %s) in %s",
            self.desc,
            len(self.finished),
            self.K,
            state.get("step"),
            found[0],
        )
        return state

    def gens_for(self, ks: Sequence[int]) -> list[torch.Generator]:
        out = []
        for k in ks:
            g = torch.Generator(device=self.gen_dev)
            g.manual_seed(derive_seed(self.seed, self.tag, "order", k))
            out.append(g)
        return out

    def train_vectorised(self, members: list[nn.Module]) -> None:
        params, buffers = torch.func.stack_module_state(members)
        base = copy.deepcopy(members[0]).to("meta").train()
        fwd = torch.func.vmap(
            lambda pr, bu, x: torch.func.functional_call(base, (pr, bu), (x,)), randomness="different"
        )
        self.run(
            list(range(self.K)),
            lambda xb: fwd(params, buffers, xb),
            params,
            stacked=True,
            tensors={**{f"p.{k}": v for k, v in params.items()}, **{f"b.{k}": v for k, v in buffers.items()}},
        )
        with torch.no_grad():
            for k, m in enumerate(members):
                m.load_state_dict({**{n_: t[k] for n_, t in params.items()}, **{n_: t[k] for n_, t in buffers.items()}})

    def train_sequential(self, members: list[nn.Module]) -> None:
        for k, m in enumerate(members):
            if k in self.finished:  # trained before the interruption
                m.load_state_dict(self.finished[k])
                if self.bar is not None:
                    self.bar.update(self.epochs * self.spe)
                continue
            m.train()
            self.run(
                [k],
                self._forward(m),
                dict(m.named_parameters()),
                stacked=False,
                tensors=m.state_dict(keep_vars=True),
            )
            self.finished[k] = {n_: t.detach().cpu().clone() for n_, t in m.state_dict().items()}
            if self.files is not None and k < self.K - 1:  # save every finished member
                self.save(None, [k + 1])

    def _forward(self, m: nn.Module) -> Callable:
        """Member ``m``'s forward on a (1, b, ...) batch, in channels_last when the loop trains in it."""
        if not self.channels_last:
            return lambda xb: m(xb[0]).unsqueeze(0)
        m.to(memory_format=torch.channels_last)
        return lambda xb: m(xb[0].contiguous(memory_format=torch.channels_last)).unsqueeze(0)

    def run(self, ks: list[int], step_fn: Callable, params_for_opt: dict, stacked: bool, tensors: dict) -> None:
        """Train member group ``ks`` from the start, or from the resume state when it is this group's."""
        gens = self.gens_for(ks)
        opt = _make_optimizer(_param_groups(params_for_opt, float(self.p["weight_decay"]), stacked), self.p)
        pos = self._restore(ks, tensors, opt, gens)  # (epoch, step in epoch, steps done, order, valid, loss_sum)
        epoch0, s0, step, order, valid, loss_sum = pos
        guard = active_guard() if self.files is not None else None  # no checkpoints: a signal acts at once
        with guard.training() if guard is not None else contextlib.nullcontext():
            for epoch in range(epoch0, self.epochs):
                if order is None:
                    order, valid = _member_orders(gens, [self.subs[k] for k in ks], self.spe, self.bs)
                    loss_sum = torch.zeros((), device=self.data.x.device)
                for s in range(s0, self.spe):
                    loss_sum += self._step(ks, step_fn, opt, gens, order, valid, s, step)
                    step += 1
                    if s + 1 < self.spe and self._due(step):
                        self.save((ks, tensors, opt, gens, (epoch, s + 1, step, order, valid, loss_sum)), ks)
                if not bool(torch.isfinite(loss_sum)):
                    raise RuntimeError(
                        f"{self.desc}: probe training loss became NaN or infinite in epoch "
                        f"{epoch + 1} (lower metric.lr?)"
                    )
                order, valid, s0 = None, None, 0
                if epoch + 1 < self.epochs and self._due(step):
                    self.save((ks, tensors, opt, gens, (epoch + 1, 0, step, None, None, None)), ks)

    def _step(
        self,
        ks: list[int],
        step_fn: Callable,
        opt: torch.optim.Optimizer,
        gens: list,
        order: torch.Tensor,
        valid: torch.Tensor,
        s: int,
        step: int,
    ) -> torch.Tensor:
        """One optimiser step of group ``ks`` on batch ``s`` of the epoch's order; its (detached) loss."""
        data, bs = self.data, self.bs
        idx, w = _trim_last(order[:, s * bs : (s + 1) * bs], valid[:, s * bs : (s + 1) * bs])
        xb = data.batch(idx.reshape(-1)).view(len(ks), idx.shape[1], *data.x.shape[1:])
        if data.augment_kind != "none":
            xb = torch.stack([batch_augment(xb[j], data.augment_kind, gens[j]) for j in range(len(ks))])
        yb = data.y[idx]
        lr = lr_at(step, self.total_steps, self.p)
        for group in opt.param_groups:
            group["lr"] = lr
        logits = step_fn(xb)  # (k, b, C)
        ce = F.cross_entropy(logits.flatten(0, 1).float(), yb.reshape(-1), reduction="none").view(yb.shape)
        wf = w.float()
        loss = ((ce * wf).sum(1) / wf.sum(1).clamp_min(1.0)).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if self.on_step is not None:
            self.on_step(list(ks), idx, w, logits.detach(), yb)
        if self.bar is not None:
            self.bar.update(1)
        return loss.detach()

    def _due(self, step: int) -> bool:
        if self.files is None:
            return False
        guard = active_guard()
        if guard is not None and guard.requested is not None:
            return True
        return self.every is not None and self.every.due(step, self.spe, time.perf_counter() - self._t_last)

    def save(self, live: Optional[tuple], ks: list[int]) -> None:
        """Write the finished members and, when ``live`` = (ks, tensors, opt, gens, position) is given, the state
        of the group in training; then pass on a pending signal (see bench.checkpoint.PreemptionGuard)."""
        state: dict = {
            "finished": self.finished,
            "group": None,
            "step": None,
            "rng": _rng_state(),
            "hook": self.on_step.state_dict() if self.on_step is not None else None,
        }
        if live is not None:
            ks_, tensors, opt, gens, (epoch, s, step, order, valid, loss_sum) = live
            state.update(
                group=list(ks_),
                step=step,
                position=(epoch, s, step),
                order=order,
                valid=valid,
                loss_sum=loss_sum,
                tensors={k: v.detach().cpu().clone() for k, v in tensors.items()},
                opt=opt.state_dict(),
                gens=[g.get_state() for g in gens],
            )
        self.files.save(
            len(self.finished) * self.total_steps + (state["step"] or 0),
            lambda path: torch.save(state, path),
            self._meta(),
        )
        self._t_last = time.perf_counter()
        guard = active_guard()
        if guard is not None and guard.requested is not None:
            guard.after_checkpoint()

    def _restore(self, ks: list[int], tensors: dict, opt: torch.optim.Optimizer, gens: list) -> tuple:
        """Load the resume state into the group ``ks`` when it was saved for that group; its loop position."""
        st = self.resume
        if st is None or st.get("group") not in (None, list(ks)):
            return 0, 0, 0, None, None, None
        self.resume = None  # the first group trained after a resume: the interrupted one, or the next member
        _set_rng_state(st["rng"])
        if self.on_step is not None and st.get("hook") is not None:
            self.on_step.load_state_dict(st["hook"])
        if st.get("group") is None:
            return 0, 0, 0, None, None, None
        with torch.no_grad():
            for k, t in tensors.items():
                t.copy_(st["tensors"][k].to(t.device))
        opt.load_state_dict(st["opt"])
        for g, gs in zip(gens, st["gens"]):
            g.set_state(gs)
        epoch, s, step = st["position"]
        dev = self.data.x.device
        if self.bar is not None:
            self.bar.update(step)
        move = lambda t: None if t is None else t.to(dev)
        return epoch, s, step, move(st["order"]), move(st["valid"]), move(st["loss_sum"])


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def train_probe_ensemble(
    ctx: Any,
    metric: str,
    p: dict,
    n_models: int,
    epochs: int,
    total_epochs: int,
    tag: str,
    subsets: Optional[np.ndarray] = None,
    on_step: Optional[StepHook] = None,
    data: Optional[PoolData] = None,
) -> tuple[Ensemble, PoolData]:
    """Build ``n_models`` probe members from ``ctx.model`` and train them on ``ctx.pool`` (see train_ensemble)."""
    data = data or pool_data(ctx, metric, use_augment=bool(p["augment"]))
    members = build_members(ctx.model, data.num_classes, data.input_shape, n_models, ctx.seed, tag, data)
    ens = train_ensemble(
        data,
        members,
        p,
        epochs,
        total_epochs,
        ctx.seed,
        tag,
        subsets=subsets,
        on_step=on_step,
        progress=bool(ctx.progress),
        desc=metric,
        checkpoint=getattr(ctx, "checkpoint", None),
    )
    return ens, data
