"""Shared simulator fixtures: one env per suite for the whole session (construction costs seconds)."""

from __future__ import annotations

import os

import pytest

# On a loaded shared machine the raylet may need more than the default 60 s to register.
os.environ.setdefault("RAY_raylet_start_wait_time_s", "240")
# ... and its dashboard agent more than the default to write its port file (else the raylet aborts).
os.environ.setdefault("RAY_agent_register_timeout_ms", "300000")


@pytest.fixture(scope="session")
def kitchen_env():
    from roboact.sim_workers.envs.registry import make_env

    env = make_env("slide", image_size=32, max_steps=20)
    yield env
    env.close()


@pytest.fixture(scope="session")
def libero_env():
    from roboact.sim_workers.envs.registry import make_env

    env = make_env("T1", image_size=32, max_steps=20)
    yield env
    env.close()


@pytest.fixture
def expert_episode():
    """Run a task's scripted expert for one episode, to LIBERO's success or the horizon.

    Returns ``run(task, episode, on_step=None) -> (env, expert, phases)``: ``phases`` lists the
    phases in the order they were entered; ``on_step(expert)`` is called after every env step.
    The envs are closed at teardown.
    """
    from roboact.sim_workers.envs.registry import make_env
    from roboact.sim_workers.experts import ExpertPolicy

    envs = []

    def run(task, episode, on_step=None):  # noqa: ANN001, ANN202
        env = make_env(task, image_size=0, max_steps=200)
        envs.append(env)
        pol = ExpertPolicy()
        pol.bind_env(env)
        env.reset(seed=episode, options={"episode": episode})
        pol.reset()
        expert = pol._impl
        phases, obs = [], {}
        for _ in range(env.config.max_steps):
            obs, _, success, _, _ = env.step(pol.act(obs))
            if on_step is not None:
                on_step(expert)
            name = expert.phases[expert.k].name
            if not phases or phases[-1] != name:
                phases.append(name)
            if success:
                break
        return env, expert, phases

    yield run
    for env in envs:
        env.close()
