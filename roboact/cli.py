"""The one ``roboact`` console script.

Each subsystem owns its commands in its own ``cli.py`` and exposes ``register(app)``; this module
only assembles them, so a subsystem's commands change in one folder. Commands import torch, Ray
and the simulators inside their bodies, which keeps ``roboact --help`` fast. The root group
(``roboact.cli_util.RoboActGroup``) turns every expected failure into one line and exit code 2.
"""

from __future__ import annotations

import importlib
import logging
from typing import Annotated

import typer

from roboact import __version__
from roboact.cli_util import RoboActGroup
from roboact.log import setup_logging

logger = logging.getLogger(__name__)

app = typer.Typer(
    name="roboact",
    cls=RoboActGroup,  # expected failures: one line on stderr and exit 2 (roboact.cli_util)
    help="RoboAct-CLIP: atomic action understanding for robot manipulation, on Ray.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# (module, human name) of every subsystem that contributes commands, in help order.
SUBSYSTEM_CLIS = [
    ("roboact.core_cli", "core"),
    ("roboact.datasets.cli", "datasets"),
    ("roboact.distributed.cli", "distributed"),
    ("roboact.distributed.policy_cli", "policy"),
    ("roboact.sim_workers.cli", "sim_workers"),
    ("roboact.hardware.cli", "hardware"),
]


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Debug logging, and the traceback of an error.")
    ] = False,
) -> None:
    setup_logging(verbose)


@app.command()
def version() -> None:
    """Print the roboact version and the versions of the packages that decide results."""
    import json

    from roboact.runs import package_versions

    typer.echo(json.dumps({"roboact": __version__, **package_versions()}, indent=2))


def _register_all() -> None:
    for module_name, _ in SUBSYSTEM_CLIS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name == module_name:  # subsystem has no commands yet
                continue
            raise
        module.register(app)


_register_all()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
