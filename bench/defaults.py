"""The one source of every default setting: the YAML files under ``conf/``.

Hydra composes them for ``python -m bench.run``; the Hydra-free library API reads the same files through
``group_defaults`` (e.g. ``bench.train.TRAIN_DEFAULTS`` is ``conf/train/default.yaml``), so a default is written
once. The harness is installed from its clone (``pip install -e .``), so ``conf/`` sits next to the package.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


@functools.cache
def _load(group: str, choice: str) -> dict[str, Any]:
    """``conf/<group>/<choice>.yaml`` merged over the files of its own group that its defaults list names, in
    Hydra's order (``_self_`` where listed, else last)."""
    path = CONF_DIR / group / f"{choice}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no config {path}: the library reads its defaults from the clone's conf/ folder")
    own = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    entries = own.pop("defaults", None) or []
    if "_self_" not in entries:
        entries = [*entries, "_self_"]
    out: dict[str, Any] = {}
    for entry in entries:
        if entry == "_self_":
            out.update(own)
        elif isinstance(entry, str):
            out.update(_load(group, entry))
        else:
            raise ValueError(f"{path}: defaults entry {entry!r} is not a file of group {group!r}")
    return out


def group_defaults(group: str, choice: str = "default") -> dict[str, Any]:
    """The settings of ``conf/<group>/<choice>.yaml``, its same-group defaults merged in, as a fresh plain dict."""
    return copy.deepcopy(_load(group, choice))


def metric_settings(choice: str) -> dict[str, Any]:
    """A metric's default settings: ``conf/metric/<choice>.yaml`` with its shared fragments (``_probe_training``,
    ``_encoder``), without ``name`` and ``model``; a mandatory value (``???``) is None here (the validator asks for
    it). The metric modules take their defaults from here, so the YAML is their one source."""
    out = {k: v for k, v in group_defaults("metric", choice).items() if k not in ("name", "model")}
    return {k: (None if v == "???" else v) for k, v in out.items()}
