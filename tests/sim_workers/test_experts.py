"""Scripted experts solve tasks inside the test (one Kitchen, one LIBERO task)."""

from __future__ import annotations

import pytest
from roboact.sim_workers.envs.registry import make_env
from roboact.sim_workers.eval import rollout
from roboact.sim_workers.experts import EXPERTS, ExpertPolicy

pytestmark = pytest.mark.sim


def test_every_paper_task_has_an_expert():
    assert set(EXPERTS) == {"T1", "T2", "T3", "T4", "T5", "T6", "knob", "door", "switch", "micro", "slide"}


def test_expert_without_env_is_a_clear_error():
    with pytest.raises(RuntimeError, match="bind_env"):
        ExpertPolicy().reset()


@pytest.mark.timeout(180)
def test_kitchen_expert_opens_the_microwave():
    env = make_env("micro", image_size=0, max_steps=200)
    pol = ExpertPolicy()
    pol.bind_env(env)
    out = rollout(env, pol, episode=0, seed=0)
    assert out["success"] and out["steps"] < 200
    assert env.is_success()


@pytest.mark.timeout(300)
def test_libero_expert_opens_the_middle_drawer():
    env = make_env("T1", image_size=0, max_steps=200)
    pol = ExpertPolicy()
    pol.bind_env(env)
    out = rollout(env, pol, episode=1, seed=1)
    assert out["success"] and env.is_success() and out["steps"] < 200
    env.close()
