"""The student's LightningModule: cross-entropy training, test-split evaluation, a learning-curve record."""

from __future__ import annotations

import functools
from typing import Any, Optional

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F

from bench.train.optim import OPTIMIZERS, SCHEDULES, lr_factor, param_groups  # noqa: F401  (re-exported)
from bench.train.recipe import Lookahead


def _cache_hook_signature_checks() -> None:
    """Lightning's training loop inspects ``training_step``'s signature on every step (``inspect``, ~30 µs); the
    answer depends on the function alone, so it is cached per function (not per bound method: no module is kept
    alive by the cache)."""

    from pytorch_lightning.loops import training_epoch_loop as loop

    original = getattr(loop, "is_param_in_hook_signature", None)
    if original is None or getattr(original, "_bench_cached", False):
        return
    cached = functools.lru_cache(maxsize=256)(original)

    def check(hook_fx, param, explicit=False, min_args=None):
        return cached(getattr(hook_fx, "__func__", hook_fx), param, explicit, min_args)

    check._bench_cached = True
    loop.is_param_in_hook_signature = check


_cache_hook_signature_checks()


def curve_metrics(point: dict) -> dict:
    """The logger's metrics of one learning-curve point (live from the module, or after a spawned DDP run)."""
    return {
        "test/error": point["test_error"],
        "test/accuracy": point["test_accuracy"],
        "test/loss": point["test_loss"],
        "train/loss": point["train_loss"],
        "epoch_frac": point["epoch"],
    }


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


class LitClassifier(pl.LightningModule):
    """Trains ``model`` with cross-entropy; evaluates on the test split and keeps the curve in ``self.curve``."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: str = "sgd",
        lr: float = 0.1,
        momentum: float = 0.9,
        nesterov: bool = True,
        weight_decay: float = 5e-4,
        decay_norm_and_bias: bool = False,
        schedule: str = "cosine",
        warmup: float = 0.0,
        milestones: tuple = (),
        gamma: float = 0.1,
        label_smoothing: float = 0.0,
        total_steps: int = 1,
        steps_per_epoch: int = 1,
        check_finite_every: int = 1,
        channels_last: bool = False,
        infobatch: Any = None,
        schedule_epochs: Optional[int] = None,
        recipe: Optional[dict] = None,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False  # training_step steps the optimiser and the schedule itself
        self.model = model
        self.hp = dict(
            optimizer=optimizer,
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            decay_norm_and_bias=decay_norm_and_bias,
            schedule=schedule,
            warmup=warmup,
            milestones=tuple(milestones),
            gamma=gamma,
            **(recipe or {}),
        )
        self.label_smoothing = label_smoothing
        self.total_steps = total_steps
        self.steps_per_epoch = steps_per_epoch
        self.check_finite_every = check_finite_every
        self.channels_last = channels_last
        self.curve: list[dict] = []
        # dynamic pruning: the InfoBatch whose scores the per-example losses update; with ``schedule_epochs`` the
        # lr schedule runs on progress = epochs done / schedule_epochs (an epochs budget: steps per epoch vary)
        self.infobatch, self.schedule_epochs = infobatch, schedule_epochs
        self._progress: Optional[float] = None
        self.examples_seen = 0  # examples forward/backward in training (every batch's size, summed)
        self.examples_per_epoch: list[int] = []  # under dynamic pruning: per data epoch of the plans
        self.epochs_done = 0.0  # under dynamic pruning: data epochs done (a fraction for a partial one)
        self._nonfinite = False  # a NaN/inf training loss was seen (the running loss sum turns non-finite)
        self._val_sums: Optional[torch.Tensor] = None
        self._train_loss_sum = torch.zeros(())
        self._train_batches = 0
        self._world = 1  # processes training this model together (DDP), from the trainer at the start
        self._plain_backward = False  # loss.backward() itself: one process, no loss scaling (on_train_start)
        self._opt_sched: Optional[tuple] = None  # the optimiser and scheduler, looked up once per fit
        every = int(self.hp.get("lookahead_every") or 0)  # airbench's lookahead (EMA) of the weights; 0 = none
        self.lookahead = (
            Lookahead(every, self.hp.get("lookahead_decay", 0.95), self.hp.get("lookahead_power", 3.0))
            if every
            else None
        )
        self._frozen_fn = None  # the model's frozen_parameters(epoch), when it has one (airbench's whitening bias)

    # Attributes Lightning and this module set on every step or hook: plain values, never parameters, buffers or
    # submodules, so they skip nn.Module.__setattr__'s registry checks (about 5% of a small student's step time).
    _PLAIN_ATTRS = frozenset(
        {
            "_current_fx_name",
            "examples_seen",
            "_nonfinite",
            "_train_loss_sum",
            "_train_batches",
            "epochs_done",
            "_progress",
            "examples_per_epoch",
            "_opt_sched",
            "_frozen_fn",
        }
    )

    def __setattr__(self, name: str, value: Any) -> None:
        if name in LitClassifier._PLAIN_ATTRS:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def on_train_start(self) -> None:
        self._world = int(self.trainer.world_size)
        self._opt_sched = (self.optimizers(), self.lr_schedulers())
        # Lightning's manual_backward runs hooks and the precision plugin's loss scaling; with one process and no
        # scaling (fp32, bf16) it comes down to loss.backward(), minus ~0.1 ms of wrappers per step
        self._plain_backward = self._world == 1 and str(self.trainer.precision) in (
            "32-true",
            "bf16-mixed",
            "bf16-true",
            "64-true",
        )
        self._frozen_fn = getattr(self.model, "frozen_parameters", None)
        if self.lookahead is not None:
            self.lookahead.start(self.model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """Device-resident batches are already where they train: skip Lightning's walk over the batch."""
        first = batch[0] if isinstance(batch, (tuple, list)) and batch else None
        if isinstance(first, torch.Tensor) and first.device == device:
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def training_step(self, batch: Any, batch_idx: int) -> None:
        """Forward, backward, optimiser and scheduler step. The optimisation is written out (Lightning's manual
        optimisation) rather than left to Lightning's automatic loop, whose closures and hooks cost more per step
        than a small student's forward and backward pass."""
        x, y = batch[0], batch[1]
        logits = self.model(x)
        if len(batch) > 3 and isinstance(batch[3], dict):
            loss = self.weighted_loss(logits, y, batch[2], batch[3])
        else:
            loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        self.examples_seen += int(y.shape[0]) * self._world  # DDP: every rank's shard is the same size
        det = loss.detach()
        if self._train_loss_sum.device != det.device:
            self._train_loss_sum = self._train_loss_sum.to(det.device)
        self._train_loss_sum += det  # a NaN or inf loss makes the sum non-finite until the next evaluation
        self._train_batches += 1
        if self.global_step % self.check_finite_every == 0:
            self._raise_if_nonfinite()
        opt, sched = self._opt_sched or (self.optimizers(), self.lr_schedulers())
        done = int(self.global_step)
        opt.zero_grad(set_to_none=True)
        if self._plain_backward:
            loss.backward()
        else:
            self.manual_backward(loss)
        if self._frozen_fn is not None:  # no gradient: the optimiser skips them (no step, momentum or decay)
            for p in self._frozen_fn(self.epochs_done if self.infobatch is not None else done / self.steps_per_epoch):
                p.grad = None
        opt.step()
        sched.step()
        if self.lookahead is not None:
            self.lookahead.after_step(self.model, done + 1, self.total_steps)

    def on_train_end(self) -> None:
        """An InfoBatch run under an epochs budget may end before its nominal steps: the model is the average."""
        if self.lookahead is not None and int(self.global_step) < self.total_steps:
            self.lookahead.finish(self.model)

    def weighted_loss(self, logits: torch.Tensor, y: torch.Tensor, pos: torch.Tensor, plan: dict) -> torch.Tensor:
        """Dynamic pruning's loss: the mean of the per-example cross-entropies times the plan's weights (1/(1-ratio)
        for the kept low-loss examples, else 1). The detached per-example losses become the positions' InfoBatch
        scores (no extra pass); the batch's data epoch is counted and its progress drives the lr schedule."""
        losses = F.cross_entropy(logits, y, reduction="none", label_smoothing=self.label_smoothing)
        loss = (losses * plan["weight"].to(losses.dtype)).mean()
        if self.infobatch is not None:
            self.infobatch.update(pos, losses.detach())
        epoch = int(plan["epoch"])
        self.examples_per_epoch += [0] * (epoch + 1 - len(self.examples_per_epoch))
        self.examples_per_epoch[epoch] += int(y.shape[0])
        self.epochs_done = float(plan["epochs_done"])
        if self.schedule_epochs:
            self._progress = self.epochs_done / self.schedule_epochs
        return loss

    def _raise_if_nonfinite(self) -> None:
        self._nonfinite = self._nonfinite or not bool(torch.isfinite(self._train_loss_sum))
        if self._nonfinite:
            raise NonFiniteLossError(f"training loss became NaN or infinite by step {self.global_step}")

    def on_validation_epoch_start(self) -> None:
        self._val_sums = torch.zeros(3, device=self.device, dtype=torch.float64)  # loss sum, correct, count
        if self._world > 1:  # every rank evaluates with rank 0's BatchNorm statistics: those of the checkpoints
            import torch.distributed as dist

            for buf in self.model.buffers():
                dist.broadcast(buf, src=0)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch[0], batch[1]
        logits = self.model(x).float()
        loss = F.cross_entropy(logits, y, reduction="sum")
        correct = (logits.argmax(1) == y).sum()
        self._val_sums += torch.stack(
            [loss.double(), correct.double(), torch.tensor(float(y.numel()), device=self.device, dtype=torch.float64)]
        )

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        self._raise_if_nonfinite()
        strategy = self.trainer.strategy  # under DDP: the sums over every rank's shard
        loss_sum, correct, count = strategy.reduce(self._val_sums, reduce_op="sum").tolist()
        acc = correct / max(count, 1.0)
        train = torch.stack(
            [
                self._train_loss_sum.double().to(self.device),
                torch.tensor(float(self._train_batches), dtype=torch.float64, device=self.device),
            ]
        )
        loss_total, batches = strategy.reduce(train, reduce_op="sum").tolist()
        train_loss = loss_total / max(batches, 1.0)
        epoch = self.epochs_done if self.infobatch is not None else self.global_step / self.steps_per_epoch
        point = {
            "step": int(self.global_step),
            "epoch": epoch,
            "test_error": 1.0 - acc,
            "test_accuracy": acc,
            "test_loss": loss_sum / max(count, 1.0),
            "train_loss": train_loss,
        }
        if self.curve and self.curve[-1]["step"] == point["step"]:
            self.curve[-1] = point
        else:
            self.curve.append(point)
        self._train_loss_sum.zero_()
        self._train_batches = 0
        self.log_dict(curve_metrics(point), on_step=False, on_epoch=True)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """The curve and the running training-loss sums (over every rank: every rank takes part in a save) travel
        with a mid-run checkpoint."""
        sums = torch.tensor(
            [float(self._train_loss_sum), float(self._train_batches)], dtype=torch.float64, device=self.device
        )
        if self._world > 1:
            sums = self.trainer.strategy.reduce(sums, reduce_op="sum")
        loss_sum, batches = sums.tolist()
        checkpoint["bench_state"] = {
            "curve": list(self.curve),
            "nonfinite": bool(self._nonfinite),
            "train_loss_sum": loss_sum,
            "train_batches": int(batches),
            "examples_seen": self.examples_seen,
            "examples_per_epoch": list(self.examples_per_epoch),
            "epochs_done": self.epochs_done,
            "progress": self._progress,
            "lookahead": self.lookahead.state_dict() if self.lookahead is not None else None,
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("bench_state") or {}
        self.curve = list(state.get("curve", []))
        self._nonfinite = bool(state.get("nonfinite", False))
        trainer = getattr(self, "_trainer", None)
        own = trainer is None or trainer.global_rank == 0  # the sums are global: rank 0 carries them on
        self._train_loss_sum = torch.tensor(float(state.get("train_loss_sum", 0.0)) if own else 0.0)
        self._train_batches = int(state.get("train_batches", 0)) if own else 0
        self.examples_seen = int(state.get("examples_seen", 0))
        self.examples_per_epoch = list(state.get("examples_per_epoch", []))
        self.epochs_done, self._progress = float(state.get("epochs_done", 0.0)), state.get("progress")
        if self.lookahead is not None:
            self.lookahead.load_state_dict(state.get("lookahead"))

    def configure_optimizers(self):
        hp = self.hp
        opt = OPTIMIZERS.get(hp["optimizer"])(self.model, hp)
        schedule, total = SCHEDULES.get(hp["schedule"]), self.total_steps

        def factor(step: int) -> float:  # by optimiser step, or by epoch progress (mapped onto the total)
            at = step if self._progress is None else self._progress * total
            return schedule(at, total, hp)

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
