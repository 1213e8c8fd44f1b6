"""Franka Kitchen adapter: ``FrankaKitchen-v1`` with one subtask, seeded starts and cheap rendering.

Kitchen's own reset always starts the arm at the same joints (only its observation noise is
seeded). So that 50 evaluation episodes are not 50 copies, the adapter adds uniform noise of
``init_noise`` rad (default 0.02) to the 7 arm joints, drawn from the episode seed: an episode is
fully determined by its seed; ``init_noise=0`` gives the suite's exact start. Rendering with
default settings costs about 800 ms a frame on software GL (four lights with 4096 px shadow maps);
the adapter turns shadows, reflections and multisampling off in the model before the first render.

Observation: ``{"image": (H, W, 3) uint8, upright}`` (absent when ``image_size=0``) and ``"state"``:
float32 ``(9,)`` = 7 arm joint positions + 2 finger joint positions as Kitchen observes them (its
own observation noise included). Action: Kitchen's own 9-d joint velocity in [-1, 1].
"""

from __future__ import annotations

import logging
from typing import Any

import gymnasium as gym
import numpy as np
from roboact.sim_workers.envs.registry import EnvConfig, TaskSpec

from roboact.headless import configure_gl

logger = logging.getLogger(__name__)


class KitchenEnv(gym.Env):
    """One Franka Kitchen subtask; ``reset(seed=s)`` gives the same start for the same seed."""

    metadata = {"render_modes": ["rgb_array"]}
    suite = "kitchen"
    gripper_dims = (7, 8)  # the two finger-joint velocities

    def __init__(self, spec: TaskSpec, config: EnvConfig) -> None:
        configure_gl()
        import gymnasium_robotics

        gym.register_envs(gymnasium_robotics)
        self.spec_ = spec
        self.config = config
        self.task = spec.name
        self.language = spec.description
        render = config.image_size > 0
        if tuple(config.cameras) != ("agentview",):
            raise ValueError(
                f"Kitchen renders one view; cameras={list(config.cameras)} asks for others (LIBERO only)"
            )
        kwargs: dict[str, Any] = {"tasks_to_complete": [spec.subtask], "terminate_on_tasks_completed": False}
        if render:
            kwargs.update(render_mode="rgb_array", width=config.image_size, height=config.image_size)
        self._env = gym.make("FrankaKitchen-v1", max_episode_steps=10**9, **kwargs).unwrapped
        self.robot = self._env.robot_env
        self.model, self.data = self.robot.model, self.robot.data
        if render and config.cheap_render:
            self.model.vis.quality.offsamples = 0  # before the first render creates the context
            self.model.light_castshadow[:] = 0
            self.model.mat_reflectance[:] = 0
        self.action_space = gym.spaces.Box(-1.0, 1.0, (9,), np.float32)
        spaces: dict[str, gym.Space] = {"state": gym.spaces.Box(-np.inf, np.inf, (9,), np.float32)}
        if render:
            s = config.image_size
            spaces["image"] = gym.spaces.Box(0, 255, (s, s, 3), np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        self._steps = 0
        self._frame: np.ndarray | None = None

    def env_args(self) -> dict[str, Any]:
        return {
            "suite": "kitchen",
            "task": self.task,
            "env_id": "FrankaKitchen-v1",
            "subtask": self.spec_.subtask,
            "image_size": self.config.image_size,
            "max_steps": self.config.max_steps,
            "init_noise": self.config.init_noise,
            "cheap_render": self.config.cheap_render,
            "action": "joint velocity (9,), [-1, 1] -> +-2 rad/s",
        }

    def _obs(self, raw: dict[str, Any]) -> dict[str, Any]:
        obs: dict[str, Any] = {"state": np.asarray(raw["observation"][:9], dtype=np.float32)}
        if self.config.image_size > 0:
            self._frame = np.ascontiguousarray(self._env.render())
            obs["image"] = self._frame
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        """Kitchen's reset with ``seed`` (default: the episode index), then the seeded arm noise."""
        episode = int((options or {}).get("episode", 0))
        seed = episode if seed is None else int(seed)
        super().reset(seed=seed)
        raw, _ = self._env.reset(seed=seed)
        if self.config.init_noise > 0:
            rng = np.random.default_rng(seed)
            qpos, qvel = self.data.qpos.copy(), self.data.qvel.copy()
            qpos[:7] += rng.uniform(-self.config.init_noise, self.config.init_noise, 7)
            self.robot.set_state(qpos, qvel)
            raw = self._env._get_obs(self.robot._get_obs())  # refreshes Kitchen's last-qpos for control
        self._steps = 0
        # Kitchen's starts are its seed's (options["starts"] is LIBERO's and has nothing to choose here)
        return self._obs(raw), {"episode": episode, "seed": seed, "starts": "seeded", "success": False}

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        raw, reward, _, _, info = self._env.step(np.asarray(action, dtype=np.float64))
        self._steps += 1
        success = self.spec_.subtask in info["step_task_completions"]
        info = dict(info, success=success)
        return self._obs(raw), float(reward), success, self._steps >= self.config.max_steps, info

    def get_sim_state(self) -> np.ndarray:
        """Flattened (qpos, qvel) of the whole scene."""
        return np.concatenate([self.data.qpos, self.data.qvel]).astype(np.float64)

    def is_success(self) -> bool:
        from gymnasium_robotics.envs.franka_kitchen.kitchen_env import (
            BONUS_THRESH,
            OBS_ELEMENT_GOALS,
            OBS_ELEMENT_INDICES,
        )

        sub = self.spec_.subtask
        dist = np.linalg.norm(self.data.qpos[OBS_ELEMENT_INDICES[sub]] - OBS_ELEMENT_GOALS[sub])
        return bool(dist < BONUS_THRESH)

    def render(self) -> np.ndarray | None:
        return self._frame

    def close(self) -> None:
        self._env.close()
