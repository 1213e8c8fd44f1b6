"""The safety filter: every command it passes is finite, within limits, rate-limited, inside the box."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from roboact.hardware.safety import (
    NON_FINITE,
    WORKSPACE,
    SafetyConfig,
    SafetyFilter,
    check_finite,
    check_joint_move,
    clamp_joints,
    clamp_step,
    clip_gripper,
    limit_rate,
    load_safety_config,
    tcp_in_workspace,
)

from roboact.config import ConfigError

CFG = load_safety_config("jaka_k1")
EPS = 1e-9
wild = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1e12, 1e12),
    st.floats(-4.0, 4.0),
)
actions = st.lists(st.lists(wild, min_size=8, max_size=8), min_size=1, max_size=30)


def _assert_safe(prev: np.ndarray, prev_vel: np.ndarray, out: np.ndarray, dt: float) -> np.ndarray:
    q = out[:7]
    assert np.all(np.isfinite(out))
    assert np.all(q >= CFG.lower - EPS) and np.all(q <= CFG.upper + EPS)
    assert np.all(np.abs(q - prev) <= CFG.max_step + EPS)
    vel = (q - prev) / dt
    assert np.all(np.abs(vel) <= CFG.max_velocity + 1e-6)
    assert tcp_in_workspace(q, CFG)
    assert 0.0 <= out[7] <= 1.0
    return vel


@settings(max_examples=100, deadline=None)
@given(actions)
def test_random_commands_never_yield_an_unsafe_command(seq):
    f = SafetyFilter(CFG)
    f.reset(np.asarray(CFG.home))
    prev, prev_vel = f.last, f.last_vel
    for action in seq:
        out, _ = f(np.asarray(action))
        _assert_safe(prev, prev_vel, out, f.dt)
        prev, prev_vel = f.last, f.last_vel


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.floats(-3.0, 3.0), min_size=8, max_size=8), min_size=1, max_size=10))
def test_acceleration_bounded_unless_a_hard_limit_forces_a_stop(seq):
    f = SafetyFilter(CFG)
    f.reset(np.asarray(CFG.home))
    for action in seq:
        prev_vel = f.last_vel
        _, violations = f(np.asarray(action))
        if (
            WORKSPACE in violations
            or np.any(np.isclose(f.last, CFG.lower))
            or np.any(np.isclose(f.last, CFG.upper))
        ):
            continue
        assert np.all(np.abs(f.last_vel - prev_vel) <= CFG.max_acceleration * f.dt + 1e-6)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-3.5, 3.5), min_size=7, max_size=7), st.floats(-0.5, 1.5))
def test_fused_filter_equals_composition_of_pure_checks(q, grip):
    f = SafetyFilter(CFG)
    f.reset(np.asarray(CFG.home))
    last, last_vel = f.last, f.last_vel
    out, _ = f(np.append(q, grip))
    target, _ = check_finite(np.asarray(q), last)
    target, _ = clamp_joints(target, CFG)
    target, _ = clamp_step(target, last, CFG.max_step)
    target, _ = limit_rate(target, last, last_vel, CFG, f.dt)
    target = np.clip(target, CFG.lower, CFG.upper)
    expected = target if tcp_in_workspace(target, CFG) else last
    np.testing.assert_allclose(out[:7], expected, atol=1e-12)
    if tcp_in_workspace(target, CFG):
        assert out[7] == clip_gripper(grip)[0]


def test_nan_command_is_rejected_and_arm_holds():
    f = SafetyFilter(CFG)
    f.reset(np.asarray(CFG.home))
    bad = np.append(np.asarray(CFG.home) + 0.01, 0.0)
    bad[3] = math.nan
    out, violations = f(bad)
    assert violations == [NON_FINITE]
    np.testing.assert_array_equal(out[:7], CFG.home)


def test_wrong_shape_is_rejected():
    f = SafetyFilter(CFG)
    out, violations = f(np.zeros(3))
    assert violations == ["bad_shape"]
    assert out.shape == (8,)


def test_target_outside_workspace_holds_position():
    cfg = load_safety_config("jaka_k1", ["workspace_max=[0.8, 0.65, 0.79]"])  # home TCP z is about 0.8
    f = SafetyFilter(cfg)
    f.reset(np.asarray(CFG.home))
    assert not tcp_in_workspace(np.asarray(CFG.home), cfg)
    out, violations = f(np.append(CFG.home, 0.0))
    assert WORKSPACE in violations


def test_filter_converges_to_a_reachable_goal_with_negligible_overshoot():
    f = SafetyFilter(CFG)
    f.reset(np.asarray(CFG.home))
    goal = np.asarray(CFG.home) + np.array([0.4, 0.3, 0, -0.2, 0, 0.2, 0])
    trace = [f(np.append(goal, 0.0))[0][:7] for _ in range(400)]
    np.testing.assert_allclose(trace[-1], goal, atol=1e-6)
    overshoot = np.max([np.max((q - goal) * np.sign(goal - CFG.home)) for q in trace])
    assert overshoot <= 0.005  # braking is planned per step; a few mrad at most


def test_joint_move_check_caps_speed_and_rejects_non_finite():
    _, speed, accel, violations = check_joint_move(np.asarray(CFG.home), 10.0, 100.0, CFG)
    assert speed == CFG.max_velocity and accel == CFG.max_acceleration
    with pytest.raises(ValueError, match="bad target"):
        check_joint_move(np.full(7, np.inf), 0.5, 1.0, CFG)


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(ValueError, match="joint_lower"):
        SafetyConfig(joint_lower=[0.0] * 3)
    with pytest.raises(ValueError, match="max_velocity"):
        SafetyConfig(max_velocity=4.0, link_offsets=[], joint_axes=[])
    with pytest.raises(ConfigError, match="robot config not found"):
        load_safety_config(tmp_path / "nope.yaml")


def test_shipped_limits_match_the_k1_model():
    assert CFG.n_joints == 7
    assert CFG.joint_lower[1] == -1.8325 and CFG.joint_upper[5] == 1.8325
    assert (CFG.joint_lower[3], CFG.joint_upper[3]) == (-2.5307, 0.5235)
    assert math.degrees(CFG.max_velocity) < CFG.controller_max_speed_deg
