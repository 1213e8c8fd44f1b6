"""Core commands: ``roboact demo`` (the whole pipeline), ``roboact bench paper`` (every row of the paper's
Tables II-IV), ``roboact report``, ``roboact doctor``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from roboact.cli_util import fail
from roboact.stage import (
    ConfigFileOpt,
    Flag,
    OverridesArg,
    PrintConfigOpt,
    resolve,
    split_commas,
    stage_command,
)


def register(app: typer.Typer) -> None:
    """Add the core commands to the top-level app."""
    app.command(cls=stage_command("roboact.demo:DemoConfig", "roboact.demo:run_demo"))(demo)
    bench = typer.Typer(
        help="The paper's protocols end to end (resumable, with a report).", no_args_is_help=True
    )
    bench_stage = stage_command("roboact.bench_plan:BenchConfig", "roboact.bench:run_bench_paper")
    bench.command("paper", cls=bench_stage)(bench_paper)
    app.add_typer(bench, name="bench")
    app.command()(report)
    app.command()(doctor)


def demo(
    ctx: typer.Context,
    overrides: OverridesArg = None,
    scale: Annotated[str, typer.Option(help="tiny | small (2 cores, ~30 min) | large (cluster).")] = "small",
    run_dir: Annotated[
        str,
        typer.Option(
            help="Run directory; rerun with the same one to resume. An s3:// / gs:// URI is --storage "
            "with a node-local working copy."
        ),
    ] = "runs/demo",
    encoder: Annotated[
        str, typer.Option(help="embedded, or open_clip:<arch>:<checkpoint path>.")
    ] = "embedded",
    workers: Annotated[int, typer.Option(help="Ray workers/actors per stage.")] = 2,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: local or RAY_ADDRESS).")
    ] = None,
    stages: Annotated[str | None, typer.Option(help="Comma-separated subset of stages to run.")] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            help="s3:// or gs:// URI that keeps the run (uploaded after every stage; resumes from it)."
        ),
    ] = None,
    shared_fs: Annotated[
        bool, typer.Option("--shared-fs", help="--run-dir is on a filesystem every cluster node mounts.")
    ] = False,
    config: ConfigFileOpt = None,
    print_config: PrintConfigOpt = False,
) -> None:
    """Run the whole embedded pipeline end to end and write a report with the paper's tables."""
    from rich.console import Console

    from roboact import storage as storage_uris
    from roboact.demo import ALL_STAGES, DemoConfig, check_demo_config, demo_preset, run_demo

    if storage and not storage_uris.is_remote(storage):
        fail(f"error: --storage {storage}: expected an s3:// or gs:// URI (a local folder is --run-dir)")
    names = ("scale", "run_dir", "encoder", "workers", "address", "storage", "shared_fs")
    flags: dict[str, Flag] = {**{n: n for n in names}, "stages": ("stages", split_commas)}
    cfg = resolve(ctx, DemoConfig, flags, preset=demo_preset, check=check_demo_config)
    if storage_uris.is_remote(cfg.run_dir):  # the run lives in the bucket: work in this node's copy
        if cfg.storage and cfg.storage.rstrip("/") != cfg.run_dir.rstrip("/"):
            fail(f"error: --run-dir {cfg.run_dir} and --storage {cfg.storage}: give one URI, not two")
        local = str(storage_uris.local_root(cfg.run_dir))
        cfg = dataclasses.replace(cfg, storage=cfg.run_dir, run_dir=local)
    console = Console()
    names = tuple(s for s in ALL_STAGES if s in cfg.stages)
    console.rule(f"roboact demo ({cfg.scale}) -> {cfg.run_dir}")
    result = run_demo(
        cfg, progress=lambda s: console.rule(f"[bold]stage {names.index(s) + 1}/{len(names)}: {s}")
    )
    console.rule("done")
    for stage, seconds in result["seconds"].items():
        console.print(f"  {stage:<12} {seconds:8.1f} s")
    console.print(f"Report: [bold]{result['report_md']}[/bold] and [bold]{result['report_html']}[/bold]")
    if result.get("storage"):
        console.print(f"Run kept in [bold]{result['storage']}[/bold]")


def bench_paper(
    ctx: typer.Context,
    overrides: OverridesArg = None,
    scale: Annotated[
        str,
        typer.Option(
            help="tiny (minutes) | machine (2 cores, <= 3 h) | full (the paper's sizes, a cluster)."
        ),
    ] = "machine",
    out: Annotated[
        str,
        typer.Option(
            help="Output directory or s3:// / gs:// URI (uploaded as each unit finishes); rerun with the "
            "same one to resume."
        ),
    ] = "runs/bench_paper",
    rows: Annotated[
        str | None, typer.Option(help="Comma-separated rows: roboact-clip,A1,A2,A3,A4,A5,A6,clip-frame.")
    ] = None,
    suites: Annotated[
        str | None, typer.Option(help="libero (Tables II, III) and/or kitchen (Table IV).")
    ] = None,
    encoder: Annotated[
        str, typer.Option(help="embedded, or open_clip:<arch>:<checkpoint path>.")
    ] = "embedded",
    workers: Annotated[int, typer.Option(min=1, help="Ray workers / simulator actors per unit.")] = 2,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: local or RAY_ADDRESS).")
    ] = None,
    shared_fs: Annotated[
        bool,
        typer.Option(
            "--shared-fs",
            help="--out is on a filesystem every cluster node mounts (else several nodes need an s3:// "
            "or gs:// --out).",
        ),
    ] = False,
    config: ConfigFileOpt = None,
    print_config: PrintConfigOpt = False,
) -> None:
    """Every comparison row of the paper's Tables II-IV on the same episodes, with paired statistics."""
    from rich.console import Console

    from roboact import storage
    from roboact.bench import BenchConfig, plan, run_bench_paper
    from roboact.bench_plan import bench_preset

    flags: dict[str, Flag] = {n: n for n in ("scale", "out", "encoder", "workers", "address", "shared_fs")}
    flags |= {"rows": ("rows", split_commas), "suites": ("suites", split_commas)}
    cfg = resolve(ctx, BenchConfig, flags, preset=bench_preset)
    console = Console()
    units = plan(cfg)
    console.rule(f"roboact bench paper ({cfg.scale}) -> {cfg.out}: {len(units)} units")

    def progress(unit: Any) -> None:
        out.sync()  # a unit starts when the one before it has finished: that one goes to the bucket
        console.rule(f"[bold]unit {units.index(unit) + 1}/{len(units)}: {unit.name}")

    with storage.mirror(cfg.out) as out:  # a URI: the bench runs in this node's copy of it
        local = dataclasses.replace(cfg, out=str(out.path))
        result = run_bench_paper(local, progress=progress, out_uri=out.uri)
    for key in ("report_md", "report_html"):
        result[key] = _remote_name(result[key], out)
    console.rule("done")
    for name, seconds in result["seconds"].items():
        console.print(f"  {name:<40} {seconds:8.1f} s")
    failed = result["failed"]
    if failed:
        console.print(f"[red]failed units (named in the report; a rerun retries them): {', '.join(failed)}")
    console.print(f"Report: [bold]{result['report_md']}[/bold] and [bold]{result['report_html']}[/bold]")
    if failed:
        raise typer.Exit(1)


def report(
    run_dir: Annotated[
        str, typer.Argument(help="A run directory written by roboact commands, or its s3:// / gs:// URI.")
    ],
) -> None:
    """Build report.md and report.html from what a run wrote."""
    from roboact import storage
    from roboact.report import build_report

    if storage.is_remote(run_dir) and not storage.is_dir(run_dir):
        fail(f"error: {run_dir}: no such run directory")
    try:
        with storage.mirror(run_dir) as run:  # a URI: read from the bucket, the reports written back
            md, html_path = build_report(run.path)
    except (FileNotFoundError, ValueError) as err:
        fail(f"error: {err}")
    typer.echo(f"{_remote_name(md, run)}\n{_remote_name(html_path, run)}")


def _remote_name(path: str | Path, mirror: Any) -> str:
    """Where a file written in a mirrored folder lives: its URI when the folder is remote."""
    from roboact import storage

    if mirror.uri is None:
        return str(path)
    return storage.join(mirror.uri, Path(path).relative_to(mirror.path).as_posix())


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead of text.")] = False,
) -> None:
    """Check headless rendering and package versions; exit 1 with the fix when something is off."""
    from roboact.headless import HeadlessRenderingError, check_rendering
    from roboact.runs import package_versions

    result: dict[str, object] = {"versions": package_versions(), "rendering": "ok"}
    ok = True
    try:
        check_rendering()
    except HeadlessRenderingError as err:
        result["rendering"], ok = str(err), False
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        for key, value in result["versions"].items():  # type: ignore[union-attr]
            typer.echo(f"{key:>22}  {value}")
        typer.echo(f"{'rendering':>22}  {result['rendering']}")
    raise typer.Exit(0 if ok else 1)
