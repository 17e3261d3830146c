"""Every config file composes and passes validation: files are found by globbing conf/, so a new dataset, model,
metric, strategy, recipe or logger YAML is tested with no list to edit."""

from __future__ import annotations

import pytest
from conftest import REPO, compose, placeholders

from bench.config import validate_config
from bench.defaults import group_defaults

GROUPS = ("dataset", "model", "metric", "prune", "train", "logger", "paths")
CHOICES = [
    (group, path.stem)
    for group in GROUPS
    for path in sorted((REPO / "conf" / group).glob("*.yaml"))
    if not path.stem.startswith("_")  # shared fragments (metric/_probe_training.yaml) are not choices
]
# Choices that only make sense together (the validator says so when they are apart).
COMPANIONS = {
    ("dataset", "perceptron"): ["model=perceptron", "metric=margin"],
    ("model", "perceptron"): ["dataset=perceptron", "metric=margin"],
    ("metric", "margin"): ["dataset=perceptron", "model=perceptron"],
    ("metric", "none"): ["prune.keep=1.0"],
    ("prune", "infobatch"): ["metric=random"],
}


def test_every_group_has_choices():
    assert {g for g, _ in CHOICES} == set(GROUPS)


@pytest.mark.parametrize("group,choice", CHOICES, ids=[f"{g}={c}" for g, c in CHOICES])
def test_every_config_file_composes_and_validates(group, choice, monkeypatch):
    monkeypatch.setattr("pathlib.Path.is_file", lambda self: True)  # checkpoints named by placeholders
    overrides = [f"{group}={choice}", *COMPANIONS.get((group, choice), [])]
    cfg = compose(placeholders(overrides))
    validate_config(cfg)
    assert cfg[group], f"{group}={choice} composed to an empty section"


def test_library_defaults_are_the_yaml_defaults():
    """One source: the Hydra-free API's training defaults are conf/train/default.yaml, as Hydra composes it."""
    from bench.train import RECIPE_OFF, TRAIN_DEFAULTS

    composed = compose([])["train"]
    assert {k: v for k, v in TRAIN_DEFAULTS.items() if k not in RECIPE_OFF} == composed == group_defaults("train")
    assert not set(RECIPE_OFF) & set(composed)  # recipe-only settings live once, in code
    assert TRAIN_DEFAULTS["min_steps"] == 200  # the floor library callers used to miss


def test_metric_defaults_in_code_are_the_yaml():
    """The score-cache key holds the metric defaults in force: they are read from conf/metric/, so the code and the
    YAML cannot disagree, and a metric whose file is missing fails here."""
    from bench.metrics import METRICS, metric_defaults

    for name in METRICS.names():
        defaults = metric_defaults(name)
        if not defaults:
            continue
        composed = compose(placeholders([f"metric={name}", *COMPANIONS.get(("metric", name), [])]))["metric"]
        composed = {k: v for k, v in composed.items() if k not in ("name", "model")}
        if name == "file":
            composed["path"] = None  # mandatory: no default
        assert defaults == composed, name


def test_an_unresolvable_setting_is_a_one_line_config_error():
    from omegaconf import OmegaConf

    from bench.errors import ConfigError
    from bench.run import plain_config

    cfg = OmegaConf.create({"points": {"a": {"x": 1}}, "point": "bogus", "dataset": {"x": "${points.${point}.x}"}})
    with pytest.raises(ConfigError, match=r"dataset.x cannot be resolved: .*points.bogus.x"):
        plain_config(cfg)
