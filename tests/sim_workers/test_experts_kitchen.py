"""The Franka Kitchen experts for the burner knob and the hinge cabinet solve their task in time."""

from __future__ import annotations

import numpy as np
import pytest
from roboact.sim_workers.envs.registry import make_env
from roboact.sim_workers.eval import rollout
from roboact.sim_workers.experts import ExpertPolicy
from roboact.sim_workers.experts_kitchen import OpenHingeDoor, TurnKnob

pytestmark = pytest.mark.sim


def _run(task: str, seed: int) -> tuple[dict, object, ExpertPolicy]:
    env = make_env(task, image_size=0, max_steps=200)
    pol = ExpertPolicy()
    pol.bind_env(env)
    return rollout(env, pol, episode=seed, seed=seed), env, pol


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("task", "seed", "expert"),
    [("knob", 3, TurnKnob), ("door", 5, OpenHingeDoor)],
    ids=["knob turns the bottom burner on", "door opens the hinge cabinet"],
)
def test_expert_solves_its_task_within_the_horizon(task, seed, expert):
    out, env, pol = _run(task, seed=seed)
    assert isinstance(pol._impl, expert)
    assert out["success"] and out["steps"] < env.config.max_steps
    assert env.is_success()
    env.close()


@pytest.mark.timeout(120)
def test_servo_inversion_holds_the_arm_against_gravity():
    """Commanding zero joint velocity keeps the arm still: the gravity offset is in the action."""
    env = make_env("knob", image_size=0, max_steps=200)
    env.reset(seed=0)
    exp = TurnKnob()
    exp.bind_env(env)
    exp.reset()
    q0 = env.data.qpos[:7].copy()
    for _ in range(20):
        env.step(exp.servo_action(np.zeros(7), grip=-1.0))
    held = np.abs(env.data.qpos[:7] - q0).max()
    env.reset(seed=0)
    for _ in range(20):
        env.step(np.zeros(9, dtype=np.float32))
    sagged = np.abs(env.data.qpos[:7] - q0).max()
    assert held < sagged / 5
    env.close()
