"""``margin``: pruning by the probe's margin in the teacher-student perceptron (Sorscher et al. 2022, appendix A).

score = -|z| with z = J_probe . x / |J_probe|: small margins are hard, so keep_hard keeps the smallest |z| and
keep_easy the largest, exactly the theory's rules. Needs ``dataset=perceptron`` (its probe is in ``splits.meta``).
"""

from __future__ import annotations

import numpy as np

from bench.metrics import ScoreContext, register_metric
from bench.theory.perceptron import probe_margins


@register_metric("margin", cache=False)
def margin_scores(ctx: ScoreContext) -> np.ndarray:
    probe = ctx.splits.meta.get("probe")
    if probe is None:
        raise ValueError(f"metric=margin needs dataset=perceptron (a probe); the dataset is {ctx.splits.name!r}")

    return -np.abs(probe_margins(ctx.splits.train_x[ctx.pool.ids].numpy(), probe))
