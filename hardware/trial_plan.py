"""Trial plans: which policies to compare on which tasks, how often, in what order, and when.

A plan is YAML loaded with ``roboact.config.load_config`` into ``TrialPlan``. A task is an ordered
list of subtasks (the paper's four: open the middle drawer, pick the tape, place it on the table,
close the drawer; Sec. IV.D). ``trial_order`` expands the plan into trial keys
``(policy, task, repetition)``; with ``order: interleave`` each repetition cycles through the
policies in a rotated order (A B, B A, ...), so slow drift (lighting, wear, battery) does not bias
one policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from roboact.config import load_config


@dataclass
class SubtaskSpec:
    """One step of a task."""

    name: str = "open_drawer"
    """subtask id (a Table V column)"""
    instruction: str = ""
    """language instruction given to the policy"""
    goal: list[float] = field(default_factory=list)
    """joint goal (rad) used by the scripted policy and the automatic judge"""
    gripper: float = 0.0
    """gripper goal at the end of the subtask (0 open, 1 closed)"""
    duration_s: float = 2.0
    """time the policy gets for this subtask"""
    tolerance: float = 0.05
    """joint-goal rule: largest joint error (rad) that counts as success"""
    judged_by: str = "scene"
    """sim and fake arms: ``scene`` (the SceneJudge's criterion for this subtask's name, where it has
    one) or ``joints`` (the joint-goal rule: ``goal`` within ``tolerance``, the gripper's side)"""


@dataclass
class TaskSpec:
    name: str = "drawer_tape"
    """task id"""
    subtasks: list[SubtaskSpec] = field(default_factory=list)
    """ordered subtasks"""


@dataclass
class PolicySpec:
    name: str = "scripted"
    """label in the trial store and Table V"""
    kind: str = "scripted"
    """scripted or checkpoint"""
    checkpoint: str = ""
    """checkpoint path (kind=checkpoint)"""
    noise: float = 0.0
    """scripted policy: std of its goal error (rad)"""


@dataclass
class ScheduleConfig:
    """When trials may start: a cron expression and/or a daily window (empty = any time)."""

    cron: str = ""
    """crontab expression of batch start times, e.g. '0 9 * * 1-5'"""
    window_start: str = ""
    """HH:MM: no trial starts before this time of day"""
    window_end: str = ""
    """HH:MM: no trial starts after this time of day"""
    timezone: str = "UTC"
    """time zone of cron and window"""


@dataclass
class TrialPlan:
    name: str = "plan"
    """plan id; part of every trial key"""
    robot: str = "jaka_k1"
    """robot YAML (limits, kinematics)"""
    tasks: list[TaskSpec] = field(default_factory=list)
    policies: list[PolicySpec] = field(default_factory=list)
    repetitions: int = 1
    """trials per (policy, task)"""
    order: str = "interleave"
    """interleave (rotate policies per repetition) or blocked (all of one policy first)"""
    stop_on_failure: bool = True
    """a failed subtask ends the trial (later subtasks are not attempted), as in Table V"""
    retry_connection_faults: bool = True
    """a trial ended by a lost connection or a timeout is rerun on resume, not counted as failed"""
    seed: int = 0
    """base seed; trial seeds derive from it"""
    watchdog_timeout_s: float = 0.0
    """stop the arm when no command arrives for this long (s); 0 = the robot YAML's (0.25 s on the
    K-1). The jaka backend refuses a longer one than the robot's; a longer one is for the fake and sim
    arms, whose controller shares a loaded machine with the runner (the tests use 10 s)"""
    command_timeout_s: float = 0.0
    """longest wait for one controller reply (s); 0 = ``JakaConfig.timeout_s`` (1.0)"""
    state_max_age_s: float = 0.0
    """a state record older than this counts as a lost stream (s); 0 = ``JakaConfig.state_max_age_s``
    (0.5)"""
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)

    def __post_init__(self) -> None:
        if self.repetitions < 1:
            raise ValueError(f"plan {self.name}: repetitions must be >= 1, got {self.repetitions}")
        for key in ("watchdog_timeout_s", "command_timeout_s", "state_max_age_s"):
            if getattr(self, key) < 0:
                value = getattr(self, key)
                raise ValueError(f"plan {self.name}: {key} must be >= 0 (0 = the default), got {value}")
        if self.order not in ("interleave", "blocked"):
            raise ValueError(f"plan {self.name}: order must be interleave or blocked, got {self.order!r}")
        names = [p.name for p in self.policies]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"plan {self.name}: policies need unique names, got {names}")
        for p in self.policies:
            if p.kind not in ("scripted", "checkpoint"):
                raise ValueError(f"plan {self.name}: policy {p.name}: kind must be scripted or checkpoint")
            if p.kind == "checkpoint" and not p.checkpoint:
                raise ValueError(
                    f"plan {self.name}: policy {p.name}: kind checkpoint needs a checkpoint path"
                )
        if not self.tasks:
            raise ValueError(f"plan {self.name}: needs at least one task")
        for t in self.tasks:
            if not t.subtasks:
                raise ValueError(f"plan {self.name}: task {t.name} has no subtasks")
            for s in t.subtasks:
                if s.judged_by not in ("scene", "joints"):
                    raise ValueError(
                        f"plan {self.name}: {t.name}.{s.name}: judged_by must be scene or joints, "
                        f"got {s.judged_by!r}"
                    )
                if s.duration_s <= 0:
                    raise ValueError(f"plan {self.name}: {t.name}.{s.name}: duration_s must be > 0")

    def task(self, name: str) -> TaskSpec:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(f"plan {self.name}: no task {name!r}")

    def policy(self, name: str) -> PolicySpec:
        for p in self.policies:
            if p.name == name:
                return p
        raise KeyError(f"plan {self.name}: no policy {name!r}")


def load_plan(path: str | Path, overrides: list[str] | None = None) -> TrialPlan:
    """Load a plan YAML (a path, or a bare shipped name such as ``trials_demo``)."""
    return load_config(TrialPlan, path, overrides)


def trial_order(plan: TrialPlan) -> list[tuple[str, str, int]]:
    """All ``(policy, task, repetition)`` keys in execution order."""
    names = [p.name for p in plan.policies]
    out: list[tuple[str, str, int]] = []
    if plan.order == "blocked":
        for p in names:
            for rep in range(plan.repetitions):
                for t in plan.tasks:
                    out.append((p, t.name, rep))
        return out
    for rep in range(plan.repetitions):
        k = rep % len(names)
        rotated = names[k:] + names[:k]
        for t in plan.tasks:
            for p in rotated:
                out.append((p, t.name, rep))
    return out
