"""Embeddings of the pool for the prototype metrics, and spherical k-means.

Encoders (``encoder`` setting):

- ``simclr``: an encoder the harness trains itself on the pool, without labels, with SimCLR's NT-Xent contrastive
  objective (Chen et al. 2020): two augmented views per example, a projection head, temperature ``temperature``.
  The encoder is the probe model (``ctx.model``) with its classifier resized to ``feature_dim`` outputs; the
  embedding is that output on clean inputs (before the projection head). Augmentations suit the data: for 1-D
  signals (mnist1d) a random crop-and-stretch, circular shift, amplitude scale and Gaussian noise; for images a
  random resized crop, horizontal flip, brightness/contrast jitter and noise; for other inputs scale and noise.
- ``checkpoint``: a pretrained backbone loaded from a local file (``checkpoint``), e.g. a ResNet-50 with SwAV weights
  (the paper's choice). ``arch`` is a harness model name (``resnet50``, ``resnet18``, ``vit``, ...; ``arch_kwargs``
  passed on, e.g. ``{cifar_stem: false}``) or ``timm:<name>`` for any timm architecture. The embedding is the
  penultimate layer: the input of the last ``nn.Linear`` (or the output of a timm model built with
  ``num_classes=0``). ``resize`` resizes images (bilinear) before the backbone, e.g. 224 for ImageNet weights on
  CIFAR; ``input_norm: imagenet`` re-normalises in-memory datasets with the ImageNet mean/std instead of the dataset's
  (folder datasets are ImageNet-normalised already and are embedded with their deterministic test transform).
- ``pixels``: the raw, normalised inputs, flattened: a baseline, and the encoder for tests.

Embeddings are L2-normalised; prototype scores are cosine distances (1 - cosine similarity), in [0, 2].
"""

from __future__ import annotations

import copy
import logging
import math
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn
from torch.nn import functional as F

from bench.defaults import metric_settings
from bench.metrics.probe import MetricError, PoolData, derive_seed, init_members_from_data, pool_data, probe_model_cfg
from bench.models import create_model, load_checkpoint
from bench.train.data import folder_loader
from bench.train.module import lr_factor

log = logging.getLogger(__name__)

ENCODERS = ("simclr", "checkpoint", "pixels")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

EMBED_DEFAULTS: dict[str, Any] = metric_settings("_encoder")  # conf/metric/_encoder.yaml: the one source


def check_embed_params(metric: str, p: dict) -> None:
    if p["encoder"] not in ENCODERS:
        raise MetricError(
            f"metric.encoder={p['encoder']!r} is not allowed for {metric}; allowed: {', '.join(ENCODERS)}"
        )
    if p["encoder"] == "checkpoint":
        if not p["checkpoint"]:
            raise MetricError(
                f"metric.encoder=checkpoint needs metric.checkpoint=<path to a local state dict> for {metric}"
            )

        if not Path(p["checkpoint"]).is_file():
            raise MetricError(f"metric.checkpoint={p['checkpoint']} does not exist (metric {metric})")
    if p["input_norm"] not in ("dataset", "imagenet"):
        raise MetricError(f"metric.input_norm={p['input_norm']!r} is not allowed; allowed: dataset, imagenet")
    if p["encoder"] == "simclr":
        for key in ("ssl_epochs", "ssl_batch_size", "feature_dim", "proj_dim"):
            if not isinstance(p[key], int) or p[key] < 1:
                raise MetricError(f"metric.{key}={p[key]!r} is not allowed for {metric}: it must be an integer >= 1")
        if not float(p["temperature"]) > 0:
            raise MetricError(f"metric.temperature={p['temperature']} is not allowed: it must be > 0")


# ----------------------------------------------------------------------------------------------------------------
# augmentations for contrastive learning (batched, seeded by a generator)


def _u(gen: torch.Generator, n: int, lo: float, hi: float, dev: torch.device) -> torch.Tensor:
    return torch.rand(n, generator=gen, device=gen.device).to(dev) * (hi - lo) + lo


def augment_1d(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(B, C, L) signals: random crop (75-100% of the length) stretched back to L, circular shift, scale, noise."""
    b, c, length = x.shape
    dev = x.device
    crop = _u(gen, b, 0.75, 1.0, dev) * (length - 1)
    start = _u(gen, b, 0.0, 1.0, dev) * (length - 1 - crop)
    pos = start[:, None] + crop[:, None] * torch.linspace(0, 1, length, device=dev)[None]  # (B, L) float positions
    lo = pos.floor().long().clamp(0, length - 1)
    hi = (lo + 1).clamp(max=length - 1)
    frac = (pos - lo.float())[:, None, :]
    x = (
        torch.gather(x, 2, lo[:, None].expand(b, c, length)) * (1 - frac)
        + torch.gather(x, 2, hi[:, None].expand(b, c, length)) * frac
    )
    shift = torch.randint(-4, 5, (b,), generator=gen, device=gen.device).to(dev)
    idx = (torch.arange(length, device=dev)[None] - shift[:, None]) % length
    x = torch.gather(x, 2, idx[:, None].expand(b, c, length))
    x = x * _u(gen, b, 0.7, 1.3, dev)[:, None, None]
    return x + 0.1 * x.std() * torch.randn(x.shape, generator=gen, device=gen.device).to(dev)


def augment_image(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(B, C, H, W) images: random resized crop (30-100% area, aspect 3/4-4/3), flip, brightness/contrast, noise."""
    b = x.shape[0]
    dev = x.device
    area = _u(gen, b, 0.3, 1.0, dev)
    logr = _u(gen, b, math.log(3 / 4), math.log(4 / 3), dev)
    sx = (area * logr.exp()).sqrt().clamp(max=1.0)
    sy = (area / logr.exp()).sqrt().clamp(max=1.0)
    tx = (_u(gen, b, -1.0, 1.0, dev)) * (1 - sx)
    ty = (_u(gen, b, -1.0, 1.0, dev)) * (1 - sy)
    flip = torch.where(_u(gen, b, 0, 1, dev) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2] = sx * flip, tx
    theta[:, 1, 1], theta[:, 1, 2] = sy, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    x = x * _u(gen, b, 0.6, 1.4, dev)[:, None, None, None] + _u(gen, b, -0.4, 0.4, dev)[:, None, None, None]
    return x + 0.05 * torch.randn(x.shape, generator=gen, device=gen.device).to(dev)


def augment_generic(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    scale = _u(gen, b, 0.7, 1.3, x.device).view(b, *([1] * (x.ndim - 1)))
    return x * scale + 0.1 * x.std() * torch.randn(x.shape, generator=gen, device=gen.device).to(x.device)


def contrastive_augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    if x.ndim == 3:
        return augment_1d(x, gen)
    if x.ndim == 4:
        return augment_image(x, gen)
    return augment_generic(x, gen)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's normalised-temperature cross-entropy over the 2B views (each view's positive is its partner)."""
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    b = z1.shape[0]
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
    return F.cross_entropy(sim, target)


def train_simclr(ctx: Any, data: PoolData, p: dict, tag: str) -> nn.Module:
    """A SimCLR encoder trained on the pool (labels unused); returns the encoder in eval mode."""

    cfg = probe_model_cfg(ctx.model)
    name = cfg.pop("name")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(ctx.seed, tag, "simclr-init"))
        encoder = create_model(name, int(p["feature_dim"]), data.input_shape, **cfg)
        fd = int(p["feature_dim"])
        head = nn.Sequential(nn.ReLU(), nn.Linear(fd, fd), nn.ReLU(), nn.Linear(fd, int(p["proj_dim"])))
    init_members_from_data([encoder], data, ctx.seed)  # airbench: its frozen whitening layer, as a student's
    dev = data.x.device
    encoder, head = encoder.to(dev).train(), head.to(dev).train()
    opt = torch.optim.AdamW(
        list(encoder.parameters()) + list(head.parameters()),
        lr=float(p["ssl_lr"]),
        weight_decay=float(p["ssl_weight_decay"]),
    )
    gen = torch.Generator(device=dev if dev.type == "cuda" else torch.device("cpu"))
    gen.manual_seed(derive_seed(ctx.seed, tag, "simclr-order"))
    n = data.x.shape[0]
    bs = min(int(p["ssl_batch_size"]), n)
    spe = max(1, n // bs)  # drop the last partial batch: tiny contrastive batches are noisy
    total = spe * int(p["ssl_epochs"])
    bar = None
    if ctx.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=f"{tag}: SimCLR encoder", leave=False)
    step = 0
    try:
        for _epoch in range(int(p["ssl_epochs"])):
            order = torch.randperm(n, generator=gen, device=gen.device).to(dev)
            for s in range(spe):
                pos = order[s * bs : (s + 1) * bs]
                xb = data.batch(pos)
                v1, v2 = contrastive_augment(xb, gen), contrastive_augment(xb, gen)
                for g in opt.param_groups:
                    g["lr"] = float(p["ssl_lr"]) * lr_factor(step, total, "cosine", 0.05, (), 0.1)
                z = head(encoder(torch.cat([v1, v2])))
                loss = nt_xent(z[: pos.numel()], z[pos.numel() :], float(p["temperature"]))
                if not torch.isfinite(loss):
                    raise RuntimeError(f"{tag}: SimCLR loss became NaN/inf at step {step} (lower metric.ssl_lr?)")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss.item():.3f}")
    finally:
        if bar is not None:
            bar.close()
    return encoder.eval()


# ----------------------------------------------------------------------------------------------------------------
# checkpoint backbones


class _Penultimate(nn.Module):
    """Wraps a classifier so that it returns the input of its last nn.Linear (its penultimate features)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        lin = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if not lin:
            raise MetricError(f"{type(model).__name__} has no nn.Linear head to take penultimate features from")
        self.head = lin[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seen = {}
        h = self.head.register_forward_hook(lambda m, inp, out: seen.update(h=inp[0]))
        try:
            self.model(x)
        finally:
            h.remove()
        return seen["h"].flatten(1)


def load_backbone(p: dict, num_classes: int, input_shape: tuple) -> nn.Module:
    """The ``checkpoint`` encoder: a pretrained backbone returning penultimate features."""

    arch = str(p["arch"])
    kwargs = dict(p["arch_kwargs"] or {})
    shape = tuple(input_shape)
    if p["resize"] and len(shape) == 3:
        shape = (shape[0], int(p["resize"]), int(p["resize"]))
    if arch.startswith("timm:"):
        import timm

        model = timm.create_model(arch[5:], pretrained=False, num_classes=0, in_chans=shape[0], **kwargs)
        load_checkpoint(model, p["checkpoint"])
        return model.eval()
    model = create_model(arch, num_classes, shape, **kwargs)
    load_checkpoint(model, p["checkpoint"])
    return _Penultimate(model).eval()


# ----------------------------------------------------------------------------------------------------------------
# embedding the pool


@torch.no_grad()
def _encode_tensors(encoder: Optional[nn.Module], data: PoolData, p: dict) -> torch.Tensor:
    n = data.x.shape[0]
    bs = int(p["eval_batch_size"])
    out = []
    for i in range(0, n, bs):
        xb = data.batch(torch.arange(i, min(n, i + bs), device=data.x.device))
        out.append(_apply(encoder, xb, p, data.mean, data.std))
    return torch.cat(out)


def _apply(
    encoder: Optional[nn.Module], xb: torch.Tensor, p: dict, mean: Any, std: Any, renormalise: bool = True
) -> torch.Tensor:
    """Embed one normalised batch. ``renormalise=False`` for folder datasets, already ImageNet-normalised."""
    if encoder is None:
        return xb.flatten(1).float()
    if p["encoder"] == "checkpoint":
        if renormalise and p["input_norm"] == "imagenet" and xb.ndim == 4 and xb.shape[1] == 3:
            if mean is not None and std is not None:  # undo the dataset normalisation
                m = torch.tensor(mean, device=xb.device).view(1, -1, 1, 1)
                s = torch.tensor(std, device=xb.device).view(1, -1, 1, 1)
                xb = xb * s + m
            xb = (xb - torch.tensor(IMAGENET_MEAN, device=xb.device).view(1, -1, 1, 1)) / torch.tensor(
                IMAGENET_STD, device=xb.device
            ).view(1, -1, 1, 1)
        if p["resize"] and xb.ndim == 4:
            xb = F.interpolate(xb, size=(int(p["resize"]),) * 2, mode="bilinear", align_corners=False)
    return encoder(xb).flatten(1).float()


@torch.no_grad()
def _encode_folder(encoder: Optional[nn.Module], ctx: Any, p: dict) -> torch.Tensor:
    """Embed a folder dataset's pool with its *test* transform (deterministic), through DataLoader workers."""

    ds = copy.copy(ctx.splits.train_set)
    if ctx.splits.test_set is not None and hasattr(ds, "transform"):
        ds.transform = ctx.splits.test_set.transform
    loader = folder_loader(
        ds, ctx.pool.ids, ctx.pool.y, int(p["eval_batch_size"]), shuffle=False, num_workers=int(p["num_workers"])
    )
    it = loader
    if ctx.progress:
        from tqdm.auto import tqdm

        it = tqdm(loader, desc="embedding the pool", leave=False)
    out = []
    for xb, _, _ in it:
        out.append(_apply(encoder, xb.to(ctx.device), p, None, None, renormalise=False))
    return torch.cat(out)


def embed_pool(ctx: Any, p: dict, metric: str) -> torch.Tensor:
    """(N, D) L2-normalised embeddings of ``ctx.pool`` with the encoder ``p['encoder']``."""
    check_embed_params(metric, p)
    splits = ctx.splits
    encoder: Optional[nn.Module] = None
    if p["encoder"] == "checkpoint":
        encoder = load_backbone(p, splits.num_classes, splits.input_shape).to(ctx.device)
    if not splits.in_memory:
        if p["encoder"] == "simclr":
            raise MetricError(
                f"metric {metric} with encoder=simclr trains on in-memory datasets only; for "
                f"{splits.name} use encoder=checkpoint (e.g. SwAV ResNet-50 weights)"
            )
        z = _encode_folder(encoder, ctx, p)
    else:
        data = pool_data(ctx, metric, use_augment=False)
        if p["encoder"] == "simclr":
            encoder = train_simclr(ctx, data, p, metric)
        z = _encode_tensors(encoder, data, p)
    if not bool(torch.isfinite(z).all()):
        raise RuntimeError(f"{metric}: the encoder produced non-finite embeddings")
    return F.normalize(z, dim=1)


# ----------------------------------------------------------------------------------------------------------------
# spherical k-means


def spherical_kmeans(
    z: torch.Tensor, k: int, seed: int, n_init: int = 3, iters: int = 100, tol: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """k-means on the unit sphere (cosine similarity), k-means++ initialisation, best of ``n_init`` restarts.

    ``z`` must be L2-normalised. Returns (centroids (k, D), unit norm; assignment (N,)). The objective maximised is
    the summed cosine similarity of each point to its centroid."""
    n = z.shape[0]
    if not 1 <= k <= n:
        raise MetricError(f"metric.k={k} is not allowed for a pool of {n}: it must lie in [1, {n}]")
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(seed) % (2**63))
    best = None
    for _ in range(max(1, int(n_init))):
        # k-means++ with distance 1 - cos
        first = int(torch.randint(n, (1,), generator=gen))
        cent = [z[first]]
        dist = (1 - z @ z[first]).clamp_min(0)
        for _ in range(1, k):
            w = dist.double().cpu()
            if float(w.sum()) <= 0:  # fewer distinct points than k: pick at random
                nxt = int(torch.randint(n, (1,), generator=gen))
            else:
                nxt = int(torch.multinomial(w / w.sum(), 1, generator=gen))
            cent.append(z[nxt])
            dist = torch.minimum(dist, (1 - z @ z[nxt]).clamp_min(0))
        c = torch.stack(cent)
        prev = -math.inf
        for _ in range(iters):
            sim = z @ c.T
            assign = sim.argmax(1)
            obj = float(sim.gather(1, assign[:, None]).sum())
            sums = torch.zeros_like(c).index_add_(0, assign, z)
            empty = sums.norm(dim=1) == 0
            if bool(empty.any()):  # re-seed an empty cluster at the worst-fit point
                worst = sim.max(1).values.argsort()[: int(empty.sum())]
                sums[empty] = z[worst]
            c = F.normalize(sums, dim=1)
            if obj - prev <= tol * max(1.0, abs(obj)):
                break
            prev = obj
        sim = z @ c.T
        obj = float(sim.max(1).values.sum())
        if best is None or obj > best[0]:
            best = (obj, c, sim.argmax(1))
    return best[1], best[2]
