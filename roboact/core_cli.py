"""Core commands: ``roboact doctor`` (is this machine ready?)."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the core commands to the top-level app."""
    app.command()(doctor)


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead of text.")] = False,
) -> None:
    """Check headless rendering and package versions; exit 1 with the fix when something is off."""
    from roboact.headless import HeadlessRenderingError, check_rendering
    from roboact.runs import package_versions

    report: dict[str, object] = {"versions": package_versions(), "rendering": "ok"}
    ok = True
    try:
        check_rendering()
    except HeadlessRenderingError as err:
        report["rendering"], ok = str(err), False
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        for key, value in report["versions"].items():  # type: ignore[union-attr]
            typer.echo(f"{key:>22}  {value}")
        typer.echo(f"{'rendering':>22}  {report['rendering']}")
    raise typer.Exit(0 if ok else 1)
