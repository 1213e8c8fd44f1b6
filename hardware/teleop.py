"""Input devices for recording demonstrations: one small protocol, a scripted device and a keyboard.

A ``TeleopDevice`` is a ``Policy`` (``reset()``, ``act(obs) -> joint targets + gripper``) with two
more members the recorder reads: ``done`` (the operator ended the subtask early) and ``aborted``
(the operator ended the recording). Its commands go through the robot's ``send_action``, so the
same safety filter and watchdog guard them as a trial's. Devices command joint targets, the arm's
own servo space (``servo_j``), because that needs no inverse kinematics (the fake controller has
none, and the K-1 chain in the robot YAML is an approximation).

- ``ScriptedTeleop``: the scripted operator (in the physical scene it plans from the scene's state;
  on the real arm it follows the plan's joint goals), optional joint noise, for tests and the demo.
- ``KeyboardTeleop``: the minimum real device, plain terminal keys (no X server, works over SSH):
  ``q w e r t y u`` move joints 1-7 up, ``a s d f g h j`` down (one ``jog`` step per key event, so a
  held key moves at the terminal's auto-repeat rate), space toggles the gripper, ``n`` ends the
  subtask, ``x`` ends the recording.
"""

from __future__ import annotations

import logging
import os
import select
import sys
from typing import Any, Protocol, runtime_checkable

import numpy as np
from roboact.hardware.safety import SafetyConfig
from roboact.hardware.scene_script import SCENE_SUBTASKS, SceneScriptedPolicy, scene_planned
from roboact.hardware.trial_plan import TrialPlan

from roboact.errors import UserError

logger = logging.getLogger(__name__)

DEVICES = ("scripted", "keyboard")
UP_KEYS, DOWN_KEYS = "qwertyu", "asdfghj"


@runtime_checkable
class TeleopDevice(Protocol):
    name: str
    done: bool
    aborted: bool

    def reset(self) -> None: ...

    def act(self, obs: dict[str, Any]) -> np.ndarray: ...


class ScriptedTeleop:
    """The scripted operator as an input device (deterministic given the episode's seed).

    In the physical scene (sim and fake backends) it plans each subtask from the scene's state
    (``scene_script.SceneScriptedPolicy``: grasps the handle, picks and places the tape); on the
    real arm, which has no scene state, it follows the plan's joint goals.
    """

    name = "scripted"
    needs_image = True  # a recording keeps the camera's frames
    needs_scene = True
    done = False
    aborted = False

    def __init__(self, plan: TrialPlan, safety: SafetyConfig, noise: float = 0.0, seed: int = 0) -> None:
        goals = {s.name: (s.goal, s.gripper) for t in plan.tasks for s in t.subtasks}
        planned = scene_planned(plan)
        missing = [name for name, (goal, _) in goals.items() if not goal and name not in planned]
        if missing:
            raise UserError(
                f"plan {plan.name}: the scripted device needs a joint goal for every subtask it has no "
                f"scene plan for ({', '.join(SCENE_SUBTASKS)}, judged_by: scene); none for {missing}"
            )
        self._script = SceneScriptedPolicy(safety, goals, noise=noise, seed=seed, planned=planned)

    def reset(self, seed: int | None = None) -> None:
        self._script.reset(seed)

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        return self._script.act(obs)


class KeyboardTeleop:
    """Joint jogging from terminal keys (see the module docstring for the keys).

    ``stream`` is any readable file object (default stdin); a terminal is put into cbreak mode
    while a subtask runs (``reset``) and restored by ``release``, so prompts between subtasks work.
    """

    name = "keyboard"
    needs_image = True

    def __init__(self, n_joints: int, jog: float = 0.01, stream: Any = None) -> None:
        if n_joints > len(UP_KEYS):
            raise UserError(f"keyboard teleop: {n_joints} joints, the keys cover {len(UP_KEYS)}")
        self.n_joints, self.jog = n_joints, jog
        self.stream = stream if stream is not None else sys.stdin
        self.done = self.aborted = False
        self._target: np.ndarray | None = None
        self._grip = 0.0
        self._saved: Any = None

    def reset(self) -> None:
        self.done = False
        self._target = None
        fd = self._fd()
        if fd is not None and os.isatty(fd) and self._saved is None:
            import termios
            import tty

            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)

    def release(self) -> None:
        """Give the terminal back (between subtasks and at the end)."""
        fd = self._fd()
        if self._saved is not None and fd is not None:
            import termios

            termios.tcsetattr(fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def _fd(self) -> int | None:
        try:
            return int(self.stream.fileno())
        except (AttributeError, OSError, ValueError):
            return None

    def _keys(self) -> str:
        fd = self._fd()
        if fd is None:
            return ""
        keys = ""
        while select.select([fd], [], [], 0)[0]:
            chunk = os.read(fd, 64).decode(errors="ignore")
            if not chunk:  # end of input: nothing more will come
                break
            keys += chunk
        return keys

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        if self._target is None:
            self._target = np.asarray(obs["joints"], dtype=float).copy()
            self._grip = float(obs.get("gripper", 0.0))
        for key in self._keys():
            if key in UP_KEYS[: self.n_joints]:
                self._target[UP_KEYS.index(key)] += self.jog
            elif key in DOWN_KEYS[: self.n_joints]:
                self._target[DOWN_KEYS.index(key)] -= self.jog
            elif key == " ":
                self._grip = 0.0 if self._grip >= 0.5 else 1.0
            elif key == "n":
                self.done = True
            elif key == "x":
                self.done = self.aborted = True
        return np.append(self._target, self._grip)


def make_device(
    name: str, plan: TrialPlan, safety: SafetyConfig, noise: float = 0.0, seed: int = 0, jog: float = 0.01
) -> ScriptedTeleop | KeyboardTeleop:
    """The device named ``name`` (one of ``DEVICES``)."""
    if name == "scripted":
        return ScriptedTeleop(plan, safety, noise=noise, seed=seed)
    if name == "keyboard":
        return KeyboardTeleop(safety.n_joints, jog=jog)
    raise UserError(f"--device {name!r}: expected one of {', '.join(DEVICES)}")
