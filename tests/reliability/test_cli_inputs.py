"""Counts and sizes that cannot be right are refused by the CLI before any work starts (issue #18:
`features extract --workers 0`, `sim demos --episodes -2 --workers 0` used to exit 0)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from roboact.cli import app

EXTRACT = ["features", "extract", "--store", "s.h5", "--encoder", "embedded", "--out", "f.h5"]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        ([*EXTRACT, "--workers", "0"], "--workers"),
        ([*EXTRACT, "--workers", "-2"], "--workers"),
        ([*EXTRACT, "--frames", "0"], "--frames"),
        (["sim", "demos", "--suite", "kitchen", "--episodes", "-2"], "--episodes"),
        (["sim", "demos", "--suite", "kitchen", "--workers", "0"], "--workers"),
        (["sim", "eval", "--suite", "kitchen", "--episodes", "0"], "--episodes"),
        (["sim", "eval", "--suite", "kitchen", "--max-steps", "0"], "--max-steps"),
        (["sim", "eval", "--suite", "kitchen", "--image-size", "-1"], "--image-size"),
        (["data", "build", "--source", "sim", "--out", "c.h5", "--workers", "0"], "--workers"),
    ],
)  # fmt: skip
def test_impossible_counts_exit_2_naming_the_option(tmp_path, monkeypatch, args, option):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    assert f"'{option}'" in res.output and "greater than or equal to" in res.output
    assert list(tmp_path.iterdir()) == []  # nothing was started or written
