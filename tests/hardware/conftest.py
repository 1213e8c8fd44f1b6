"""Fixtures for hardware tests: a fake controller on free 127.0.0.1 ports, a connected client, small plans."""

from __future__ import annotations

import pytest
from roboact.hardware.jaka.client import JakaClient
from roboact.hardware.jaka.config import JakaConfig
from roboact.hardware.safety import load_safety_config
from roboact.hardware.trial_plan import PolicySpec, SubtaskSpec, TaskSpec, TrialPlan


@pytest.fixture
def client(fake):
    c = JakaClient(JakaConfig(port=fake.port, state_port=fake.state_port, timeout_s=1.0))
    c.connect()
    yield c
    c.close()


def small_plan(
    name: str = "t", repetitions: int = 2, duration_s: float = 0.3, policies: int = 1
) -> TrialPlan:
    """Subtask goals a little away from home, so homing and each subtask take a fraction of a second.

    They are judged by their joint goals (``judged_by="joints"``) and the scripted policy follows
    those goals: the fault and resume tests need motions this short, not the physical task.
    """
    home = load_safety_config().home
    subs = []
    for i, name_ in enumerate(["open_drawer", "pick_tape"]):
        goal = [q + (0.04 if j == i else 0.0) for j, q in enumerate(home)]
        subs.append(
            SubtaskSpec(
                name=name_, goal=goal, gripper=0.0, duration_s=duration_s, tolerance=0.03, judged_by="joints"
            )
        )
    pols = [PolicySpec(name=f"p{k}", kind="scripted") for k in range(policies)]
    return TrialPlan(
        name=name, tasks=[TaskSpec(name="task", subtasks=subs)], policies=pols, repetitions=repetitions
    )
