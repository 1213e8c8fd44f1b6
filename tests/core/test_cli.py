"""The `roboact` console script: it assembles every subsystem's commands and reports versions."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from roboact.cli import app

runner = CliRunner()


def test_every_subsystem_group_is_registered() -> None:
    import click
    import typer

    command = typer.main.get_command(app)
    names = command.list_commands(click.Context(command))
    for group in ("data", "features", "train", "tune", "eval", "sim", "policy", "hardware", "demo", "report"):
        assert group in names, f"`roboact {group}` is not registered (have {names})"
    assert runner.invoke(app, ["--help"]).exit_code == 0


def test_version_reports_pinned_packages() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    versions = json.loads(result.output)
    assert versions["ray"].startswith("2.60") and versions["mujoco"] == "3.3.7"


def test_console_script_is_installed_and_fast_to_start() -> None:
    # `roboact --help` must not import torch or ray (heavy imports live inside commands).
    code = "import sys, roboact.cli; print(sorted(m for m in ('torch','ray','mujoco') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]", out.stdout
