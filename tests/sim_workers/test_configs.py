"""The shipped eval configs load into EvalConfig; bad keys and tasks are errors naming them."""

from __future__ import annotations

import pytest
from roboact.sim_workers.eval import EvalConfig

from roboact.config import ConfigError, load_config


@pytest.mark.parametrize(
    ("name", "suite", "tasks"),
    [
        ("eval_libero", "libero", ["T1", "T2", "T3", "T4"]),
        ("eval_libero_unseen", "libero", ["T5", "T6"]),
        ("eval_kitchen", "kitchen", ["knob", "door", "switch", "micro", "slide"]),
    ],
)
def test_shipped_eval_configs_load(name, suite, tasks):
    cfg = load_config(EvalConfig, name, ["episodes=3", "pool.workers=4"])
    assert (cfg.suite, cfg.tasks, cfg.episodes, cfg.pool.workers) == (suite, tasks, 3, 4)
    assert cfg.env.max_steps == 200


def test_bad_override_names_the_key():
    with pytest.raises(ConfigError, match="nope"):
        load_config(EvalConfig, "eval_kitchen", ["env.nope=1"])
    with pytest.raises((ConfigError, ValueError), match="T1"):
        load_config(EvalConfig, "eval_kitchen", ["tasks=[T1]"])
