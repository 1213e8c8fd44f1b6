"""Probe: a dropped connection while the controller is in servo mode, then reconnect and resume.

Before the fix the controller stayed in servo mode across the reconnect, refused the next homing
``joint_move`` ("robot is in servo mode"), and every later trial failed as a controller error and
was counted in Table V; the batch exited 0 and a rerun did nothing.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from roboact.hardware.jaka.config import JakaConfig
from roboact.hardware.jaka.robot import JakaRobot
from roboact.hardware.report import table_v_dict
from roboact.hardware.robot import CONNECTION_LOST, RobotFault
from roboact.hardware.safety import load_safety_config
from roboact.hardware.trial_store import TrialStore
from roboact.hardware.trials import run_trials
from typer.testing import CliRunner

from roboact.cli import app
from tests.hardware.conftest import small_plan

CFG = load_safety_config()
DROP_IN_SERVO = "drop_after=25"  # mid-subtask of the first trial: the controller is in servo mode


@pytest.fixture
def robot(fake):
    r = JakaRobot(JakaConfig(port=fake.port, state_port=fake.state_port, reconnect_backoff_s=0.05), CFG)
    r.connect()
    yield r
    r.disconnect()


@pytest.mark.timeout(30)
def test_reconnect_while_in_servo_mode_leaves_servo_mode_before_homing(robot, fake):
    robot.begin_episode()
    robot.send_action(np.append(CFG.home, 0.0))
    assert fake.servo
    fake.drop_connections()
    with pytest.raises(RobotFault) as err:
        for _ in range(50):
            robot.get_observation()
            robot.send_action(np.append(CFG.home, 0.0))
    assert err.value.kind == CONNECTION_LOST
    robot.end_episode()
    robot.reconnect()
    assert not fake.servo
    robot.move_home()  # refused with "robot is in servo mode" before the fix


@pytest.mark.timeout(30)
def test_a_new_runner_finds_the_controller_in_servo_mode_and_homes(fake):
    """A crashed runner leaves the controller in servo mode; the resumed runner connects afresh."""
    fake.powered = fake.enabled = fake.servo = True
    robot = JakaRobot(JakaConfig(port=fake.port, state_port=fake.state_port), CFG)
    robot.connect()
    try:
        assert not fake.servo
        robot.move_home()
    finally:
        robot.disconnect()


@pytest.mark.timeout(30)
def test_a_fault_during_servo_is_cleared_into_a_state_that_homes(robot, fake):
    fake.inject("error_on=servo_j")
    robot.begin_episode()
    with pytest.raises(RobotFault):
        robot.send_action(np.append(CFG.home, 0.0))
    robot.end_episode()
    fake.inject("")
    robot.clear_fault()
    assert not fake.servo
    robot.move_home()


@pytest.mark.timeout(60)
def test_connection_drop_interrupts_one_trial_which_reruns_on_resume(tmp_path):
    store = tmp_path / "s.sqlite"
    plan = small_plan(name="drop", repetitions=3)
    first = run_trials(plan, "fake", store, use_ray=False, faults=DROP_IN_SERVO, progress=False)
    assert first["faults"] == {CONNECTION_LOST: 1} and first["retry_on_resume"] == 1
    assert first["counts"] == {"interrupted": 1, "completed": 2}  # later trials ran normally
    assert first["pending"] == 1
    assert table_v_dict(store)["policies"]["p0"]["trials"] == 2  # the dropped trial is not counted
    second = run_trials(plan, "fake", store, use_ray=False, progress=False)
    assert second["counts"] == {"completed": 3} and second["faults"] == {}
    with TrialStore(store) as s:
        attempts = sorted(t["attempt"] for t in s.trials("drop"))
    assert attempts == [1, 1, 2]
    cell = table_v_dict(store)["policies"]["p0"]["subtasks"]["open_drawer"]
    assert cell == {"success": 3, "attempts": 3, "rate": 100.0}


@pytest.mark.timeout(60)
def test_without_retry_a_connection_fault_is_a_counted_failure(tmp_path):
    plan = small_plan(name="noretry", repetitions=2)
    plan.retry_connection_faults = False
    summary = run_trials(
        plan, "fake", tmp_path / "s.sqlite", use_ray=False, faults=DROP_IN_SERVO, progress=False
    )
    assert summary["counts"] == {"failed": 1, "completed": 1}
    assert summary["faults"] == {CONNECTION_LOST: 1} and summary["retry_on_resume"] == 0


@pytest.mark.timeout(60)
def test_cli_batch_ended_by_faults_exits_non_zero_with_a_summary(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(json.dumps(_plan_dict(small_plan(name="cli", repetitions=2))))
    store = tmp_path / "s.sqlite"
    args = ["hardware", "trials", "--plan", str(plan), "--backend", "fake", "--no-ray", "--store", str(store)]
    res = CliRunner().invoke(app, [*args, "--faults", DROP_IN_SERVO])
    assert res.exit_code == 1, res.output
    assert "1 trial(s) ended by a fault (connection_lost 1)" in res.output
    assert "rerun the command to retry" in res.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output


def _plan_dict(plan: object) -> dict:
    from roboact.config import config_to_dict

    return config_to_dict(plan)
