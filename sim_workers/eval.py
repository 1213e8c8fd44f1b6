"""Parallel policy evaluation on LIBERO / Franka Kitchen (paper Sec. IV.B, Tables II-IV).

``rollout()`` runs one episode in one env (inside an actor); ``evaluate()`` plans the episodes of a
run, skips those already in the run's ``episodes.jsonl``, runs the rest on the actor pool,
appends each result as it returns, writes a few mp4s, then aggregates (success rate with a Wilson
95 % CI per task) into ``summary.json``, ``tables.md`` and ``success.png``. An episode is
(policy, suite, task, episode index, seed); the seed defaults to ``seed_base + episode``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from roboact.sim_workers.envs.registry import EnvConfig, env_fingerprint, parse_tasks
from roboact.sim_workers.pool import PoolConfig, SimPool
from roboact.sim_workers.results import ResultsLog, aggregate, episode_key

logger = logging.getLogger(__name__)

SUMMARY_FILE = "summary.json"
DEFAULT_MEMORY_MB = {"libero": 1500, "kitchen": 600}  # per actor, rendering (FACTS: ~1.5 GB per LIBERO env)


@dataclass
class EvalConfig:
    """One evaluation run (saved as ``eval_config.yaml`` in the run directory)."""

    suite: str = "libero"
    """``libero`` or ``kitchen``"""
    tasks: list[str] = field(default_factory=list)
    """short task names (empty = the suite's paper tasks: T1-T4 or the five Kitchen tasks)"""
    policy: str = "expert"
    """``expert``, ``random``, ``zero`` or a policy checkpoint directory"""
    episodes: int = 50
    """episodes per task (LIBERO: init states 0..49, repeating after 50)"""
    seed_base: int = 0
    """episode k uses seed seed_base + k"""
    videos: int = 2
    """mp4s per task (the first episodes); 0 = none"""
    env: EnvConfig = field(default_factory=EnvConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if self.videos < 0:
            raise ValueError(f"videos must be >= 0, got {self.videos}")
        self.tasks = parse_tasks(self.suite, "all" if self.tasks == ["all"] else (self.tasks or None))


def rollout(
    env: Any,
    policy: Any,
    episode: int,
    seed: int,
    record: bool = False,
    video: bool = False,
    starts: str | None = None,
    action_noise: float = 0.0,
) -> dict[str, Any]:
    """One episode from the episode's start until success or the horizon.

    ``starts`` picks LIBERO's start kind (None: the env's default, the fixed init states; see
    ``envs/libero.py``). With ``record`` the result carries the demo arrays (robomimic layout:
    ``states[t]`` and ``obs[t]`` are what ``actions[t]`` was taken in); with ``video`` the frames.

    ``action_noise`` > 0 (demonstrations only) executes the policy's action plus Gaussian noise of
    that std on the arm's dimensions (not the gripper's), drawn from the seed, while ``actions``
    records the policy's own action: DART's noise injection (Laskey et al., 2017). A closed-loop
    expert then labels states off its own path with the action that brings it back, which is what
    a cloned policy needs once its own small errors move it there. The executed actions are
    recorded as ``executed_actions`` (replays use them).
    """
    t0 = time.perf_counter()
    options: dict[str, Any] = {"episode": episode}
    if starts is not None:
        options["starts"] = starts
    obs, start_info = env.reset(seed=seed, options=options)
    policy.reset()
    reset_s = time.perf_counter() - t0
    dim = int(env.action_space.shape[0])
    traj: dict[str, list[Any]] = {
        "actions": [],
        "rewards": [],
        "dones": [],
        "states": [],
        "images": [],
        "robot": [],
    }
    frames: list[np.ndarray] = []
    extra: dict[str, list[np.ndarray]] = {}  # recorded frames of the other cameras, by name
    executed: list[np.ndarray] = []
    noise_rng = np.random.default_rng([seed, 7]) if action_noise > 0 else None
    arm_dims = [i for i in range(dim) if i not in getattr(env, "gripper_dims", ())]
    low, high = env.action_space.low, env.action_space.high
    success, steps, ret = False, 0, 0.0
    act_s = 0.0
    t1 = time.perf_counter()
    for _ in range(env.config.max_steps):
        if record:
            traj["states"].append(env.get_sim_state())
            traj["robot"].append(obs["state"])
            if "image" in obs:
                traj["images"].append(obs["image"])
            for cam, img in list(obs.get("images", {}).items())[1:]:  # cameras beyond the first
                extra.setdefault(cam, []).append(img)
        if video and "image" in obs:
            frames.append(obs["image"])
        ta = time.perf_counter()
        action = np.asarray(policy.act({**obs, "task": env.task}), dtype=np.float32).reshape(-1)
        act_s += time.perf_counter() - ta
        if action.shape != (dim,) or not np.all(np.isfinite(action)):
            raise ValueError(
                f"policy returned action of shape {action.shape} (finite={np.all(np.isfinite(action))}); "
                f"{env.suite} task {env.task} needs ({dim},) finite values"
            )
        command = action
        if noise_rng is not None:
            command = action.copy()
            command[arm_dims] += noise_rng.normal(0.0, action_noise, len(arm_dims)).astype(np.float32)
            command = np.clip(command, low, high).astype(np.float32)
            executed.append(command)
        obs, reward, terminated, truncated, info = env.step(command)
        steps += 1
        ret += reward
        success = bool(info["success"])
        if record:
            traj["actions"].append(action)
            traj["rewards"].append(reward)
            traj["dones"].append(int(terminated or truncated))
        if terminated or truncated:
            break
    if video and "image" in obs:
        frames.append(obs["image"])
    out: dict[str, Any] = {
        "success": success,
        "steps": steps,
        "return": float(ret),
        "reset_s": reset_s,
        "step_s": (time.perf_counter() - t1) / max(steps, 1),
        "policy_s": act_s / max(steps, 1),
        "starts": start_info.get("starts"),
        "init_state": start_info.get("init_state"),
    }
    if record:
        out["demo"] = {
            "actions": np.asarray(traj["actions"], np.float32).reshape(steps, dim),
            "rewards": np.asarray(traj["rewards"], np.float32),
            "dones": np.asarray(traj["dones"], np.uint8),
            "states": np.asarray(traj["states"], np.float64),
            "robot_state": np.asarray(traj["robot"], np.float32),
            "agentview_rgb": np.asarray(traj["images"], np.uint8) if traj["images"] else None,
            "camera_rgb": {cam: np.asarray(v, np.uint8) for cam, v in extra.items()},
        }
        if executed:
            out["demo"]["executed_actions"] = np.asarray(executed, np.float32).reshape(steps, dim)
        labels = getattr(policy, "action_labels", None)
        if labels is not None:  # DAgger: the expert's label per step; what ran is the executed action
            out["demo"].setdefault("executed_actions", out["demo"]["actions"])
            out["demo"]["actions"] = np.asarray(labels, np.float32).reshape(steps, dim)
    if frames:
        out["frames"] = np.stack(frames).astype(np.uint8)
    return out


def plan_jobs(cfg: EvalConfig, policy_key: str, finished: set[tuple]) -> list[dict[str, Any]]:
    """Episodes of the run that are not in the results file yet."""
    jobs = []
    for task in cfg.tasks:
        for k in range(cfg.episodes):
            job = {
                "policy": policy_key,
                "suite": cfg.suite,
                "task": task,
                "episode": k,
                "seed": cfg.seed_base + k,
                "video": k < cfg.videos and cfg.env.image_size > 0,
            }
            if episode_key(job) not in finished:
                jobs.append(job)
    return jobs


def resume_settings(cfg: EvalConfig) -> dict[str, Any]:
    """The settings every episode of a run directory must share to be pooled into one table.

    A run directory may collect several policies, tasks and more episodes (the demo evaluates two
    heads into one), but its tables pool every episode of a (policy, task): 30-step episodes added
    to 200-step ones would be counted as one success rate (issue #18), and episode k run from
    another seed base would be counted twice. So the suite, the seed base and every env setting
    (horizon, image size, rendering, start noise) are the run's fingerprint.
    """
    return {"suite": cfg.suite, "seed_base": cfg.seed_base, "env": env_fingerprint(cfg.env)}


def _saved_settings(run_dir: Path) -> None:
    """Seed ``settings.json`` from ``eval_config.yaml`` in run directories written before it existed."""
    from omegaconf import OmegaConf

    from roboact.config import config_from_dict
    from roboact.runs import settings_path

    saved = run_dir / "eval_config.yaml"
    if settings_path(run_dir).is_file() or not saved.is_file():
        return
    old = config_from_dict(EvalConfig, OmegaConf.to_container(OmegaConf.load(saved)))
    settings_path(run_dir).write_text(json.dumps({"settings": resume_settings(old)}))


def run_eval(
    cfg: EvalConfig,
    run_dir: str | Path,
    address: str | None = None,
    sync: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Evaluate ``cfg`` into the local ``run_dir`` (resuming); returns the summary also saved as JSON.

    Holds the run directory's lock throughout and refuses settings other than those its episodes
    ran with (``resume_settings``). ``sync`` is called after every finished episode (its record and
    video written): ``run_sim_eval`` passes ``storage.Mirror.sync`` so a bucket's copy of the run
    grows episode by episode and a rerun on another node skips what finished.
    """
    from roboact.sim_workers.policy import check_policy_spec, policy_cameras

    from roboact.runs import check_settings, run_lock

    check_policy_spec(cfg.policy)
    if cfg.env.cameras == ("agentview",):  # render what the head was trained on (its wrist view too)
        cfg = dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, cameras=policy_cameras(cfg.policy)))
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(run_dir):
        _saved_settings(run_dir)
        resuming = bool(ResultsLog(run_dir).read())
        check_settings(run_dir, resume_settings(cfg), resuming=resuming, option="--run-dir")
        return _run_eval_locked(cfg, run_dir, address, sync or (lambda: None))


def _run_eval_locked(
    cfg: EvalConfig, run_dir: Path, address: str | None, sync: Callable[[], Any]
) -> dict[str, Any]:
    from roboact.sim_workers.policy import policy_id
    from roboact.sim_workers.tables import render_tables
    from roboact.sim_workers.video import write_mp4
    from tqdm import tqdm

    from roboact.cluster import init_ray
    from roboact.config import save_config
    from roboact.runs import write_versions

    save_config(cfg, run_dir, "eval_config.yaml")
    write_versions(run_dir / "versions.json")
    log = ResultsLog(run_dir)
    pkey = policy_id(cfg.policy)
    jobs = plan_jobs(cfg, pkey, set(log.read()))
    total = len(cfg.tasks) * cfg.episodes
    logger.info("%s: %d of %d episodes to run (%s, policy %s)", run_dir, len(jobs), total, cfg.suite, pkey)
    stats: dict[str, Any] = {"done": 0, "failed": [], "retried": 0, "actors_replaced": 0}
    t0 = time.perf_counter()
    if jobs:
        init_ray(address)
        pool_cfg = cfg.pool
        if pool_cfg.memory_mb == 0 and cfg.env.image_size > 0:
            pool_cfg = PoolConfig(**{**asdict(pool_cfg), "memory_mb": DEFAULT_MEMORY_MB[cfg.suite]})
        pool = SimPool(pool_cfg, asdict(cfg.env), pkey)  # absolute: actors do not share our cwd

        def on_result(job: dict[str, Any], result: dict[str, Any]) -> None:
            frames = result.pop("frames", None)
            record = {k: job[k] for k in ("policy", "suite", "task", "episode", "seed")}
            record.update(
                {
                    k: result[k]
                    for k in (
                        "success",
                        "steps",
                        "return",
                        "reset_s",
                        "step_s",
                        "policy_s",
                        "wall_s",
                        "host",
                        "node",
                        "pid",
                    )
                }
            )
            record.update(starts=result.get("starts"), init_state=result.get("init_state"))
            record.update(
                max_steps=cfg.env.max_steps,
                image_size=cfg.env.image_size,
                finished=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            )
            log.append(record)  # first: a crash after this line loses nothing
            if frames is not None and len(frames):
                name = (
                    f"{job['task']}_ep{job['episode']:03d}_{'success' if result['success'] else 'fail'}.mp4"
                )
                write_mp4(frames, run_dir / "videos" / name)
            sync()

        try:
            with tqdm(total=len(jobs), desc=f"eval {cfg.suite}", unit="ep") as bar:
                stats = pool.run(jobs, on_result, progress=bar)
        finally:
            pool.shutdown()
    summary = summarize(run_dir, pkey, cfg)
    summary.update(
        wall_s=time.perf_counter() - t0,
        ran=stats["done"],
        failed=stats["failed"],
        retried=stats["retried"],
        actors_replaced=stats["actors_replaced"],
    )
    (run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    render_tables(run_dir)
    return summary


def summarize(run_dir: str | Path, policy_key: str, cfg: EvalConfig) -> dict[str, Any]:
    """Per-task rates of this policy for this run's tasks, from the results file."""
    recs = [
        r
        for r in ResultsLog(run_dir).read().values()
        if r["policy"] == policy_key
        and r["suite"] == cfg.suite
        and r["task"] in cfg.tasks
        and r["episode"] < cfg.episodes
    ]
    agg = aggregate(recs)
    per_task = {key[2]: val for key, val in agg.items()}
    n = sum(v["episodes"] for v in per_task.values())
    k = sum(v["successes"] for v in per_task.values())
    return {
        "suite": cfg.suite,
        "policy": policy_key,
        "tasks": per_task,
        "episodes": n,
        "successes": k,
        "overall": k / n if n else 0.0,
        "max_steps": cfg.env.max_steps,
        "image_size": cfg.env.image_size,
    }


def evaluate(
    suite: str,
    tasks: list[str] | str | None,
    policy: str,
    episodes: int,
    max_steps: int = 200,
    workers: int = 2,
    run_dir: str | Path = "runs/sim_eval",
    address: str | None = None,
    videos: int = 2,
    image_size: int = 128,
    seed_base: int = 0,
    episode_timeout_s: float = 900.0,
    cpus_per_worker: float = 1.0,
) -> dict[str, Any]:
    """Library entry point (``roboact demo`` calls this): keyword args in, summary dict out.

    The summary holds ``tasks[task] = {episodes, successes, rate, ci_low, ci_high, mean_steps}``,
    ``overall``, and the run's counts (``ran``, ``failed``, ``retried``, ``actors_replaced``).
    """
    task_list = parse_tasks(suite, tasks)
    cfg = EvalConfig(
        suite=suite,
        tasks=task_list,
        policy=policy,
        episodes=episodes,
        seed_base=seed_base,
        videos=videos,
        env=EnvConfig(image_size=image_size, max_steps=max_steps),
        pool=PoolConfig(
            workers=workers, episode_timeout_s=episode_timeout_s, cpus_per_worker=cpus_per_worker
        ),
    )
    check_policy(policy, address, False)  # ROBOACT_SHARED_FS=1 declares a shared disk
    return run_eval(cfg, run_dir, address=address)


def main(cfg: EvalConfig, run_dir: str | Path, address: str | None = None) -> dict[str, Any]:
    """CLI body: run, then return the summary (the CLI prints the tables)."""
    return run_eval(cfg, run_dir, address=address)


@dataclass
class SimEvalJobConfig(EvalConfig):
    """``roboact sim eval``: an evaluation (every ``EvalConfig`` key) and where it runs and writes.

    Why a subclass: the run directory saves and checks only the ``EvalConfig`` part, so moving the
    results or the cluster never blocks a resume."""

    run_dir: str = "runs/sim_eval"
    """results directory; a rerun resumes"""
    address: str | None = None
    """Ray cluster address (None: a local instance, or RAY_ADDRESS)"""
    shared_fs: bool = False
    """a local policy directory lies on a filesystem every node mounts (else refused on a multi-node
    cluster; use an s3:// / gs:// URI or ROBOACT_SHARED_FS=1)"""


def run_sim_eval(cfg: SimEvalJobConfig) -> dict[str, Any]:
    """``roboact sim eval`` as a function: check the policy here, then evaluate it on the pool."""
    from roboact import storage
    from roboact.stage import as_base

    check_policy(cfg.policy, cfg.address, cfg.shared_fs)
    with storage.mirror(cfg.run_dir) as run:  # an s3:// / gs:// run dir: kept current episode by episode
        if run.uri is None:
            return run_eval(as_base(cfg, EvalConfig), run.path, address=cfg.address)
        return run_eval(as_base(cfg, EvalConfig), run.path, address=cfg.address, sync=run.sync)


def check_policy(spec: str, address: str | None, shared_fs: bool) -> None:
    """The driver's checks before Ray starts, in the order a user fixes them: the checkpoint is
    whole (``check_checkpoint``), then every node can read it (``require_shared_policy``)."""
    check_checkpoint(spec)
    require_shared_policy(spec, address, shared_fs)


def require_shared_policy(spec: str, address: str | None, shared_fs: bool) -> None:
    """Every actor loads the policy directory itself, and a RoboAct-CLIP head also the model its
    features come from: on a multi-node cluster both must be URIs or on a filesystem every node
    mounts (``roboact.cluster.require_shared_paths``). Call after ``check_checkpoint``."""
    from roboact.cluster import require_shared_paths

    if spec in ("expert", "random", "zero"):
        return
    if spec.startswith("dagger:"):
        from roboact.sim_workers.dagger import parse_dagger_spec

        spec = parse_dagger_spec(spec)[0]
    paths: dict[str, str | None] = {"--policy": spec}
    from roboact.policies.checkpoint import META_NAME, read_policy_meta
    from roboact.policies.features import model_dir_of

    from roboact.storage import is_remote, local_copy

    local = local_copy(spec) if is_remote(spec) else Path(spec).expanduser()
    if (local / META_NAME).is_file():  # a head checkpoint: its features may name a model directory
        model = model_dir_of(str(read_policy_meta(local)["features"]))  # the copy staged just above
        paths["the policy's --features roboact:<model_dir>"] = model  # fixed by training on a URI
    require_shared_paths(paths, address, shared_fs)


def check_checkpoint(spec: str) -> None:
    """Read a policy checkpoint's manifest here, in the driver, before Ray and the actors start.

    Why: each actor loads the policy itself, so a truncated ``policy.json`` or a missing
    ``rl_module/`` used to surface only after Ray had started, as an actor error naming no path.
    Raises ``FileNotFoundError`` / ``ValueError`` naming the checkpoint file at fault.
    """
    from roboact.sim_workers.policy import MANIFEST, check_policy_spec, load_policy

    from roboact.storage import is_remote, local_copy

    check_policy_spec(spec)
    if spec in ("expert", "random", "zero"):
        return
    path = local_copy(spec) if is_remote(spec) else Path(spec).expanduser()  # reused by local actors
    if (path / MANIFEST).is_file():  # a small numpy policy: loading it is the check
        load_policy(spec)
        return
    from roboact.policies.checkpoint import check_checkpoint as check_head_checkpoint

    check_head_checkpoint(path)
