"""A MuJoCo 7-joint arm in the physical drawer-and-tape scene as a ``Robot``: the sim backend.

The scene (``scene.py``) is shared with the fake controller: the arm's chain from the robot YAML,
a drawer on a slide joint with friction, a tape roll that the fingers hold only by contact. Joints
are position-controlled (gravity-compensated links, stiff PD servos, as a real controller tracks
``servo_j``); each action is held for one control period (``1 / control_hz``) of simulated time.
The front camera renders at 128 px (``MUJOCO_GL=egl``). ``scene_state()`` is what the
``SceneJudge`` decides from; ``start_trial(seed)`` resets the scene with that seed's variation
(the tape's spot, the drawer's start opening), as an operator resets the real scene.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from roboact.hardware.robot import Robot, RobotFault
from roboact.hardware.safety import SafetyConfig, SafetyFilter, check_joint_move, load_safety_config
from roboact.hardware.scene import DrawerTapeScene, SceneVariation

logger = logging.getLogger(__name__)


class SimRobot(Robot):
    """MuJoCo arm with the same action space and safety filter as the JAKA backend."""

    name = "sim"

    def __init__(
        self,
        safety: SafetyConfig | None = None,
        image_size: int = 128,
        render: bool = True,
        variation: SceneVariation | None = None,
    ) -> None:
        self.safety = safety or load_safety_config("jaka_k1")
        self.n_joints = self.safety.n_joints
        self.image_size = (image_size, image_size)
        self.render_images = render
        self.variation = variation
        self.filter = SafetyFilter(self.safety)
        self.scene: DrawerTapeScene | None = None
        self.fault: RobotFault | None = None
        self._seed = 0

    @property
    def is_connected(self) -> bool:
        return self.scene is not None

    def connect(self) -> None:
        from roboact.headless import configure_gl

        configure_gl()
        self.scene = DrawerTapeScene(self.safety, self.image_size[0], self.variation)
        self.reset_scene()

    def reset_scene(self, seed: int | None = None) -> None:
        """Arm at home, fingers open, the drawer shut and the tape in it, varied by ``seed``."""
        if seed is not None:
            self._seed = int(seed)
        self.scene.reset(self._seed)
        self.filter.reset(self.scene.joints(), 0.0)

    def scene_state(self) -> dict[str, Any]:
        return self.scene.state()

    def joints(self) -> np.ndarray:
        return self.scene.joints()

    def get_observation(self) -> dict[str, Any]:
        joints = self.joints()
        grip = self.scene.gripper()
        return {
            "image": self.render() if self.render_images else np.zeros((*self.image_size, 3), np.uint8),
            "state": np.append(joints, grip).astype(np.float32),
            "joints": joints,
            "gripper": grip,
            "tcp": self.scene.tcp(),
        }

    def render(self) -> np.ndarray:
        return self.scene.render()

    def send_action(self, action: np.ndarray) -> np.ndarray:
        if self.fault is not None:
            raise self.fault
        safe, _ = self.filter(action)
        self.scene.step(safe[: self.n_joints], float(safe[self.n_joints]), 1.0 / self.safety.control_hz)
        return safe

    def move_home(self) -> None:
        """Back to home between subtasks' trials: the arm is placed there, the scene stays as it is."""
        check_joint_move(np.asarray(self.safety.home), 1.0, 1.0, self.safety)
        self.scene.set_arm(np.asarray(self.safety.home, dtype=float))
        self.scene.data.ctrl[self.n_joints :] = 0.0  # the fingers open with the next step
        self.filter.reset(self.scene.joints(), 0.0)

    def start_trial(self, seed: int) -> None:
        """A new trial: the scene is reset with ``seed``'s variation and the arm is at home."""
        self.reset_scene(seed)

    def stop(self) -> None:
        if self.scene is not None:
            self.scene.data.ctrl[: self.n_joints] = self.joints()

    def clear_fault(self) -> None:
        self.fault = None

    def disconnect(self) -> None:
        if self.scene is not None:
            self.scene.close()
        self.scene = None
