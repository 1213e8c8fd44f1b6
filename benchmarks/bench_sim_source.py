"""Benchmark the simulated source: raw single-env loop vs a Ray actor pool of 1 and of 2 actors,
and (``--success``) the scripted controllers' success per (embodiment, action).

Same work in every mode: the same jobs (episodes), rendered at the same size, written into a
fresh clip store. The raw loop builds its env(s) in this process and runs ``execute_job`` +
``ClipStore.add`` in a plain for-loop; the pool modes run ``run_pool`` on already started actors
(actor start-up and ``ray.init`` are timed separately, they are paid once per build). Prints
clips/min per mode, the per-actor ratio to the raw loop (goal >= 0.9) and memory per actor.

    .venv/bin/python benchmarks/bench_sim_source.py --jobs-per-action 2
    .venv/bin/python benchmarks/bench_sim_source.py --success open:door,turn:round_nut --seeds 3

``--success action:scene[:object],...`` runs, for every robot of ``--robots``, the first attempt
of job seed indices 0..seeds-1 (the seeds a build tries first) without rendering, and prints
successes/attempts, env build seconds and seconds per episode.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _cli import parse_args

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("LP_NUM_THREADS", "1")


HEADER = "| mode | clips | seconds | clips/min | per-actor ratio to raw | actor start-up s | RSS MB/actor |"


@dataclass
class Args:
    robot: str = "Panda"
    """embodiment used for every job"""
    actions: str = "lift,push,pull,place"
    """comma-separated actions (all on the table_cube scene, so one env serves them all)"""
    jobs_per_action: int = 2
    """episodes per action"""
    image_size: int = 128
    """frame size (px)"""
    n_frames: int = 32
    """frames per clip"""
    cameras: str = "agentview,frontview"
    """camera views (one clip each)"""
    modes: str = "raw,1,2"
    """which measurements to run: raw and/or actor counts"""
    success: str = ""
    """success table instead: comma-separated action:scene[:object] (e.g. open:door)"""
    robots: str = "Panda,Sawyer,UR5e,Kinova3,IIWA,Jaco"
    """embodiments of the success table"""
    seeds: int = 3
    """seed indices per (embodiment, action) in the success table"""


def make_cfg(args: Args, workers: int):
    from roboact.datasets.sim_source import SimActionConfig, SimSourceConfig

    return SimSourceConfig(
        embodiments=[args.robot],
        actions=[SimActionConfig(name=a) for a in args.actions.split(",")],
        clips_per_combination=args.jobs_per_action,
        cameras=args.cameras.split(","),
        image_size=args.image_size,
        n_frames=args.n_frames,
        workers=workers,
        env_cache=2,
    )


def raw_loop(args: Args, out: Path) -> tuple[float, int, float]:
    """Single process, no Ray: build the env, run every job, write its clips. Returns (s, clips, rss MB)."""
    from roboact.datasets.sim_actors import SimWorker
    from roboact.datasets.sim_source import make_jobs
    from roboact.datasets.stores import ClipStore

    cfg = make_cfg(args, 1)
    store = ClipStore.open_for_build(out, "sim", cfg.n_frames, cfg.image_size)
    worker = SimWorker(cfg)  # the same class the actors run, called directly
    start = time.perf_counter()
    clips = 0
    for job in make_jobs(cfg):
        for record in worker.run(job)["records"]:
            store.add(record)
            clips += 1
    seconds = time.perf_counter() - start
    store.close()
    return seconds, clips, worker.rss_mb()


def pool(args: Args, n: int, out: Path) -> tuple[float, int, float, float]:
    """``n`` actors: returns (seconds, clips, actor start-up seconds, mean RSS MB per actor)."""
    import ray
    from roboact.datasets.sim_actors import make_actor_class, run_pool
    from roboact.datasets.sim_source import make_jobs
    from roboact.datasets.stores import ClipStore

    cfg = make_cfg(args, n)
    t0 = time.perf_counter()
    actors = [make_actor_class().remote(cfg) for _ in range(n)]
    ray.get([a.pid.remote() for a in actors])
    startup = time.perf_counter() - t0
    store = ClipStore.open_for_build(out, "sim", cfg.n_frames, cfg.image_size)
    stats = {"attempts": {}, "failures": {}, "failed_jobs": [], "new_clips": 0}
    start = time.perf_counter()
    run_pool(make_jobs(cfg), cfg, store, stats, actors=actors, progress=False)
    seconds = time.perf_counter() - start
    rss = ray.get([a.rss_mb.remote() for a in actors])
    store.close()
    for actor in actors:
        ray.kill(actor)
    return seconds, stats["new_clips"], startup, sum(rss) / len(rss)


def success_table(args: Args) -> None:
    """Success per (embodiment, action) of the scripted controllers, first-attempt seeds."""
    import numpy as np
    from roboact.datasets.sim_controllers import ACTIONS, run_episode
    from roboact.datasets.sim_scenes import make_env
    from roboact.datasets.sim_source import SimJob

    print("| robot | action | scene | object | successes | env build s | s/episode |")
    print("|---|---|---|---|---|---|---|")
    for item in args.success.split(","):
        action, scene, *obj = item.split(":")
        obj_name = obj[0] if obj else ACTIONS[action].object
        for robot in args.robots.split(","):
            t0 = time.perf_counter()
            env = make_env(robot, scene, args.cameras.split(","), args.image_size)
            build = time.perf_counter() - t0
            ok, secs = 0, []
            for index in range(args.seeds):
                seed = SimJob(robot, action, obj_name, scene, index, 0).seed(0)
                t0 = time.perf_counter()
                ok += run_episode(env, action, seed, 250, min_steps=args.n_frames).success
                secs.append(time.perf_counter() - t0)
            env.close()
            row = f"| {robot} | {action} | {scene} | {obj_name} | {ok}/{args.seeds} | {build:.1f} |"
            print(f"{row} {np.mean(secs):.1f} |", flush=True)
    print(f"\nargs: {args}; cpus: {os.cpu_count()}; load average: {os.getloadavg()}")


def main() -> None:
    args = parse_args(Args, __doc__)
    if args.success:
        success_table(args)
        return
    modes = args.modes.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        raw_rate = None
        if "raw" in modes:
            s, clips, rss = raw_loop(args, Path(tmp) / "raw.h5")
            raw_rate = 60 * clips / s
            rows.append(("raw loop (1 process)", clips, s, raw_rate, "", "", f"{rss:.0f}"))
            print(rows[-1], flush=True)
        actor_counts = [int(m) for m in modes if m.isdigit()]
        if actor_counts:
            from roboact.cluster import init_ray

            t0 = time.perf_counter()
            init_ray(num_cpus=max(actor_counts))
            print(f"ray.init: {time.perf_counter() - t0:.1f} s", flush=True)
        for n in actor_counts:
            s, clips, startup, rss = pool(args, n, Path(tmp) / f"pool{n}.h5")
            rate = 60 * clips / s
            ratio = f"{rate / n / raw_rate:.2f}" if raw_rate else "n/a"
            rows.append((f"Ray pool, {n} actor(s)", clips, s, rate, ratio, f"{startup:.1f}", f"{rss:.0f}"))
            print(rows[-1], flush=True)
    print("\n" + HEADER)
    print("|---|---|---|---|---|---|---|")
    for name, clips, s, rate, ratio, startup, rss in rows:
        print(f"| {name} | {clips} | {s:.1f} | {rate:.1f} | {ratio} | {startup} | {rss} |")
    print(f"\nargs: {args}; cpus: {os.cpu_count()}; load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
