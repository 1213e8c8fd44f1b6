"""The benchmarks' shared flag parser turns an ``Args`` dataclass into command-line flags."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from _cli import parse_args  # noqa: E402


@dataclass
class Args:
    steps: int = 60
    """steps"""
    sizes: str = "128,224"
    """sizes"""
    rate: float = 0.5
    """rate"""
    tune: bool = False
    """also tune"""


def test_defaults_come_from_the_dataclass():
    assert parse_args(Args, None, []) == Args()


def test_kebab_case_flags_set_typed_fields():
    args = parse_args(Args, None, ["--steps", "7", "--sizes", "64", "--rate", "0.25", "--tune"])
    assert args == Args(steps=7, sizes="64", rate=0.25, tune=True)


def test_a_bad_value_is_refused_naming_the_flag(capsys):
    import pytest

    with pytest.raises(SystemExit):
        parse_args(Args, None, ["--steps", "many"])
    assert "--steps" in capsys.readouterr().err
