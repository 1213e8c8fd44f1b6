"""The phase machine every scripted expert shares (demonstrations for Sec. IV.B).

Each expert is a short list of phases (reach, grasp, pull/push/turn, place ...); a phase has a
Cartesian target computed from the *current* privileged state (object and handle poses, joint
angles), a gripper command and an exit test. Two low-level controllers turn a Cartesian target into
the suite's own action:
- LIBERO (OSC_POSE): ``[dx, dy, dz, ax, ay, az, grip]`` in [-1, 1], position scaled by 0.05 m,
  rotation by 0.5 rad (world axis-angle), grip -1 open / +1 close.
- Franka Kitchen (joint velocity, 9-d): damped least-squares inverse of the end-effector site
  Jacobian, a null-space pull to the start posture, fingers opened/closed by velocity.
The rotation maths, the OSC step and the damped least-squares step come from ``roboact.control``,
which the simulated source and the arm's scripted operator share. Experts implement the Policy
protocol (``reset`` / ``act``) and need ``bind_env(env)`` first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

Vec = np.ndarray


@dataclass
class Phase:
    """One step of a plan: go to ``target(expert)`` with the gripper at ``grip``."""

    name: str
    target: Callable[[Any], Vec]
    grip: float  # -1 open, +1 closed (both suites' convention here)
    tol: float = 0.01  # m: position error that ends the phase
    max_steps: int = 60
    min_steps: int = 0
    done: Callable[[Any], bool] | None = None  # extra exit test (e.g. a joint angle reached)
    rot: Callable[[Any], Vec] | None = None  # target orientation quaternion (w, x, y, z); None = start
    speed: float = 1.0  # cap on the Cartesian step (fraction of the controller's maximum)


def _up(z: float) -> Vec:
    """A vertical offset (both suites have +z up)."""
    return np.array([0.0, 0.0, z])


class ScriptedExpert:
    """Phase machine shared by all experts; subclasses build ``self.phases`` in ``plan()``."""

    suite = ""
    name = "expert"
    # A reach that stops moving ends early instead of pushing against contact until max_steps:
    # the Kitchen microwave's pre-grasp point is blocked 2.6 cm short and its reach 9.5 cm short,
    # and those 90 still steps (of 158) were the demos a head imitated as "hover, then grasp" from
    # frames that do not change. 0 turns it off (LIBERO's experts reach their targets).
    stall_steps = 0
    stall_tol = 0.002  # m the end effector must move within stall_steps to count as moving

    def __init__(self) -> None:
        self.env: Any = None
        self.phases: list[Phase] = []
        self.k = 0
        self.t_phase = 0
        self.q0: Vec | None = None
        self.mem: dict[str, Any] = {}
        self.labelling = False  # True while labelling another policy's roll-out (DAgger)

    # Policy protocol -----------------------------------------------------------------------------
    def bind_env(self, env: Any) -> None:
        """Privileged access: the expert reads poses and joint angles from the live simulator."""
        self.env = env

    def reset(self) -> None:
        if self.env is None:
            raise RuntimeError("a scripted expert needs bind_env(env) before reset()")
        self.k, self.t_phase = 0, 0
        self.mem = {"entry": self.eef_pos().copy(), "integ": np.zeros(3), "trail": []}
        self.q0 = self.eef_quat()
        self.phases = self.plan()

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        while self.k < len(self.phases) - 1 and self._phase_over(self.phases[self.k]):
            if logger.isEnabledFor(logging.DEBUG):  # probe() reads the sim: only when asked for
                logger.debug(
                    "%s: phase %s done after %d steps %s",
                    type(self).__name__,
                    self.phases[self.k].name,
                    self.t_phase,
                    self.probe(),
                )
            self.k, self.t_phase, self.mem["entry"] = self.k + 1, 0, self.eef_pos().copy()
            self.mem["integ"] = np.zeros(3)
            self.mem["trail"] = []
        ph = self.phases[self.k]
        self.t_phase += 1
        if self.stall_steps:
            self.mem.setdefault("trail", []).append(self.eef_pos().copy())
        q_target = ph.rot(self) if ph.rot is not None else self.q0
        return self.control(ph.target(self), q_target, ph.grip, ph.speed)

    def _phase_over(self, ph: Phase) -> bool:
        # A labeller (DAgger) follows another policy's states: a phase that timed out there would
        # label the next phase's actions at the wrong place, so only timed phases (a gripper
        # closing for a fixed number of steps) end on their step count.
        timed = ph.min_steps >= ph.max_steps
        if self.t_phase >= ph.max_steps and (timed or not self.labelling):
            return True
        if self.t_phase < ph.min_steps:
            return False
        if self._stalled(ph):
            return True
        if ph.done is not None:
            return bool(ph.done(self))
        return bool(np.linalg.norm(ph.target(self) - self.eef_pos()) < ph.tol)

    def _stalled(self, ph: Phase) -> bool:
        """True when a Cartesian phase's end effector moved less than ``stall_tol`` over the last
        ``stall_steps`` steps (held back by contact or a joint limit). Never for timed phases,
        phases with their own exit test (a swing that holds still is waiting on its joint), or
        while labelling (the motion is the other policy's)."""
        if not self.stall_steps or self.labelling or ph.done is not None or ph.min_steps >= ph.max_steps:
            return False
        trail = self.mem.get("trail", [])
        if len(trail) <= self.stall_steps:
            return False
        return bool(np.linalg.norm(trail[-1] - trail[-1 - self.stall_steps]) < self.stall_tol)

    # Suite-specific ------------------------------------------------------------------------------
    def probe(self) -> str:
        """One-line summary of the task state (joint angles, object poses) for the debug log."""
        return ""

    def plan(self) -> list[Phase]:
        raise TypeError(f"{type(self).__name__} must define plan()")

    def eef_pos(self) -> Vec:
        raise TypeError

    def eef_quat(self) -> Vec:
        raise TypeError

    def control(self, target: Vec, q_target: Vec, grip: float, speed: float) -> np.ndarray:
        raise TypeError
