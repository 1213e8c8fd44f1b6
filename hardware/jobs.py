"""The arm's two stages as a config and a function each: ``roboact hardware trials`` and ``record``.

``run_hardware_trials(TrialsJobConfig)`` and ``run_hardware_record(RecordJobConfig)`` are what the
commands call, so a Python user or a cluster job runs a trial batch or a recording without the CLI.
What both share lives here too: the backend check (no synthetic camera on the real arm unless asked
for by name) and the operator's judge with its marks page.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roboact.errors import UserError


@dataclass
class ArmJobConfig:
    """The arm connection and operator settings ``trials`` and ``record`` share."""

    plan: str = "trials_demo"
    """trial plan YAML (path or shipped name): tasks, subtasks, durations, policies, schedule"""
    backend: str = "sim"
    """jaka (real arm), fake (fake controller) or sim (MuJoCo)"""
    host: str = "127.0.0.1"
    """controller IP (jaka)"""
    port: int = 10001
    """command port (jaka)"""
    state_port: int = 10000
    """state port (jaka)"""
    gripper: str = ""
    """gripper serial device or tcp://host:port (jaka; '' = none)"""
    camera: str | None = None
    """orbbec, opencv or fake; required with backend jaka (no synthetic images by default)"""
    faults: str = ""
    """fault SPEC for the fake backend"""
    marks: str | None = None
    """who marks subtasks: operator (default on jaka) or scene (default on sim and fake)"""
    mark_ui: str = "keyboard"
    """where the operator answers: keyboard, or web (a page on 127.0.0.1)"""
    mark_port: int = 8765
    """port of the web marks page (0: a free one)"""
    operator: str = "operator"
    """who marks (stored with every mark)"""


@dataclass
class TrialsJobConfig(ArmJobConfig):
    """``roboact hardware trials``: a trial batch of a plan on the arm, into a trial store."""

    plan: str = ""
    """trial plan YAML (path or shipped name, e.g. trials_demo): tasks, subtasks, policies, schedule"""
    store: str = "runs/trials/trials.sqlite"
    """SQLite trial store; rerun with the same store to resume"""
    address: str | None = None
    """Ray cluster address (None: a local instance, or RAY_ADDRESS)"""
    use_ray: bool = True
    """run the arm in a Ray actor (false: in this process)"""
    wait: bool = False
    """follow the plan's cron/window schedule (block until it fires) instead of starting now"""
    max_trials: int | None = None
    """stop after this many trials"""
    policies: list[str] = field(default_factory=list)
    """policy head checkpoints ([NAME=]DIR) trained on recorded demos; replace the plan's policies"""
    resource: str | None = "auto"
    """custom Ray resource the arm's actor needs, declared only by the node wired to that arm
    (``ray start --resources '{"jaka_arm": 1}'``): auto = jaka_arm on the jaka backend, none on sim
    and fake; name one per arm when a cluster has several arms"""


@dataclass
class RecordJobConfig(ArmJobConfig):
    """``roboact hardware record``: demonstrations recorded through the arm into a demo file."""

    out: str = ""
    """demo HDF5 file to write (rerun to add the missing episodes)"""
    episodes: int = 1
    """episodes wanted in the file (in total)"""
    device: str = "scripted"
    """input device: scripted (the plan's scripted paths) or keyboard"""
    task: str | None = None
    """the plan's task to record (default: its first)"""
    noise: float = 0.0
    """scripted device: std (rad) of its goal noise, so episodes differ"""
    policy_hz: float = 25.0
    """rate a head trained on these demos runs at (divides 125)"""


def run_hardware_trials(cfg: TrialsJobConfig) -> dict[str, Any]:
    """Run (or resume) the batch; the summary carries ``plan_name`` for Table V.

    With ``wait`` and a scheduled plan it blocks, running the batch whenever the schedule fires,
    until nothing is pending, and returns ``{"scheduled": True, "plan_name": ...}``."""
    from roboact.hardware.trials import run_trials

    from roboact import storage
    from roboact.stage import require

    check_backend(cfg.backend, cfg.camera, "feeds synthetic images")
    storage.refuse_uri("--gripper", cfg.gripper, "a serial device or tcp://host:port")
    require(cfg.plan, "--plan", "plan")
    plan = _plan(cfg.plan)
    if cfg.policies:
        plan = with_checkpoint_policies(plan, cfg.policies)

    with storage.mirror(cfg.store, is_file=True, snapshot=sqlite_snapshot) as store:
        if store.fetched:  # the bucket's copy replaced this node's: its journal belongs to the old one
            for suffix in ("-wal", "-shm"):
                store.path.with_name(store.path.name + suffix).unlink(missing_ok=True)

        def batch(judge: Any) -> dict[str, Any]:
            summary = run_trials(
                plan, cfg.backend, store.path, host=cfg.host, port=cfg.port, state_port=cfg.state_port,
                address=cfg.address, use_ray=cfg.use_ray, resource=cfg.resource, judge=judge,
                faults=cfg.faults or None,
                gripper_port=cfg.gripper, camera=cfg.camera or "fake", max_trials=cfg.max_trials,
            )  # fmt: skip
            return {**summary, "store": cfg.store}

        with operator_judge(cfg) as judge:
            judge = SyncingJudge(judge, store.sync)  # each finished trial reaches a bucket's copy
            if cfg.wait and (plan.schedule.cron or plan.schedule.window_start):
                from roboact.hardware.scheduler import run_scheduled

                run_scheduled(plan.schedule, lambda: batch(judge)["pending"] == 0)
                return {"scheduled": True, "plan_name": plan.name}
            return {**batch(judge), "plan_name": plan.name}


def run_hardware_record(cfg: RecordJobConfig) -> dict[str, Any]:
    """Record the episodes ``cfg`` asks for (every command filtered, watchdog armed)."""
    from roboact.hardware.record import record_demos

    from roboact import storage
    from roboact.stage import require

    check_backend(cfg.backend, cfg.camera, "records synthetic images")
    storage.refuse_uri("--gripper", cfg.gripper, "a serial device or tcp://host:port")
    require(cfg.out, "--out", "out")
    plan = _plan(cfg.plan)
    with storage.mirror(cfg.out, is_file=True) as out, operator_judge(cfg) as judge:
        summary = record_demos(
            plan, out.path, cfg.episodes, backend=cfg.backend, device=cfg.device, task=cfg.task,
            noise=cfg.noise, policy_hz=cfg.policy_hz, host=cfg.host, port=cfg.port,
            state_port=cfg.state_port, gripper_port=cfg.gripper, camera=cfg.camera,
            faults=cfg.faults or None, judge=SyncingJudge(judge, out.sync),
        )  # fmt: skip
    return {**summary, "out": cfg.out} if storage.is_remote(cfg.out) else summary


class SyncingJudge:
    """A judge that first brings an output's bucket copy up to date whenever a trial (or recorded
    episode) is about to start, then does what the judge it wraps does.

    Why there: ``prepare_trial`` is called between trials, when the previous one is committed to
    the trial store (or closed in the demo file) and nothing writes, so the upload is consistent
    and each finished trial is in the bucket as the next begins (the last one on exit).
    """

    def __init__(self, judge: Any, sync: Any) -> None:
        self._judge = judge
        self._sync = sync

    def prepare_trial(self, *args: Any, **kwargs: Any) -> Any:
        self._sync()
        return self._judge.prepare_trial(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._judge, name)


def sqlite_snapshot(path: Path) -> Path:
    """A consistent copy of the SQLite file ``path`` (its WAL journal folded in), for upload.

    Why not the file itself: in WAL mode recent commits live in ``<file>-wal`` until a checkpoint,
    so the main file alone would lack them. SQLite's backup API reads one consistent snapshot.
    """
    import sqlite3

    snap = path.with_name(f".{path.name}.snapshot")
    src = sqlite3.connect(str(path))
    dst = sqlite3.connect(str(snap))
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # the copy is one self-contained file, no journal
    finally:
        dst.close()
        src.close()
    return snap


def _plan(name: str) -> Any:
    from roboact.hardware.trial_plan import load_plan

    from roboact import storage
    from roboact.config import ConfigError

    if storage.is_remote(name):  # a plan kept in the bucket beside the job's other files
        name = str(storage.local_copy(name))
    try:
        return load_plan(name)
    except (ConfigError, ValueError) as err:
        raise UserError(f"plan {name}: {err}") from err


def with_checkpoint_policies(plan: Any, specs: list[str]) -> Any:
    """``plan`` with its policies replaced by ``kind: checkpoint`` heads from ``[NAME=]DIR`` specs."""
    from roboact.hardware.trial_plan import PolicySpec

    policies = []
    for spec in specs:
        name, _, path = spec.rpartition("=")
        name = name or Path(path).name or "head"
        policies.append(PolicySpec(name=name, kind="checkpoint", checkpoint=path))
    return dataclasses.replace(plan, policies=policies)


def check_backend(backend: str, camera: str | None, fake_use: str) -> None:
    """The backends there are, and no synthetic camera on the real arm unless asked for by name."""
    if backend not in ("jaka", "fake", "sim"):
        raise UserError(f"--backend must be jaka, fake or sim, got {backend!r}")
    if backend == "jaka" and camera is None:
        raise UserError(
            f"--camera is required with --backend jaka: orbbec or opencv (or fake, which {fake_use})"
        )


@contextmanager
def operator_judge(cfg: ArmJobConfig) -> Iterator[Any]:
    """The judge for ``marks``; a web page's server runs while the batch does (its URL is printed)."""
    import sys

    from roboact.hardware.judge import make_judge
    from roboact.hardware.operator_ui import KeyboardMarks, WebMarks

    if cfg.mark_ui not in ("keyboard", "web"):
        raise UserError(f"--mark-ui must be keyboard or web, got {cfg.mark_ui!r}")
    ui = WebMarks(port=cfg.mark_port) if cfg.mark_ui == "web" else KeyboardMarks()
    judge = make_judge(cfg.backend, cfg.marks, ui, cfg.operator)
    if isinstance(ui, WebMarks) and getattr(judge, "ui", None) is ui:  # --marks scene needs no page
        ui.start()
        print(f"operator marks page: {ui.url}", file=sys.stderr, flush=True)
    try:
        yield judge
    finally:
        if isinstance(ui, WebMarks):
            ui.close()
