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

data_app = typer.Typer(
    help="Algorithm 1: build clip stores, Table I statistics, action parsing.", no_args_is_help=True
)
features_app = typer.Typer(help="Frozen-encoder features of a clip store (Ray actors).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``data`` and ``features`` groups to the top-level app."""
    app.add_typer(data_app, name="data")
    app.add_typer(features_app, name="features")


def _fail(message: str) -> None:
    from roboact.cli_util import fail  # the one error path: one line, exit 2, -v adds the traceback

    fail(message)


def _echo_summary(summary: dict, as_json: bool = False) -> None:
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    for key, value in summary.items():
        if isinstance(value, dict) and len(value) > 8:
            value = f"{len(value)} entries"
        typer.echo(f"{key:>14}  {value}")


@data_app.command("build")
def build(
    source: Annotated[str, typer.Option(help="rh20t, bridge or sim.")],
    out: Annotated[Path, typer.Option(help="Clip store to write (resumed when it exists).")],
    root: Annotated[Path | None, typer.Option(help="Dataset root (rh20t, bridge).")] = None,
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
    task_descriptions: Annotated[Path | None, typer.Option(help="RH20T task_description.json.")] = None,
    rejected: Annotated[
        Path | None, typer.Option(help="Rejection log (default <out stem>.rejected.jsonl).")
    ] = None,
    config: Annotated[str | None, typer.Option(help="Simulated source config (sim only).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Parallel workers (sim only).")] = 2,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (sim only).")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of splits and of the sim source (default 0; sim: config's).")
    ] = None,
    llm_base_url: Annotated[str | None, typer.Option(help="LLM endpoint (env ROBOACT_LLM_BASE_URL).")] = None,
    llm_model: Annotated[str | None, typer.Option(help="LLM model (env ROBOACT_LLM_MODEL).")] = None,
    llm_cache: Annotated[
        Path | None, typer.Option(help="LLM answer cache dir (env ROBOACT_LLM_CACHE).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run Algorithm 1 over a source into a clip store; rejected clips go to a jsonl log."""
    from roboact.datasets.build import SOURCES, build_store
    from roboact.datasets.parse_llm import LLMConfigError
    from roboact.datasets.video import FrameError

    if source not in SOURCES:
        _fail(f"--source {source!r}: use one of {', '.join(SOURCES)}")
    if source != "sim" and root is None:
        _fail(f"--root is required for --source {source}")
    if parser not in ("rules", "llm"):
        _fail(f"--parser {parser!r}: use rules or llm")
    llm = {
        k: v
        for k, v in {
            "base_url": llm_base_url,
            "model": llm_model,
            "cache_dir": str(llm_cache) if llm_cache else None,
        }.items()
        if v
    }
    try:
        summary = build_store(
            source,
            root,
            out,
            parser=parser,
            frames=frames,
            image_size=image_size,
            cameras=[c.strip() for c in cameras.split(",") if c.strip()] if cameras else None,
            task_descriptions=task_descriptions,
            rejected=rejected,
            llm=llm,
            seed=seed,
            config=config,
            workers=workers,
            address=address,
        )
    except (ValueError, LLMConfigError, FrameError, OSError) as err:
        _fail(str(err))
    _echo_summary(summary, as_json)


@data_app.command("stats")
def stats(
    store: Annotated[Path, typer.Argument(help="Clip store (HDF5).")],
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object (videos, tasks, actions, ...).")
    ] = False,
) -> None:
    """Table I of a clip store: videos, tasks, atomic actions, frames, subjects, rejections."""
    from roboact.datasets.stats import format_table, store_stats
    from roboact.datasets.stores import StoreError

    try:
        result = store_stats(store)
    except StoreError as err:
        _fail(str(err))
    typer.echo(json.dumps(result, indent=2) if as_json else format_table(result))


@data_app.command("clips")
def clips(
    store: Annotated[Path, typer.Argument(help="Clip store (HDF5).")],
    as_json: Annotated[
        bool, typer.Option("--json", help='A list of {"id","episode","subject","action","object","camera"}.')
    ] = False,
) -> None:
    """Every clip with the execution (episode) it comes from, its labels and its camera."""
    from roboact.datasets.splits import clip_table
    from roboact.datasets.stores import ClipStore, StoreError

    try:
        with ClipStore(store) as clip_store:
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
    store: Annotated[Path, typer.Argument(help="Clip store (HDF5).")],
    as_json: Annotated[
        bool, typer.Option("--json", help='{"<split>": {"train": [ids], "val": [ids], "test": [ids]}}.')
    ] = False,
) -> None:
    """The store's splits (the default is ``random``); warns about any execution split across parts."""
    from roboact.datasets.splits import clip_episodes, shared_episodes
    from roboact.datasets.stores import ClipStore, StoreError

    try:
        with ClipStore(store) as clip_store:
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


@features_app.command("extract")
def extract(
    store: Annotated[str, typer.Option(help="Clip store (HDF5): a path or an s3:// / gs:// URI.")],
    encoder: Annotated[str, typer.Option(help="Encoder spec: embedded, open_clip:<arch>:<ckpt>.")],
    out: Annotated[
        str, typer.Option(help="Feature store to write, path or URI (resumed; no-op when current).")
    ],
    frames: Annotated[int, typer.Option(min=1, help="Frames per clip (<= frames in the clip store).")] = 16,
    workers: Annotated[int, typer.Option(min=1, help="Ray actors, one encoder each.")] = 2,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default local / RAY_ADDRESS).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Clips per actor call.")] = 8,
    image_size: Annotated[int | None, typer.Option(help="Decode size for provenance-only stores.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    shared_fs: Annotated[
        bool,
        typer.Option(
            "--shared-fs",
            help="A local --store lies on a filesystem every node mounts (else refused on a multi-node "
            "cluster; ROBOACT_SHARED_FS=1).",
        ),
    ] = False,
) -> None:
    """Encode every clip with a frozen encoder into a feature store (Eq. 1, 5)."""
    from roboact.datasets.features import extract_features
    from roboact.datasets.stores import StoreError

    try:
        summary = extract_features(
            store,
            encoder,
            frames,
            out,
            workers=workers,
            address=address,
            batch_size=batch_size,
            image_size=image_size,
            shared_fs=shared_fs,
        )
    except (StoreError, ValueError, OSError) as err:
        _fail(str(err))
    _echo_summary(summary, as_json)


@features_app.command("derive")
def derive(
    src: Annotated[Path, typer.Option(help="Feature store with N frames per clip.")],
    frames: Annotated[int, typer.Option(help="n <= N frames per clip of the new store.")],
    out: Annotated[Path, typer.Option(help="Feature store to write.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Make an n-frame feature store from an N-frame one without re-encoding (frame-count ablations)."""
    from roboact.datasets.features import derive_features
    from roboact.datasets.stores import StoreError

    try:
        summary = derive_features(src, frames, out)
    except (StoreError, ValueError, OSError) as err:
        _fail(str(err))
    _echo_summary(summary, as_json)
