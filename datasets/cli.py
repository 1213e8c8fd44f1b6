"""``roboact data build|stats|parse|clips|splits``, ``roboact features extract|derive`` (Algorithm 1).

``data clips`` and ``data splits`` are contracts other tools check (issue #15): ``clips --json``
prints a list of ``{"id", "episode", "subject", "action", "object", "camera"}``, one per clip, where
``episode`` names the execution the clip comes from; ``splits --json`` prints
``{"<split name>": {"train": [ids], "val": [ids], "test": [ids]}, ...}`` as stored, the default
split under ``"random"``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from roboact.stage import ConfigFileOpt, OverridesArg, PrintConfigOpt, resolve, split_commas

data_app = typer.Typer(
    help="Algorithm 1: build clip stores, Table I statistics, action parsing.", no_args_is_help=True
)
features_app = typer.Typer(help="Frozen-encoder features of a clip store (Ray actors).", no_args_is_help=True)


def _stage(config: str, module: str, command: str) -> type:
    """The command class of a stage whose config and ``run_*`` live in ``roboact.datasets.<module>``."""
    from roboact.stage import entry_point_name, stage_command

    return stage_command(
        f"roboact.datasets.{config}", f"roboact.datasets.{module}:{entry_point_name(command)}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``data`` and ``features`` groups to the top-level app."""
    app.add_typer(data_app, name="data")
    app.add_typer(features_app, name="features")


def _fail(message: str) -> None:
    from roboact.cli_util import fail  # the one error path: one line, exit 2, -v adds the traceback

    fail(message)


def _local(store: str) -> Path | str:
    """A clip store to read here: a path as given, a URI staged once on this node."""
    from roboact import storage

    try:
        return storage.local_copy(store) if storage.is_remote(store) else store
    except storage.StorageError as err:
        _fail(str(err))
        raise  # _fail exits


def _echo_summary(summary: dict, as_json: bool = False) -> None:
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    for key, value in summary.items():
        if isinstance(value, dict) and len(value) > 8:
            value = f"{len(value)} entries"
        typer.echo(f"{key:>14}  {value}")


@data_app.command("build", cls=_stage("build:BuildConfig", "build", "data build"))
def build(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Option(help="rh20t, bridge or sim.")] = None,
    out: Annotated[
        str | None,
        typer.Option(help="Clip store to write, path or s3:// / gs:// URI (resumed when it exists)."),
    ] = None,
    root: Annotated[
        str | None, typer.Option(help="Dataset root (rh20t, bridge): a folder or a URI (staged here).")
    ] = None,
    parser: Annotated[
        str, typer.Option(help="Action parser: rules (offline) or llm (OpenAI-compatible).")
    ] = "rules",
    frames: Annotated[
        int | None, typer.Option(help="Frames sampled uniformly per clip (default 16; sim: its config's).")
    ] = None,
    image_size: Annotated[
        int | None, typer.Option(help="Stored frame side, 0 = provenance only (default 128; sim: config's).")
    ] = None,
    cameras: Annotated[
        str | None, typer.Option(help="Comma-separated RH20T camera serials (default all).")
    ] = None,
    task_descriptions: Annotated[
        str | None, typer.Option(help="RH20T task_description.json (path or URI).")
    ] = None,
    rejected: Annotated[
        str | None, typer.Option(help="Rejection log, path or URI (default <out stem>.rejected.jsonl).")
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            help="YAML of the config keys below; a simulated-source config (sim_tiny, sim_large, ...) "
            "is read as sim_config=<it>, as before.",
        ),
    ] = None,
    sim_config: Annotated[
        str | None, typer.Option(help="Simulated source config, shipped name or YAML (sim only).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Parallel workers (sim only).")] = 2,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (sim only).")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of splits and of the sim source (default 0; sim: config's).")
    ] = None,
    llm_base_url: Annotated[str | None, typer.Option(help="LLM endpoint (env ROBOACT_LLM_BASE_URL).")] = None,
    llm_model: Annotated[str | None, typer.Option(help="LLM model (env ROBOACT_LLM_MODEL).")] = None,
    llm_cache: Annotated[
        str | None, typer.Option(help="LLM answer cache dir or URI (env ROBOACT_LLM_CACHE).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    overrides: OverridesArg = None,
    print_config: PrintConfigOpt = False,
) -> None:
    """Run Algorithm 1 over a source into a clip store; rejected clips go to a jsonl log."""
    from roboact.datasets.build import BuildConfig, run_data_build
    from roboact.datasets.parse_llm import LLMConfigError
    from roboact.datasets.video import FrameError

    names = ("source", "out", "root", "parser", "frames", "image_size", "task_descriptions", "rejected")
    names += ("sim_config", "workers", "address", "seed", "llm_base_url", "llm_model", "llm_cache")
    flags = {**{n: n for n in names}, "cameras": ("cameras", split_commas)}
    stage_file, legacy_sim = _build_config_file(config)
    cfg = resolve(
        ctx, BuildConfig, flags, config=stage_file, typed={"sim_config": legacy_sim} if legacy_sim else None
    )
    try:
        summary = run_data_build(cfg)
    except (ValueError, LLMConfigError, FrameError, OSError) as err:
        _fail(str(err))
    _echo_summary(summary, as_json)


def _build_config_file(path: str | None) -> tuple[str | None, str | None]:
    """``data build --config``: (a BuildConfig file, or None; a simulated-source config, or None).

    Why: before one config per stage, ``--config`` named the simulated source's config (``sim_tiny``),
    and docs and scripts still say so; a file whose keys are all ``SimSourceConfig`` keys is read so.
    """
    if path is None:
        return None, None
    import dataclasses

    from roboact import storage

    if storage.is_remote(path):  # a job file kept in the bucket
        path = str(storage.local_copy(path))

    from roboact.datasets.build import BuildConfig
    from roboact.datasets.sim_source import SimSourceConfig

    from roboact.config import load_yaml_mapping, resolve_config_path

    keys = set(load_yaml_mapping(resolve_config_path(path)).keys())
    sim_keys = {f.name for f in dataclasses.fields(SimSourceConfig)}
    if keys and keys <= sim_keys and not keys <= {f.name for f in dataclasses.fields(BuildConfig)}:
        return None, path
    return path, None  # a BuildConfig file (a key of neither is an error naming it and the file)


@data_app.command("stats")
def stats(
    store: Annotated[str, typer.Argument(help="Clip store (HDF5): a path or an s3:// / gs:// URI.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object (videos, tasks, actions, ...).")
    ] = False,
) -> None:
    """Table I of a clip store: videos, tasks, atomic actions, frames, subjects, rejections."""
    from roboact.datasets.stats import format_table, store_stats
    from roboact.datasets.stores import StoreError

    try:
        result = store_stats(_local(store))
    except StoreError as err:
        _fail(str(err))
    typer.echo(json.dumps(result, indent=2) if as_json else format_table(result))


@data_app.command("clips")
def clips(
    store: Annotated[str, typer.Argument(help="Clip store (HDF5): a path or an s3:// / gs:// URI.")],
    as_json: Annotated[
        bool, typer.Option("--json", help='A list of {"id","episode","subject","action","object","camera"}.')
    ] = False,
) -> None:
    """Every clip with the execution (episode) it comes from, its labels and its camera."""
    from roboact.datasets.splits import clip_table
    from roboact.datasets.stores import ClipStore, StoreError

    try:
        with ClipStore(_local(store)) as clip_store:
            rows = clip_table(clip_store)
    except StoreError as err:
        _fail(str(err))
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    keys = ("id", "episode", "subject", "action", "object", "camera")
    widths = {k: max([len(k)] + [len(r[k]) for r in rows]) for k in keys}
    typer.echo("  ".join(k.ljust(widths[k]) for k in keys))
    for row in rows:
        typer.echo("  ".join(row[k].ljust(widths[k]) for k in keys))


@data_app.command("splits")
def splits(
    store: Annotated[str, typer.Argument(help="Clip store (HDF5): a path or an s3:// / gs:// URI.")],
    as_json: Annotated[
        bool, typer.Option("--json", help='{"<split>": {"train": [ids], "val": [ids], "test": [ids]}}.')
    ] = False,
) -> None:
    """The store's splits (the default is ``random``); warns about any execution split across parts."""
    from roboact.datasets.splits import clip_episodes, shared_episodes
    from roboact.datasets.stores import ClipStore, StoreError

    try:
        with ClipStore(_local(store)) as clip_store:
            result = {
                name: {p: ids for p, ids in sorted(clip_store.get_split(name).items())}
                for name in clip_store.split_names()
            }
            episodes = clip_episodes(clip_store)
    except StoreError as err:
        _fail(str(err))
    for name, parts in result.items():
        shared = shared_episodes(parts, episodes)
        if shared:
            example = next(iter(shared.items()))
            typer.echo(
                f"warning: {store}: split {name!r} puts {len(shared)} execution(s) in more than one part "
                f"(e.g. {example[0]} in {example[1]}); rerun `roboact data build` to rewrite its splits",
                err=True,
            )
    if as_json:
        typer.echo(json.dumps(result, indent=1))
        return
    for name, parts in result.items():
        counts = ", ".join(f"{p} {len(ids)}" for p, ids in parts.items())
        typer.echo(f"{name:>20}  {counts}")


@data_app.command("parse")
def parse(
    text: Annotated[str, typer.Argument(help='An instruction, e.g. "pick up the cup and place it".')],
    parser: Annotated[str, typer.Option(help="rules or llm.")] = "rules",
    as_json: Annotated[bool, typer.Option("--json", help='{"num_actions": k, "actions": [...]}.')] = False,
) -> None:
    """How many actions, with verbs and objects, an instruction holds (Algorithm 1, line 4)."""
    from roboact.datasets.parse_llm import LLMConfigError
    from roboact.datasets.parsing import make_parser

    try:
        result = make_parser(parser).parse(text)
    except (ValueError, LLMConfigError) as err:
        _fail(str(err))
    if as_json:
        typer.echo(json.dumps(result.to_json()))
        return
    typer.echo(f"{result.num_actions} action(s)" + ("" if result.ok else f" (unparsed: {result.reason})"))
    for action in result.actions:
        typer.echo(f"  {action.verb:<12} {action.object}")
    typer.echo(
        f"Algorithm 1: {'keep' if result.reject_reason is None else 'discard (' + result.reject_reason + ')'}"
    )


@features_app.command("extract", cls=_stage("features:ExtractConfig", "features", "features extract"))
def extract(
    ctx: typer.Context,
    store: Annotated[
        str | None, typer.Option(help="Clip store (HDF5): a path or an s3:// / gs:// URI.")
    ] = None,
    encoder: Annotated[
        str | None, typer.Option(help="Encoder spec: embedded, open_clip:<arch>:<ckpt>.")
    ] = None,
    out: Annotated[
        str | None, typer.Option(help="Feature store to write, path or URI (resumed; no-op when current).")
    ] = None,
    frames: Annotated[int, typer.Option(min=1, help="Frames per clip (<= frames in the clip store).")] = 16,
    workers: Annotated[int, typer.Option(min=1, help="Ray actors, one encoder each.")] = 2,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default local / RAY_ADDRESS).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Clips per actor call.")] = 8,
    image_size: Annotated[int | None, typer.Option(help="Decode size for provenance-only stores.")] = None,
    camera: Annotated[
        list[str] | None,
        typer.Option(
            "--camera",
            help="Only the clips of this camera (repeat for several; `roboact data clips` lists each "
            "clip's); the splits are restricted to them. Default: every clip.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    shared_fs: Annotated[
        bool,
        typer.Option(
            "--shared-fs",
            help="A local --store lies on a filesystem every node mounts (else refused on a multi-node "
            "cluster; ROBOACT_SHARED_FS=1).",
        ),
    ] = False,
    config: ConfigFileOpt = None,
    overrides: OverridesArg = None,
    print_config: PrintConfigOpt = False,
) -> None:
    """Encode every clip with a frozen encoder into a feature store (Eq. 1, 5)."""
    from roboact.datasets.features import ExtractConfig, run_features_extract
    from roboact.datasets.stores import StoreError

    names = (
        "store",
        "encoder",
        "out",
        "frames",
        "workers",
        "address",
        "batch_size",
        "image_size",
        "shared_fs",
    )
    cfg = resolve(ctx, ExtractConfig, {**{n: n for n in names}, "camera": "cameras"})
    try:
        summary = run_features_extract(cfg)
    except (StoreError, ValueError, OSError) as err:
        _fail(str(err))
    _echo_summary(summary, as_json)


@features_app.command("derive", cls=_stage("features:DeriveConfig", "features", "features derive"))
def derive(
    ctx: typer.Context,
    src: Annotated[
        str | None, typer.Option(help="Feature store with N frames per clip (path or s3:// / gs:// URI).")
    ] = None,
    frames: Annotated[int | None, typer.Option(help="n <= N frames per clip of the new store.")] = None,
    out: Annotated[str | None, typer.Option(help="Feature store to write (path or URI).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    config: ConfigFileOpt = None,
    overrides: OverridesArg = None,
    print_config: PrintConfigOpt = False,
) -> None:
    """Make an n-frame feature store from an N-frame one without re-encoding (frame-count ablations)."""
    from roboact.datasets.features import DeriveConfig, run_features_derive
    from roboact.datasets.stores import StoreError

    cfg = resolve(ctx, DeriveConfig, {n: n for n in ("src", "frames", "out")})
    try:
        summary = run_features_derive(cfg)
    except (StoreError, ValueError, OSError) as err:
        _fail(str(err))
    _echo_summary(summary, as_json)
