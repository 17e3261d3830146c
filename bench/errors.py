"""The exception types that mean "a bad setting": raised before any training, reported in one line (no traceback)
by the entry points. A leaf module: it imports nothing from bench, so every layer can raise them."""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad setting, found before any training."""


class DatasetError(ValueError):
    """A dataset cannot be built from the given settings or files (missing root, corrupt file, bad size...)."""


class MetricError(ValueError):
    """A metric cannot run with the given settings or data (bad parameter, missing file, unsupported dataset)."""


class SelectionError(ValueError):
    """Scores, labels and selection settings that cannot give a kept set."""


SETTING_ERRORS: tuple[type[ValueError], ...] = (ConfigError, DatasetError, MetricError, SelectionError)
