"""Who decides whether a subtask succeeded, and who resets the scene and acknowledges stops.

On the real arm an operator does all three (``OperatorJudge``), through a front end: the keyboard
(rich prompts) or a small web page on 127.0.0.1 (``operator_ui``). On the simulated and fake arms,
which run the physical scene, ``SceneJudge`` decides the paper's four subtasks from the scene's
state at the subtask's end (``SCENE_CRITERIA``), never from the arm's joints: a joint-perfect
motion that did not move the drawer or the tape fails. There an operator may mark as well
(``OperatorJudge(scene=SceneJudge())``): the operator's mark counts and the scene's verdict is kept
beside it, so the two can be compared. A subtask the scene judge has no criterion for (a plan of
your own), one whose plan asks for it (``judged_by: joints``) and a result without a scene are
judged by ``AutoJudge``'s rule: no fault, every joint within the subtask's ``tolerance`` of its
goal, the gripper on the goal's side of 0.5. The automatic judges acknowledge stops only when told
to (``auto_ack``), so tests can check that a stop blocks the batch until acknowledged.

Every judgement is a ``Verdict``: the outcome, notes, who or what marked it and when, and, where
the scene judge ran beside an operator, its own outcome; the trial store keeps all of it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from roboact.hardware.trial_plan import SubtaskSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """One subtask's judgement, as the trial store keeps it."""

    success: bool
    notes: str = ""
    by: str = "auto"
    """who or what marked it: ``auto``, ``scene``, ``fault`` (a fault ended it; nobody was asked),
    or ``NAME via keyboard|web`` (an operator)"""
    at: float = field(default_factory=time.time)
    """when it was marked (Unix time)"""
    scene_success: bool | None = None
    """the scene judge's own outcome where it ran beside an operator's mark (None: it did not)"""
    scene_notes: str = ""


class Judge(Protocol):
    name: str

    def prepare_trial(self, label: str, subtasks: Sequence[str] = ()) -> bool:
        """Scene reset before a trial of ``subtasks``; False stops the batch (the rest stay pending)."""

    def judge(self, subtask: SubtaskSpec, result: dict[str, Any]) -> Verdict:
        """The verdict on one subtask given the executor's result."""

    def acknowledge(self, fault: str) -> bool:
        """An operator's acknowledgement of a protective/emergency stop; False stops the batch."""


def fault_verdict(result: dict[str, Any]) -> Verdict | None:
    """A failed verdict when a fault ended the subtask (nobody is asked), else None."""
    if result.get("status") == "ok":
        return None
    return Verdict(False, f"fault: {result.get('message', result.get('status'))}", by="fault")


class AutoJudge:
    """Judges from the arm's joints: the rule where there is no scene to look at."""

    name = "auto"

    def __init__(self, auto_ack: bool = True) -> None:
        self.auto_ack = auto_ack
        self.acks: list[str] = []

    def prepare_trial(self, label: str, subtasks: Sequence[str] = ()) -> bool:
        return True

    def judge(self, subtask: SubtaskSpec, result: dict[str, Any]) -> Verdict:
        return fault_verdict(result) or Verdict(*joint_rule(subtask, result), by=self.name)

    def acknowledge(self, fault: str) -> bool:
        self.acks.append(fault)
        return self.auto_ack


def joint_rule(subtask: SubtaskSpec, result: dict[str, Any]) -> tuple[bool, str]:
    """(success, notes) by the joint-goal rule: every joint within tolerance, the gripper's side."""
    joints = np.asarray(result["joints"], dtype=float)
    err = float(np.max(np.abs(joints - np.asarray(subtask.goal, dtype=float)))) if subtask.goal else 0.0
    grip_ok = (float(result.get("gripper", 0.0)) >= 0.5) == (subtask.gripper >= 0.5)
    ok = err <= subtask.tolerance and grip_ok
    grip = "ok" if grip_ok else "wrong"
    return ok, f"max joint error {err:.3f} rad (tolerance {subtask.tolerance}); gripper {grip}"


OPEN_MIN_M = 0.10
"""open_drawer: the drawer is open at least this far (m): enough to reach the tape"""
LIFT_MIN_M = 0.12
"""pick_tape: the roll's bottom is this high above the table (m; the drawer floor is at 0.075)"""
ON_TABLE_MAX_M = 0.015
"""place_tape: the roll's bottom is within this of the table top (m)"""
TILT_MAX_DEG = 30.0
"""place_tape: the roll stands (its axis within this of vertical)"""
CLOSED_MAX_M = 0.01
"""close_drawer: the drawer is open at most this far (m)"""


def _open_drawer(s: dict[str, Any]) -> tuple[bool, str]:
    return s[
        "drawer_opening"
    ] >= OPEN_MIN_M, f"drawer open {100 * s['drawer_opening']:.1f} cm (>= {100 * OPEN_MIN_M:.0f})"


def _pick_tape(s: dict[str, Any]) -> tuple[bool, str]:
    ok = s["tape_held"] and s["tape_bottom"] >= LIFT_MIN_M
    held = "between the fingers" if s["tape_held"] else "not held"
    return (
        ok,
        f"tape bottom {100 * s['tape_bottom']:.1f} cm above the table (>= {100 * LIFT_MIN_M:.0f}), {held}",
    )


def _place_tape(s: dict[str, Any]) -> tuple[bool, str]:
    touching = {"finger_l", "finger_r"} & set(s["tape_contacts"])
    ok = (
        s["tape_bottom"] <= ON_TABLE_MAX_M
        and s["tape_tilt_deg"] <= TILT_MAX_DEG
        and not s["tape_in_drawer"]
        and not touching
    )
    return ok, (
        f"tape bottom {100 * s['tape_bottom']:.1f} cm (<= {100 * ON_TABLE_MAX_M:.1f}), tilt "
        f"{s['tape_tilt_deg']:.0f} deg, {'in' if s['tape_in_drawer'] else 'out of'} the drawer, "
        f"{'still held' if touching else 'released'}"
    )


def _close_drawer(s: dict[str, Any]) -> tuple[bool, str]:
    return s[
        "drawer_opening"
    ] <= CLOSED_MAX_M, f"drawer open {100 * s['drawer_opening']:.1f} cm (<= {100 * CLOSED_MAX_M:.0f})"


SCENE_CRITERIA: dict[str, Callable[[dict[str, Any]], tuple[bool, str]]] = {
    "open_drawer": _open_drawer,
    "pick_tape": _pick_tape,
    "place_tape": _place_tape,
    "close_drawer": _close_drawer,
}
"""per subtask of the paper's task: (success, notes) from the scene's state at the subtask's end"""


class SceneJudge(AutoJudge):
    """Judges the drawer-and-tape subtasks from the scene's state (sim and fake backends)."""

    name = "scene"

    def judge(self, subtask: SubtaskSpec, result: dict[str, Any]) -> Verdict:
        faulted = fault_verdict(result)
        if faulted is not None:
            return faulted
        criterion = SCENE_CRITERIA.get(subtask.name) if subtask.judged_by == "scene" else None
        scene = result.get("scene")
        if criterion is None or scene is None:  # no scene criterion: the joint-goal rule
            return Verdict(*joint_rule(subtask, result), by="auto")
        return Verdict(*criterion(scene), by=self.name)


class OperatorJudge:
    """A person resets the scene, marks every subtask and acknowledges stops, through ``ui``.

    ``ui`` is an ``operator_ui`` front end (``KeyboardMarks`` by default, or ``WebMarks``); with
    ``scene`` (sim and fake arms) the scene judge's verdict is stored beside the operator's mark and
    shown to the operator only after the mark is in, so it cannot sway it.
    """

    def __init__(self, ui: Any = None, scene: SceneJudge | None = None, operator: str = "operator") -> None:
        if ui is None:
            from roboact.hardware.operator_ui import KeyboardMarks

            ui = KeyboardMarks()
        self.ui, self.scene = ui, scene
        self.name = f"{operator} via {ui.kind}"
        self._label = ""

    def prepare_trial(self, label: str, subtasks: Sequence[str] = ()) -> bool:
        self._label = label
        return bool(self.ui.ask_reset(label, list(subtasks)))

    def judge(self, subtask: SubtaskSpec, result: dict[str, Any]) -> Verdict:
        faulted = fault_verdict(result)
        if faulted is not None:
            self.ui.tell(f"subtask {subtask.name} ended by a fault: {result.get('message')}")
            return faulted
        ok, notes = self.ui.ask_mark(self._label, subtask.name, subtask.instruction)
        marked_at = time.time()
        # the scene judge's own verdict (the joint-goal rule where the plan asks for it), for comparison
        seen = self.scene.judge(subtask, result) if self.scene is not None else None
        if seen is not None and seen.success != ok:
            self.ui.tell(f"{subtask.name}: the scene judge says {'success' if seen.success else 'failure'}"
                         f" ({seen.notes}); your mark counts")  # fmt: skip
        return Verdict(
            ok,
            notes,
            by=self.name,
            at=marked_at,
            scene_success=None if seen is None else seen.success,
            scene_notes="" if seen is None else seen.notes,
        )

    def acknowledge(self, fault: str) -> bool:
        return bool(self.ui.ask_ack(fault))


MARKS = ("operator", "scene")


def make_judge(backend: str, marks: str | None = None, ui: Any = None, operator: str = "operator") -> Judge:
    """Who marks a batch: ``operator`` (default on jaka) or ``scene`` (default on sim and fake).

    An operator on the sim or fake arm marks with the scene judge beside (both verdicts stored); on
    the real arm there is no scene to judge from, so ``--marks scene`` is refused there.
    """
    from roboact.errors import UserError

    marks = marks or ("operator" if backend == "jaka" else "scene")
    if marks not in MARKS:
        raise UserError(f"--marks {marks!r}: expected one of {', '.join(MARKS)}")
    if marks == "scene":
        if backend == "jaka":
            raise UserError(
                "--marks scene: the real arm has no scene state to judge from; the operator marks"
            )
        return SceneJudge()
    return OperatorJudge(ui, scene=None if backend == "jaka" else SceneJudge(), operator=operator)
