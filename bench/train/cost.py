"""The student's training compute: FLOPs per trained example, counted by torch's ``FlopCounterMode``.

One forward + backward pass of a copy of the model (in training mode, on the CPU, before training) on a batch of
``batch`` random inputs, with the cross-entropy loss, divided by ``batch``: the FLOPs of one trained example.
``train_flops = flops_per_example x examples_seen`` then counts every trained example exactly (partial batches and
dynamically pruned epochs included) rather than steps x batch size. The convention is torch's: matrix products and
convolutions, 2 FLOPs per multiply-add; normalisation, activations and the optimiser update are not counted.
"""

from __future__ import annotations

import copy
import logging
from typing import Optional

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

log = logging.getLogger(__name__)

__all__ = ["flops_per_example"]


def flops_per_example(
    model: nn.Module, input_shape: tuple[int, ...], num_classes: int, batch: int = 2
) -> Optional[float]:
    """Forward + backward FLOPs of one training example of ``model`` on inputs of ``input_shape`` (without the
    batch dimension), or None where the model cannot be counted (the reason is logged)."""

    try:
        with torch.random.fork_rng(devices=[]):  # the run's random draws (dropout...) stay those of an uncounted run
            probe = copy.deepcopy(model).to("cpu").train()
            x = torch.randn(batch, *input_shape)
            y = torch.arange(batch) % max(1, int(num_classes))
            with FlopCounterMode(display=False) as counter:
                loss = nn.functional.cross_entropy(probe(x), y)
                loss.backward()
            total = counter.get_total_flops()
    except Exception as e:  # a model the counter cannot trace: the record says None
        log.warning("could not count the student's FLOPs (%s: %s); train_flops will be null", type(e).__name__, e)
        return None
    return float(total) / batch if total else None
