"""Batches for training: device-resident tensors with batched augmentation, or a DataLoader over a folder.

``TensorBatches`` holds the kept examples on the training device and yields index slices: no per-example Python
in the hot loop. Each batch is ``(x, y, pos)`` with ``pos`` the batch's positions in the kept subset, so metrics
that track examples across training (forgetting) need no extra pass. Both training streams can continue an epoch
after a mid-run checkpoint (``state_after(batch_idx)`` / ``load_state_dict``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Optional

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, SequentialSampler


def normalise(x: torch.Tensor, mean: Optional[Sequence[float]], std: Optional[Sequence[float]]) -> torch.Tensor:
    """uint8 images -> float in [0, 1] -> (x - mean) / std per channel; float inputs pass through."""
    if x.dtype == torch.uint8:
        x = x.float().div_(255.0)
    if mean is not None and std is not None:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(shape)
        s = torch.tensor(std, device=x.device, dtype=x.dtype).view(shape)
        x = (x - m) / s
    return x


def batch_crop(x: torch.Tensor, pad: int, gen: torch.Generator, mode: str = "constant") -> torch.Tensor:
    """Random crop of every image after padding by ``pad`` (zeros, or ``mode="reflect"``), one gather for the
    whole batch: a translation by up to ``pad`` pixels in each direction."""
    b, c, h, w = x.shape
    xp = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode=mode)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen, device=gen.device).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen, device=gen.device).to(x.device)
    rows = torch.arange(h, device=x.device)[None, :] + dy[:, None]  # (b, h)
    cols = torch.arange(w, device=x.device)[None, :] + dx[:, None]  # (b, w)
    bi = torch.arange(b, device=x.device)[:, None, None]
    out = xp.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]]  # (b, h, w, c)
    return out.permute(0, 3, 1, 2)


def batch_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Horizontal flip of a random half of the batch, by ``torch.where``."""
    mask = torch.rand(x.shape[0], generator=gen, device=gen.device).to(x.device) < 0.5
    return torch.where(mask.view(-1, *([1] * (x.ndim - 1))), x.flip(-1), x)


def batch_shift1d(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Random circular shift of each sequence by up to ``max_shift`` positions."""
    b, _, length = x.shape
    shift = torch.randint(-max_shift, max_shift + 1, (b,), generator=gen, device=gen.device).to(x.device)
    idx = (torch.arange(length, device=x.device)[None, :] - shift[:, None]) % length
    return torch.gather(x, 2, idx[:, None, :].expand_as(x))


# airbench94's: a 2-pixel translation (reflect padding) and flips that alternate from epoch to epoch: each example
# is flipped in the epochs of one parity, drawn once per example (TensorBatches.flip_base), so in any two
# consecutive epochs it is seen both ways.
ALTERNATING = "translate2_altflip"
AUGMENTS = ("none", "crop_flip", "crop", "flip", "shift1d", ALTERNATING)


def augment(x: torch.Tensor, kind: str, gen: torch.Generator, flip: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Apply augmentation ``kind`` (one of AUGMENTS) to a batch; ``flip`` (a boolean per example) is the
    alternating kind's flips of this epoch (none without it: an evaluation or a batch of no epoch)."""
    if kind not in AUGMENTS:
        raise ValueError(f"unknown augmentation {kind!r}; allowed: {', '.join(AUGMENTS)}")
    if kind == "none":
        return x
    if kind == ALTERNATING:
        x = batch_crop(x, 2, gen, mode="reflect")
        return x if flip is None else torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    if kind in ("crop_flip", "crop"):
        x = batch_crop(x, 4, gen)
    if kind in ("crop_flip", "flip"):
        x = batch_flip(x, gen)
    if kind == "shift1d":
        x = batch_shift1d(x, 4, gen)
    return x


def global_batches(n: int, batch_size: int, world: int = 1, drop_tail: bool = False) -> list[tuple[int, int]]:
    """(start, end) of the global batches over ``n`` ordered positions. With several processes (``world`` > 1)
    every batch must give each rank an equal or at least non-empty shard: a training epoch (``drop_tail``) leaves
    out its last ``n mod world`` positions, an evaluation folds a last batch smaller than ``world`` into the one
    before. Each rank then takes ``order[start:end][rank::world]``."""
    end = n - n % world if drop_tail and world > 1 else n
    bounds = [(i, min(i + batch_size, end)) for i in range(0, end, batch_size)]
    if world > 1 and len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < world:
        bounds[-2:] = [(bounds[-2][0], bounds[-1][1])]
    return bounds


class TensorBatches:
    """Iterable over shuffled mini-batches of device-resident tensors; ``len`` is the number of batches."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        augment_kind: str = "none",
        mean=None,
        std=None,
        channels_last: bool = False,
        resize: Optional[int] = None,
        shard: tuple[int, int] = (0, 1),
        drop_last: bool = False,
    ) -> None:
        self.x, self.y = x, y
        self.drop_last = bool(drop_last) and shuffle  # training epochs only: airbench drops the last partial batch
        self.rank, self.world = int(shard[0]), int(shard[1])  # this process's shard of every batch (DDP)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.augment_kind = augment_kind if shuffle else "none"
        self.mean, self.std = mean, std
        self.channels_last = channels_last and x.ndim == 4
        self.resize = int(resize) if resize and x.ndim == 4 else None
        self.gen = torch.Generator(device=x.device if x.device.type == "cuda" else "cpu")
        self.gen.manual_seed(int(seed))
        self.epoch = -1  # the epoch being iterated, from 0 (the alternating flips' parity)
        self.flip_base: Optional[torch.Tensor] = None  # per example: flipped in even epochs (alternating flips)
        if self.augment_kind == ALTERNATING:
            self.flip_base = torch.rand(x.shape[0], generator=self.gen, device=self.gen.device).to(x.device) < 0.5
        self._order: Optional[torch.Tensor] = None  # the epoch being iterated
        self._gen_after: dict[int, torch.Tensor] = {}  # batch index -> generator state after that batch
        self._resume: Optional[dict] = None

    def __len__(self) -> int:
        return len(self._bounds(0))

    def _bounds(self, start: int) -> list[tuple[int, int]]:
        """The global batches of an epoch from position ``start`` (a multiple of the batch size) on."""
        b = global_batches(self._n_used(), self.batch_size, self.world, drop_tail=self.shuffle)
        return b[start // self.batch_size :]

    def _n_used(self) -> int:
        """Positions an epoch uses: all, or whole batches only (``drop_last``, at least one batch)."""
        n = self.x.shape[0]
        return max(min(n, self.batch_size), n - n % self.batch_size) if self.drop_last else n

    def state_after(self, batch_idx: int) -> dict:
        """The stream's state once batch ``batch_idx`` of the current epoch has been used: what ``load_state_dict``
        needs to continue with batch ``batch_idx + 1`` (or the next epoch), exactly as an uninterrupted run would."""
        start = (batch_idx + 1) * self.batch_size
        done = start >= global_batches(self._n_used(), self.batch_size, self.world, self.shuffle)[-1][1]
        return {
            "order": None if done or self._order is None else self._order.cpu(),
            "start": 0 if done else start,
            "gen": self._gen_after[batch_idx].clone(),
            "epoch": self.epoch + 1 if done else self.epoch,  # the epoch the next batch belongs to
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state_after(...)`` at the next ``iter()``."""
        self._resume = state

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        n = self.x.shape[0]
        dev = self.x.device
        resume, self._resume = self._resume, None
        if resume is not None:
            self.gen.set_state(resume["gen"])
        self.epoch = int(resume.get("epoch", self.epoch + 1)) if resume is not None else self.epoch + 1
        start = resume["start"] if resume is not None and resume["order"] is not None else 0
        if start:
            order = resume["order"].to(dev)
        else:
            order = (
                torch.randperm(n, generator=self.gen, device=self.gen.device).to(dev)
                if self.shuffle
                else torch.arange(n, device=dev)
            )
        self._order, self._gen_after = order, {}
        for i, j in self._bounds(start):
            pos, mine = order[i:j], slice(None)
            if self.world > 1:  # this rank's shard; augmentation draws cover the whole batch, as on one device
                draws = self.shuffle and self.augment_kind != "none"
                pos, mine = (pos, slice(self.rank, None, self.world)) if draws else (pos[self.rank :: self.world], mine)
            xb = self._inputs(pos)
            if self.shuffle:  # a few states back suffice: the training loop prefetches one batch
                b = i // self.batch_size
                self._gen_after[b] = self.gen.get_state()
                self._gen_after.pop(b - 4, None)
            yield xb[mine], self.y[pos][mine], pos[mine]

    def _inputs(self, pos: torch.Tensor, epoch: Optional[int] = None) -> torch.Tensor:
        """The model inputs of positions ``pos``: normalised, augmented (one draw of ``self.gen``; the alternating
        flips of ``epoch``, by default the epoch being iterated), resized."""
        xb = normalise(self.x[pos], self.mean, self.std)
        flip = None
        if self.flip_base is not None:
            flip = self.flip_base[pos] ^ bool((self.epoch if epoch is None else epoch) % 2)
        xb = augment(xb, self.augment_kind, self.gen, flip)
        if self.resize:  # e.g. 32 -> 224 px to fine-tune an ImageNet-pretrained ViT, batched on the device
            xb = torch.nn.functional.interpolate(
                xb, size=(self.resize, self.resize), mode="bilinear", align_corners=False
            )
        if self.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        return xb

    def iter_positions(
        self, order: torch.Tensor, epoch: int = 0
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Batches over the given positions in the given order (a dynamic-pruning plan of data epoch ``epoch``):
        ``(x, y, pos)``."""
        order = order.to(self.x.device)
        for i in range(0, order.numel(), self.batch_size):
            pos = order[i : i + self.batch_size]
            yield self._inputs(pos, epoch), self.y[pos], pos

    def gen_state(self) -> torch.Tensor:
        return self.gen.get_state()

    def set_gen_state(self, state: torch.Tensor) -> None:
        self.gen.set_state(state)


class IndexedSubset(Dataset):
    """``dataset[ids[i]]`` with label ``labels[i]`` (noisy labels override the folder's), returning (x, y, i).

    An index ``(i, epoch_seed)`` (from ``ResumableSampler``) draws the example's augmentation from a torch generator
    seeded by the epoch and the position alone, so the draws do not depend on which worker loads it or on what it
    loaded before: a run resumed in mid-epoch gets the augmentations of an uninterrupted one."""

    def __init__(self, dataset: Dataset, ids: Sequence[int], labels: torch.Tensor) -> None:
        self.dataset, self.ids, self.labels = dataset, list(map(int, ids)), labels

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index):
        if isinstance(index, tuple):
            i, epoch_seed = index
            with torch.random.fork_rng(devices=[]):  # the process's own stream is left as it was
                torch.manual_seed((int(epoch_seed) * 1_000_003 + int(i)) % (1 << 63))
                x, _ = self.dataset[self.ids[i]]
        else:
            i = index
            x, _ = self.dataset[self.ids[i]]
        return x, self.labels[i], i


class ResumableSampler(Sampler):
    """Positions 0..n-1, shuffled once per epoch by its own generator; an epoch can start part-way (a resume).
    It yields ``(position, epoch_seed)``: the seed of the epoch's augmentation draws (see ``IndexedSubset``)."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n = int(n)
        self.gen = torch.Generator()
        self.gen.manual_seed(int(seed))
        self.epoch_start = self.gen.get_state()
        self.after_draw = self.epoch_start
        self._resume: Optional[dict] = None

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[tuple[int, int]]:
        resume, self._resume = self._resume, None
        if resume is not None:
            self.gen.set_state(resume["gen"])
        self.epoch_start = self.gen.get_state()
        order = torch.randperm(self.n, generator=self.gen)
        epoch_seed = int(torch.randint(0, 1 << 31, (1,), generator=self.gen))
        self.after_draw = self.gen.get_state()
        for i in order[(resume or {}).get("skip", 0) :].tolist():
            yield i, epoch_seed


class ShardBatchSampler(Sampler):
    """This rank's shard (``rank::world``) of every global batch of ``sampler``'s positions (``global_batches``)."""

    def __init__(self, sampler: Sampler, batch_size: int, rank: int, world: int, drop_tail: bool) -> None:
        self.sampler, self.batch_size, self.rank, self.world = sampler, int(batch_size), int(rank), int(world)
        self.drop_tail = drop_tail

    def __len__(self) -> int:
        return len(global_batches(len(self.sampler), self.batch_size, self.world, self.drop_tail))

    def __iter__(self) -> Iterator[list[int]]:
        positions = list(iter(self.sampler))
        for i, j in global_batches(len(positions), self.batch_size, self.world, self.drop_tail):
            yield positions[i:j][self.rank :: self.world]


class FolderBatches(DataLoader):
    """A DataLoader over a folder dataset that can continue an epoch after a checkpoint: the same examples in the
    same order with the same augmentation draws. ``global_batch_size``: the batch over all ranks (the loader's own,
    or its ShardBatchSampler's)."""

    global_batch_size: int = 0

    def state_after(self, batch_idx: int) -> dict:
        skip = (batch_idx + 1) * int(self.global_batch_size)
        sampler = self.batch_sampler.sampler
        if skip >= len(sampler):
            return {"gen": sampler.after_draw.clone(), "skip": 0}
        return {"gen": sampler.epoch_start.clone(), "skip": skip}

    def load_state_dict(self, state: dict) -> None:
        self.batch_sampler.sampler._resume = state


class PlanSampler(Sampler):
    """The positions of the current dynamic-pruning plan, in its order (set before each ``iter`` of the loader)."""

    def __init__(self) -> None:
        self.order: list[int] = []

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self) -> Iterator[int]:
        yield from self.order


class PlannedFolderBatches(DataLoader):
    """A DataLoader over a folder dataset whose epochs follow dynamic-pruning plans (``iter_positions``); the
    workers read ahead only within a plan, so the next plan sees every loss of the current one."""

    def iter_positions(self, order: torch.Tensor, epoch: int = 0) -> Iterator:
        self.sampler.order = order.cpu().tolist()
        return iter(self)

    def gen_state(self) -> None:  # augmentation draws happen in the workers: not part of a resume
        return None

    def set_gen_state(self, state: Optional[torch.Tensor]) -> None:
        pass


def folder_loader(
    dataset: Dataset,
    ids: Sequence[int],
    labels: torch.Tensor,
    batch_size: int,
    shuffle: bool,
    num_workers: int,
    seed: int = 0,
    planned: bool = False,
    shard: tuple[int, int] = (0, 1),
) -> DataLoader:
    """A loader of ``(x, y, position)``: shuffled and resumable (``shuffle``), in the order of dynamic-pruning
    plans (``planned``), or in order; with ``shard`` = (rank, world) each batch is this rank's shard of a global
    batch of ``batch_size``."""
    subset = IndexedSubset(dataset, ids, labels)
    common = dict(num_workers=num_workers, pin_memory=torch.cuda.is_available(), persistent_workers=num_workers > 0)
    if planned:
        return PlannedFolderBatches(subset, sampler=PlanSampler(), batch_size=batch_size, drop_last=False, **common)
    sampler = ResumableSampler(len(subset), seed) if shuffle else SequentialSampler(subset)
    cls = FolderBatches if shuffle else DataLoader
    if shard[1] > 1:
        loader = cls(subset, batch_sampler=ShardBatchSampler(sampler, batch_size, *shard, drop_tail=shuffle), **common)
    else:
        loader = cls(subset, sampler=sampler, batch_size=batch_size, drop_last=False, **common)
    if shuffle:
        loader.global_batch_size = int(batch_size)
    return loader
