"""JakaRobot: safety inside send_action, watchdog, stops become typed faults that stop the arm."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from roboact.hardware.gripper import FakeGripperServer, GripperConfig, ModbusGripper
from roboact.hardware.jaka.config import JakaConfig
from roboact.hardware.jaka.robot import JakaRobot
from roboact.hardware.robot import PROTECTIVE_STOP, WATCHDOG, RobotFault
from roboact.hardware.safety import NON_FINITE, load_safety_config

from .conftest import SLACK_S

CFG = load_safety_config()
SLACK = dataclasses.replace(CFG, watchdog_timeout_s=SLACK_S)  # only the watchdog test stalls on purpose


def _link(fake) -> JakaConfig:
    return JakaConfig(port=fake.port, state_port=fake.state_port, timeout_s=SLACK_S, state_max_age_s=SLACK_S)


@pytest.fixture
def robot(fake):
    r = JakaRobot(_link(fake), SLACK)
    r.connect()
    yield r
    r.disconnect()


def test_connect_powers_and_enables(robot, fake):
    assert robot.is_connected and fake.powered and fake.enabled
    obs = robot.get_observation()
    assert obs["image"].shape == (128, 128, 3) and obs["image"].dtype == np.uint8
    assert obs["state"].shape == (8,)


def test_send_action_passes_the_safety_filter(robot, fake):
    robot.begin_episode()
    sent = robot.send_action(np.append(np.asarray(CFG.home) + 1.0, 0.5))  # a huge jump
    assert np.all(np.abs(sent[:7] - CFG.home) <= CFG.max_step + 1e-9)
    np.testing.assert_allclose(fake.joints(), sent[:7], atol=1e-9)
    nan = np.full(8, np.nan)
    held = robot.send_action(nan)
    np.testing.assert_allclose(held[:7], sent[:7])
    assert robot.filter.violation_counts[NON_FINITE] == 1
    robot.end_episode()


def test_watchdog_stops_the_arm_when_commands_stop(fake):
    robot = JakaRobot(_link(fake), CFG)  # the robot's own 0.25 s watchdog
    robot.connect()
    robot.begin_episode()
    robot.send_action(np.append(CFG.home, 0.0))  # then no command: the stall
    assert robot.watchdog.fired.wait(timeout=30)  # fires once the stall outlasts its timeout
    deadline = time.monotonic() + 30  # its stop goes out from the watchdog's thread after firing
    while "stop_program" not in fake.command_log and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "stop_program" in fake.command_log
    with pytest.raises(RobotFault) as err:
        robot.send_action(np.append(CFG.home, 0.0))
    assert err.value.kind == WATCHDOG
    robot.disconnect()


def test_protective_stop_ends_the_episode_and_needs_clear(robot, fake):
    fake.inject("protective_stop_after=0.05")
    robot.begin_episode()
    with pytest.raises(RobotFault) as err:
        for _ in range(100):
            robot.get_observation()
            robot.send_action(np.append(CFG.home, 0.0))
            time.sleep(0.008)
    assert err.value.kind == PROTECTIVE_STOP and err.value.needs_ack
    with pytest.raises(RobotFault):  # refuses until cleared
        robot.send_action(np.append(CFG.home, 0.0))
    robot.end_episode()
    robot.clear_fault()
    assert robot.fault is None and not fake.protective_stop
    robot.move_home()


def test_gripper_over_modbus_rtu_framing_follows_commands(fake):
    server = FakeGripperServer(object_at=400).start()
    try:
        gripper = ModbusGripper(GripperConfig(port=server.address))
        robot = JakaRobot(_link(fake), SLACK, gripper=gripper)
        robot.connect()
        assert server.initialised
        robot.begin_episode()
        robot.send_action(np.append(CFG.home, 1.0))
        robot.end_episode()
        deadline = time.monotonic() + 30  # a hang guard
        while gripper.grip_state() == 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert gripper.grip_state() == 2  # stopped on the object at 400 per mille
        assert abs(gripper.position() - 0.6) < 1e-3
        robot.disconnect()
    finally:
        server.stop()


def test_emergency_stop_disables_the_arm_until_cleared(robot, fake):
    fake.inject("emergency_stop_after=0.05")
    robot.begin_episode()
    with pytest.raises(RobotFault) as err:
        for _ in range(100):
            robot.get_observation()
            robot.send_action(np.append(CFG.home, 0.0))
            time.sleep(0.008)
    assert err.value.kind == "emergency_stop" and err.value.needs_ack
    assert not fake.enabled
    robot.end_episode()
    robot.clear_fault()
    assert fake.enabled and not fake.emergency_stop
