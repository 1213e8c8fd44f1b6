"""Policies the trial runner drives: a scripted policy, and trained heads from checkpoints.

Each follows ``roboact.policies.Policy`` (``reset()`` + ``act(obs) -> action``); here ``obs``
has ``image`` (H, W, 3) uint8, ``state`` (joints + gripper), ``joints``, ``gripper``, and the
current ``subtask`` name and ``instruction``. The action is 7 target joint positions (rad) +
gripper in [0, 1] (the JAKA action space). Checkpoints load through
``roboact.policies.load_checkpoint``, the loader the simulator pool uses too (imported only when a
plan names one), so this package does not depend on the trainer.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from roboact.control.paths import lerp, min_jerk
from roboact.policies.protocol import Policy

logger = logging.getLogger(__name__)


class ScriptedPolicy:
    """Joint-space script: per subtask, a minimum-jerk path from where the arm is to the subtask's goal.

    ``noise`` (rad, std) perturbs each goal, modelling a weaker policy whose endpoint drifts; the
    automatic judge then decides success by the subtask's tolerance. Seeded per trial by ``reset``.
    """

    needs_image = False

    def __init__(
        self,
        goals: dict[str, tuple[list[float], float]],
        control_hz: float,
        max_velocity: float,
        noise: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.goals = {k: (np.asarray(q, dtype=float), float(g)) for k, (q, g) in goals.items()}
        self.dt = 1.0 / control_hz
        self.speed = 0.8 * max_velocity  # stay under the safety filter's limit
        self.noise, self.seed = noise, seed
        self.rng = np.random.default_rng(seed)
        self._segment: tuple[str, np.ndarray, np.ndarray, float, float, float] | None = None
        self._k = 0

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(self.seed if seed is None else seed)
        self._segment = None

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        name = str(obs["subtask"])
        if self._segment is None or self._segment[0] != name:
            if name not in self.goals:
                raise KeyError(
                    f"scripted policy has no goal for subtask {name!r} (known: {sorted(self.goals)})"
                )
            goal, grip = self.goals[name]
            goal = goal + self.rng.normal(0.0, self.noise, goal.shape) if self.noise > 0 else goal
            start = np.asarray(obs["joints"], dtype=float)
            # the filter's acceleration limit adds a short ramp: allow for it
            duration = float(np.max(np.abs(goal - start))) / self.speed + 0.25
            self._segment = (name, start, goal, duration, float(obs.get("gripper", 0.0)), grip)
            self._k = 0
        _, start, goal, duration, grip0, grip1 = self._segment
        s = min(1.0, self._k * self.dt / duration)
        self._k += 1
        grip = grip1 if s >= 0.7 else grip0
        return np.append(lerp(start, goal, min_jerk(s)), grip)


def load_checkpoint_policy(path: str) -> Policy:
    """A trained head through ``roboact.policies`` (the simulators' loader too; torch loads lazily)."""
    from roboact.policies.checkpoint import load_checkpoint

    return load_checkpoint(path)
