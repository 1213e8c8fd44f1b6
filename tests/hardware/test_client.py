"""Every client command round-trips against the fake controller; errors are typed."""

from __future__ import annotations

import math
import socket
import time

import numpy as np
import pytest
from roboact.hardware.jaka.client import JakaClient, JakaConnectionLost, JakaError, JakaTimeout
from roboact.hardware.jaka.config import JakaConfig
from roboact.hardware.safety import load_safety_config

HOME = load_safety_config().home


def test_power_enable_and_state_round_trip(client, fake):
    assert client.robot_state() == {"powered": False, "enabled": False}
    client.power_on()
    client.enable()
    assert client.robot_state() == {"powered": True, "enabled": True}
    np.testing.assert_allclose(client.joint_positions(), HOME, atol=1e-9)
    assert len(client.tcp_pose()) == 6
    state = client.wait_state()
    assert state.powered and state.enabled and state.healthy
    np.testing.assert_allclose(state.joints, HOME, atol=1e-9)
    assert client.emergency_stop_status() is False
    client.disable()
    client.power_off()
    assert client.robot_state() == {"powered": False, "enabled": False}


def test_joint_move_reaches_target_and_reports_inpos(client, fake):
    client.power_on()
    client.enable()
    target = np.asarray(HOME) + 0.05
    client.joint_move(target, speed=1.0, accel=4.0)
    deadline = time.monotonic() + 30  # a hang guard: the fake's motion follows the wall clock
    while not (client.wait_state().inpos and np.allclose(client.state().joints, target, atol=1e-6)):
        assert time.monotonic() < deadline
    client.joint_move(np.full(7, -0.01), speed=1.0, accel=4.0, relative=True)
    time.sleep(0.4)
    np.testing.assert_allclose(client.joint_positions(), target - 0.01, atol=1e-6)


def test_controller_rejects_speeds_above_180_deg_per_s(client):
    client.power_on()
    client.enable()
    with pytest.raises(JakaError, match="speed") as err:
        client.joint_move(HOME, speed=math.radians(200), accel=1.0)
    assert err.value.code == "4"
    with pytest.raises(JakaError, match="accel"):
        client.joint_move(HOME, speed=1.0, accel=math.radians(800))


def test_servo_mode_and_per_cycle_commands(client, fake):
    client.power_on()
    client.enable()
    with pytest.raises(JakaError, match="not in servo mode"):
        client.servo_j(HOME)
    client.servo_mode(True)
    q = np.asarray(HOME)
    for _ in range(5):
        q = q + 0.0005
        client.servo_j(q)
    np.testing.assert_allclose(fake.joints(), q, atol=1e-9)
    with pytest.raises(JakaError, match="beyond 180 deg/s"):
        client.servo_j(q + 0.1)  # 0.1 rad in 8 ms = 716 deg/s
    client.servo_mode(False)
    assert not fake.servo


def test_moves_need_power_and_enable(client):
    with pytest.raises(JakaError, match="not powered on and enabled"):
        client.joint_move(HOME, speed=0.5, accel=1.0)


def test_stop_clear_error_and_digital_output(client, fake):
    client.power_on()
    client.enable()
    client.set_digital_output(3, True)
    assert fake.dout[3] == 1
    client.stop()
    client.clear_error()
    assert fake.command_log[-3:] == ["set_digital_output", "stop_program", "clear_error"]


def test_injected_error_reply_raises_with_the_controllers_message(client, fake):
    fake.inject("error_on=get_joint_pos")
    with pytest.raises(JakaError, match="injected fault") as err:
        client.joint_positions()
    assert err.value.cmd == "get_joint_pos" and err.value.code == "2"


def test_slow_reply_times_out_and_reconnect_recovers(fake):
    client = JakaClient(JakaConfig(port=fake.port, state_port=fake.state_port, timeout_s=0.1))
    client.connect()
    fake.inject("slow_ms=300")
    with pytest.raises(JakaTimeout):
        client.robot_state()
    with pytest.raises(JakaConnectionLost):  # the desynchronised socket was dropped
        client.robot_state()
    fake.inject("")
    client.reconnect()
    assert client.robot_state()["powered"] is False
    client.close()


def test_dropped_connection_raises_connection_lost_then_reconnects(client, fake):
    fake.inject("drop_after=1")
    client.robot_state()  # answered, then the cable is pulled
    with pytest.raises(JakaConnectionLost):
        client.robot_state()
    assert not client.connected
    deadline = time.monotonic() + 30  # a hang guard
    with pytest.raises(JakaConnectionLost):  # the state reader notices the closed stream too
        while time.monotonic() < deadline:
            client.state(max_age=10.0)
            time.sleep(0.01)
    client.reconnect()
    assert client.connected and client.robot_state()["powered"] is False


def test_malformed_state_records_are_skipped(client, fake):
    fake.inject("malformed_every=3")
    deadline = time.monotonic() + 30  # a hang guard: the third record after the injection is broken
    while client.malformed_records == 0:
        assert time.monotonic() < deadline
        client.wait_state()
    for _ in range(3):  # the stream goes on with good records in between
        assert client.wait_state().errcode == "0x0"


def test_connect_to_a_closed_port_fails_fast_with_backoff(monkeypatch):
    import roboact.hardware.jaka.client as client_module

    slept: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", slept.append)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = JakaConfig(
        port=port, state_port=port, reconnect_attempts=3, reconnect_backoff_s=0.01, connect_timeout_s=0.2
    )
    with pytest.raises(JakaConnectionLost, match="gave up after 3 attempts.*refused"):
        JakaClient(cfg).reconnect()
    assert slept == [0.01, 0.02]  # the backoff doubles; a refused connection is not waited on


def test_linear_move_reaches_the_cartesian_pose(client, fake):
    client.power_on()
    client.enable()
    q_goal = np.asarray(HOME) + np.array([0.2, 0.1, 0.0, -0.1, 0.0, 0.1, 0.0])
    from roboact.hardware.jaka.protocol import pose_from_wire

    pose = pose_from_wire(fake.tcp_wire(list(q_goal)))
    client.linear_move(pose, speed=0.5, accel=2.0)
    deadline = time.monotonic() + 30  # a hang guard
    while not client.wait_state().inpos:
        assert time.monotonic() < deadline
    np.testing.assert_allclose(client.tcp_pose()[:3], pose[:3], atol=1e-4)
