"""Adapters: the same episode id gives the same start; observations and horizon as documented."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.sim


def _start(env, episode, seed=None):
    obs, info = env.reset(seed=seed, options={"episode": episode})
    return obs, env.get_sim_state()


@pytest.mark.timeout(120)
def test_kitchen_same_episode_same_start_and_seeds_differ(kitchen_env):
    env = kitchen_env
    obs_a, s_a = _start(env, 3)
    env.step(env.action_space.sample())
    obs_b, s_b = _start(env, 3)
    np.testing.assert_array_equal(s_a, s_b)
    np.testing.assert_array_equal(obs_a["image"], obs_b["image"])
    np.testing.assert_array_equal(obs_a["state"], obs_b["state"])
    _, s_c = _start(env, 4)
    assert not np.array_equal(s_a, s_c)


@pytest.mark.timeout(120)
def test_kitchen_observation_layout_and_horizon(kitchen_env):
    env = kitchen_env
    obs, _ = env.reset(options={"episode": 0})
    assert obs["image"].shape == (32, 32, 3) and obs["image"].dtype == np.uint8
    assert obs["state"].shape == (9,) and obs["state"].dtype == np.float32
    truncated, steps = False, 0
    while not truncated:
        _, _, _, truncated, info = env.step(np.zeros(9))
        steps += 1
    assert steps == env.config.max_steps and info["success"] is False


@pytest.mark.timeout(180)
def test_libero_same_episode_same_start_pixel_for_pixel(libero_env):
    env = libero_env
    obs_a, s_a = _start(env, 1)
    for _ in range(3):
        env.step(np.array([0.5, 0, 0, 0, 0, 0, -1], np.float32))
    obs_b, s_b = _start(env, 1)
    np.testing.assert_array_equal(s_a, s_b)
    np.testing.assert_array_equal(obs_a["image"], obs_b["image"])
    obs_c, s_c = _start(env, 2)
    assert not np.array_equal(s_a, s_c)  # another of LIBERO's fixed init states
    assert obs_a["image"].shape == (32, 32, 3) and obs_a["state"].shape == (18,)
    np.testing.assert_allclose(obs_c["state"][:7], env.sim.data.qpos[:7], atol=1e-6)


@pytest.mark.timeout(180)
def test_libero_state_carries_the_end_effector_pose(libero_env):
    env = libero_env
    obs, _ = env.reset(options={"episode": 0})
    robot = env.raw.robots[0]
    eef = env.sim.data.site_xpos[robot.eef_site_id].copy()
    np.testing.assert_allclose(obs["state"][9:12], eef, atol=1e-5)
    col0, col1 = obs["state"][12:15], obs["state"][15:18]  # two columns of a rotation matrix
    assert abs(np.linalg.norm(col0) - 1) < 1e-5 and abs(np.linalg.norm(col1) - 1) < 1e-5
    assert abs(col0 @ col1) < 1e-5
    for _ in range(5):
        obs, *_ = env.step(np.array([0, 0, 1, 0, 0, 0, -1], np.float32))  # up
    assert obs["state"][11] > eef[2] + 0.01


@pytest.mark.timeout(180)
def test_libero_sampled_starts_are_seeded_and_never_a_fixed_init_state(libero_env):
    env = libero_env
    qpos = lambda: env.sim.data.qpos.copy()  # noqa: E731
    _, info = env.reset(seed=100_000, options={"episode": 0, "starts": "sampled"})
    a = qpos()
    assert info["starts"] == "sampled" and info["init_state"] is None
    env.reset(seed=100_001, options={"episode": 1, "starts": "sampled"})
    b = qpos()
    env.reset(seed=100_000, options={"episode": 0, "starts": "sampled"})
    np.testing.assert_array_equal(qpos(), a)  # same seed, same placement
    assert not np.allclose(a, b)
    arm = np.asarray(env.raw.robots[0]._ref_joint_pos_indexes)
    assert 0 < np.abs(a[arm] - b[arm]).max() < 0.2  # the arm starts perturbed, as in the init states
    n = len(a)
    fixed = env.init_states[:, 1 : 1 + n]  # flattened MuJoCo states: time, qpos, qvel
    for start in (a, b):
        assert np.abs(fixed - start).max(axis=1).min() > 1e-3  # differs from each of the 50
    with pytest.raises(ValueError, match="starts"):
        env.reset(options={"episode": 0, "starts": "random"})


@pytest.mark.timeout(120)
def test_libero_image_is_upright(libero_env):
    """The table (bright, near the camera) fills the bottom rows, the dark backdrop the top."""
    obs, _ = libero_env.reset(options={"episode": 0})
    img = obs["image"].astype(float)
    raw = libero_env._last["agentview_image"]
    np.testing.assert_array_equal(obs["image"], raw[::-1])
    assert img[-8:].mean() > img[:8].mean()


def _trajectory(env, episode, actions):
    env.reset(seed=episode, options={"episode": episode})
    states = []
    for a in actions:
        env.step(a)
        states.append(env.get_sim_state())
    return np.array(states)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("env_name", ["libero_env", "kitchen_env"])
def test_an_episode_does_not_depend_on_the_episode_before(env_name, request):
    """Same episode, same actions: the same trajectory whether it runs first or after another one.

    The soft reset used to keep the gripper's integrated command from the previous episode.
    """
    env = request.getfixturevalue(env_name)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (6, *env.action_space.shape)).astype(np.float32)
    first = _trajectory(env, 2, actions)
    _trajectory(env, 5, -actions)
    again = _trajectory(env, 2, actions)
    np.testing.assert_array_equal(first[:, 1:], again[:, 1:])  # column 0 of LIBERO's state is sim time
