"""The one base class of expected failures: bad input the user can fix, not a bug in roboact.

Why a shared base: the ``roboact`` console script prints any ``UserError`` as one line on stderr and
exits 2, and shows the traceback only with ``-v`` (``roboact.cli_util``), while every other exception
still ends in a full traceback and exit 1, so bugs stay visible. Library code raises a subclass at
the boundary where it reads a file, a config, a socket or a device, with a message that names the
file, field or address; it never needs to import the CLI to do so.
"""

from __future__ import annotations


class UserError(Exception):
    """An expected failure (bad file, bad config, unreachable device, port in use).

    The message must name what is at fault (``f"{path}: ..."``, ``"--port 99999: ..."``) because it
    is all the user sees without ``-v``.
    """
