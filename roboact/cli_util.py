"""The one way every ``roboact`` command reports an expected failure: one line on stderr, exit code 2.

Exit code 2 is Click's own code for a usage error, so scripts and CI can tell "you asked for
something wrong" (2) from "the run failed" (1). Expected failures are ``UserError`` (raised by the
readers of files, configs, sockets and devices, each naming the file, field or address) and an
``OSError`` that carries a file name; ``RoboActGroup`` turns them into that one line at the top of
the command tree, so commands need no try/except of their own. ``-v`` adds the traceback. Any
other exception is a bug: it keeps its traceback and exit code 1.
"""

from __future__ import annotations

import traceback
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from roboact.errors import UserError

EXIT_USER_ERROR = 2


def fail(message: str) -> NoReturn:
    """Stop the command with ``message`` as its one-line error (exit 2; ``-v`` adds the traceback)."""
    raise UserError(message)


def user_message(err: BaseException) -> str | None:
    """The one line to print for an expected failure, or None when ``err`` is a bug (keep its traceback)."""
    cause = getattr(err, "cause", None)
    if type(err).__name__.startswith("RayTaskError") and isinstance(cause, BaseException):
        err = cause  # a Ray task re-raises the worker's exception wrapped, remote traceback included
    if isinstance(err, UserError):
        text = str(err)
    elif isinstance(err, OSError) and err.filename is not None:  # FileNotFoundError, PermissionError, ...
        text = f"{err.filename}: {err.strerror or err}"
    else:
        return None
    text = "; ".join(line.strip() for line in text.splitlines() if line.strip()) or type(err).__name__
    return text if text.startswith("error") else f"error: {text}"


class RoboActGroup(TyperGroup):
    """The root command group: runs a command and reports its expected failures in one line."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as err:
            message = user_message(err)
            if message is None:
                raise
            if ctx.params.get("verbose"):
                typer.echo("".join(traceback.format_exception(err)), err=True, nl=False)
            typer.echo(message, err=True)
            raise typer.Exit(EXIT_USER_ERROR) from None
