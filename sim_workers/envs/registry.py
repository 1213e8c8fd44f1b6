"""The paper's simulation tasks by short name (Sec. IV.B, Tables II-IV) and the env factory.

LIBERO T1-T4 are the paper's four libero_goal tasks. The paper's unseen long-horizon tasks are
described in words only; T5 is libero_10's "put both the alphabet soup and the cream cheese box
in the basket" (exact match) and T6, "pick the black bowl from the top drawer and place it on the
plate", has no exact libero_10 counterpart: we use libero_10's closest black-bowl-and-drawer task,
"put the black bowl in the bottom drawer of the cabinet and close it" (KITCHEN_SCENE4).
Franka Kitchen's five primitives map onto one ``FrankaKitchen-v1`` subtask each.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

SUITES = ("libero", "kitchen")


@dataclass(frozen=True)
class TaskSpec:
    """One benchmark task: where it lives in its suite and what the paper calls it."""

    name: str
    """short name used everywhere in roboact (``T1``, ``micro``)"""
    suite: str
    """``libero`` or ``kitchen``"""
    description: str
    """the paper's wording of the task"""
    benchmark: str = ""
    """LIBERO benchmark (``libero_goal``, ``libero_10``)"""
    index: int = -1
    """LIBERO task index inside the benchmark"""
    libero_name: str = ""
    """LIBERO task name (checked against the benchmark at env construction)"""
    subtask: str = ""
    """Franka Kitchen subtask (``tasks_to_complete`` element)"""


TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in [
        TaskSpec(
            "T1",
            "libero",
            "open the middle drawer",
            "libero_goal",
            0,
            "open_the_middle_drawer_of_the_cabinet",
        ),
        TaskSpec(
            "T2",
            "libero",
            "push the plate to the front of the stove",
            "libero_goal",
            5,
            "push_the_plate_to_the_front_of_the_stove",
        ),
        TaskSpec(
            "T3",
            "libero",
            "put the cream cheese in the bowl",
            "libero_goal",
            6,
            "put_the_cream_cheese_in_the_bowl",
        ),
        TaskSpec("T4", "libero", "turn on the stove", "libero_goal", 7, "turn_on_the_stove"),
        TaskSpec(
            "T5",
            "libero",
            "put both the alphabet soup and the cream cheese box in the basket",
            "libero_10",
            7,
            "LIVING_ROOM_SCENE1_put_both_the_alphabet_soup_and_the_cream_cheese_box_in_the_basket",
        ),
        TaskSpec(
            "T6",
            "libero",
            "put the black bowl in the bottom drawer of the cabinet and close it",
            "libero_10",
            3,
            "KITCHEN_SCENE4_put_the_black_bowl_in_the_bottom_drawer_of_the_cabinet_and_close_it",
        ),
        TaskSpec("knob", "kitchen", "turn knob", subtask="bottom burner"),
        TaskSpec("door", "kitchen", "open door", subtask="hinge cabinet"),
        TaskSpec("switch", "kitchen", "flip switch", subtask="light switch"),
        TaskSpec("micro", "kitchen", "open microwave", subtask="microwave"),
        TaskSpec("slide", "kitchen", "slide door", subtask="slide cabinet"),
    ]
}

SUITE_TASKS: dict[str, list[str]] = {
    "libero": ["T1", "T2", "T3", "T4", "T5", "T6"],
    "kitchen": ["knob", "door", "switch", "micro", "slide"],
}
DEFAULT_TASKS: dict[str, list[str]] = {"libero": ["T1", "T2", "T3", "T4"], "kitchen": SUITE_TASKS["kitchen"]}


@dataclass
class EnvConfig:
    """Settings shared by both adapters; an episode is (suite, task, episode index, seed)."""

    image_size: int = 128
    """square camera resolution in pixels; 0 = no rendering (state-only, much faster)"""
    max_steps: int = 200
    """episode horizon in env steps (the paper evaluates at 200)"""
    cheap_render: bool = True
    """turn off reflections, shadows and multisampling (5-20x faster on software GL, see docs)"""
    init_noise: float = 0.02
    """Kitchen only: uniform noise (rad) on the arm's start joints, seeded by the episode seed"""
    cameras: tuple[str, ...] = ("agentview",)
    """LIBERO cameras to render, first = ``obs["image"]``; all in ``obs["images"]`` by name (add
    ``robot0_eye_in_hand`` for the wrist view robomimic and LIBERO policies use). Kitchen renders
    its one view and accepts only the default."""

    def __post_init__(self) -> None:
        if self.image_size < 0:
            raise ValueError(f"image_size must be >= 0, got {self.image_size}")
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        if self.init_noise < 0:
            raise ValueError(f"init_noise must be >= 0, got {self.init_noise}")
        self.cameras = tuple(self.cameras)  # YAML and JSON give lists
        if not self.cameras or self.cameras[0] != "agentview" or len(set(self.cameras)) != len(self.cameras):
            raise ValueError(f"cameras must be distinct and start with 'agentview', got {list(self.cameras)}")


def env_fingerprint(config: EnvConfig) -> dict[str, Any]:
    """The env settings a resumed run must share (JSON types); the default cameras are left out, so
    files and run directories written before cameras existed keep their fingerprint."""
    out = dataclasses.asdict(config)
    out["cameras"] = list(config.cameras)
    if config.cameras == ("agentview",):
        del out["cameras"]
    return out


def get_task(name: str) -> TaskSpec:
    """The task spec for a short name; a clear error listing the known names otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None


def parse_tasks(suite: str, tasks: str | list[str] | None) -> list[str]:
    """Resolve ``"T1,T2"`` / a list / ``None`` (the suite's default tasks) and check the suite."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; choose one of {', '.join(SUITES)}")
    if tasks is None or tasks == "" or tasks == "all":
        return list(DEFAULT_TASKS[suite] if tasks != "all" else SUITE_TASKS[suite])
    names = [t.strip() for t in tasks.split(",")] if isinstance(tasks, str) else list(tasks)
    for n in names:
        spec = get_task(n)
        if spec.suite != suite:
            raise ValueError(f"task {n!r} belongs to suite {spec.suite!r}, not {suite!r}")
    return names


def make_env(task: str, config: EnvConfig | dict[str, Any] | None = None, **overrides: Any) -> Any:
    """Build the adapter for a task (LIBERO or Kitchen); simulators are imported only here."""
    if config is None:
        config = EnvConfig()
    elif isinstance(config, dict):
        config = EnvConfig(**config)
    if overrides:
        config = dataclasses.replace(config, **overrides)
    spec = get_task(task)
    if spec.suite == "libero":
        from roboact.sim_workers.envs.libero import LiberoEnv

        return LiberoEnv(spec, config)
    from roboact.sim_workers.envs.kitchen import KitchenEnv

    return KitchenEnv(spec, config)
