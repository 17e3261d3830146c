"""The one source of every default setting: the YAML files under ``conf/``.

Hydra composes them for ``python -m bench.run``; the Hydra-free library API reads the same files through
``group_defaults`` (e.g. ``bench.train.TRAIN_DEFAULTS`` is ``conf/train/default.yaml``), so a default is written
once. The harness is installed from its clone (``pip install -e .``), so ``conf/`` sits next to the package.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


@functools.cache
def _load(group: str, choice: str) -> dict[str, Any]:
    path = CONF_DIR / group / f"{choice}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no config {path}: the library reads its defaults from the clone's conf/ folder")
    out = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    out.pop("defaults", None)
    return out


def group_defaults(group: str, choice: str = "default") -> dict[str, Any]:
    """The settings of ``conf/<group>/<choice>.yaml`` as a fresh plain dict (without its Hydra defaults list)."""
    return dict(_load(group, choice))
