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
