"""Who decides whether a subtask succeeded, and who resets the scene and acknowledges stops.

On the real arm an operator does all three, prompted through rich (``OperatorJudge``). On the
simulated and fake arms, which run the physical scene, ``SceneJudge`` decides the paper's four
subtasks from the scene's state at the subtask's end (``SCENE_CRITERIA``), never from the arm's
joints: a joint-perfect motion that did not move the drawer or the tape fails. A subtask it has no
criterion for (a plan of your own), one whose plan asks for it (``judged_by: joints``) and a result
without a scene are judged by ``AutoJudge``'s rule:
no fault, every joint within the subtask's ``tolerance`` of its goal, the gripper on the goal's side
of 0.5. Both acknowledge stops only when told to (``auto_ack``), so tests can check that a stop
blocks the batch until acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from roboact.hardware.trial_plan import SubtaskSpec

logger = logging.getLogger(__name__)


class Judge(Protocol):
    name: str

    def prepare_trial(self, label: str) -> bool:
        """Scene reset before a trial; False stops the batch (remaining trials stay pending)."""

    def judge(self, subtask: SubtaskSpec, result: dict[str, Any]) -> tuple[bool, str]:
        """(success, notes) for one subtask given the executor's result."""

    def acknowledge(self, fault: str) -> bool:
        """An operator's acknowledgement of a protective/emergency stop; False stops the batch."""


class AutoJudge:
    """Judges from the arm's joints: the rule where there is no scene to look at."""

    name = "auto"

    def __init__(self, auto_ack: bool = True) -> None:
        self.auto_ack = auto_ack
        self.acks: list[str] = []

    def prepare_trial(self, label: str) -> bool:
        return True

    def judge(self, subtask: SubtaskSpec, result: dict[str, Any]) -> tuple[bool, str]:
        if result.get("status") != "ok":
            return False, f"fault: {result.get('message', result.get('status'))}"
        joints = np.asarray(result["joints"], dtype=float)
        err = float(np.max(np.abs(joints - np.asarray(subtask.goal, dtype=float)))) if subtask.goal else 0.0
        grip_ok = (float(result.get("gripper", 0.0)) >= 0.5) == (subtask.gripper >= 0.5)
        ok = err <= subtask.tolerance and grip_ok
        grip = "ok" if grip_ok else "wrong"
        return ok, f"max joint error {err:.3f} rad (tolerance {subtask.tolerance}); gripper {grip}"

    def acknowledge(self, fault: str) -> bool:
        self.acks.append(fault)
        return self.auto_ack


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

    def judge(self, subtask: SubtaskSpec, result: dict[str, Any]) -> tuple[bool, str]:
        if result.get("status") != "ok":
            return False, f"fault: {result.get('message', result.get('status'))}"
        criterion = SCENE_CRITERIA.get(subtask.name) if subtask.judged_by == "scene" else None
        scene = result.get("scene")
        if criterion is None or scene is None:  # no scene criterion: the joint-goal rule
            return super().judge(subtask, result)
        return criterion(scene)


class OperatorJudge:
    """A person at the arm answers prompts (rich) between trials and after each subtask."""

    name = "operator"

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console

        self.console = console or Console()

    def prepare_trial(self, label: str) -> bool:
        from rich.prompt import Confirm

        return Confirm.ask(f"[bold]Reset the scene for {label}[/bold]. Ready to start?", console=self.console)

    def judge(self, subtask: SubtaskSpec, result: dict[str, Any]) -> tuple[bool, str]:
        from rich.prompt import Confirm, Prompt

        if result.get("status") != "ok":
            self.console.print(f"[red]subtask {subtask.name} ended by a fault: {result.get('message')}[/red]")
            return False, f"fault: {result.get('message', result.get('status'))}"
        ok = Confirm.ask(
            f"Did subtask [bold]{subtask.name}[/bold] ({subtask.instruction}) succeed?", console=self.console
        )
        notes = Prompt.ask("Notes (optional)", default="", console=self.console)
        return ok, notes

    def acknowledge(self, fault: str) -> bool:
        from rich.prompt import Prompt

        self.console.print(
            f"[red bold]The arm stopped: {fault}[/red bold]. Clear the cause before continuing."
        )
        answer = Prompt.ask(
            "Type 'ack' to clear the stop and continue, anything else to end the batch", console=self.console
        )
        return answer.strip().lower() == "ack"
