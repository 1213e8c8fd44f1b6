"""One config and one entry point per stage: how every stage command reads its settings.

A *stage* is a command that does a piece of the pipeline (``data build``, ``train``, ``sim eval``,
...). Each has a dataclass config beside the code it configures and a library function
``run_<command path>(cfg)`` (``run_data_build``, ``run_sim_eval``) that the command calls, so a
Python user or a cluster job runs it without the CLI. Every stage command reads its config the
same way, through ``resolve``; later wins:

    dataclass defaults < scale preset < option defaults < ``--config/-c FILE`` < ``KEY=VALUE`` < typed options

so a cluster job is ``roboact <stage> -c job.yaml key=value``, an option you type (``--workers 4``)
wins over both, and an option you leave out never hides the file's value. ``--print-config``
prints the resolved config as YAML and exits: that is how a job file is written.

Why a generator over ``dataclasses.fields`` and not tyro/jsonargparse: the commands keep their
typer options (tests, docs and scripts use them) and OmegaConf stays the one merger, so only the
help text (``StageCommand``) and this resolver are new. The config keys in ``--help`` are read from
the dataclass and its field docstrings, never written by hand.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand

from roboact.config import ConfigError, load_config

T = TypeVar("T")

PRECEDENCE = "defaults < --config FILE < KEY=VALUE overrides < options typed on the command line"

ConfigFileOpt = Annotated[
    str | None,
    typer.Option(
        "--config", "-c", help="YAML file (or shipped name) of this command's config keys, listed below."
    ),
]
OverridesArg = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[KEY=VALUE]...",
        help="Dotted config overrides (keys below), e.g. workers=4 env.max_steps=300.",
    ),
]
PrintConfigOpt = Annotated[
    bool,
    typer.Option("--print-config", help="Print the resolved config as YAML and exit without running."),
]

UTILITY_COMMANDS = frozenset(
    {
        "version",
        "report",
        "doctor",
        "data stats",
        "data clips",
        "data splits",
        "data parse",
        "policy info",
        "sim table",
        "hardware check",
        "hardware fake-controller",
        "hardware report",
    }
)
"""commands that inspect or serve rather than run a stage: they take no config (test_stage_config
fails when a command is in neither this set nor made with ``stage_command``)"""


def entry_point_name(command_path: str) -> str:
    """``data build`` -> ``run_data_build``: the library function a stage command calls."""
    return "run_" + command_path.replace("-", "_").replace(" ", "_")


def stage_command(config: str, entry: str) -> type[TyperCommand]:
    """A typer command class for one stage, for ``app.command(cls=...)``.

    ``config`` and ``entry`` are ``module:name`` of the config dataclass and its ``run_*`` function,
    imported only when ``--help`` is shown, so ``roboact --help`` stays free of torch and Ray.
    """
    return type("StageCommand", (StageCommand,), {"config_ref": config, "entry_ref": entry})


class StageCommand(TyperCommand):
    """A stage command: its ``--help`` ends with its config keys, generated from the dataclass."""

    config_ref: str = ""
    entry_ref: str = ""

    def config_class(self) -> type:
        return import_ref(self.config_ref)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        super().format_help(ctx, formatter)
        formatter.write(f"\nConfig keys ({self.config_ref.split(':')[1]}; {PRECEDENCE}):\n")
        formatter.write(config_keys_help(self.config_class()))


def import_ref(ref: str) -> Any:
    """The object named by ``module:attribute``."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def field_docs(cls: type) -> dict[str, str]:
    """Each field's docstring (the string literal under it), from ``cls`` and its dataclass bases."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:], strict=False):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def config_keys(cls: type, prefix: str = "") -> list[tuple[str, str, Any, str]]:
    """(dotted key, type, default, doc) of every leaf field, nested dataclasses flattened."""
    rows: list[tuple[str, str, Any, str]] = []
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        if dataclasses.is_dataclass(default):
            rows += config_keys(type(default), f"{prefix}{f.name}.")
            continue
        type_name = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        rows.append((prefix + f.name, type_name, default, docs.get(f.name, "")))
    return rows


def config_keys_help(cls: type) -> str:
    """The config keys as help text: ``key: type = default`` and the field's doc under it."""
    lines = []
    for key, type_name, default, doc in config_keys(cls):
        lines.append(f"  {key}: {type_name} = {default!r}")
        if doc:
            lines += textwrap.wrap(doc, width=96, initial_indent="      ", subsequent_indent="      ")
    return "\n".join(lines) + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}`` (values as they are: no YAML parsing of a path)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


FROM_PARAMS = object()
"""``resolve``'s default config file: the command's ``config`` parameter"""

Flag = str | tuple[str, Callable[[Any], Any]]
"""a config key, or (key, converter of the option's value), e.g. ("tasks", split_commas)"""


def split_commas(text: str) -> list[str]:
    """``"a, b,"`` -> ``["a", "b"]``: the comma-separated list options of the stage commands."""
    return [p.strip() for p in text.split(",") if p.strip()]


def resolve(
    ctx: Any,
    cls: type[T],
    flags: Mapping[str, Flag],
    *,
    overrides: list[str] | None = None,
    preset: dict[str, Any] | Callable[[Any], dict[str, Any]] | None = None,
    config: str | Path | None | object = FROM_PARAMS,
    typed: Mapping[str, Any] | None = None,
    check: Callable[[T], Any] | None = None,
) -> T:
    """The stage config of the running command; ``--print-config`` prints it and exits here.

    Args:
        ctx: the command's context: its ``config``, ``overrides`` and ``print_config`` parameters,
            and each option's value and where it came from (typed, or its default).
        cls: the stage's config dataclass.
        flags: option parameter name -> config key. A typed option goes above the overrides; an
            option left at a non-None default goes below the file (it is the command's default).
        overrides: the dotted overrides (default: the ``overrides`` parameter), for commands whose
            positional parameter has another name.
        preset: as ``load_config``'s (a scale preset read from the merged config).
        config: the config file (default: the ``config`` parameter).
        typed: more typed settings (config key -> value), for an option read another way.
        check: a check of the whole config that its dataclass does not make itself (a ``ValueError``
            naming the field); run before ``--print-config`` so a printed job file is one that runs.

    Raises:
        ConfigError: naming the file or overrides and the key at fault, or the value check that failed.
    """
    params = ctx.params
    sources = ("COMMANDLINE", "ENVIRONMENT", "PROMPT")  # typer vendors click: compare names
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for param, spec in flags.items():
        key, convert = (spec, _plain) if isinstance(spec, str) else spec
        if param not in params:  # a typo here would silently drop the option: a bug, not user input
            raise TypeError(f"resolve: {ctx.command_path} has no option parameter {param!r}")
        value = params[param]
        if value is None:
            continue
        (after if getattr(ctx.get_parameter_source(param), "name", "") in sources else before)[key] = _plain(
            convert(value)
        )
    after.update({key: _plain(value) for key, value in (typed or {}).items()})
    path = params.get("config") if config is FROM_PARAMS else config
    path = _staged_config(path)
    dotted = overrides if overrides is not None else list(params.get("overrides") or [])
    for item in dotted:
        if "=" not in item:
            raise ConfigError(
                f"override {item!r}: expected KEY=VALUE (config keys: {ctx.command_path} --help)"
            )
    try:
        cfg = load_config(cls, path, dotted, preset=preset, before=_nest(before), after=_nest(after))
        _check_option_ranges(ctx, cfg, flags)
        if check is not None:
            check(cfg)
    except ConfigError:
        raise
    except ValueError as err:  # a field's own check (__post_init__)
        where = f"{path} + overrides" if path is not None else "the options and overrides"
        raise ConfigError(f"{cls.__name__} from {where}: {err}") from err
    if params.get("print_config"):
        typer.echo(to_yaml(cfg), nl=False)
        raise typer.Exit(0)
    return cfg


def _staged_config(path: Any) -> Any:
    """A ``--config`` given as an ``s3://`` / ``gs://`` URI, staged to this node (a cluster job's file
    may live in the bucket beside its data); a path or shipped name as it is."""
    from roboact import storage

    if isinstance(path, str | Path) and storage.is_remote(path):
        return str(storage.local_copy(path))
    return path


def _check_option_ranges(ctx: Any, cfg: Any, flags: Mapping[str, Flag]) -> None:
    """An option's range (``--workers`` ``min=1``, ports ``max=65535``) holds for its config key too.

    Why: typer checks the range only of a value typed as the option; the same key from ``--config``
    or ``KEY=VALUE`` (``workers=0``) reached the stage unchecked. ``ConfigError`` names key and option.
    """
    for param in ctx.command.params:
        spec = flags.get(param.name or "")
        low, high = getattr(param, "min", None), getattr(param, "max", None)
        if not isinstance(spec, str) or (low is None and high is None):
            continue
        value: Any = cfg
        for part in spec.split("."):
            value = getattr(value, part)
        if value is None or ((low is None or value >= low) and (high is None or value <= high)):
            continue
        bounds = " and ".join(
            f"{word} {bound}" for word, bound in (("at least", low), ("at most", high)) if bound is not None
        )
        raise ConfigError(f"{spec}={value!r}: must be {bounds} (as {param.opts[0]})")


def to_yaml(cfg: Any) -> str:
    """The config as the YAML a ``--config`` file holds."""
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def as_base(cfg: Any, base: type[T]) -> T:
    """The ``base`` part of a stage config that extends it (a ``TrainConfig`` out of a train job's
    config): what the stage saves and fingerprints stays the base, so old runs still resume."""
    values = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(base) if f.init}
    return base(**values)


def require(value: Any, option: str, key: str) -> None:
    """A required setting is missing: name the option and the config key that give it."""
    if value in (None, "", []):
        raise ConfigError(f"{option} is required (or {key}=... / '{key}:' in --config)")
