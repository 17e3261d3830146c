"""The student's optimisers and learning-rate schedules, as registries (``train.optimizer``, ``train.schedule``).

``OPTIMIZERS``: name -> ``build(model, hp)`` returning a torch optimiser over the model's trainable parameters.
``SCHEDULES``: name -> ``factor(step, total, hp)``, the multiplier of every group's base learning rate at optimiser
step ``step`` (a float under InfoBatch's progress mapping) of ``total``. ``hp`` holds the train settings the module
was given (lr, momentum, nesterov, weight_decay, decay_norm_and_bias, warmup, milestones, gamma, batch_size,
bias_lr_scale, lr_start_factor, lr_end_factor). Config validation reads the allowed names from these registries, so a
new entry is allowed as soon as it is registered.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bench.registry import Registry

OPTIMIZERS = Registry("train.optimizer")
SCHEDULES = Registry("train.schedule")

_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def param_groups(model: nn.Module, weight_decay: float, decay_norm_and_bias: bool) -> list[dict]:
    """Weight decay on weights; none on biases and normalisation parameters unless asked (the paper's recipe)."""
    if decay_norm_and_bias:
        return [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": weight_decay}]
    decay, no_decay = [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            is_norm = isinstance(module, _NORMS)
            (no_decay if is_norm or name == "bias" or p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@OPTIMIZERS.register("sgd")
def sgd(model: nn.Module, hp: dict) -> torch.optim.Optimizer:
    groups = param_groups(model, hp["weight_decay"], hp["decay_norm_and_bias"])
    return torch.optim.SGD(
        groups, lr=hp["lr"], momentum=hp["momentum"], nesterov=bool(hp["nesterov"]) and hp["momentum"] > 0
    )


@OPTIMIZERS.register("adamw")
def adamw(model: nn.Module, hp: dict) -> torch.optim.Optimizer:
    return torch.optim.AdamW(param_groups(model, hp["weight_decay"], hp["decay_norm_and_bias"]), lr=hp["lr"])


@OPTIMIZERS.register("adam")
def adam(model: nn.Module, hp: dict) -> torch.optim.Optimizer:
    return torch.optim.Adam(param_groups(model, hp["weight_decay"], hp["decay_norm_and_bias"]), lr=hp["lr"])


def airbench_rates(lr: float, weight_decay: float, momentum: float, batch_size: int, bias_lr_scale: float) -> dict:
    """airbench94's decoupled hyperparameters as torch SGD settings for a loss that is the MEAN over a batch of
    ``batch_size`` (``lr`` and ``weight_decay`` are airbench's: per 1024 examples of a summed loss, with Nesterov
    momentum's step-size gain 1 + 1/(1 - momentum) divided out).

    airbench steps ``lr / (1024 (1 + 1/(1-m)))`` on the summed loss, i.e. ``batch_size`` times that on the mean
    loss (the same update), and decays each weight by ``weight_decay x batch_size / (1024 (1 + 1/(1-m)))`` per
    step (torch's coupled ``weight_decay`` = that / the group's lr). The BatchNorm biases take ``bias_lr_scale``
    times the learning rate and the same decay per step. Returns the two groups' (lr, weight_decay)."""
    kilostep = 1024 * (1 + 1 / (1 - momentum))
    lr_mean = lr / kilostep * batch_size
    decay_per_step = weight_decay * batch_size / kilostep
    lr_bias = lr_mean * bias_lr_scale
    return {
        "other": (lr_mean, decay_per_step / lr_mean),
        "norm_bias": (lr_bias, decay_per_step / lr_bias),
    }


@OPTIMIZERS.register("airbench_sgd")
def airbench_sgd(model: nn.Module, hp: dict) -> torch.optim.Optimizer:
    """airbench94's optimiser: Nesterov SGD in two groups, the BatchNorm biases (``bias_lr_scale`` x the learning
    rate) and every other trainable parameter, all decayed (``airbench_rates``)."""
    rates = airbench_rates(
        hp["lr"], hp["weight_decay"], hp["momentum"], int(hp["batch_size"]), float(hp.get("bias_lr_scale", 64.0))
    )
    norm_bias, other = [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if p.requires_grad:
                (norm_bias if isinstance(module, _NORMS) and name == "bias" else other).append(p)
    groups = [
        {"params": norm_bias, "lr": rates["norm_bias"][0], "weight_decay": rates["norm_bias"][1]},
        {"params": other, "lr": rates["other"][0], "weight_decay": rates["other"][1]},
    ]
    return torch.optim.SGD(
        [g for g in groups if g["params"]], lr=rates["other"][0], momentum=hp["momentum"], nesterov=True
    )


def _warm(schedule):
    """The classic schedules share a linear warm-up over the first ``warmup`` fraction of the run."""

    def factor(step: float, total: int, hp: dict) -> float:
        warmup = float(hp.get("warmup") or 0.0)
        if warmup > 0 and step / max(total, 1) < warmup:
            return (step + 1) / max(1.0, warmup * total)
        return schedule(step, total, hp)

    factor.__doc__ = schedule.__doc__
    return factor


def _after_warmup(step: float, total: int, hp: dict) -> float:
    warmup = float(hp.get("warmup") or 0.0)
    return (step / max(total, 1) - warmup) / max(1e-12, 1 - warmup)


@SCHEDULES.register("constant")
@_warm
def constant(step: float, total: int, hp: dict) -> float:
    return 1.0


@SCHEDULES.register("cosine")
@_warm
def cosine(step: float, total: int, hp: dict) -> float:
    return 0.5 * (1 + math.cos(math.pi * min(1.0, _after_warmup(step, total, hp))))


@SCHEDULES.register("linear")
@_warm
def linear(step: float, total: int, hp: dict) -> float:
    return max(0.0, 1 - _after_warmup(step, total, hp))


@SCHEDULES.register("multistep")
@_warm
def multistep(step: float, total: int, hp: dict) -> float:
    """A milestone ``m`` (a fraction of the run) decays the rate by ``gamma`` from step ``round(m * total)`` on."""
    # a milestone falls on the step nearest m x total: 6-decimal fractions such as 0.571429 (60/105) must not land
    # one step late
    return float(hp["gamma"]) ** sum(step >= round(m * total) for m in hp.get("milestones") or ())


@SCHEDULES.register("triangular")
def triangular(step: float, total: int, hp: dict) -> float:
    """airbench94's schedule: linear from ``lr_start_factor`` (0.2) to 1 over the first ``int(warmup x total)``
    steps (warmup 0.23), then linear down to ``lr_end_factor`` (0.07) at the last step."""
    start, end = float(hp.get("lr_start_factor", 0.2)), float(hp.get("lr_end_factor", 0.07))
    warm = int(total * float(hp.get("warmup") or 0.0))
    if step < warm:
        frac = step / warm
        return start * (1 - frac) + frac
    frac = (step - warm) / max(1, total - warm)
    return (1 - frac) + end * frac


def lr_factor(step: float, total: int, schedule: str, warmup: float, milestones: tuple, gamma: float) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` of ``total`` under ``schedule`` (a name in
    ``SCHEDULES``; unknown names raise ValueError listing the allowed ones). ``warmup`` and ``milestones`` are
    fractions of the whole run (so a compute-matched run stretches them)."""
    hp = {"warmup": warmup, "milestones": tuple(milestones), "gamma": gamma}
    return SCHEDULES.get(schedule)(step, total, hp)
