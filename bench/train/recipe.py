"""Pieces of airbench94's recipe that live in the training loop (``train=airbench``): the lookahead (EMA) of the
weights, test-time augmentation, and the batch size of a small kept set.

- ``Lookahead``: every ``every`` optimiser steps, the average ``ema`` of every floating-point entry of the model's
  state (weights and BatchNorm statistics) moves toward the live model by ``1 - d`` and the live model is set to
  it, with ``d = decay ** every x (step / total) ** power`` (airbench: 0.95 ** 5 x (step/total) ** 3); at the last
  step the model is set to the average (``finish``).
- ``tta_logits``: airbench's test-time augmentation levels, 0 = none, 1 = the mean over the image and its mirror,
  2 = half that plus half the mean of the same over two 1-pixel translations (up-left, down-right, reflect padding).
- ``recipe_batch_size``: batch = min(``batch_size``, kept // ``min_batches``) (rounded down to a multiple of the
  processes): a small kept set still gets ``min_batches`` steps per epoch.
"""

from __future__ import annotations

from numbers import Real
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from bench.errors import ConfigError
from bench.train.data import AUGMENTS

TTA_LEVELS = (0, 1, 2)


class Lookahead:
    """airbench's ``LookaheadState``: an exponential average of the model's state, copied back into the model."""

    def __init__(self, every: int, decay: float, power: float) -> None:
        self.every, self.decay, self.power = int(every), float(decay), float(power)
        self.ema: Optional[dict[str, torch.Tensor]] = None

    def start(self, model: nn.Module) -> None:
        """Begin averaging from ``model``'s state (unless a checkpoint gave the average already)."""
        state = model.state_dict()
        if self.ema is None:
            self.ema = {k: v.detach().clone() for k, v in state.items() if v.is_floating_point()}
        else:
            self.ema = {k: v.to(state[k].device) for k, v in self.ema.items()}

    @torch.no_grad()
    def _blend(self, model: nn.Module, d: float) -> None:
        state = model.state_dict()
        for k, avg in self.ema.items():
            avg.lerp_(state[k], 1 - d)
            state[k].copy_(avg)

    def after_step(self, model: nn.Module, step: int, total: int) -> None:
        """Called after optimiser step ``step`` (1-based) of ``total``."""
        if self.ema is None:
            return
        if step % self.every == 0:
            self._blend(model, self.decay**self.every * (min(step, total) / max(total, 1)) ** self.power)
        if step >= total:
            self.finish(model)

    def finish(self, model: nn.Module) -> None:
        """Set the model to the average (airbench's update with decay 1 at the last step)."""
        if self.ema is not None:
            self._blend(model, 1.0)

    def state_dict(self) -> Optional[dict]:
        return None if self.ema is None else {k: v.detach().cpu().clone() for k, v in self.ema.items()}

    def load_state_dict(self, state: Optional[dict]) -> None:
        self.ema = None if state is None else {k: v.clone() for k, v in state.items()}


def _mirror(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return 0.5 * model(x) + 0.5 * model(x.flip(-1))


def tta_logits(model: nn.Module, x: torch.Tensor, level: int) -> torch.Tensor:
    """Logits of ``model`` on ``x`` (N, C, H, W) averaged over airbench's test-time augmentations of ``level``."""
    if level == 0:
        return model(x)
    logits = _mirror(model, x)
    if level == 1:
        return logits
    h, w = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    shifted = [padded[..., 0:h, 0:w], padded[..., 2 : h + 2, 2 : w + 2]]
    translated = torch.stack([_mirror(model, s.contiguous(memory_format=_fmt(x))) for s in shifted]).mean(0)
    return 0.5 * logits + 0.5 * translated


def _fmt(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format


def recipe_batch_size(batch_size: int, n_kept: int, min_batches: Optional[int], world: int = 1) -> int:
    """The batch a run uses: ``batch_size``, or with ``min_batches`` at most ``n_kept // min_batches`` (at least one
    example per process), rounded down to a multiple of ``world`` processes."""
    bs = int(batch_size)
    if min_batches:
        bs = min(bs, max(world, n_kept // int(min_batches)))
    return max(world, bs - bs % world)


def _number(v: object) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def validate_recipe(train: dict) -> None:
    """The airbench recipe's train settings (absent keys take their defaults): raise ConfigError naming the bad
    value and what is allowed. Cheap; runs before any data is built."""
    epochs = train.get("epochs")
    checks = [
        (_number(epochs) and epochs > 0, f"train.epochs={epochs!r} is not allowed: a positive number (9.9 = airbench)"),
    ]
    mb = train.get("min_batches")
    checks.append(
        (
            mb is None or (isinstance(mb, int) and not isinstance(mb, bool) and mb >= 1),
            f"train.min_batches={mb!r} is not allowed: a positive integer (batch = min(batch_size, kept // it)) "
            f"or null (the batch size as given)",
        )
    )
    aug = train.get("augment")
    checks.append((aug is None or aug in AUGMENTS, f"train.augment={aug!r}; allowed: null, {', '.join(AUGMENTS)}"))
    tta = train.get("tta", 0)
    checks.append((tta in TTA_LEVELS, f"train.tta={tta!r}; allowed: 0 (none), 1 (mirror), 2 (mirror + translate)"))
    every = train.get("lookahead_every", 0)
    checks.append(
        (
            isinstance(every, int) and not isinstance(every, bool) and every >= 0,
            f"train.lookahead_every={every!r} is not allowed: a non-negative integer of steps (0 = no lookahead)",
        )
    )
    for key, low, high in (
        ("lookahead_decay", 0.0, 1.0),
        ("lr_start_factor", 0.0, None),
        ("lr_end_factor", 0.0, None),
        ("bias_lr_scale", 0.0, None),
        ("lookahead_power", 0.0, None),
    ):
        v = train.get(key)
        ok = v is None or (_number(v) and v >= low and (high is None or v <= high))
        span = f"in [{low}, {high}]" if high is not None else f">= {low}"
        checks.append((ok, f"train.{key}={v!r} is not allowed: a number {span}"))
    for ok, msg in checks:
        if not ok:
            raise ConfigError(msg)
