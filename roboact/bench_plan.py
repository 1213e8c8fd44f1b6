"""The plan of ``roboact bench paper``: its rows, tables, scales, config and units (no Ray here).

A row says how its frozen features are made (its own RoboAct-CLIP fit with one switch off, or the
encoder's frame features); a table says which suite, tasks, head kind and paper rows it has; the
plan is the list of units a config asks for, in dependency order. ``roboact.bench`` runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roboact.policies.features import HISTORY_RE

EVAL_SEED_OFFSET = 1000
"""evaluation seeds start at seed + 1000 (the demo's convention; demos start at 100000)"""


@dataclass(frozen=True)
class RowSpec:
    """One comparison row: how its frozen features are made."""

    key: str
    """what ``--rows`` names"""
    slug: str
    """its policy directory name, which labels it in the episode logs and tables"""
    paper: str
    """the paper's row name (as in ``sim_workers.tables.PAPER_TABLES``)"""
    model: tuple[tuple[str, Any], ...] = ()
    """RoboActConfig switches of its fit (a model row)"""
    frames: str = "main"
    """feature store of its fit: ``main`` (the paper's 16 frames, or fewer at small scales) or ``2``"""
    fit: bool = True
    """True: features from its own RoboAct-CLIP fit; False: the frozen encoder's frame features"""
    window: bool = False
    """frame rows only: the last n frames (A6) instead of the current frame"""


ROWS: dict[str, RowSpec] = {
    r.key: r
    for r in [
        RowSpec("roboact-clip", "roboact-clip", "RoboAct-CLIP (Ours)"),
        RowSpec(
            "A1",
            "A1-no-diff-transformer",
            "- w/o Spatiotemporal Diff-Transformer",
            (("use_diff_transformer", False),),
        ),
        RowSpec(
            "A2", "A2-no-disentanglement", "- w/o Feature Disentanglement", (("use_disentanglement", False),)
        ),
        RowSpec(
            "A3",
            "A3-no-recombination",
            "- w/o Recombination Contrastive Loss",
            (("use_recombination", False),),
        ),
        RowSpec("A4", "A4-no-aux", "- w/o Auxiliary Classification Loss", (("use_aux", False),)),
        RowSpec("A5", "A5-two-frames", "- Shorter sequence (n=2)", frames="2"),
        RowSpec("A6", "A6-frame-features", "- Only original CLIP frame features", fit=False, window=True),
        RowSpec("clip-frame", "clip-frame", "CLIP", fit=False),
    ]
}
BASELINE = "roboact-clip"
PAPER_ONLY = ("R3M", "MPI (Small)", "MPI (Base)", "Robotic-CLIP")
"""paper rows we cannot run: no weights ship with any registry package and nothing is downloaded"""


@dataclass(frozen=True)
class TableSpec:
    """One of the paper's simulation tables."""

    key: str
    suite: str
    heads: str
    """``per_task`` (one head per task) or ``shared`` (one head with a task one-hot)"""
    rows: tuple[str, ...]
    """the paper's rows of this table that we can run"""
    tasks_field: str
    """the BenchConfig field listing its tasks"""
    trained_on: str | None = None
    """the table whose tasks its heads are trained on (zero-shot tables); None: its own tasks"""


TABLES: dict[str, TableSpec] = {
    "II": TableSpec("II", "libero", "per_task", tuple(ROWS), "table_ii_tasks"),
    "III": TableSpec("III", "libero", "shared", ("roboact-clip", "clip-frame"), "table_iii_tasks", "II"),
    "IV": TableSpec("IV", "kitchen", "per_task", ("roboact-clip", "clip-frame"), "table_iv_tasks"),
}


@dataclass
class BenchConfig:
    """What ``roboact bench paper`` runs; ``scale`` picks the preset, any field can be overridden."""

    scale: str = "machine"
    """tiny (the test, minutes) | machine (2 cores, <= 3 h) | full (the paper's sizes, a cluster)"""
    out: str = "runs/bench_paper"
    """where every unit writes; a rerun with the same directory resumes"""
    rows: list[str] = field(default_factory=lambda: list(ROWS))
    """rows to run (a table runs those of its paper rows that are listed here)"""
    suites: list[str] = field(default_factory=lambda: ["libero", "kitchen"])
    """libero (Tables II and III) and/or kitchen (Table IV)"""
    encoder: str = "embedded"
    """frozen encoder: embedded, or open_clip:<arch>:<checkpoint path> for real CLIP"""
    workers: int = 2
    """Ray workers / simulator actors per unit"""
    address: str | None = None
    """Ray cluster address (None: a local instance, or RAY_ADDRESS)"""
    shared_fs: bool = False
    """``out`` lies on a filesystem every node of the cluster mounts. On several nodes the units hand
    files to actors: without it, ``out`` must be an s3:// / gs:// URI, whose copies they are handed"""
    seed: int = 0
    """seed of every stage (demos from 100000 + seed, evaluation from 1000 + seed)"""
    sim_config: str = "sim_small"
    """simulated atomic-action source the RoboAct-CLIP fits learn from"""
    max_frames: int = 32
    """frames extracted per clip; the fits use 16 (or max_frames if fewer), A5 uses 2"""
    train_config: str = "train_default"
    """train config of every fit (the same budget for the full model and A1-A5)"""
    train_overrides: list[str] = field(default_factory=list)
    """dotted overrides for every fit (for example optim.max_steps=200)"""
    table_ii_tasks: list[str] = field(default_factory=lambda: ["T1", "T2", "T3", "T4"])
    """Table II tasks (LIBERO, per-task heads)"""
    table_iii_tasks: list[str] = field(default_factory=lambda: ["T5", "T6"])
    """Table III tasks (LIBERO, zero-shot with shared heads trained on the Table II tasks)"""
    table_iv_tasks: list[str] = field(default_factory=lambda: ["knob", "door", "switch", "micro", "slide"])
    """Table IV tasks (Franka Kitchen, per-task heads)"""
    demos_per_task: int = 20
    """scripted expert demonstrations per trained task"""
    eval_episodes: int = 10
    """evaluation episodes per task and row (the paper: 50)"""
    max_steps: int = 200
    """evaluation horizon (the paper's 200 steps)"""
    policy_iterations: int = 500
    """BC iterations per head"""
    head_history: str = "history=3,every=4"
    """the head's input history, the same for every row: ``history=H[,every=S]`` appended to each
    row's feature spec (``roboact/policies/features.py``); empty: the current step's features only.
    Three steps, four apart, because Table IV rose from 74.8 / 69.2 % to 89.2 / 90.0 % with it (both
    rows) and LIBERO's frame heads did not change (docs/policy.md)"""
    videos: int = 1
    """mp4s per task, of the RoboAct-CLIP row only (rows share a run directory)"""

    def __post_init__(self) -> None:
        unknown = [r for r in self.rows if r not in ROWS]
        if unknown or not self.rows:
            raise ValueError(f"rows: {unknown or 'none'} unknown/empty; choose from {', '.join(ROWS)}")
        bad = [s for s in self.suites if s not in ("libero", "kitchen")]
        if bad or not self.suites:
            raise ValueError(f"suites: {bad or 'none'} unknown/empty; choose from libero, kitchen")
        for name in ("workers", "demos_per_task", "eval_episodes", "max_steps", "policy_iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.head_history and not HISTORY_RE.match(self.head_history):
            raise ValueError(
                f"head_history must look like history=3,every=4 (or be empty), got {self.head_history!r}"
            )

    def tasks(self, table: str) -> list[str]:
        return list(getattr(self, TABLES[table].tasks_field))


SCALE_PRESETS: dict[str, dict[str, Any]] = {
    # 1 task per table, 1 demo, 1 episode, 20 steps, 2 BC iterations, a 40-step fit: minutes.
    "tiny": {
        "sim_config": "sim_demo_tiny",
        "max_frames": 8,
        "train_config": "train_tiny",
        "table_ii_tasks": ["T1"],
        "table_iii_tasks": ["T5"],
        "table_iv_tasks": ["micro"],
        "demos_per_task": 1,
        "eval_episodes": 1,
        "max_steps": 20,
        "policy_iterations": 2,
    },
    # sized from measured unit times for <= 3 h on 2 cores (docs/bench.md, "Sizes and time")
    "machine": {},
    # the paper's protocol: 50 demos and 50 episodes per task, the large source; for a cluster
    "full": {
        "sim_config": "sim_large",
        "demos_per_task": 50,
        "eval_episodes": 50,
        "policy_iterations": 8000,  # the policy protocol's default (docs/policy.md)
    },
}
RESUME_FREE = ("out", "rows", "suites", "workers", "address", "shared_fs", "videos")
"""fields a rerun may change; every other field decides results and must match the saved config"""


def load_bench_config(path: str | Path | None = None, overrides: list[str] | None = None) -> BenchConfig:
    """Defaults, then the scale's preset, then a YAML file, then dotted overrides (later wins)."""
    from roboact.config import load_config

    return load_config(BenchConfig, path, overrides, preset=bench_preset)


def bench_preset(merged: Any) -> dict[str, Any]:
    """The preset of the scale the merged config asks for (``load_config``'s callable preset)."""
    scale = merged.get("scale") or BenchConfig.scale
    if scale not in SCALE_PRESETS:
        raise ValueError(f"scale={scale!r}: expected one of {', '.join(SCALE_PRESETS)}")
    return SCALE_PRESETS[scale]


@dataclass(frozen=True)
class Unit:
    """One resumable piece of the plan."""

    stage: str
    """data | features | fit | demos | heads | eval"""
    table: str | None = None
    row: str | None = None
    suite: str | None = None

    @property
    def name(self) -> str:
        return "__".join(p for p in (self.stage, self.table, self.row, self.suite) if p)


def table_rows(cfg: BenchConfig) -> dict[str, list[str]]:
    """Table -> the rows it runs, for the requested suites and rows (tables with no task left out)."""
    return {
        key: [r for r in cfg.rows if r in t.rows]
        for key, t in TABLES.items()
        if t.suite in cfg.suites and cfg.tasks(key) and any(r in t.rows for r in cfg.rows)
    }


def plan(cfg: BenchConfig) -> list[Unit]:
    """Every unit the config asks for, in the order they run (a unit's inputs come before it)."""
    tables = table_rows(cfg)
    needed = [r for r in ROWS if any(r in rows for rows in tables.values())]
    fits = [r for r in needed if ROWS[r].fit]
    units = [Unit("data"), Unit("features")] if fits else []
    units += [Unit("fit", row=r) for r in fits]
    units += [
        Unit("demos", suite=s) for s in ("libero", "kitchen") if any(TABLES[t].suite == s for t in tables)
    ]
    # each row's evaluation right after its heads: a row's result is in as soon as it can be, and a
    # run stopped part-way has whole rows rather than heads nobody evaluated
    units += [
        Unit(stage, table=t, row=r) for t, rows in tables.items() for r in rows for stage in ("heads", "eval")
    ]
    return units


def dependencies(unit: Unit) -> list[Unit]:
    """The units whose outputs ``unit`` reads."""
    if unit.stage == "features":
        return [Unit("data")]
    if unit.stage == "fit":
        return [Unit("features")]
    if unit.stage == "heads":
        deps = [Unit("demos", suite=TABLES[unit.table].suite)]  # type: ignore[index]
        return deps + ([Unit("fit", row=unit.row)] if ROWS[unit.row].fit else [])  # type: ignore[index]
    if unit.stage == "eval":
        return [Unit("heads", table=unit.table, row=unit.row)]
    return []
