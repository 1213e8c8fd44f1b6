"""Typed run configs: dataclasses loaded from YAML with dotted command-line overrides.

Why OmegaConf: it merges a YAML file and ``a.b=c`` overrides into a *structured* config built from
our dataclasses, so a typo in a key or a wrong type is an error naming the key, not a silent new
field. Every run saves the resolved config beside its outputs (``save_config``), which is what
makes a run reproducible and resumable. A config that cannot be read at all (malformed YAML, a list
or scalar at the top level, bytes that are not UTF-8) is a ``ConfigError`` naming the file, and the
line where the YAML parser gave up, never a parser traceback.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from roboact.errors import UserError

T = TypeVar("T")


class ConfigError(UserError, ValueError):
    """A config file or override that does not fit its dataclass; the message names the file and key."""


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
    preset: dict[str, Any] | Callable[[DictConfig], dict[str, Any]] | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> T:
    """Build ``cls`` from layers, later wins: defaults, preset, ``before``, YAML file, overrides, ``after``.

    Args:
        cls: a dataclass type (may nest other dataclasses).
        path: optional YAML file, or the bare name of a shipped config.
        overrides: dotted ``key=value`` strings.
        preset: values applied right after the defaults (for example a scale preset); a callable
            gets every other layer merged (to read, say, ``scale``) and returns the preset.
        before: a command's option defaults (nested mapping): above the preset, below the file.
        after: the options a user typed (nested mapping): above everything, so a flag wins.

    Raises:
        ConfigError: naming the layer (the file, or the overrides) and the key that does not match.
    """
    layers: list[tuple[str, Callable[[], Any]]] = []
    if before:
        layers.append(("command-line option defaults", lambda: OmegaConf.create(before)))
    if path is not None:
        file = resolve_config_path(path)
        layers.append((str(file), lambda: load_yaml_mapping(file)))
    if overrides:
        layers.append((f"override {list(overrides)}", lambda: OmegaConf.from_dotlist(list(overrides))))
    if after:
        layers.append(("command-line options", lambda: OmegaConf.create(after)))
    merged = _merge(cls, OmegaConf.structured(cls), layers)
    if preset is not None:
        values = preset(merged) if callable(preset) else preset
        base = _merge(
            cls, OmegaConf.structured(cls), [(f"preset {values}", lambda: OmegaConf.create(values))]
        )
        merged = _merge(cls, base, layers)
    try:
        obj = OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        raise ConfigError(f"{err}".splitlines()[0] + f" ({cls.__name__})") from err
    return obj  # type: ignore[return-value]


def _merge(cls: type, merged: DictConfig, layers: list[tuple[str, Callable[[], Any]]]) -> DictConfig:
    """Merge ``layers`` one at a time so an error names the layer (file or overrides) it came from."""
    for where, make in layers:
        try:
            merged = OmegaConf.merge(merged, make())
        except OmegaConfBaseException as err:
            raise ConfigError(f"{where}: {err}".splitlines()[0] + f" ({cls.__name__})") from err
    return merged  # type: ignore[return-value]


def load_yaml_mapping(path: str | Path) -> DictConfig:
    """The YAML file at ``path`` as a mapping; ``ConfigError`` naming the file (and line) otherwise.

    Why here and not in each caller: OmegaConf hands on PyYAML's parser errors and loads a top-level
    list as a ``ListConfig`` (merging it fails with "Cannot merge incompatible container types",
    naming no file), so every reader of a config gets the same checked mapping from this one place.
    """
    try:
        loaded = OmegaConf.load(path)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}{line}: malformed YAML ({problem})") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not a UTF-8 text file ({err.reason} at byte {err.start})") from err
    if not isinstance(loaded, DictConfig):
        kind = "a list" if isinstance(loaded, ListConfig) else f"a {type(loaded).__name__}"
        raise ConfigError(f"{path}: the top level is {kind}; a config is a mapping of field: value")
    return loaded


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
