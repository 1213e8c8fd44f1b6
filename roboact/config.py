"""Typed run configs: dataclasses loaded from YAML with dotted command-line overrides.

Why OmegaConf: it merges a YAML file and ``a.b=c`` overrides into a *structured* config built from
our dataclasses, so a typo in a key or a wrong type is an error naming the key, not a silent new
field. Every run saves the resolved config beside its outputs (``save_config``), which is what
makes a run reproducible and resumable.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override that does not fit its dataclass; the message names the key."""


def resolve_config_path(path: str | Path) -> Path:
    """Find a config by path, or by bare name among the shipped ``tune_configs`` (``sim_small``)."""
    candidate = Path(path)
    if candidate.is_file():
        return candidate
    name = candidate.name if candidate.suffix in (".yaml", ".yml") else f"{candidate.name}.yaml"
    shipped = resources.files("roboact.tune_configs").joinpath(name)
    if shipped.is_file():
        return Path(str(shipped))
    shipped_dir = resources.files("roboact.tune_configs")
    available = sorted(p.name for p in shipped_dir.iterdir() if p.name.endswith(".yaml"))
    raise ConfigError(f"config file not found: {path} (shipped configs: {', '.join(available)})")


def load_config(
    cls: type[T],
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    preset: dict[str, Any] | None = None,
) -> T:
    """Build ``cls`` from its defaults, a preset, a YAML file, then ``key.sub=value`` overrides.

    Args:
        cls: a dataclass type (may nest other dataclasses).
        path: optional YAML file, or the bare name of a shipped config.
        overrides: dotted ``key=value`` strings, applied last.
        preset: values applied right after the defaults (for example a scale preset).

    Raises:
        ConfigError: naming the file and key when something does not match the dataclass.
    """
    base = OmegaConf.structured(cls)
    layers = [base]
    where = "defaults"
    try:
        if preset:
            where = f"preset {preset}"
            layers.append(OmegaConf.create(preset))
        if path is not None:
            where = str(resolve_config_path(path))
            loaded = OmegaConf.load(where)
            layers.append(loaded)
        if overrides:
            where = f"override {overrides}"
            layers.append(OmegaConf.from_dotlist(list(overrides)))
        merged = OmegaConf.merge(*layers)
        obj = OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        raise ConfigError(f"{where}: {err}".splitlines()[0] + f" ({cls.__name__})") from err
    return obj  # type: ignore[return-value]


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A plain dict (for Ray, JSON, YAML); dataclasses only."""
    return dataclasses.asdict(cfg)


def config_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Inverse of ``config_to_dict`` with the same validation as ``load_config``."""
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls), OmegaConf.create(data)))  # type: ignore[return-value]
    except OmegaConfBaseException as err:
        raise ConfigError(f"{cls.__name__}: {err}".splitlines()[0]) from err


def save_config(cfg: Any, run_dir: str | Path, name: str = "config.yaml") -> Path:
    """Write the resolved config into the run directory and return its path."""
    out = Path(run_dir) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(OmegaConf.to_yaml(OmegaConf.structured(cfg)))
    return out
