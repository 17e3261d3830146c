"""Pruning metrics: real (tiny) probe trainings on digits; behaviour a user relies on.

- the training-based metrics (EL2N, GraNd, forgetting, memorization) rank injected label noise as hard;
- the vectorised ensemble trains the same models as the sequential fallback, members keep to their own subsets;
- prototype metrics: duplicates are the easiest for SSP, an example at its class mean the easiest for supervised
  prototypes; the checkpoint encoder returns penultimate features;
- same seed -> identical scores; the file metric round-trips ids and rejects bad files;
- the score store computes once under concurrency and recomputes a corrupt file.
"""

from __future__ import annotations

import copy
import multiprocessing as mp
import time
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from bench.data import Pool, Splits, build_dataset, make_pool
from bench.metrics import METRICS, ScoreContext, compute_scores
from bench.metrics.probe import MetricError
from bench.scores import ScoreStore

torch.set_num_threads(1)

TINY_MLP = {"name": "mlp", "hidden": [64]}


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counted half."""
    labels = np.asarray(labels, bool)
    pos, neg = scores[labels], scores[~labels]
    gt = (pos[:, None] > neg[None]).mean()
    eq = (pos[:, None] == neg[None]).mean()
    return float(gt + 0.5 * eq)


@pytest.fixture(scope="module")
def digits() -> Splits:
    return build_dataset("digits")


@pytest.fixture(scope="module")
def noisy_pool(digits) -> Pool:
    return make_pool(digits, 800, seed=0, label_noise=0.1)


def score(name: str, splits: Splits, pool: Pool, params: dict, seed: int = 0, model=None) -> np.ndarray:
    ctx = ScoreContext(splits, pool, params, seed, model=dict(model or TINY_MLP), progress=False)
    s = np.asarray(METRICS.get(name)(ctx), dtype=np.float64)
    assert s.shape == (len(pool),) and np.isfinite(s).all()
    return s


def assert_noise_ranked_hard(pool: Pool, s: np.ndarray, min_auroc: float, min_top: float) -> None:
    """AUROC of noisy-vs-clean and the share of flipped examples among the top len(noisy) scores."""
    a = auroc(pool.noisy, s)
    k = int(pool.noisy.sum())
    top = np.argsort(-s, kind="stable")[:k]
    share = pool.noisy[top].mean()
    assert a > min_auroc and share > min_top, f"auroc {a:.3f}, flipped share of top-{k} {share:.2f}"


# ------------------------------------------------------------------------------------------------- label noise


def test_el2n_ranks_flipped_labels_hard(digits, noisy_pool):
    s = score("el2n", digits, noisy_pool, dict(n_models=4, epochs=3, total_epochs=30, batch_size=32))
    assert_noise_ranked_hard(noisy_pool, s, 0.95, 0.8)
    assert s.min() >= 0 and s.max() <= np.sqrt(2) + 1e-6


def test_grand_ranks_flipped_labels_hard(digits, noisy_pool):
    # the trained-model variant (epochs > 0): at initialisation nothing is learned, so noise is not singled out
    s = score("grand", digits, noisy_pool, dict(n_models=2, epochs=3, total_epochs=30, batch_size=32))
    assert_noise_ranked_hard(noisy_pool, s, 0.95, 0.7)
    s_last = score(
        "grand", digits, noisy_pool, dict(n_models=2, epochs=3, total_epochs=30, batch_size=32, last_layer=True)
    )
    assert_noise_ranked_hard(noisy_pool, s_last, 0.95, 0.7)


def test_forgetting_ranks_flipped_labels_hard(digits, noisy_pool):
    s = score("forgetting", digits, noisy_pool, dict(epochs=20, batch_size=32, lr=0.1))
    assert_noise_ranked_hard(noisy_pool, s, 0.9, 0.7)
    assert np.allclose(s, np.round(s)) and s.min() == 0 and s.max() <= 20 // 2 + 1


def test_memorization_ranks_flipped_labels_hard(digits, noisy_pool):
    from bench.metrics.memorization import memorization_estimate

    params = dict(n_models=8, subset_fraction=0.625, epochs=60, batch_size=32, lr=0.2, weight_decay=0.0, min_count=3)
    ctx = ScoreContext(digits, noisy_pool, params, 0, model={"name": "mlp", "hidden": [256]}, progress=False)
    est = memorization_estimate(ctx)
    assert (est.n_in == 5).all() and (est.n_out == 3).all()  # balanced: every example in exactly 5 of 8 subsets
    assert_noise_ranked_hard(noisy_pool, est.mem, 0.95, 0.6)  # mem ties at 1.0
    assert est.acc_in[noisy_pool.noisy].mean() > 0.8  # the models memorise the flipped labels they saw...
    assert est.acc_out[noisy_pool.noisy].mean() < 0.1  # ...and never predict them otherwise


# ------------------------------------------------------------------------------------------------ unit pieces


def test_forgetting_tracker_counts_transitions():
    from bench.metrics.forgetting import ForgettingTracker

    # example 0: 0 1 0 1 1 0 -> forgotten twice; example 1: never correct; example 2: always correct
    pattern = torch.tensor([[0, 0, 1], [1, 0, 1], [0, 0, 1], [1, 0, 1], [1, 0, 1], [0, 0, 1]], dtype=torch.bool)
    tr = ForgettingTracker(1, 3, torch.device("cpu"))
    y = torch.zeros(1, 3, dtype=torch.long)
    for row in pattern:
        logits = torch.stack([row.float(), 1 - row.float()], -1)[None]  # class 0 wins where correct
        tr([0], torch.arange(3)[None], torch.ones(1, 3, dtype=torch.bool), logits, y)
    assert tr.scores(never_learned=4.0).tolist() == [2.0, 4.0, 0.0]


@pytest.mark.filterwarnings("ignore:memorization. the subset models reach")
def test_memorization_estimate_and_warning(digits):
    from bench.metrics.memorization import balanced_subsets, estimate_memorization

    sub = balanced_subsets(10, 50, 0.7, seed=0)
    assert (sub.sum(0) == 7).all() and not np.array_equal(sub[:, 0], sub[:, 1])
    correct = np.array([[1, 1], [1, 0], [0, 0]])
    subsets = np.array([[1, 1], [1, 0], [0, 1]], bool)
    est = estimate_memorization(correct, subsets)
    assert est.mem.tolist() == [1.0, 0.5] and est.n_in.tolist() == [2, 2] and est.n_out.tolist() == [1, 1]
    pool = make_pool(digits, 100, seed=0)
    with pytest.warns(RuntimeWarning, match="min_count"):
        score("memorization", digits, pool, dict(n_models=3, subset_fraction=0.5, epochs=1))


def test_memorization_default_resolution():
    """The default ensemble holds every example out of at least min_count >= 10 models (acc_out in steps <= 0.1);
    fewer held-out models warn."""
    from bench.metrics.memorization import (
        MEMORIZATION_DEFAULTS,
        balanced_subsets,
        estimate_memorization,
        resolution_info,
    )

    d = MEMORIZATION_DEFAULTS
    sub = balanced_subsets(d["n_models"], 500, d["subset_fraction"], seed=0)
    info = resolution_info(estimate_memorization(np.zeros(sub.shape), sub))
    assert d["min_count"] >= 10 and info["models_out_min"] >= d["min_count"] and info["acc_out_step"] <= 0.1
    assert info["models_in_min"] >= d["min_count"] and info["n_models"] == d["n_models"]
    assert info["models_out_min"] == info["models_out_median"] == info["models_out_max"]  # balanced
    sub = balanced_subsets(8, 20, 0.625, seed=0)
    info = resolution_info(estimate_memorization(np.zeros(sub.shape), sub))
    assert (info["models_in_min"], info["models_out_min"], info["acc_out_step"]) == (5, 3, pytest.approx(1 / 3))


@pytest.mark.filterwarnings("ignore:memorization")
def test_memorization_resolution_reaches_the_record_and_survives_the_cache():
    from conftest import TINY_MNIST1D, compose

    from bench.run import run_pipeline

    cfg = compose(
        [
            *TINY_MNIST1D,
            "metric=memorization",
            "metric.n_models=4",
            "metric.epochs=1",
            "metric.min_count=1",
            "prune.keep=0.5",
            "dry_run=true",
        ]
    )
    first, again = run_pipeline(cfg), run_pipeline(cfg)
    assert first["scores_computed_now"] and not again["scores_computed_now"]
    for rec in (first, again):  # 4 models on 70% subsets: each example in 3, held out of 1
        info = rec["extra"]["metric_info"]
        assert (info["n_models"], info["models_in_min"], info["models_out_min"]) == (4, 3, 1)
        assert info["acc_out_step"] == 1.0


def test_last_layer_closed_form_matches_autograd(digits):
    from bench.metrics.grand import last_layer_grad_norms, per_example_grad_norms
    from bench.metrics.probe import PoolData

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    x, y = digits.train_x[:20], digits.train_y[:20]
    data = PoolData(x, y, None, None, "none", 10, (1, 8, 8))
    closed = last_layer_grad_norms(model, data, 7)
    for p in model[1].parameters():  # the full gradient norm restricted to the head = the closed form
        p.requires_grad_(False)
    full_head_only = per_example_grad_norms(model, data, 6)
    assert torch.allclose(closed, full_head_only, atol=1e-5)


def _autograd_grad_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example gradient norms, one autograd call per example (the reference for the vectorised code)."""
    params = [q for q in model.parameters() if q.requires_grad]
    out = []
    for i in range(len(x)):
        g = torch.autograd.grad(nn.functional.cross_entropy(model(x[i : i + 1]), y[i : i + 1]), params)
        out.append(torch.sqrt(sum(t.pow(2).sum() for t in g)))
    return torch.stack(out).detach()


def _grand_setup(digits, pool, model, n_models):
    from bench.metrics.probe import build_members, pool_data

    data = pool_data(ScoreContext(digits, pool, {}, 0, model=model, progress=False), "grand")
    x = data.batch(torch.arange(len(pool)))
    return data, x, data.y, build_members(model, 10, digits.input_shape, n_models, 0, "grand")


def test_grand_default_is_at_initialisation_averaged_over_models(digits):
    """Default GraNd = the paper's: untrained models, the mean over the K initialisations. For a linear softmax
    model the per-example gradient norm is known in closed form: ||softmax(Wx + b) - onehot(y)|| * sqrt(||x||^2 + 1)."""
    from bench.metrics import metric_defaults

    model = {"name": "mlp", "hidden": []}
    pool = make_pool(digits, 120, seed=0)
    k = metric_defaults("grand")["n_models"]
    _, x, y, members = _grand_setup(digits, pool, model, k)
    with torch.no_grad():
        closed = [
            (m(x).softmax(-1) - nn.functional.one_hot(y, 10)).norm(dim=1) * (x.flatten(1).pow(2).sum(1) + 1).sqrt()
            for m in members
        ]
    s = score("grand", digits, pool, {}, model=model)
    assert np.allclose(s, torch.stack(closed).mean(0).numpy(), rtol=1e-4)
    assert not np.allclose(s, closed[0].numpy(), rtol=1e-2)  # K different initialisations, averaged


def test_grand_at_init_uses_batch_statistics_in_batchnorm(digits):
    """A fresh BatchNorm holds running statistics 0 / 1, which is not the network training sees. GraNd at init scores
    with the pool's batch statistics: a reference that sets every BatchNorm layer to the mean / variance of its inputs
    over the pool (one train-mode pass read by hooks) gives the same norms; the 0 / 1 statistics give others; the
    models themselves are left as they were."""
    from bench.metrics.grand import with_pool_batch_statistics

    model = {"name": "cnn1d", "channels": 8, "n_layers": 2}
    pool = make_pool(digits, 96, seed=0)
    data, x, y, members = _grand_setup(digits, pool, model, 2)
    s = score("grand", digits, pool, dict(n_models=2, epochs=0, batch_size=96), model=model)  # one batch = the pool
    ref, stale = [], []
    for m in members:
        before, mode = {k: v.clone() for k, v in m.state_dict().items()}, m.training
        with_pool_batch_statistics(m, data, 96, 0)
        assert m.training == mode and all(torch.equal(v, before[k]) for k, v in m.state_dict().items())
        stale.append(_autograd_grad_norms(m.eval(), x, y))
        r = copy.deepcopy(m)
        bns = [b for b in r.modules() if isinstance(b, nn.BatchNorm1d)]
        seen = {}
        hooks = [
            b.register_forward_pre_hook(lambda mod, a, seen=seen: seen.__setitem__(mod, a[0].detach())) for b in bns
        ]
        with torch.no_grad():
            r.train()(x)
        for h in hooks:
            h.remove()
        for b, h in seen.items():
            b.running_mean.copy_(h.mean((0, 2)))
            b.running_var.copy_(h.var((0, 2), unbiased=True))
        ref.append(_autograd_grad_norms(r.eval(), x, y))
    assert len(seen) == 2 and np.allclose(s, torch.stack(ref).mean(0).numpy(), rtol=1e-4, atol=1e-6)
    assert np.abs(s / torch.stack(stale).mean(0).numpy() - 1).mean() > 0.05


def test_vectorised_ensemble_matches_sequential(digits, noisy_pool):
    # cnn1d has BatchNorm: its running statistics are stacked and updated under vmap.
    model = {"name": "cnn1d", "channels": 8, "n_layers": 2}
    params = dict(n_models=3, epochs=2, total_epochs=10, batch_size=64)
    pool = make_pool(digits, 300, seed=1, label_noise=0.1)
    a = score("el2n", digits, pool, {**params, "vectorise": "true"}, model=model)
    b = score("el2n", digits, pool, {**params, "vectorise": "false"}, model=model)
    assert np.abs(a - b).max() < 1e-3


def test_members_train_on_their_own_subsets(digits):
    from bench.metrics.probe import PROBE_DEFAULTS, build_members, pool_data, train_ensemble

    pool = make_pool(digits, 200, seed=0)
    ctx = ScoreContext(digits, pool, {}, 0, model=TINY_MLP, progress=False)
    data = pool_data(ctx, "test")
    rng = np.random.default_rng(0)
    subsets = rng.random((3, 200)) < np.array([[0.3], [0.6], [0.9]])  # three different subset sizes
    seen = np.zeros((3, 200), int)

    def hook(ks, idx, w, logits, y):
        for j, k in enumerate(ks):
            np.add.at(seen[k], idx[j][w[j]].numpy(), 1)

    members = build_members(TINY_MLP, 10, digits.input_shape, 3, 0, "t")
    train_ensemble(data, members, dict(PROBE_DEFAULTS, batch_size=32), 2, 2, 0, "t", subsets=subsets, on_step=hook)
    assert (seen[~subsets] == 0).all() and (seen[subsets] == 2).all()  # each own example once per epoch


def test_same_seed_same_scores(digits, noisy_pool):
    params = dict(n_models=2, epochs=2, total_epochs=20, batch_size=64)
    a = score("el2n", digits, noisy_pool, params, seed=3)
    b = score("el2n", digits, noisy_pool, params, seed=3)
    c = score("el2n", digits, noisy_pool, params, seed=4)
    assert np.array_equal(a, b) and not np.allclose(a, c)
    f1 = score("forgetting", digits, noisy_pool, dict(epochs=3), seed=3)
    f2 = score("forgetting", digits, noisy_pool, dict(epochs=3), seed=3)
    assert np.array_equal(f1, f2)


def test_bad_settings_raise_before_training(digits, noisy_pool):
    with pytest.raises(MetricError, match="n_modles.*allowed: .*n_models"):
        score("el2n", digits, noisy_pool, dict(n_modles=3))
    with pytest.raises(MetricError, match="optimizer"):
        score("el2n", digits, noisy_pool, dict(optimizer="lbfgs"))
    with pytest.raises(MetricError, match="subset_fraction"):
        score("memorization", digits, noisy_pool, dict(subset_fraction=1.0))
    with pytest.raises(MetricError, match="encoder"):
        score("ssp", digits, noisy_pool, dict(encoder="swav"))
    with pytest.raises(MetricError, match="checkpoint"):
        score("ssp", digits, noisy_pool, dict(encoder="checkpoint"))


# ----------------------------------------------------------------------------------------------------- prototypes


def _custom_splits(x: torch.Tensor, y: torch.Tensor, like: Splits) -> tuple[Splits, Pool]:
    splits = Splits(
        name="custom",
        num_classes=like.num_classes,
        input_shape=like.input_shape,
        train_x=x,
        train_y=y,
        test_x=like.test_x,
        test_y=like.test_y,
    )
    return splits, make_pool(splits, None, seed=0)


def test_ssp_scores_duplicates_easiest(digits):
    rng = np.random.default_rng(0)
    base = rng.choice(digits.n_train, 300, replace=False)
    dup_src = base[:3]  # three examples, each repeated 40 times: dense clusters a centroid sits on
    ids = np.concatenate([base, np.repeat(dup_src, 40)])
    splits, pool = _custom_splits(digits.train_x[ids], digits.train_y[ids], digits)
    s = score("ssp", splits, pool, dict(encoder="pixels", k=10))
    dup = np.zeros(len(ids), bool)
    dup[300:] = True
    dup[:3] = True
    assert s[dup].max() < np.quantile(s[~dup], 0.1), (s[dup].max(), np.quantile(s[~dup], 0.1))
    # labels are not used: shuffling them leaves SSP unchanged
    pool2 = Pool(pool.ids, pool.y[torch.randperm(len(pool))], pool.clean_y, pool.noisy, pool.num_classes)
    assert np.allclose(score("ssp", splits, pool2, dict(encoder="pixels", k=10)), s)


def test_supervised_prototype_at_class_mean_scores_lowest(digits):
    from torch.nn import functional as F

    x, y = digits.train_x[:400].clone(), digits.train_y[:400].clone()
    cls = 3
    members = x[y == cls].flatten(1)
    centre = F.normalize(members, dim=1).mean(0)  # the class's mean normalised embedding (pixel encoder)
    x = torch.cat([x, centre.view(1, *x.shape[1:])])
    y = torch.cat([y, torch.tensor([cls])])
    splits, pool = _custom_splits(x, y, digits)
    s = score("supervised_prototypes", splits, pool, dict(encoder="pixels"))
    assert s[-1] < 1e-6 and s.argmin() == len(s) - 1
    assert (s[:-1] > 1e-4).all()


def test_simclr_encoder_runs_and_is_deterministic(digits):
    pool = make_pool(digits, 200, seed=0)
    params = dict(encoder="simclr", ssl_epochs=2, ssl_batch_size=64, feature_dim=16, proj_dim=8, k=5)
    a = score("ssp", digits, pool, params)
    b = score("ssp", digits, pool, params)
    assert np.array_equal(a, b) and a.std() > 0 and (a >= 0).all() and (a <= 2).all()
    sp = score("supervised_prototypes", digits, pool, {k: v for k, v in params.items() if k != "k"})
    assert sp.std() > 0


def test_checkpoint_encoder_gives_penultimate_features(digits, tmp_path):
    from bench.metrics.embed import EMBED_DEFAULTS, embed_pool
    from bench.models import create_model

    torch.manual_seed(0)
    net = create_model("mlp", 10, digits.input_shape, hidden=[32])
    path = tmp_path / "backbone.pt"
    torch.save({"state_dict": net.state_dict()}, path)
    pool = make_pool(digits, 50, seed=0)
    ctx = ScoreContext(digits, pool, {}, 0, progress=False)
    p = dict(EMBED_DEFAULTS, encoder="checkpoint", checkpoint=str(path), arch="mlp", arch_kwargs={"hidden": [32]})
    z = embed_pool(ctx, p, "ssp")
    with torch.no_grad():
        h = net[:3](digits.train_x[torch.from_numpy(pool.ids)])  # flatten, linear, relu: the head's input
    assert torch.allclose(z, torch.nn.functional.normalize(h, dim=1), atol=1e-5)


def test_spherical_kmeans_recovers_separated_clusters():
    from bench.metrics.embed import spherical_kmeans

    g = torch.Generator().manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(4, 16, generator=g), dim=1)
    z = torch.nn.functional.normalize(
        centres.repeat_interleave(25, 0) + 0.05 * torch.randn(100, 16, generator=g), dim=1
    )
    _, assign = spherical_kmeans(z, 4, seed=0)
    truth = torch.arange(4).repeat_interleave(25)
    for c in range(4):  # every true cluster maps to a single k-means cluster
        assert assign[truth == c].unique().numel() == 1
    assert assign.unique().numel() == 4


# -------------------------------------------------------------------------------------------------- file metric


def test_file_metric_round_trips_ids(digits, tmp_path):
    pool = make_pool(digits, 300, seed=0)
    per_train = np.random.default_rng(0).random(digits.n_train)
    np.save(tmp_path / "train.npy", per_train)
    assert np.array_equal(score("file", digits, pool, dict(path=str(tmp_path / "train.npy"))), per_train[pool.ids])
    np.save(tmp_path / "pool.npy", per_train[:300])
    assert np.array_equal(score("file", digits, pool, dict(path=str(tmp_path / "pool.npy"))), per_train[:300])
    # CSV: shuffled rows, extra rows for examples outside the pool, custom column names
    order = np.random.default_rng(1).permutation(digits.n_train)
    lines = ["example,difficulty"] + [f"{i},{float(per_train[i])!r}" for i in order]
    (tmp_path / "s.csv").write_text("\n".join(lines))
    csv = dict(path=str(tmp_path / "s.csv"), id_column="example", score_column="difficulty")
    assert np.array_equal(score("file", digits, pool, csv), per_train[pool.ids])
    # higher_is: hard and keep are used as is (keep_hard keeps what the file says to keep); easy is negated
    assert np.array_equal(score("file", digits, pool, {**csv, "higher_is": "keep"}), per_train[pool.ids])
    assert np.array_equal(score("file", digits, pool, {**csv, "higher_is": "easy"}), -per_train[pool.ids])


def test_file_metric_with_keep_scores_reproduces_the_files_selection(digits, tmp_path):
    from bench.prune import select

    pool = make_pool(digits, 200, seed=0)
    keep_worthiness = np.random.default_rng(2).random(digits.n_train)  # the paper's CSV semantics: higher = keep
    np.save(tmp_path / "keep.npy", keep_worthiness)
    s = score("file", digits, pool, dict(path=str(tmp_path / "keep.npy"), higher_is="keep"))
    kept = select(s, pool.y.numpy(), 0.25, "keep_hard", seed=0)
    expect = np.argsort(-keep_worthiness[pool.ids])[:50]
    assert set(np.asarray(kept).tolist()) == set(expect.tolist())


def test_file_metric_errors(digits, tmp_path):
    pool = make_pool(digits, 100, seed=0)
    with pytest.raises(MetricError, match="does not exist"):
        score("file", digits, pool, dict(path=str(tmp_path / "nope.npy")))
    with pytest.raises(MetricError, match="needs metric.path"):
        score("file", digits, pool, {})
    np.save(tmp_path / "short.npy", np.zeros(77))
    with pytest.raises(MetricError, match="77 scores"):
        score("file", digits, pool, dict(path=str(tmp_path / "short.npy")))
    (tmp_path / "few.csv").write_text("id,score\n" + "\n".join(f"{i},0.5" for i in pool.ids[:-2]))
    with pytest.raises(MetricError, match="no score for 2 of the 100"):
        score("file", digits, pool, dict(path=str(tmp_path / "few.csv")))
    (tmp_path / "dup.csv").write_text("id,score\n" + "\n".join(f"{i},0.5" for i in list(pool.ids) + [pool.ids[0]]))
    with pytest.raises(MetricError, match="more than once"):
        score("file", digits, pool, dict(path=str(tmp_path / "dup.csv")))
    (tmp_path / "cols.csv").write_text("id,value\n1,2\n")
    with pytest.raises(MetricError, match="no column 'score'"):
        score("file", digits, pool, dict(path=str(tmp_path / "cols.csv")))
    with pytest.raises(MetricError, match="higher_is"):
        score("file", digits, pool, dict(path=str(tmp_path / "short.npy"), higher_is="up"))


def test_file_metric_is_not_cached(digits, tmp_path):
    pool = make_pool(digits, 100, seed=0)
    store = ScoreStore(tmp_path / "store")
    path = tmp_path / "s.npy"
    ctx = ScoreContext(digits, pool, dict(path=str(path)), 0, progress=False)
    np.save(path, np.arange(100.0))
    a, _ = compute_scores("file", ctx, store, {"metric": "file", "path": str(path)})
    np.save(path, -np.arange(100.0))  # same path, new content
    b, _ = compute_scores("file", ctx, store, {"metric": "file", "path": str(path)})
    assert np.array_equal(b, -a)


# -------------------------------------------------------------------------------------------------- score store


def _compute_once(counter: str, root: str, spec: dict, out: str) -> None:
    def compute() -> np.ndarray:
        with open(counter, "a") as f:
            f.write("computed\n")
        time.sleep(1.0)  # long enough for the other process to be waiting on the lock
        return np.arange(10.0)

    scores, computed = ScoreStore(root).get_or_compute(spec, compute)
    np.save(out, np.append(scores, float(computed)))


def test_score_store_concurrent_jobs_compute_once(tmp_path):
    counter = tmp_path / "counter.txt"
    spec = {"metric": "el2n", "pool": "abc", "seed": 0}
    ctx = mp.get_context("fork")
    procs = [
        ctx.Process(
            target=_compute_once, args=(str(counter), str(tmp_path / "store"), spec, str(tmp_path / f"out{i}.npy"))
        )
        for i in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert counter.read_text().count("computed") == 1
    outs = [np.load(tmp_path / f"out{i}.npy") for i in range(2)]
    assert all(np.array_equal(o[:10], np.arange(10.0)) for o in outs)
    assert sorted(o[10] for o in outs) == [0.0, 1.0]  # one computed, the other read the stored file


def test_score_store_recomputes_corrupt_file(tmp_path):
    store = ScoreStore(tmp_path)
    spec = {"metric": "el2n", "pool": "abc"}
    calls = []

    def compute():
        calls.append(1)
        return np.linspace(0, 1, 1000)

    first, computed = store.get_or_compute(spec, compute)
    assert computed and len(calls) == 1
    again, computed = store.get_or_compute(spec, compute)
    assert not computed and np.array_equal(again, first)
    npy = store.paths(store.key(spec))[0]
    npy.write_bytes(npy.read_bytes()[:-100])  # truncated, as by a killed job
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixed, computed = store.get_or_compute(spec, compute)
    assert computed and len(calls) == 2 and np.array_equal(fixed, first)
    assert npy.with_name(npy.name + ".corrupt").exists()
    # same length, flipped bytes: the checksum catches it
    data = bytearray(npy.read_bytes())
    data[-8:] = b"\x00" * 8
    npy.write_bytes(bytes(data))
    fixed, computed = store.get_or_compute(spec, compute)
    assert computed and len(calls) == 3 and np.array_equal(fixed, first)


def test_compute_scores_caches_metric_runs(digits, tmp_path):
    pool = make_pool(digits, 200, seed=0, label_noise=0.1)
    store = ScoreStore(tmp_path)
    ctx = ScoreContext(digits, pool, dict(n_models=2, epochs=1, total_epochs=5), 0, model=TINY_MLP, progress=False)
    spec = {"metric": "el2n", "params": ctx.params, "pool": pool.fingerprint(), "seed": 0, "model": TINY_MLP}
    a, computed_a = compute_scores("el2n", ctx, store, spec)
    b, computed_b = compute_scores("el2n", ctx, store, spec)
    assert computed_a and not computed_b and np.array_equal(a, b)


def test_metric_defaults_are_exposed_for_cache_keys():
    from bench.metrics import metric_defaults

    for name in ("el2n", "grand", "forgetting", "memorization", "ssp", "supervised_prototypes", "file"):
        d = metric_defaults(name)
        assert d and "name" not in d
    assert metric_defaults("random") == {}
    d = metric_defaults("el2n")
    before = d["n_models"]
    d["n_models"] = before + 1  # a copy: the module's defaults stay put
    assert metric_defaults("el2n")["n_models"] == before
    with pytest.raises(ValueError, match="unknown metric"):
        metric_defaults("nope")


def test_score_cache_key_holds_the_code_defaults_in_force(monkeypatch):
    """A setting left to its code default is in the score-cache key: changing the default gives another key (the
    scores are recomputed), and spelling the default out gives the same key as leaving it out."""
    import copy

    from conftest import TINY_MNIST1D, compose

    import bench.metrics
    from bench.run import score_stage
    from bench.scores import stable_hash

    keys = []

    def fake_compute(name, ctx, store, spec):
        keys.append(stable_hash(spec, 24))
        return np.zeros(len(ctx.pool)), True

    monkeypatch.setattr(bench.metrics, "compute_scores", fake_compute)
    cfg = compose([*TINY_MNIST1D, "metric=el2n"])
    default = bench.metrics.metric_defaults("el2n")["n_models"]
    left_out, spelled = copy.deepcopy(cfg), copy.deepcopy(cfg)
    del left_out["metric"]["n_models"]
    spelled["metric"]["n_models"] = default
    score_stage(left_out)
    score_stage(spelled)
    monkeypatch.setitem(bench.metrics.METRIC_DEFAULTS["el2n"], "n_models", default + 1)
    score_stage(left_out)
    assert len(keys) == 3 and keys[0] == keys[1] != keys[2]
