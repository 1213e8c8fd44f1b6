"""Who decides whether a subtask succeeded, and who resets the scene and acknowledges stops.

On the real arm an operator does all three, prompted through rich (``OperatorJudge``). In
simulation and against the fake controller ``AutoJudge`` decides from the arm's final state: the
subtask succeeded if no fault ended it, every joint is within the subtask's ``tolerance`` of its
goal, and the gripper is on the goal's side of 0.5. ``AutoJudge`` acknowledges stops only when
told to (``auto_ack``), so tests can check that a stop blocks the batch until acknowledged.
"""

from __future__ import annotations

import logging
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
    """Judges from state (simulation, fake controller)."""

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
