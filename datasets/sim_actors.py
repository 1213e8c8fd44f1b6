"""Ray actor pool of simulators for the simulated source: one robosuite simulator per actor, reused.

Scheduling is the shared ``roboact.actor_pool.ActorPool``: jobs go to the actor that already holds
the job's simulator (affinity key (robot, scene); building one costs 2-10 s, a soft reset 5 ms), a
killed actor's job is resubmitted and delivered exactly once, and results stream into the store as
they finish.

- Each actor keeps up to ``env_cache`` envs keyed by (robot, scene), least recently used evicted.
- The driver keeps two jobs in flight per actor (one running, one queued).
- When an actor dies (or a job raises) the pool replaces the actor and retries the job that was
  running, at most ``MAX_RESUBMITS`` times; the job queued behind it is resubmitted uncharged.
  Only the driver writes the HDF5 store, and a job is written once: the pool delivers each job id
  once, clip ids are deterministic, and the driver skips clips already in the store.
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from typing import Any

from roboact.datasets.sim_source import SimJob, SimSourceConfig, execute_job, records_for

from roboact.actor_pool import ActorPool, ActorPoolConfig, Job, remote_class

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


def pool_config(cfg: SimSourceConfig) -> ActorPoolConfig:
    """One CPU per simulator actor, spread over nodes, two jobs in flight, ``MAX_RESUBMITS`` retries."""
    return ActorPoolConfig(
        actors=cfg.workers,
        num_cpus=1.0,
        placement="spread",
        in_flight=IN_FLIGHT_PER_ACTOR,
        retries=MAX_RESUBMITS,
    )


def make_actor_class() -> Any:
    """The Ray actor class the pool uses, for callers that start actors first (tests, benchmarks)."""
    return remote_class(SimWorker, ActorPoolConfig(num_cpus=1.0, placement="spread"))


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
            ``failed_jobs`` (no success in the job's attempts, or its actor failed on every try),
            ``resubmitted`` (jobs sent again after their actor died: retried or queued behind).
        actors: existing ``SimWorker`` actors to use (tests, benchmarks; left running); default:
            new ones, killed at the end.
        on_result: optional ``callback(result, actors)`` after each written job (tests kill
            actors from here).
    """
    from tqdm import tqdm

    pool = ActorPool(pool_config(cfg), SimWorker, args=(cfg,), actors=actors)
    stats.setdefault("resubmitted", 0)
    started = time.perf_counter()
    kept = tried = 0
    bar = tqdm(total=len(jobs), desc="sim clips", unit="job", disable=not progress)

    def write(job: Job, result: dict[str, Any]) -> None:
        nonlocal kept, tried
        sim_job: SimJob = job.payload
        key = f"{sim_job.robot}/{sim_job.action}"
        stats["attempts"][key] = stats["attempts"].get(key, 0) + result["attempts"]
        failures = result["attempts"] - (1 if result["records"] else 0)
        stats["failures"][key] = stats["failures"].get(key, 0) + failures
        tried += result["attempts"]
        if result["records"]:
            kept += 1
            for record in result["records"]:
                if record.clip_id in store:  # written by an earlier run of this job
                    continue
                store.add(record)
                stats["new_clips"] += 1
        else:
            stats["failed_jobs"].append(sim_job.key)
            logger.warning("%s: no success in %d attempts", sim_job.key, result["attempts"])
        elapsed = time.perf_counter() - started
        bar.set_postfix(clips_s=f"{stats['new_clips'] / elapsed:.2f}", success=f"{kept / max(tried, 1):.0%}")
        if on_result is not None:
            on_result(result, pool.actors)

    try:
        outcome = pool.run([Job(id=j.key, payload=j, key=j.env_key) for j in jobs], write, progress=bar)
    finally:
        bar.close()
        pool.shutdown()
    stats["resubmitted"] += outcome.retried + outcome.requeued
    for failure in outcome.failed:
        logger.error("%s: gave up after %d tries (%s)", failure.job.id, failure.attempts, failure.reason)
        stats["failed_jobs"].append(failure.job.id)
    return stats
