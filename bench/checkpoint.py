"""Mid-run checkpoints: when to save, where, how to tell a good file from a damaged one, and what a signal does.

- ``parse_every(value)`` reads ``train.checkpoint_every``: ``N`` or ``"Nepochs"`` (every N epochs), ``"Nmin"``
  (every N minutes of training), ``"Nsteps"`` (every N optimiser steps); ``null``/``0``/``"off"`` = never.
- ``CheckpointDir`` keeps the newest checkpoints of one run (or one score) in a folder: each file is written to a
  temp name and renamed, then a sidecar JSON records its size and sha256; ``latest()`` returns the newest file whose
  sidecar matches, moving a corrupt or truncated one aside with a warning (so a run restarts from the previous
  checkpoint, or from scratch when none is left).
- ``PreemptionGuard`` catches the signals a cluster sends before it stops a job (SIGUSR1, SIGUSR2: submitit's
  time-limit and preemption signal, SIGTERM). While a training loop runs, the loop saves a checkpoint at its next
  step and then hands the signal to the handler that was there before (submitit's requeues the job and exits);
  outside a training loop, the previous handler runs at once. With no previous handler the job exits with 128+signal.
  A signal that came while the loop ran but found no step left to save at (it came in the last evaluation) is handed
  on when the job ends, after its record is written. While a job waits for training processes it spawned, it
  forwards the signal to them (``forwarding``).
- ``BENCH_TEST_KILL_AT_STEP=N`` (tests only): the process kills itself with SIGKILL after its N-th optimiser step.
- ``BENCH_TEST_SIGNAL=SIGNAME:step|eval:N[:RANK]`` (tests only): the process sends itself SIGNAME after its N-th
  optimiser step or its N-th test-evaluation batch of a training run, on global rank RANK (default 0).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from bench.io import atomic_write_bytes

log = logging.getLogger("bench.checkpoint")

_EVERY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(epochs?|ep|min|minutes?|m|steps?)?\s*$", re.IGNORECASE)
_UNITS = {
    "epoch": "epochs",
    "epochs": "epochs",
    "ep": "epochs",
    "min": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "m": "minutes",
    "step": "steps",
    "steps": "steps",
}


@dataclass(frozen=True)
class Every:
    """A checkpoint schedule: every ``n`` epochs, minutes or steps (``kind``)."""

    kind: str
    n: float

    def due(self, step: int, steps_per_epoch: int, seconds_since_last: float) -> bool:
        """Whether a checkpoint is due after optimiser step ``step`` (1-based count of steps done)."""
        if self.kind == "minutes":
            return seconds_since_last >= 60.0 * self.n
        period = int(self.n) * (steps_per_epoch if self.kind == "epochs" else 1)
        return period > 0 and step % period == 0


def parse_every(value: Any) -> Optional[Every]:
    """``train.checkpoint_every`` as an Every, or None (no periodic checkpoints); ValueError names a bad value."""
    if (
        value is None
        or value is False
        or (isinstance(value, str) and value.strip().lower() in ("", "off", "none", "null", "never"))
    ):
        return None
    if isinstance(value, bool):
        raise ValueError(f"train.checkpoint_every={value!r} is not allowed")
    if isinstance(value, (int, float)):
        if value < 0 or not float(value).is_integer():
            _bad(value)
        return Every("epochs", int(value)) if value > 0 else None
    m = _EVERY_RE.match(str(value))
    if not m:
        _bad(value)
    n, unit = float(m.group(1)), _UNITS[(m.group(2) or "epochs").lower()]
    if n == 0:
        return None
    if unit != "minutes" and not n.is_integer():
        _bad(value)
    return Every(unit, n)


def _bad(value: Any):
    raise ValueError(
        f"train.checkpoint_every={value!r} is not allowed: give a number of epochs (2, '2epochs'), "
        f"minutes ('30min') or steps ('500steps'), or null to turn checkpoints off"
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class CheckpointDir:
    """The newest ``keep`` checkpoints of one run in ``root`` (``ckpt-<step>.pt`` + ``.json`` sidecars)."""

    def __init__(self, root: str | os.PathLike, keep: int = 2) -> None:
        self.root, self.keep = Path(root), max(1, int(keep))

    def save(self, step: int, write: Callable[[Path], None], meta: Optional[dict] = None) -> Path:
        """Write a checkpoint for ``step`` with ``write(tmp_path)``, atomically; drop the ones beyond ``keep``."""

        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"ckpt-{int(step):010d}.pt"
        tmp = self.root / f".{path.name}.{os.getpid()}.tmp"
        try:
            write(tmp)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            side = {
                "step": int(step),
                "size": tmp.stat().st_size,
                "sha256": _sha256(tmp),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                **(meta or {}),
            }
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        atomic_write_bytes(path.with_suffix(".json"), json.dumps(side, indent=1, default=str).encode())
        for old in self._files()[self.keep :]:
            for p in (old, old.with_suffix(".json")):
                p.unlink(missing_ok=True)
        return path

    def _files(self) -> list[Path]:
        """Checkpoint files, newest step first."""
        return sorted(self.root.glob("ckpt-*.pt"), reverse=True) if self.root.is_dir() else []

    def latest(self, expect: Optional[dict] = None) -> Optional[tuple[Path, dict]]:
        """(path, sidecar) of the newest intact checkpoint whose sidecar agrees with ``expect``, or None.

        A file whose size or checksum disagrees with its sidecar (or has none) is moved aside as ``.corrupt`` with a
        warning, and the previous one is tried; a checkpoint of other settings (``expect`` mismatch) is ignored."""
        for path in self._files():
            side_path = path.with_suffix(".json")
            try:
                side = json.loads(side_path.read_text())
                if path.stat().st_size != side["size"] or _sha256(path) != side["sha256"]:
                    raise ValueError("size or checksum differs from its sidecar (truncated or corrupt)")
            except Exception as e:  # missing/unreadable sidecar, damaged file
                log.warning("checkpoint %s is unusable (%s); trying the previous one", path, e)
                for p in (path, side_path):
                    if p.exists():
                        os.replace(p, p.with_name(p.name + ".corrupt"))
                continue
            bad = {k: (side.get(k), v) for k, v in (expect or {}).items() if side.get(k) != v}
            if bad:
                log.warning("checkpoint %s belongs to other settings %s; ignoring it", path, bad)
                continue
            return path, side
        if any(self.root.glob("*.corrupt")) if self.root.is_dir() else False:
            log.warning("no usable checkpoint left in %s: starting from scratch", self.root)
        return None

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class EnsembleCheckpoint:
    """Where a score's probe ensembles keep their progress (one CheckpointDir per training ``tag`` under ``root``)
    and how often they save it (``every``: None = only finished members and on a signal)."""

    root: Path
    every: Optional[Every] = None

    def files(self, tag: str) -> CheckpointDir:
        return CheckpointDir(Path(self.root) / tag)

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class Preempted(SystemExit):
    """The job was asked to stop by a signal; its checkpoint is saved (exit code 128 + signal number)."""


class PreemptionGuard:
    """Turns SIGUSR1/SIGUSR2/SIGTERM into 'checkpoint at the next step, then stop' while a training loop runs.

    Use as a context manager around a job; training loops wrap their steps in ``guard.training()`` and call
    ``guard.after_checkpoint()`` once they have saved (``deliver(signum)`` on a DDP rank the signal did not reach).
    Installed in the main thread only (elsewhere it is inert). ``hand_on_at_exit``: a signal still pending when the
    job ends (it came after the last step) goes to the previous handler then."""

    SIGNALS = ("SIGUSR1", "SIGUSR2", "SIGTERM")

    def __init__(self, hand_on_at_exit: bool = True) -> None:
        self.requested: Optional[int] = None
        self._previous: dict[int, Any] = {}
        self._in_training = 0
        self._forward: list[int] = []  # pids of spawned training processes that get the signal too
        self.hand_on_at_exit = hand_on_at_exit  # a pending signal goes to the previous handler when the job ends

    def __enter__(self) -> PreemptionGuard:
        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                signum = getattr(signal, name, None)
                if signum is not None:
                    self._previous[signum] = signal.signal(signum, self._handle)
        _ACTIVE.append(self)
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        try:
            if exc_type is None and self.requested is not None and self.hand_on_at_exit:
                self.after_checkpoint()  # the job is done (record written): the signal still stops it / requeues
        finally:
            self._previous = {}

    def _handle(self, signum: int, frame: Any) -> None:
        log.warning("received %s: saving a checkpoint at the next step, then stopping", signal.Signals(signum).name)
        self.requested = signum
        for pid in self._forward:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        if not self._in_training:  # nothing to save here: let the previous handler act now
            self.after_checkpoint()

    def reclaim(self) -> None:
        """Install this guard's handler again (main thread only): Lightning's Trainer installs its own SIGTERM
        handler when ``fit`` starts, which would end the run at the end of the step without a checkpoint; it puts
        back the handler it found (this one) when ``fit`` ends."""
        if threading.current_thread() is threading.main_thread():
            for signum in self._previous:
                signal.signal(signum, self._handle)

    @contextlib.contextmanager
    def forwarding(self, pids: list[int]):
        """While the job waits for the training processes ``pids`` it spawned: a signal is passed on to them (they
        save and stop) and kept pending here, as during training."""
        self._forward = list(pids)
        self._in_training += 1
        try:
            yield self
        finally:
            self._in_training -= 1
            self._forward = []

    def deliver(self, signum: int) -> None:
        """Act on ``signum`` as if it had arrived here and its checkpoint were saved (``after_checkpoint``): the
        training processes of one run stop together, whichever of them the signal reached."""
        if self.requested is None:
            self.requested = signum
        self.after_checkpoint()

    class _Training:
        def __init__(self, guard: PreemptionGuard) -> None:
            self.guard = guard

        def __enter__(self) -> None:
            self.guard._in_training += 1

        def __exit__(self, *exc: Any) -> None:
            self.guard._in_training -= 1

    def training(self) -> PreemptionGuard._Training:
        return PreemptionGuard._Training(self)

    def after_checkpoint(self) -> None:
        """Hand the pending signal to the previous handler (submitit: requeue and exit), or exit 128+signal."""
        signum, self.requested = self.requested, None
        if signum is None:
            return
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, None)
            return
        if previous == signal.SIG_IGN:
            return
        raise Preempted(128 + signum)


_ACTIVE: list[PreemptionGuard] = []


def preemption_signals() -> tuple[int, ...]:
    """The numbers of the signals a PreemptionGuard catches on this platform."""
    return tuple(int(getattr(signal, n)) for n in PreemptionGuard.SIGNALS if hasattr(signal, n))


def active_guard() -> Optional[PreemptionGuard]:
    """The innermost PreemptionGuard in force in this process, or None."""
    return _ACTIVE[-1] if _ACTIVE else None


_STEPS_DONE = [0]


def test_signal_hook(where: str, count: int, rank: int = 0) -> None:
    """Tests only: send this process the signal ``BENCH_TEST_SIGNAL=SIGNAME:WHERE:N[:RANK]`` names when its
    ``count``-th ``where`` event (``step`` or ``eval``) of a training run is the N-th, on global rank RANK."""
    spec = os.environ.get("BENCH_TEST_SIGNAL")
    if not spec:
        return
    name, at, n, *on_rank = spec.split(":")
    if at == where and count == int(n) and rank == int(on_rank[0] if on_rank else 0):
        log.warning("BENCH_TEST_SIGNAL=%s reached: sending %s to this process", spec, name)
        os.kill(os.getpid(), getattr(signal, name))


def test_kill_hook() -> None:
    """Tests only: SIGKILL this process after its ``BENCH_TEST_KILL_AT_STEP``-th optimiser step (all runs)."""
    at = os.environ.get("BENCH_TEST_KILL_AT_STEP")
    if not at:
        return
    _STEPS_DONE[0] += 1
    if _STEPS_DONE[0] >= int(at):
        log.warning("BENCH_TEST_KILL_AT_STEP=%s reached: killing this process", at)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)
