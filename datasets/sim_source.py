"""The simulated multi-embodiment atomic-action source: the built-in data of RoboAct-CLIP.

The paper (Sec. III-A) builds a heterogeneous single-action dataset so that the same atomic action
is performed by different subjects and the model learns the action, not the actor. RH20T and
BridgeData V2 cannot be downloaded here, so this source does the same in simulation: scripted
controllers (``sim_controllers``) make six robot embodiments perform labelled atomic actions in
robosuite 1.4 scenes and LIBERO scenes (``sim_scenes``), a pool of Ray simulator actors
(``sim_actors``) runs the (embodiment, action, seed) jobs, and the driver writes each finished
clip into the clip store.

Each kept clip is one camera view of one successful episode, with an Algorithm 1 caption in its
closest faithful form (the subject is the robot's name, because the subject is what varies here)::

    "Panda robot pick can. Action is pick, Object is can."

Clip ids are deterministic, ``sim-<Robot>-<action>-<object>-s<seed index>-<camera>`` (spaces of
the object label become ``_``), so a rerun skips finished jobs and a retried job overwrites
nothing twice.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from roboact.datasets.sampling import uniform_indices
from roboact.datasets.sim_controllers import ACTIONS, Episode, run_episode
from roboact.datasets.sim_scenes import ROBOTS, SCENES
from roboact.datasets.stores import ClipRecord

logger = logging.getLogger(__name__)

SOURCE = "sim"
MIN_SUBJECTS_PER_ACTION = 3  # so subject and action are not confounded (issue requirement)


@dataclass
class SimActionConfig:
    """One atomic action of the source and who performs it."""

    name: str = "lift"
    """Action verb with a scripted controller (lift, pick, place, push, pull, stack, open, close,
    insert, turn)."""
    object: str = ""
    """Object label; empty = the action's default (e.g. cube for lift)."""
    scene: str = ""
    """Scene name from ``sim_scenes.SCENES``; empty = the action's default scene."""
    embodiments: list[str] = field(default_factory=list)
    """Robots that perform it; empty = all of the config's embodiments."""


@dataclass
class SimSourceConfig:
    """What the simulated source generates and how (``tune_configs/sim_small.yaml``, ``sim_medium``,
    ``sim_large``)."""

    embodiments: list[str] = field(default_factory=lambda: list(ROBOTS))
    """Robot embodiments (subjects): Panda, Sawyer, UR5e, Kinova3, IIWA, Jaco."""
    actions: list[SimActionConfig] = field(default_factory=lambda: [SimActionConfig(name=a) for a in ACTIONS])
    """Atomic actions with their object and scene."""
    clips_per_combination: int = 1
    """Episodes (seed indices) per (embodiment, action entry); each gives one clip per camera."""
    cameras: list[str] = field(default_factory=lambda: ["agentview", "frontview"])
    """Camera views; each view of an episode is its own clip (as RH20T's cameras are)."""
    image_size: int = 128
    """Frame height and width in pixels."""
    n_frames: int = 32
    """Frames kept per clip (uniformly sampled over the executed steps; Sec. III-B)."""
    max_steps: int = 250
    """Step limit of one scripted episode (20 Hz control)."""
    max_attempts: int = 3
    """Attempts (fresh seeds) per job before it is reported as failed; only successes are kept."""
    seed: int = 0
    """Base seed; every episode's seed derives from it, the job and the attempt."""
    workers: int = 2
    """Simulator actors (one CPU each)."""
    env_cache: int = 2
    """Simulators an actor keeps alive (built per (robot, scene); jobs are grouped to reuse them)."""

    def __post_init__(self) -> None:
        bad = [r for r in self.embodiments if r not in ROBOTS]
        if bad or not self.embodiments:
            raise ValueError(f"embodiments: {bad or 'empty'} not supported; use some of {list(ROBOTS)}")
        if not self.actions:
            raise ValueError("actions: at least one action is needed")
        for i, act in enumerate(self.actions):
            if act.name not in ACTIONS:
                raise ValueError(
                    f"actions[{i}].name: {act.name!r} has no controller; use one of {sorted(ACTIONS)}"
                )
            if act.scene and act.scene not in SCENES:
                raise ValueError(f"actions[{i}].scene: {act.scene!r} unknown; use one of {sorted(SCENES)}")
            allowed = SCENES[act.scene].actions if act.scene else ()
            if allowed and act.name not in allowed:
                raise ValueError(
                    f"actions[{i}]: scene {act.scene!r} has scripts for {list(allowed)} only, "
                    f"not {act.name!r}"
                )
            extra = [r for r in act.embodiments if r not in self.embodiments]
            if extra:
                raise ValueError(
                    f"actions[{i}].embodiments: {extra} are not among embodiments {self.embodiments}"
                )
        if len(self.cameras) < 1:
            raise ValueError("cameras: at least one camera is needed")
        for name, value, low in (
            ("clips_per_combination", self.clips_per_combination, 1),
            ("image_size", self.image_size, 8),
            ("n_frames", self.n_frames, 2),
            ("max_attempts", self.max_attempts, 1),
            ("workers", self.workers, 1),
            ("env_cache", self.env_cache, 1),
        ):
            if value < low:
                raise ValueError(f"{name}: must be >= {low}, got {value}")
        if self.max_steps < self.n_frames:
            raise ValueError(f"max_steps ({self.max_steps}) must be >= n_frames ({self.n_frames})")


@dataclass(frozen=True)
class SimJob:
    """One (embodiment, action, seed index) episode; each camera view becomes one clip."""

    robot: str
    action: str
    object: str
    scene: str
    index: int
    base_seed: int

    @property
    def key(self) -> str:
        obj = self.object.replace(" ", "_")
        return f"sim-{self.robot}-{self.action}-{obj}-s{self.index:03d}"

    @property
    def env_key(self) -> tuple[str, str]:
        return (self.robot, self.scene)

    def clip_id(self, camera: str) -> str:
        return f"{self.key}-{camera}"

    def seed(self, attempt: int) -> int:
        """Deterministic episode seed from the job and the attempt number (crc32, not ``hash``)."""
        return zlib.crc32(f"{self.base_seed}|{self.key}|{attempt}".encode()) & 0x7FFFFFFF


def make_jobs(cfg: SimSourceConfig) -> list[SimJob]:
    """All jobs of a config, grouped by (robot, scene) so actors reuse their simulators."""
    jobs = []
    for act in cfg.actions:
        spec = ACTIONS[act.name]
        for robot in act.embodiments or cfg.embodiments:
            for index in range(cfg.clips_per_combination):
                jobs.append(
                    SimJob(
                        robot, act.name, act.object or spec.object, act.scene or spec.scene, index, cfg.seed
                    )
                )
    subjects: dict[str, set[str]] = {}
    for job in jobs:
        subjects.setdefault(job.action, set()).add(job.robot)
    few = {a: sorted(r) for a, r in subjects.items() if len(r) < MIN_SUBJECTS_PER_ACTION}
    if few and len(cfg.embodiments) >= MIN_SUBJECTS_PER_ACTION:
        logger.warning(
            "actions performed by fewer than %d embodiments (confounded): %s", MIN_SUBJECTS_PER_ACTION, few
        )
    return sorted(jobs, key=lambda j: (j.robot, j.scene, j.action, j.index))


def caption(robot: str, action: str, obj: str) -> str:
    """Algorithm 1 line 9, "Robot [A] [O]. Action is A, Object is O.", with the robot named."""
    return f"{robot} robot {action} {obj}. Action is {action}, Object is {obj}."


def execute_job(
    env: Any, job: SimJob, cfg: SimSourceConfig, render: bool = True
) -> tuple[Episode | None, list[dict[str, Any]], int]:
    """Run a job's attempts until one succeeds; render its kept frames from the recorded states.

    Returns the successful episode (or None), one dict per camera with ``frames`` (n, H, W, 3)
    uint8, and the number of attempts made. Rendering happens only after success and only for the
    ``n_frames`` kept states, because rendering dominates the cost (FACTS.md).
    """
    from roboact.datasets.sim_scenes import clear_episode_state, render_state

    for attempt in range(cfg.max_attempts):
        seed = job.seed(attempt)
        clear_episode_state(env)  # a used env must start like a fresh one (same seed, same episode)
        episode = run_episode(env, job.action, seed, cfg.max_steps, min_steps=cfg.n_frames)
        if not episode.success:
            logger.info(
                "%s: attempt %d (seed %d) failed after %d steps", job.key, attempt, seed, len(episode.actions)
            )
            continue
        episode.info.update(seed=seed, attempt=attempt)
        keep = uniform_indices(len(episode.states), cfg.n_frames)
        episode.info["frame_steps"] = keep
        views = []
        for camera in cfg.cameras:
            frames = (
                np.stack([render_state(env, episode.states[k], camera, cfg.image_size) for k in keep])
                if render
                else None
            )
            views.append({"camera": camera, "frames": frames})
        return episode, views, attempt + 1
    return None, [], cfg.max_attempts


def records_for(
    job: SimJob, episode: Episode, views: list[dict[str, Any]], env_name: str
) -> list[ClipRecord]:
    """Clip records (one per camera) of a successful job, trajectories duplicated on each view.

    ``env_name`` is ``sim_scenes.env_label(env)``: the robosuite class, or ``LIBERO:<problem>``
    for a LIBERO scene, whose provenance also names its BDDL file (``libero_bddl``).
    """
    extras = {
        "states": episode.states,
        "actions": episode.actions,
        "eef_pos": episode.eef_pos,
        "object_pos": episode.object_pos,
        "frame_steps": np.asarray(episode.info["frame_steps"], dtype=np.int64),
    }
    scene = SCENES[job.scene]
    libero = {"libero_bddl": scene.libero_bddl} if scene.is_libero else {}
    out = []
    for view in views:
        out.append(
            ClipRecord(
                clip_id=job.clip_id(view["camera"]),
                caption=caption(job.robot, job.action, job.object),
                subject=job.robot,
                action=job.action,
                object=job.object,
                source=SOURCE,
                task=f"{job.action} {job.object}",
                provenance={
                    "episode": job.key,  # the execution: every camera view of it shares this
                    "env": env_name,
                    "scene": job.scene,
                    "robot": job.robot,
                    "seed": episode.info["seed"],
                    "seed_index": job.index,
                    "attempt": episode.info["attempt"],
                    "camera": view["camera"],
                    "steps": int(len(episode.actions)),
                    "frame_steps": list(episode.info["frame_steps"]),
                    "controller": "OSC_POSE",
                    **libero,
                },
                n_source_frames=int(len(episode.states)),
                frames=view["frames"],
                extras=extras,
            )
        )
    return out


def build_sim_store(
    out: Path,
    config: str | Path | None = None,
    workers: int = 2,
    address: str | None = None,
    frames: int | None = None,
    image_size: int | None = None,
    seed: int | None = None,
    sync: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Generate the simulated source into the clip store ``out`` (resumable) and write its splits.

    Args:
        out: clip store path (HDF5); an existing store built with the same settings is resumed.
        config: a YAML path or shipped config name (default ``sim_small``).
        workers: simulator actors (overrides the config's ``workers`` when not None).
        address: Ray cluster address (None: local Ray, or ``RAY_ADDRESS``).
        frames, image_size, seed: override the config's ``n_frames``, ``image_size``, ``seed``.
        sync: called after each job's clips are written and flushed (``data build --out s3://...``
            uploads the store there, so a bucket keeps the finished clips).

    Returns:
        Summary: ``clips`` (in the store), ``new_clips``, ``jobs``, ``skipped_jobs``,
        ``failed_jobs``, ``attempts``/``failures`` per ``"Robot/action"``, ``seconds``,
        ``clips_per_min``, ``splits``.
    """
    from roboact.datasets.sim_actors import run_pool
    from roboact.datasets.splits import write_default_splits
    from roboact.datasets.stores import ClipStore

    from roboact.cluster import init_ray
    from roboact.config import load_config

    overrides = [
        f"{k}={v}"
        for k, v in (("workers", workers), ("n_frames", frames), ("image_size", image_size), ("seed", seed))
        if v is not None
    ]
    cfg = load_config(SimSourceConfig, config or "sim_small", overrides)
    start = time.perf_counter()
    store = ClipStore.open_for_build(out, SOURCE, cfg.n_frames, cfg.image_size)
    try:
        jobs = make_jobs(cfg)
        done = [j for j in jobs if all(j.clip_id(c) in store for c in cfg.cameras)]
        finished = set(done)
        todo = [j for j in jobs if j not in finished]
        logger.info("%s: %d jobs, %d already done, %d to run", out, len(jobs), len(done), len(todo))
        stats: dict[str, Any] = {"attempts": {}, "failures": {}, "failed_jobs": [], "new_clips": 0}
        for job in done:  # count earlier runs' attempts so the report covers the whole store
            prov = store.get(job.clip_id(cfg.cameras[0]), with_frames=False).provenance
            key = f"{job.robot}/{job.action}"
            stats["attempts"][key] = stats["attempts"].get(key, 0) + int(prov.get("attempt", 0)) + 1
            stats["failures"][key] = stats["failures"].get(key, 0) + int(prov.get("attempt", 0))
        if todo:
            init_ray(address)
            on_result = (lambda result, actors: sync()) if sync is not None else None
            run_pool(todo, cfg, store, stats, on_result=on_result)
        splits = write_default_splits(store, seed=cfg.seed) if len(store) else []
        seconds = time.perf_counter() - start
        return {
            "out": str(out),
            "clips": len(store),
            "new_clips": stats["new_clips"],
            "jobs": len(jobs),
            "skipped_jobs": len(done),
            "failed_jobs": stats["failed_jobs"],
            "attempts": dict(sorted(stats["attempts"].items())),
            "failures": dict(sorted(stats["failures"].items())),
            "seconds": round(seconds, 1),
            "clips_per_min": round(60.0 * stats["new_clips"] / seconds, 2) if seconds > 0 else 0.0,
            "splits": splits,
        }
    finally:
        store.close()
