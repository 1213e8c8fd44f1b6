"""The one policy protocol every runner calls: the simulator pool, DAgger, and the arm's trial runner.

A policy is any object with ``reset()`` (once per episode or subtask) and ``act(obs) -> action``
(once per step). What ``obs`` holds and what the action means is the runner's contract: the
suites pass ``{"image", "state", "task"}`` and take the suite's own action, the arm passes joints,
gripper and the subtask too and takes joint targets + gripper. A policy that needs the live
simulator (the scripted experts, ``random``/``zero``) also defines ``bind_env(env)``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Policy(Protocol):
    """What a runner calls once per episode (``reset``) and once per step (``act``)."""

    def reset(self) -> None: ...

    def act(self, obs: dict[str, Any]) -> np.ndarray: ...


def needs_env(policy: Any) -> bool:
    """True when the policy wants the live env (optional ``bind_env`` method)."""
    return callable(getattr(policy, "bind_env", None))
