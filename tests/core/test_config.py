"""The config loader: defaults, YAML, dotted overrides, and errors that name the key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from roboact.config import (
    ConfigError,
    config_from_dict,
    config_to_dict,
    load_config,
    resolve_config_path,
    save_config,
)


@dataclass
class _Optim:
    lr: float = 1e-3
    """learning rate"""
    steps: int = 10


@dataclass
class _Run:
    name: str = "x"
    optim: _Optim = field(default_factory=_Optim)
    tags: list[str] = field(default_factory=list)


def test_defaults_then_yaml_then_overrides_in_that_order(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"name": "from_yaml", "optim": {"lr": 0.5}}))
    cfg = load_config(_Run, path, ["optim.steps=3", "name=from_cli"])
    assert (cfg.name, cfg.optim.lr, cfg.optim.steps) == ("from_cli", 0.5, 3)
    assert isinstance(cfg, _Run) and isinstance(cfg.optim, _Optim)


def test_unknown_key_is_an_error_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"optim": {"lrr": 0.1}}))
    with pytest.raises(ConfigError, match="lrr"):
        load_config(_Run, path)


def test_wrong_type_override_is_an_error_naming_the_value() -> None:
    with pytest.raises(ConfigError, match="steps|abc"):
        load_config(_Run, None, ["optim.steps=abc"])


def test_missing_file_lists_shipped_configs() -> None:
    with pytest.raises(ConfigError, match="not found"):
        resolve_config_path("definitely_not_a_config")


def test_saved_config_round_trips(tmp_path: Path) -> None:
    cfg = load_config(_Run, None, ["optim.lr=0.25", "tags=[a,b]"])
    saved = save_config(cfg, tmp_path / "run")
    assert load_config(_Run, saved) == cfg
    assert config_from_dict(_Run, config_to_dict(cfg)) == cfg
