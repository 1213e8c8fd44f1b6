"""Policy protocol, built-ins and checkpoint loading."""

from __future__ import annotations

import json
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
from roboact.sim_workers.policy import LinearPolicy, Policy, load_policy, needs_env, policy_id


def _fake_env(dim=7):
    return SimpleNamespace(action_space=gym.spaces.Box(-1, 1, (dim,), np.float32), task="T1")


@pytest.mark.parametrize("name", ["random", "zero", "expert"])
def test_builtins_satisfy_the_protocol_and_want_the_env(name):
    pol = load_policy(name)
    assert isinstance(pol, Policy) and needs_env(pol)
    assert policy_id(name) == name


def test_random_and_zero_act_in_the_action_space():
    obs = {"state": np.zeros(9, np.float32), "task": "T1"}
    for name in ("random", "zero"):
        pol = load_policy(name)
        pol.bind_env(_fake_env(9))
        pol.reset()
        a = pol.act(obs)
        assert a.shape == (9,) and np.all(np.abs(a) <= 1)
    assert not np.any(load_policy("zero").act.__self__.dim)  # unbound zero policy has no action size


def test_linear_policy_round_trips_through_a_checkpoint_dir(tmp_path):
    rng = np.random.default_rng(0)
    pol = LinearPolicy(rng.normal(size=(7, 9)) * 0.1, rng.normal(size=7) * 0.1)
    pol.save(tmp_path / "ckpt")
    loaded = load_policy(str(tmp_path / "ckpt"))
    obs = {"state": rng.normal(size=9).astype(np.float32), "task": "T1"}
    np.testing.assert_array_equal(loaded.act(obs), pol.act(obs))
    assert policy_id(str(tmp_path / "ckpt")) == str((tmp_path / "ckpt").resolve())


def test_bad_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_policy(str(tmp_path / "missing"))
    (tmp_path / "f.pt").write_text("x")
    with pytest.raises(ValueError, match="directory"):
        load_policy(str(tmp_path / "f.pt"))
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "roboact_policy.json").write_text(json.dumps({"kind": "mystery"}))
    with pytest.raises(ValueError, match="unknown policy kind 'mystery'"):
        load_policy(str(tmp_path / "odd"))
    with pytest.raises(ValueError, match=r"state of shape \(9,\)"):
        LinearPolicy(np.zeros((7, 9)), np.zeros(7)).act({"state": np.zeros(3)})
