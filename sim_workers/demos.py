"""Scripted-expert demonstrations in the robomimic / LIBERO HDF5 layout, collected on the actor pool.

One file per suite holds every task (``demos_<suite>.hdf5`` by default)::

    /                       attrs: suite, format_version (=1), tasks (JSON list)
    /data                   attrs: env_args (JSON, per task: {task: env_args}), total (steps)
    /data/demo_<k>          attrs: task ("T1", "micro"), suite, episode_id, seed, starts, success
                                   (bool), num_samples, language
        actions      (T, A) float32   the suite's own action (LIBERO OSC_POSE 7, Kitchen 9)
        rewards      (T,)   float32
        dones        (T,)   uint8     1 at the last step
        states       (T, S) float64   flattened simulator state before actions[t]
        obs/agentview_rgb (T, H, W, 3) uint8, upright (absent when image_size=0)
        obs/robot_state   (T, D) float32: the env's ``state`` (LIBERO 18: joints, fingers, end-effector
                          position and 6-D rotation; Kitchen 9: joints and fingers)

Train/test separation: demonstrations start where evaluations never do. Their seeds start at
``DEMO_SEED_BASE`` (evaluations use seeds from 0 or the demo's 1000), and in LIBERO they start from
placements freshly drawn from the task's own init regions (``starts="sampled"``), never from the
50 fixed init states that evaluations use. Each demo records its seed and ``starts``.

Every expert episode is written, failures included (``success`` attr), so the expert's own success
rate is measured on the same data; ``iter_demos(path, only_success=True)`` reads the good ones.
Resumable: a rerun skips (task, episode_id) pairs already in the file. Only the driver writes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from roboact.sim_workers.envs.registry import EnvConfig, env_fingerprint, get_task, make_env, parse_tasks
from roboact.sim_workers.pool import PoolConfig, SimPool

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
DEFAULT_ACTION_NOISE = {"libero": 0.1, "kitchen": 0.0}
"""DART noise per suite, the largest that keeps the experts at their success rate (measured: LIBERO
T1-T4 6/6 each at 0.1, T1 2/6 at 0.2; Kitchen micro 5/6 and switch 4/6 already at 0.1)"""
DEMO_SEED_BASE = 100_000
"""first demo seed: far from the evaluation seeds (0.., and the demo's 1000..)"""


def _existing(path: Path) -> tuple[set[tuple[str, int]], int]:
    import h5py

    if not path.exists():
        return set(), 0
    done: set[tuple[str, int]] = set()
    n = 0
    with h5py.File(path, "r") as f:
        for name, grp in f.get("data", {}).items():
            done.add((str(grp.attrs["task"]), int(grp.attrs["episode_id"])))
            n = max(n, int(name.split("_")[1]) + 1)
    return done, n


def _write_demo(
    path: Path, index: int, job: dict[str, Any], result: dict[str, Any], env_args: dict[str, Any], suite: str
) -> None:
    import h5py

    demo = result["demo"]
    with h5py.File(path, "a") as f:
        f.attrs["suite"] = suite
        f.attrs["format_version"] = FORMAT_VERSION
        data = f.require_group("data")
        args = json.loads(data.attrs.get("env_args", "{}"))
        args[job["task"]] = env_args
        data.attrs["env_args"] = json.dumps(args)
        f.attrs["tasks"] = json.dumps(sorted(args))
        grp = data.create_group(f"demo_{index}")
        for key in ("actions", "rewards", "dones", "states", "executed_actions"):
            if key in demo:
                grp.create_dataset(key, data=demo[key])
        obs = grp.create_group("obs")
        obs.create_dataset("robot_state", data=demo["robot_state"])
        views = {"agentview": demo["agentview_rgb"], **demo.get("camera_rgb", {})}
        for cam, frames in views.items():
            if frames is not None:
                chunks = (1, *frames.shape[1:])
                obs.create_dataset(
                    f"{cam}_rgb", data=frames, chunks=chunks, compression="gzip", compression_opts=1
                )
        grp.attrs.update(
            task=job["task"],
            suite=suite,
            episode_id=int(job["episode"]),
            seed=int(job["seed"]),
            starts=str(result.get("starts") or job.get("starts") or ""),
            action_noise=float(job.get("action_noise", 0.0)),
            success=bool(result["success"]),
            # DAgger episodes: the head ran, the expert labelled every step (kept even if failed)
            labels="expert",
            policy=str(job.get("policy", "expert")),
            num_samples=int(result["steps"]),
            language=env_args.get("language", ""),
        )
        data.attrs["total"] = int(data.attrs.get("total", 0)) + int(result["steps"])


def collect_demos(
    suite: str,
    tasks: list[str] | str | None,
    episodes: int,
    out_path: str | Path,
    workers: int = 2,
    image_size: int = 128,
    max_steps: int | None = None,
    address: str | None = None,
    seed_base: int = DEMO_SEED_BASE,
    episode_timeout_s: float = 900.0,
    starts: str = "sampled",
    action_noise: float | None = None,
    policy: str = "expert",
    cameras: tuple[str, ...] | list[str] = ("agentview",),
    on_written: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Run the scripted expert for ``episodes`` per task and append the demos to ``out_path``.

    ``on_written`` is called after each demo is written and its file closed (the file is whole
    then): ``sim demos --out s3://...`` uploads there, so a bucket keeps the finished episodes.

    ``policy``: ``"expert"`` (demonstrations) or ``"dagger:<checkpoint>[@beta=p]"`` (DAgger: the
    learned head runs, the expert labels every step; see ``sim_workers/dagger.py``). DAgger
    episodes get no DART noise unless ``action_noise`` asks for it.

    ``starts``: LIBERO's start kind, ``"sampled"`` (fresh placements from the task's init regions,
    disjoint from the evaluation's fixed init states; the default) or ``"init_states"``. Episode k
    uses seed ``seed_base + k``. ``action_noise``: DART noise injection (see ``eval.rollout``),
    std in action units on the arm's dimensions; None takes the suite's default
    (``DEFAULT_ACTION_NOISE``). ``cameras``: the views recorded, ``obs/<name>_rgb`` each (LIBERO;
    the first is the agent view).

    Returns ``{"path", "tasks": {task: {episodes, successes, rate, mean_steps}}, "written",
    "skipped", "failed", "wall_s"}`` where ``tasks`` counts every demo in the file for the task.
    ``max_steps`` defaults to 300 (the expert's plans need up to ~250 steps on T5/T6).

    A rerun appends to ``out_path`` only with the settings its demos were made with (suite, seed
    base, starts, noise, env), saved beside it in ``<out>.settings.json``; other settings raise
    ``SettingsMismatchError`` naming the field. A second concurrent run on the file fails at once.
    """
    from roboact.sim_workers.envs.libero import STARTS
    from tqdm import tqdm

    from roboact.cluster import init_ray
    from roboact.runs import check_settings, run_lock

    if starts not in STARTS:
        raise ValueError(f"starts must be one of {STARTS}, got {starts!r}")
    default_noise = DEFAULT_ACTION_NOISE.get(suite, 0.0) if policy == "expert" else 0.0
    noise = default_noise if action_noise is None else float(action_noise)
    if policy != "expert":
        from roboact.sim_workers.dagger import parse_dagger_spec
        from roboact.sim_workers.policy import check_policy_spec

        directory, beta = parse_dagger_spec(policy)
        check_policy_spec(directory)
        policy = f"dagger:{Path(directory).expanduser().resolve()}" + (f"@beta={beta}" if beta else "")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"action_noise must be in [0, 1] (action units), got {action_noise}")
    task_list = parse_tasks(suite, tasks)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    env_cfg = EnvConfig(image_size=image_size, max_steps=max_steps or 300, cameras=tuple(cameras))
    # how each demo is made; which tasks and how many episodes a rerun adds are free to change
    settings = {"suite": suite, "seed_base": seed_base, "starts": starts, "action_noise": noise}
    if policy != "expert":  # files written before DAgger existed keep their fingerprint
        settings["policy"] = policy
    settings["env"] = env_fingerprint(env_cfg)
    with run_lock(out, is_file=True):
        done, next_index = _existing(out)
        check_settings(out, settings, resuming=bool(done), option="--out", is_file=True)
        jobs = [
            {
                "task": t,
                "episode": k,
                "seed": seed_base + k,
                "record": True,
                "starts": starts,
                "action_noise": noise,
                "policy": policy,
            }
            for t in task_list
            for k in range(episodes)
            if (t, k) not in done
        ]
        logger.info("%s: %d demos to collect (%d already there)", out, len(jobs), len(done))
        t0 = time.perf_counter()
        stats: dict[str, Any] = {"done": 0, "failed": [], "retried": 0, "actors_replaced": 0}
        if jobs:
            init_ray(address)
            env_args = {t: _env_args(t, env_cfg) for t in task_list}
            memory = {"libero": 1500, "kitchen": 600}[suite] if image_size > 0 else 0
            pool = SimPool(
                PoolConfig(workers=workers, memory_mb=memory, episode_timeout_s=episode_timeout_s),
                asdict(env_cfg),
                policy,
            )
            counter = {"i": next_index}

            def on_result(job: dict[str, Any], result: dict[str, Any]) -> None:
                _write_demo(out, counter["i"], job, result, env_args[job["task"]], suite)
                counter["i"] += 1
                if on_written is not None:
                    on_written()

            try:
                with tqdm(total=len(jobs), desc=f"demos {suite}", unit="ep") as bar:
                    stats = pool.run(jobs, on_result, progress=bar)
            finally:
                pool.shutdown()
        return {
            "path": str(out),
            "tasks": demo_stats(out, task_list),
            "written": stats["done"],
            "skipped": len(done),
            "failed": stats["failed"],
            "wall_s": time.perf_counter() - t0,
        }


def _env_args(task: str, cfg: EnvConfig) -> dict[str, Any]:
    """Env args without building a simulator (the driver stays light)."""
    spec = get_task(task)
    args = {
        "suite": spec.suite,
        "task": task,
        "description": spec.description,
        "image_size": cfg.image_size,
        "max_steps": cfg.max_steps,
        "cheap_render": cfg.cheap_render,
        "camera": "agentview",
    }
    if spec.suite == "libero":
        args.update(
            benchmark=spec.benchmark,
            index=spec.index,
            libero_name=spec.libero_name,
            language=spec.libero_name.split("SCENE")[-1].lstrip("0123456789_").replace("_", " "),
            controller="OSC_POSE",
        )
    else:
        args.update(
            env_id="FrankaKitchen-v1",
            subtask=spec.subtask,
            init_noise=cfg.init_noise,
            language=spec.description,
            action="joint velocity (9,), [-1, 1] -> +-2 rad/s",
        )
    return args


def demo_stats(path: str | Path, tasks: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per task: demos in the file, expert successes, success rate, mean length."""
    import h5py

    out: dict[str, dict[str, Any]] = {}
    if not Path(path).exists():
        return out
    with h5py.File(path, "r") as f:
        for grp in f.get("data", {}).values():
            t = str(grp.attrs["task"])
            if tasks is not None and t not in tasks:
                continue
            s = out.setdefault(t, {"episodes": 0, "successes": 0, "steps": 0})
            s["episodes"] += 1
            s["successes"] += int(bool(grp.attrs["success"]))
            s["steps"] += int(grp.attrs["num_samples"])
    for s in out.values():
        s["rate"] = s["successes"] / s["episodes"]
        s["mean_steps"] = s.pop("steps") / s["episodes"]
    return out


def iter_demos(
    path: str | Path, only_success: bool = False, tasks: list[str] | None = None, images: bool = True
) -> Iterator[dict[str, Any]]:
    """Yield each demo as a dict of arrays and attrs (``actions``, ``rewards``, ``dones``, ``states``,
    ``robot_state``, ``agentview_rgb`` (or None), ``task``, ``suite``, ``episode_id``, ``seed``,
    ``success``, ``num_samples``), in file order."""
    import h5py

    with h5py.File(path, "r") as f:
        if "data" not in f:
            raise ValueError(f"{path}: not a roboact demo file (no /data group)")
        names = sorted(f["data"], key=lambda n: int(n.split("_")[1]))
        for name in names:
            grp = f["data"][name]
            if only_success and not bool(grp.attrs["success"]):
                continue
            if tasks is not None and str(grp.attrs["task"]) not in tasks:
                continue
            item: dict[str, Any] = {k: grp[k][()] for k in ("actions", "rewards", "dones", "states")}
            item["robot_state"] = grp["obs/robot_state"][()]
            item["agentview_rgb"] = (
                grp["obs/agentview_rgb"][()] if images and "agentview_rgb" in grp["obs"] else None
            )
            item.update(
                name=name,
                task=str(grp.attrs["task"]),
                suite=str(grp.attrs["suite"]),
                episode_id=int(grp.attrs["episode_id"]),
                seed=int(grp.attrs["seed"]),
                starts=str(grp.attrs.get("starts", "")) or None,
                success=bool(grp.attrs["success"]),
                num_samples=int(grp.attrs["num_samples"]),
            )
            yield item


def _start_options(grp: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"episode": int(grp.attrs["episode_id"])}
    starts = str(grp.attrs.get("starts", ""))
    if starts and starts != "seeded":
        options["starts"] = starts
    return options


def replay_check(path: str | Path, demo: str = "demo_0") -> float:
    """Max |state difference| when a demo's actions are replayed from its episode's start.

    Useful to verify reproducibility of a file: the start state must match exactly (``0.0``).
    """
    import h5py

    with h5py.File(path, "r") as f:
        grp = f["data"][demo]
        task, seed, options = str(grp.attrs["task"]), int(grp.attrs["seed"]), _start_options(grp)
        states = grp["states"][()]
    env = make_env(task, image_size=0)
    try:
        env.reset(seed=seed, options=options)
        s0 = env.get_sim_state()
        return float(np.abs(s0 - states[0]).max())
    finally:
        env.close()


def replay_actions(path: str | Path, demo: str = "demo_0", images: bool = False) -> dict[str, Any]:
    """Replay a demo's recorded actions open-loop from its own start; report what happened.

    The first rungs of the policy sanity ladder: if the recorded actions do not reproduce the
    expert's success, they are not in the env's units (or the start is not the demo's), and no
    policy trained on them can succeed; with ``images`` the replay also renders at the demo's size
    and compares pixels, so the frames a policy is trained on are the frames a rollout shows it
    (then the offline and step-by-step features agree too, see ``FeatureExtractor``). Returns
    ``{"success", "steps", "recorded_success", "max_state_error"}`` (the largest |simulator state -
    recorded state| along the way) and, with ``images``, ``"max_pixel_error"``.
    """
    import h5py

    with h5py.File(path, "r") as f:
        grp = f["data"][demo]
        task, seed, options = str(grp.attrs["task"]), int(grp.attrs["seed"]), _start_options(grp)
        # what the env executed: the labels plus the DART noise, when the demo was collected with it
        key = "executed_actions" if "executed_actions" in grp else "actions"
        actions, states = grp[key][()], grp["states"][()]
        recorded_success = bool(grp.attrs["success"])
        frames = grp["obs/agentview_rgb"][()] if images and "agentview_rgb" in grp["obs"] else None
    if images and frames is None:
        raise ValueError(f"{path}: {demo} has no obs/agentview_rgb to compare")
    env = make_env(task, image_size=0 if frames is None else int(frames.shape[1]))
    try:
        obs, _ = env.reset(seed=seed, options=options)
        err, pixel_err, success, steps = 0.0, 0, False, 0
        for t, action in enumerate(actions):
            err = max(err, float(np.abs(env.get_sim_state() - states[t]).max()))
            if frames is not None:
                pixel_err = max(pixel_err, int(np.abs(obs["image"].astype(int) - frames[t]).max()))
            obs, _, terminated, truncated, info = env.step(action)
            steps += 1
            success = success or bool(info["success"])
            if terminated or truncated:
                break
        out = {
            "success": success,
            "steps": steps,
            "recorded_success": recorded_success,
            "max_state_error": err,
        }
        if frames is not None:
            out["max_pixel_error"] = pixel_err
        return out
    finally:
        env.close()


SUITE_CAMERAS = {"libero": ("agentview", "robot0_eye_in_hand"), "kitchen": ("agentview",)}
"""what ``roboact sim demos`` records by default. Why LIBERO's wrist view: with it, ``policy train``'s
default head (which sees every recorded view) went from 8/20 to 14/20 on T3 with the same 20 demos
and the same 20 episodes (docs/results.md, session 14); LIBERO's own baselines use both views"""


@dataclass
class SimDemosConfig:
    """``roboact sim demos``: which expert demonstrations to collect, and where."""

    suite: str = "libero"
    """libero or kitchen"""
    tasks: list[str] = field(default_factory=list)
    """short task names (T1..T6; knob, door, switch, micro, slide); empty = the suite's paper tasks; [all]"""
    episodes: int = 5
    """expert episodes per task"""
    out: str | None = None
    """HDF5 file; None = runs/demos/demos_<suite>.hdf5; a rerun appends the missing episodes"""
    workers: int = 2
    """simulator actors"""
    image_size: int = 128
    """camera resolution in px; 0 = no rendering"""
    max_steps: int = 300
    """expert episode horizon"""
    seed_base: int = DEMO_SEED_BASE
    """episode k uses seed seed_base + k (evaluations start at 0)"""
    starts: str = "sampled"
    """LIBERO starts: sampled (fresh placements, never the evaluation's 50 init states) or init_states"""
    action_noise: float | None = None
    """DART noise (std, action units) on the executed arm actions; None = per suite (LIBERO 0.1, Kitchen 0)"""
    policy: str = "expert"
    """expert, or dagger:<policy checkpoint>[@beta=p] (the head runs, the expert labels every step)"""
    cameras: list[str] = field(default_factory=list)
    """views to record, agentview first; empty = the suite's views (``SUITE_CAMERAS``: LIBERO the agent
    and the wrist view, Kitchen the agent view, its only one)"""
    address: str | None = None
    """Ray cluster address (None: a local instance, or RAY_ADDRESS)"""


def run_sim_demos(cfg: SimDemosConfig, on_written: Callable[[], Any] | None = None) -> dict[str, Any]:
    """``roboact sim demos`` as a function: check the settings, then ``collect_demos``
    (``on_written``: see there)."""
    tasks, views = check_sim_demos_config(cfg)
    _check_policy_checkpoint(cfg.policy)
    return collect_demos(
        cfg.suite, tasks, cfg.episodes, cfg.out or Path("runs/demos") / f"demos_{cfg.suite}.hdf5",
        workers=cfg.workers, image_size=cfg.image_size, max_steps=cfg.max_steps, address=cfg.address,
        seed_base=cfg.seed_base, starts=cfg.starts, action_noise=cfg.action_noise, policy=cfg.policy,
        cameras=views, on_written=on_written,
    )  # fmt: skip


def check_sim_demos_config(cfg: SimDemosConfig) -> tuple[list[str], tuple[str, ...]]:
    """(tasks, views) of ``cfg``, or a ``UserError`` naming the option: what ``collect_demos`` would
    refuse with a ``ValueError`` (a traceback from the command), checked before any simulator and
    before ``--print-config`` prints a job file. The policy checkpoint's existence is left to the run
    (a job file may name one that exists only where it runs)."""
    from roboact.sim_workers.dagger import parse_dagger_spec
    from roboact.sim_workers.envs.libero import STARTS

    from roboact.errors import UserError

    try:
        tasks = parse_tasks(cfg.suite, "all" if cfg.tasks == ["all"] else (cfg.tasks or None))
    except ValueError as err:
        raise UserError(f"--tasks/--suite: {err}") from err
    views = tuple(cfg.cameras) or SUITE_CAMERAS.get(cfg.suite, ("agentview",))
    try:
        EnvConfig(cameras=views)
    except ValueError as err:
        raise UserError(f"--cameras: {err}") from err
    if cfg.suite == "kitchen" and views != ("agentview",):
        raise UserError(f"--cameras: Kitchen renders one view (agentview), got {','.join(views)!r}")
    if cfg.starts not in STARTS:
        raise UserError(f"--starts {cfg.starts!r}: use one of {', '.join(STARTS)}")
    if cfg.action_noise is not None and not 0.0 <= cfg.action_noise <= 1.0:
        raise UserError(f"--action-noise {cfg.action_noise}: must be in [0, 1] (action units)")
    if cfg.policy != "expert":
        try:
            parse_dagger_spec(cfg.policy)
        except ValueError as err:
            raise UserError(f"--policy: {err}") from err
    return tasks, views


def _check_policy_checkpoint(policy: str) -> None:
    """A DAgger policy's checkpoint directory, checked here as a one-line error (``UserError``)."""
    if policy == "expert":
        return
    from roboact.sim_workers.dagger import parse_dagger_spec
    from roboact.sim_workers.policy import check_policy_spec

    from roboact.errors import UserError

    try:
        check_policy_spec(parse_dagger_spec(policy)[0])
    except (ValueError, FileNotFoundError) as err:
        raise UserError(str(err) if str(err).startswith("--policy") else f"--policy: {err}") from err
