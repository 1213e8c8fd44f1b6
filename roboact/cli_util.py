"""The one way every ``roboact`` command reports bad input: a message on stderr and exit code 2.

Exit code 2 is Click's own code for a usage error, so scripts and CI can tell "you asked for
something wrong" (2) from "the run failed" (1). Messages name the file, field or option at fault.
"""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(message: str) -> NoReturn:
    """Print ``message`` to stderr and leave the command with exit code 2."""
    typer.echo(message, err=True)
    raise typer.Exit(2)
