"""InfoBatch's epoch plans: unbiased rescaling, annealing on all data, scores from training losses, bad input."""

from __future__ import annotations

import pytest
import torch

from bench.train.infobatch import InfoBatch, validate_infobatch


def _with_scores(n=1000, ratio=0.5, epochs=8, seed=0):
    ib = InfoBatch(n, epochs, ratio=ratio, delta=0.875, seed=seed)
    losses = torch.linspace(0.01, 2.0, n)  # a fixed batch of per-example losses
    ib.update(torch.arange(n), losses)
    return ib, losses


def test_rescaled_loss_is_unbiased_on_a_fixed_batch():
    """E[sum of weighted kept losses] = sum of all losses: skipped low-loss examples are made up by 1/(1-r)."""
    ib, losses = _with_scores(ratio=0.5)
    totals = []
    for _ in range(400):
        pos, w = ib.plan(epoch=0)
        totals.append(float((losses[pos] * w).sum()))
    full = float(losses.sum())
    mean = sum(totals) / len(totals)
    se = torch.tensor(totals).std().item() / len(totals) ** 0.5
    assert abs(mean - full) < 4 * se and abs(mean - full) / full < 0.01


def test_only_below_mean_examples_are_pruned_and_reweighted():
    ib, losses = _with_scores(ratio=0.3)
    pos, w = ib.plan(epoch=0)
    low = losses < losses.mean()
    assert torch.all(torch.isin(torch.nonzero(~low).squeeze(1), pos))  # every hard example is kept
    assert torch.allclose(w[low[pos]], torch.tensor(1 / 0.7)) and torch.all(w[~low[pos]] == 1.0)
    n_low = int(low.sum())
    assert 0.2 * n_low < n_low - int(low[pos].sum()) < 0.4 * n_low  # about 30% of them skipped


def test_annealing_uses_all_data_in_the_last_epochs():
    ib, _ = _with_scores(epochs=8)  # delta 0.875: epochs 0-6 prune, epoch 7 anneals
    assert [ib.prunes(e) for e in range(8)] == [True] * 7 + [False]
    pos, w = ib.plan(epoch=7)
    assert len(pos) == 1000 and torch.all(w == 1.0) and len(set(pos.tolist())) == 1000


def test_first_epoch_sees_everything_and_unseen_examples_are_never_skipped():
    ib = InfoBatch(50, 4, ratio=0.9)
    pos, w = ib.plan(epoch=0)
    assert sorted(pos.tolist()) == list(range(50)) and torch.all(w == 1.0)  # no losses yet: nothing to prune by
    seen = pos[:20]
    losses = torch.linspace(0.1, 2.0, 20)
    ib.update(seen, losses)  # the training forward pass's losses become the scores of exactly these examples
    low = seen[losses < losses.mean()]  # below the mean of the seen examples' losses
    for epoch in (1, 2):
        pos, w = ib.plan(epoch)
        skipped = set(range(50)) - set(pos.tolist())
        assert skipped and skipped <= set(low.tolist())  # only seen, below-mean examples are skipped
        assert torch.allclose(w[torch.isin(pos, low)], torch.tensor(10.0)) and torch.all(
            w[~torch.isin(pos, low)] == 1.0
        )
    state = ib.state_dict()
    ib2 = InfoBatch(50, 4, ratio=0.9)
    ib2.load_state_dict(state)
    assert torch.equal(ib2.plan(1)[0], ib.plan(1)[0])  # same scores and generator: same plan
    ib3 = InfoBatch(50, 4, ratio=0.9)
    ib3.load_state_dict({**state, "scores": torch.full((50,), float("inf"))})
    assert len(ib3.plan(1)[0]) == 50  # the scores travel with the state: without them nothing is skipped


@pytest.mark.parametrize(
    "ratio,delta,n,bs,msg",
    [
        (1.0, 0.875, 100, 10, "prune.ratio=1.0"),
        (-0.1, 0.875, 100, 10, "prune.ratio=-0.1"),
        (0.5, 0.0, 100, 10, "prune.delta=0.0"),
        (0.5, 1.5, 100, 10, "prune.delta=1.5"),
        (0.5, 0.875, 50, 128, "smaller than one batch"),
    ],
)
def test_bad_settings_are_refused(ratio, delta, n, bs, msg):
    with pytest.raises(ValueError, match=msg):
        validate_infobatch(ratio, delta, n, bs)
