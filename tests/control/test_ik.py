"""Damped least squares: the solver recovers FK poses of the JAKA chain; the step and null space behave."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from roboact.control.ik import dls_nullspace, dls_step, solve_ik
from roboact.control.rotations import orientation_error
from roboact.hardware.safety import forward_kinematics, load_safety_config

CFG = load_safety_config("jaka_k1")
FK = functools.partial(forward_kinematics, cfg=CFG)


def test_ik_recovers_the_pose_of_random_joint_configurations():
    rng = np.random.default_rng(3)
    solved = 0
    for _ in range(20):
        q = rng.uniform(CFG.lower * 0.8, CFG.upper * 0.8)
        pos, rot = FK(q)
        seed = np.clip(q + rng.normal(0.0, 0.15, q.shape), CFG.lower, CFG.upper)
        found = solve_ik(FK, pos, rot, seed, CFG.lower, CFG.upper)
        if found is None:
            continue
        solved += 1
        p, r = FK(found)
        assert np.linalg.norm(p - pos) < 1e-4  # m
        assert np.linalg.norm(orientation_error(rot, r)) < 1e-4  # rad
        assert np.all(found >= CFG.lower) and np.all(found <= CFG.upper)
    assert solved >= 18  # a seed 0.15 rad away converges nearly always


def test_ik_gives_none_out_of_reach():
    pos, rot = FK(np.asarray(CFG.home))
    far = pos + np.array([3.0, 0.0, 0.0])
    assert solve_ik(FK, far, rot, np.asarray(CFG.home), CFG.lower, CFG.upper) is None


def test_dls_step_is_the_exact_inverse_without_damping_and_shorter_with_it():
    rng = np.random.default_rng(0)
    jac = rng.normal(size=(6, 6))
    err = rng.normal(size=6)
    assert np.allclose(jac @ dls_step(jac, err, 0.0), err)
    assert np.linalg.norm(dls_step(jac, err, 10.0)) < np.linalg.norm(dls_step(jac, err, 0.0))


def test_nullspace_motion_leaves_the_task_still():
    rng = np.random.default_rng(1)
    jac = rng.normal(size=(6, 7))
    pull = rng.normal(size=7)
    assert np.linalg.norm(jac @ dls_nullspace(jac, 1e-9) @ pull) < 1e-6
    assert np.linalg.norm(dls_nullspace(jac, 1e-9) @ pull) > 0.01  # a 7th joint leaves room


@pytest.mark.parametrize("weight", [0.3, 1.0])
def test_rotation_weight_is_a_parameter(weight):
    q = np.asarray(CFG.home) + 0.1
    pos, rot = FK(q)
    found = solve_ik(FK, pos, rot, np.asarray(CFG.home), CFG.lower, CFG.upper, rot_weight=weight)
    assert found is not None and np.linalg.norm(FK(found)[0] - pos) < 1e-4
