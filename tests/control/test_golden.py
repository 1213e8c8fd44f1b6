"""Outputs recorded from the private copies that ``roboact.control`` replaced, checked against it.

``data/golden.npz`` was written by the old code (before commit 1c8b2c5): (input, output) pairs of
the expert quaternion helpers, the arm's rpy conversions, its IK solver and trapezoid, 600 steps of
``ScriptedPolicy``, and the actions of three scripted episodes. Equal outputs mean the experts'
demos and the arm's scripts did not change with the move (docs/control.md); LIBERO T6 is an
episode that rounding-level changes in the quaternion maths move. An expert or script
changed on purpose invalidates its episode here: re-record that array with the new code.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from roboact.control import ik, paths, rotations
from roboact.hardware.policy import ScriptedPolicy
from roboact.hardware.safety import forward_kinematics, load_safety_config

GOLDEN = np.load(Path(__file__).parent / "data" / "golden.npz")
CFG = load_safety_config("jaka_k1")
ATOL = 1e-9


def _same(new, old) -> None:
    new, old = np.asarray(new, dtype=float), np.asarray(old, dtype=float)
    assert new.shape == old.shape and np.allclose(new, old, atol=ATOL, rtol=0), np.abs(new - old).max()


def _up_to_sign(quats: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """q and -q are one rotation: flip each row to the sign of the reference."""
    return np.where((np.sum(quats * ref, axis=1) < 0)[:, None], -quats, quats)


def test_rotation_helpers_match_the_expert_and_arm_copies():
    g = GOLDEN
    _same(
        [
            rotations.orientation_error(a, b)
            for a, b in zip(g["quat_err.target"], g["quat_err.current"], strict=True)
        ],
        g["quat_err.out"],
    )
    quats = np.array([rotations.matrix_to_quat(m) for m in g["mat_quat.in"]])
    _same(_up_to_sign(quats, g["mat_quat.out"]), g["mat_quat.out"])
    turned = np.array(
        [
            rotations.rotate_quat_world(*args)
            for args in zip(g["rot_world.quat"], g["rot_world.axis"], g["rot_world.angle"], strict=True)
        ]
    )
    _same(_up_to_sign(turned, g["rot_world.out"]), g["rot_world.out"])
    about = zip(
        g["rot_about.point"], g["rot_about.anchor"], g["rot_about.axis"], g["rot_about.angle"], strict=True
    )
    _same([rotations.rotate_point_about(*args) for args in about], g["rot_about.out"])
    _same([rotations.matrix_to_rpy(m) for m in g["to_rpy.in"]], g["to_rpy.out"])
    _same([rotations.rpy_to_matrix(r) for r in g["from_rpy.in"]], g["from_rpy.out"])


def test_ik_and_trapezoid_match_the_arm_copies():
    g = GOLDEN
    fk = functools.partial(forward_kinematics, cfg=CFG)
    for pos, rot, seed, old in zip(g["ik.pos"], g["ik.rot"], g["ik.seed"], g["ik.out"], strict=True):
        new = ik.solve_ik(fk, pos, rot, seed, CFG.lower, CFG.upper)
        if np.isnan(old[0]):
            assert new is None
        else:
            _same(new, old)
    vmax = 0.85 * CFG.max_velocity  # the scripted operator's defaults
    _same(
        [paths.trapezoid_progress(t, d, vmax, 6.0) for t, d in zip(g["trap.t"], g["trap.dist"], strict=True)],
        g["trap.out"],
    )
    _same([paths.trapezoid_duration(d, vmax, 6.0) for d in g["trapdur.dist"]], g["trapdur.out"])


def test_scripted_policy_min_jerk_paths_are_unchanged():
    goals = {"a": (list(CFG.home), 1.0), "b": ([0.3, 0.2, 0.1, -1.2, 0.2, 1.1, 0.3], 0.0)}
    policy = ScriptedPolicy(goals, CFG.control_hz, CFG.max_velocity, noise=0.01, seed=7)
    policy.reset(3)
    actions, q = [], np.zeros(7)
    for k in range(600):
        a = policy.act({"subtask": "a" if k < 300 else "b", "joints": q, "gripper": 0.0})
        actions.append(a)
        q = a[:7] * 0.9 + q * 0.1  # an arm that lags its targets
    _same(actions, GOLDEN["minjerk_policy.out"])


@pytest.mark.sim
@pytest.mark.timeout(120)
@pytest.mark.parametrize("task", ["knob", "T6"], ids=["kitchen knob", "libero bowl in drawer"])
def test_expert_episode_actions_are_unchanged(task):
    from roboact.sim_workers.envs.registry import make_env
    from roboact.sim_workers.eval import rollout
    from roboact.sim_workers.experts import ExpertPolicy

    env = make_env(task, image_size=0, max_steps=200 if task == "knob" else 300)
    try:
        policy = ExpertPolicy()
        policy.bind_env(env)
        out = rollout(env, policy, episode=3, seed=3, record=True)
    finally:
        env.close()
    key = {"knob": "kitchen_knob", "T6": "libero_T6"}[task]
    assert out["success"]
    _same(out["demo"]["actions"], GOLDEN[f"episode.{key}"])


@pytest.mark.sim
@pytest.mark.timeout(120)
def test_sim_source_episode_actions_are_unchanged():
    from roboact.datasets.sim_controllers import ACTIONS
    from roboact.datasets.sim_scenes import make_env
    from roboact.datasets.sim_source import SimJob, SimSourceConfig, execute_job

    spec = ACTIONS["open"]
    env = make_env("Panda", spec.scene, ["agentview"], 32)
    cfg = SimSourceConfig(
        embodiments=["Panda"], cameras=["agentview"], image_size=32, n_frames=4, max_steps=250, max_attempts=1
    )
    try:
        episode, _, _ = execute_job(
            env, SimJob("Panda", "open", spec.object, spec.scene, 0, base_seed=0), cfg, render=False
        )
    finally:
        env.close()
    assert episode is not None
    _same(episode.actions, GOLDEN["episode.sim_open"])
