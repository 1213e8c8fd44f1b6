"""`roboact sim eval` takes dotted key=value overrides like train, tune, demo and bench do."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from roboact.cli import app


@pytest.fixture
def captured(monkeypatch):
    """run_eval replaced by a recorder: the CLI's config is checked without Ray or a simulator."""
    import roboact.sim_workers.eval as eval_mod

    seen = {}

    def fake_run_eval(cfg, run_dir, address=None):
        seen["cfg"] = cfg
        return {"tasks": {}, "overall": 0.0, "failed": [], "max_steps": cfg.env.max_steps}

    monkeypatch.setattr(eval_mod, "run_eval", fake_run_eval)
    return seen


def test_positional_overrides_apply_on_top_of_the_options(captured, tmp_path):
    args = ["sim", "eval", "--suite", "kitchen", "--tasks", "knob", "--policy", "zero", "--episodes", "3"]
    res = CliRunner().invoke(app, [*args, "--run-dir", str(tmp_path), "env.max_steps=30", "pool.retries=0"])
    assert res.exit_code == 0, res.output
    cfg = captured["cfg"]
    assert (cfg.suite, cfg.tasks, cfg.episodes) == ("kitchen", ["knob"], 3)
    assert cfg.env.max_steps == 30 and cfg.pool.retries == 0


def test_an_unknown_override_key_is_named_and_nothing_runs(captured, tmp_path):
    args = ["sim", "eval", "--suite", "kitchen", "--tasks", "knob", "--policy", "zero"]
    res = CliRunner().invoke(app, [*args, "--run-dir", str(tmp_path), "env.max_stepz=30"])
    assert res.exit_code != 0 and "max_stepz" in res.output
    assert "cfg" not in captured
