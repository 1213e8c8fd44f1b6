"""Ray actor pool of simulators for the simulated source: one robosuite simulator per actor, reused.

Why our own small pool (not ``ray.util.ActorPool``): jobs must go to the actor that already holds
the job's simulator (building one costs 2-10 s, a soft reset 5 ms), a killed actor's job must be
resubmitted and written exactly once, and results must stream into the store as they finish.

- Each actor keeps up to ``env_cache`` envs keyed by (robot, scene), least recently used evicted.
- The driver keeps two jobs in flight per actor (one running, one queued) and prefers giving an
  actor jobs of the (robot, scene) group it is already working on.
- Actors are created with ``max_restarts=1``; when an actor dies its in-flight jobs raise
  ``RayActorError`` and are resubmitted (at most ``MAX_RESUBMITS`` times each). Only the driver
  writes the HDF5 store, and a job is written once: clip ids are deterministic and the driver
  skips a job whose clips are already complete.
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict, deque
from typing import Any

from roboact.datasets.sim_source import SimJob, SimSourceConfig, execute_job, records_for

logger = logging.getLogger(__name__)

MAX_RESUBMITS = 2
IN_FLIGHT_PER_ACTOR = 2


class SimWorker:
    """Runs jobs in one process; envs are built once per (robot, scene) and reset softly."""

    def __init__(self, cfg: SimSourceConfig) -> None:
        from roboact.headless import configure_gl

        configure_gl()
        os.environ.setdefault("LP_NUM_THREADS", "1")
        self.cfg = cfg
        self.envs: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self.built = 0

    def pid(self) -> int:
        return os.getpid()

    def rss_mb(self) -> float:
        """Resident memory of this worker process (MB), for the benchmark."""
        with open("/proc/self/status") as status:  # Linux; psutil is not a dependency
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def env(self, key: tuple[str, str]) -> Any:
        from roboact.datasets.sim_scenes import make_env

        if key in self.envs:
            self.envs.move_to_end(key)
            return self.envs[key]
        while len(self.envs) >= self.cfg.env_cache:
            _, old = self.envs.popitem(last=False)
            old.close()
        self.envs[key] = make_env(key[0], key[1], self.cfg.cameras, self.cfg.image_size, seed=self.cfg.seed)
        self.built += 1
        return self.envs[key]

    def run(self, job: SimJob) -> dict[str, Any]:
        """Execute one job; returns the records to write (none when every attempt failed)."""
        from roboact.datasets.sim_scenes import env_label

        t0 = time.perf_counter()
        env = self.env(job.env_key)
        episode, views, attempts = execute_job(env, job, self.cfg)
        records = records_for(job, episode, views, env_label(env)) if episode is not None else []
        return {"job": job, "records": records, "attempts": attempts, "seconds": time.perf_counter() - t0}


def make_actor_class() -> Any:
    """The Ray actor class (one CPU, restarted once if its process dies)."""
    import ray

    return ray.remote(num_cpus=1, max_restarts=1, max_task_retries=0)(SimWorker)


def run_pool(
    jobs: list[SimJob],
    cfg: SimSourceConfig,
    store: Any,
    stats: dict[str, Any],
    actors: list[Any] | None = None,
    on_result: Any = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run ``jobs`` on ``cfg.workers`` actors and write each finished clip into ``store`` at once.

    Args:
        jobs: jobs still to do (grouped by (robot, scene) for env reuse).
        store: an open ``ClipStore`` (only this driver process writes it).
        stats: updated in place: ``attempts``/``failures`` per "Robot/action", ``new_clips``,
            ``failed_jobs``, ``resubmitted``.
        actors: existing ``SimWorker`` actors to use (tests, benchmarks); default: new ones.
        on_result: optional ``callback(result, actors)`` after each written job (tests kill
            actors from here).
    """
    import ray
    from tqdm import tqdm

    if actors is None:
        actor_cls = make_actor_class()
        actors = [actor_cls.remote(cfg) for _ in range(cfg.workers)]
    actors = list(actors)
    groups: OrderedDict[tuple[str, str], deque[SimJob]] = OrderedDict()
    for job in jobs:
        groups.setdefault(job.env_key, deque()).append(job)
    current: dict[int, tuple[str, str] | None] = {i: None for i in range(len(actors))}
    in_flight: dict[Any, tuple[SimJob, int]] = {}
    resubmits: dict[str, int] = {}
    deaths: dict[int, int] = {}
    replaced: dict[int, bool] = {}
    stats.setdefault("resubmitted", 0)

    def next_job(slot: int) -> SimJob | None:
        key = current[slot]
        if key is None or not groups.get(key):
            busy = {k for s, k in current.items() if s != slot}
            free = [k for k, q in groups.items() if q and k not in busy]
            any_left = [k for k, q in groups.items() if q]
            if not any_left:
                return None
            key = free[0] if free else max(any_left, key=lambda k: len(groups[k]))
            current[slot] = key
        return groups[key].popleft()

    def submit(slot: int, job: SimJob | None = None) -> None:
        job = job or next_job(slot)
        if job is not None:
            in_flight[actors[slot].run.remote(job)] = (job, slot)

    for slot in range(len(actors)):
        for _ in range(IN_FLIGHT_PER_ACTOR):
            submit(slot)
    started = time.perf_counter()
    kept = tried = 0
    bar = tqdm(total=len(jobs), desc="sim clips", unit="job", disable=not progress)
    while in_flight:
        ready, _ = ray.wait(list(in_flight), num_returns=1)
        job, slot = in_flight.pop(ready[0])
        try:
            result = ray.get(ready[0])
        except ray.exceptions.RayActorError as err:
            n = resubmits.get(job.key, 0) + 1
            resubmits[job.key] = n
            stats["resubmitted"] += 1
            if n > MAX_RESUBMITS:
                logger.error("%s: actor died %d times running it; giving up (%s)", job.key, n, err)
                stats["failed_jobs"].append(job.key)
                bar.update(1)
                continue
            deaths[slot] = deaths.get(slot, 0) + 1
            if deaths[slot] > 1 and not replaced.get(slot):  # restart budget used up: a fresh actor
                actors[slot] = make_actor_class().remote(cfg)
                replaced[slot] = True
            logger.warning("%s: actor %d died (%s); resubmitting", job.key, slot, type(err).__name__)
            submit(slot, job)  # the actor restarts (max_restarts=1); Ray queues the call until it is back
            continue
        key = f"{job.robot}/{job.action}"
        stats["attempts"][key] = stats["attempts"].get(key, 0) + result["attempts"]
        failures = result["attempts"] - (1 if result["records"] else 0)
        stats["failures"][key] = stats["failures"].get(key, 0) + failures
        tried += result["attempts"]
        if result["records"]:
            kept += 1
            for record in result["records"]:
                if record.clip_id in store:  # written by an earlier try of this job
                    continue
                store.add(record)
                stats["new_clips"] += 1
        else:
            stats["failed_jobs"].append(job.key)
            logger.warning("%s: no success in %d attempts", job.key, result["attempts"])
        bar.update(1)
        elapsed = time.perf_counter() - started
        bar.set_postfix(clips_s=f"{stats['new_clips'] / elapsed:.2f}", success=f"{kept / max(tried, 1):.0%}")
        if on_result is not None:
            on_result(result, actors)
        submit(slot)
    bar.close()
    return stats
