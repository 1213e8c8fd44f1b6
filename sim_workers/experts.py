"""Scripted experts with privileged simulator state, one per task, and the ``expert`` policy.

The phase machine lives in ``expert_base``; the experts per suite in ``experts_libero`` (T1-T4),
``experts_libero_long`` (T5, T6) and ``experts_kitchen``. This module maps the tasks' short names onto them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from roboact.sim_workers.expert_base import ScriptedExpert
from roboact.sim_workers.experts_kitchen import FlipSwitch, OpenHingeDoor, OpenMicrowave, SlideDoor, TurnKnob
from roboact.sim_workers.experts_libero import CheeseInBowl, OpenMiddleDrawer, PlateToStoveFront, TurnOnStove
from roboact.sim_workers.experts_libero_long import BowlInBottomDrawer, SoupAndCheeseInBasket

EXPERTS: dict[str, type[ScriptedExpert]] = {
    "T1": OpenMiddleDrawer,
    "T2": PlateToStoveFront,
    "T3": CheeseInBowl,
    "T4": TurnOnStove,
    "T5": SoupAndCheeseInBasket,
    "T6": BowlInBottomDrawer,
    "knob": TurnKnob,
    "door": OpenHingeDoor,
    "switch": FlipSwitch,
    "micro": OpenMicrowave,
    "slide": SlideDoor,
}


@dataclass
class ExpertPolicy:
    """The ``expert`` built-in policy: picks the task's scripted expert when bound to an env."""

    name: str = "expert"
    labelling: bool = False
    """True when the expert labels another policy's states (DAgger): phases end on reaching their
    goal, not on their step limits (see ``ScriptedExpert._phase_over``)"""
    _impl: ScriptedExpert | None = field(default=None, repr=False)

    def bind_env(self, env: Any) -> None:
        task = env.task
        if task not in EXPERTS:
            raise ValueError(f"no scripted expert for task {task!r}; experts exist for {', '.join(EXPERTS)}")
        self._impl = EXPERTS[task]()
        self._impl.labelling = self.labelling
        self._impl.bind_env(env)

    def reset(self) -> None:
        if self._impl is None:
            raise RuntimeError("the expert policy needs bind_env(env) before reset()")
        self._impl.reset()

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        assert self._impl is not None
        return self._impl.act(obs)
