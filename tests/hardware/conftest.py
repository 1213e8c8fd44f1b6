"""Fixtures for hardware tests: a fake controller on free 127.0.0.1 ports, a connected client, small plans."""

from __future__ import annotations

import pytest
from roboact.hardware.jaka.client import JakaClient
from roboact.hardware.jaka.config import JakaConfig
from roboact.hardware.safety import load_safety_config
from roboact.hardware.trial_plan import PolicySpec, SubtaskSpec, TaskSpec, TrialPlan


@pytest.fixture
def client(fake):
    cfg = JakaConfig(port=fake.port, state_port=fake.state_port, timeout_s=SLACK_S, state_max_age_s=SLACK_S)
    c = JakaClient(cfg)
    c.connect()
    yield c
    c.close()


SLACK_S = 10.0
"""the tests' watchdog, reply timeout and state age: no stall of a loaded machine reaches them"""


def small_plan(
    name: str = "t",
    repetitions: int = 2,
    duration_s: float = 0.3,
    policies: int = 1,
    slack_s: float = SLACK_S,
) -> TrialPlan:
    """Subtask goals a little away from home, so homing and each subtask take a fraction of a second.

    They are judged by their joint goals (``judged_by="joints"``) and the scripted policy follows
    those goals: the fault and resume tests need motions this short, not the physical task (the
    fake backend then runs without the scene). The watchdog, the reply timeout and the state age
    are ``slack_s`` (0: the robot's and JakaConfig's own), so only an injected fault trips them.
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
        name=name,
        tasks=[TaskSpec(name="task", subtasks=subs)],
        policies=pols,
        repetitions=repetitions,
        watchdog_timeout_s=slack_s,
        command_timeout_s=slack_s,
        state_max_age_s=slack_s,
    )
