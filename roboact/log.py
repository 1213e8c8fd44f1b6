"""Logging set-up for the CLI: one format, on stderr (stdout stays clean for ``--json`` output).

Library modules only use ``logging.getLogger(__name__)``.
"""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler


def setup_logging(verbose: bool = False) -> None:
    """Configure the root logger once; library code never calls this."""
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=Console(stderr=True), rich_tracebacks=False, show_path=False)],
        force=True,
    )
    for noisy in ("urllib3", "filelock", "matplotlib", "PIL", "h5py"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
