"""The robot interface the policy loop uses, in the shape users know from LeRobot.

``connect / get_observation / send_action / disconnect`` and a context manager. ``send_action``
returns the action *actually sent* (after the safety filter). Three backends implement it: the real
JAKA arm (``jaka/robot.py``, also driving the fake controller) and a MuJoCo arm (``sim_robot.py``).
An action is the target joint positions (rad) followed by the gripper command in [0, 1].
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

PROTECTIVE_STOP, EMERGENCY_STOP = "protective_stop", "emergency_stop"
CONNECTION_LOST, WATCHDOG, CONTROLLER_ERROR, TIMEOUT = (
    "connection_lost",
    "watchdog",
    "controller_error",
    "timeout",
)
FAULT_KINDS = (PROTECTIVE_STOP, EMERGENCY_STOP, CONNECTION_LOST, WATCHDOG, CONTROLLER_ERROR, TIMEOUT)
# Faults of the link, not of the arm or the policy: the trial says nothing about the policy.
CONNECTION_FAULTS = (CONNECTION_LOST, TIMEOUT)


class RobotFault(RuntimeError):  # noqa: N818 - a fault, not a bug
    """The arm stopped (or must be stopped): ends the trial as failed. ``kind`` is one of FAULT_KINDS."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind

    @property
    def needs_ack(self) -> bool:
        """A protective or emergency stop needs an operator's acknowledgement before the next trial."""
        return self.kind in (PROTECTIVE_STOP, EMERGENCY_STOP)


class Robot(ABC):
    """A 7-joint arm with a gripper and a camera."""

    name: str = "robot"
    n_joints: int = 7
    image_size: tuple[int, int] = (128, 128)

    @property
    def observation_features(self) -> dict[str, tuple[int, ...]]:
        """Shapes of ``get_observation()`` entries (readable before connecting)."""
        h, w = self.image_size
        return {"image": (h, w, 3), "state": (self.n_joints + 1,)}

    @property
    def action_features(self) -> dict[str, tuple[int, ...]]:
        return {"action": (self.n_joints + 1,)}

    @property
    @abstractmethod
    def is_connected(self) -> bool: ...

    @abstractmethod
    def connect(self) -> None:
        """Connect, power and enable the arm; afterwards it holds still."""

    @abstractmethod
    def get_observation(self) -> dict[str, Any]:
        """``image`` (H, W, 3) uint8, ``state`` (n+1,) = joints (rad) + gripper, ``joints``, ``gripper``."""

    @abstractmethod
    def send_action(self, action: np.ndarray) -> np.ndarray:
        """Filter ``action`` through the safety layer, send it, return what was sent."""

    @abstractmethod
    def move_home(self) -> None:
        """Return to the home pose at a safe speed (between trials)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the arm now (best effort; never raises)."""

    @abstractmethod
    def clear_fault(self) -> None:
        """After an operator's acknowledgement: clear the stop and re-enable."""

    @abstractmethod
    def disconnect(self) -> None: ...

    def begin_episode(self) -> None:  # noqa: B027 - optional hook
        """Prepare for a stream of ``send_action`` calls (servo mode, watchdog armed)."""

    def end_episode(self) -> None:  # noqa: B027 - optional hook
        """Leave streaming control (watchdog disarmed, servo mode off)."""

    def __enter__(self) -> Robot:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()
