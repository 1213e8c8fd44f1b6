"""The actor pool: results for every episode, a killed actor loses nothing and counts nothing twice."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from roboact.sim_workers.pool import PoolConfig, SimPool
from roboact.sim_workers.results import ResultsLog

pytestmark = [pytest.mark.ray, pytest.mark.sim]

ENV = {"image_size": 0, "max_steps": 60, "cheap_render": True, "init_noise": 0.02}


def _jobs(n, task="slide"):
    return [{"policy": "random", "suite": "kitchen", "task": task, "episode": k, "seed": k} for k in range(n)]


def _record(log):
    def on_result(job, result):
        log.append(
            {
                **job,
                "success": result["success"],
                "steps": result["steps"],
                "max_steps": ENV["max_steps"],
                "pid": result["pid"],
            }
        )

    return on_result


@pytest.mark.timeout(240)
def test_two_actors_run_every_episode_once(ray_session, tmp_path):
    pool = SimPool(PoolConfig(workers=2, cpus_per_worker=1.0), ENV, "random")
    infos = pool.start()
    log = ResultsLog(tmp_path)
    try:
        stats = pool.run(_jobs(4), _record(log))
    finally:
        pool.shutdown()
    got = log.read()
    assert stats["done"] == 4 and stats["failed"] == [] and len(got) == 4
    assert all(r["steps"] == ENV["max_steps"] for r in got.values())  # random never slides the door 30 cm
    assert {r["pid"] for r in got.values()} <= {i["pid"] for i in infos}
    assert len(log.path.read_text().splitlines()) == 4


@pytest.mark.timeout(300)
def test_killed_actor_episode_is_retried_and_counted_once(ray_session, tmp_path):
    pool = SimPool(PoolConfig(workers=2, cpus_per_worker=1.0, retries=1), ENV, "random")
    infos = pool.start()
    log = ResultsLog(tmp_path)
    killed = {}

    def killer():
        while not pool.busy:  # wait until an episode is in flight, then SIGKILL its actor
            time.sleep(0.01)
        slot = next(iter(pool.busy))
        killed["job"] = dict(pool.busy[slot])
        os.kill(infos[slot]["pid"], signal.SIGKILL)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    try:
        stats = pool.run(_jobs(4), _record(log))
    finally:
        pool.shutdown()
    t.join(timeout=5)
    got = log.read()
    assert "job" in killed
    assert stats["actors_replaced"] >= 1 and stats["retried"] >= 1 and stats["failed"] == []
    assert len(got) == 4 and len(log.path.read_text().splitlines()) == 4  # nothing lost, nothing twice
    assert ("random", "kitchen", "slide", killed["job"]["episode"], killed["job"]["seed"]) in got


class JumpingClock:
    """A clock that advances ``step`` seconds on every read: every episode is over any shorter limit
    by the driver's first look at it, however fast the machine runs the episode."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.mark.timeout(240)
def test_episode_over_its_time_limit_is_abandoned_and_reported(ray_session, tmp_path):
    cfg = PoolConfig(workers=1, episode_timeout_s=5.0, retries=1)
    pool = SimPool(cfg, ENV, "random", clock=JumpingClock(step=10.0))
    log = ResultsLog(tmp_path)
    try:
        stats = pool.run(_jobs(1), _record(log))
    finally:
        pool.shutdown()
    assert stats["done"] == 0 and len(stats["failed"]) == 1 and "timed out" in stats["failed"][0]["reason"]
    assert stats["retried"] == 1 and stats["actors_replaced"] == 2
    assert log.read() == {}  # a late result is never counted


@pytest.mark.timeout(240)
def test_episode_inside_its_time_limit_counts(ray_session, tmp_path):
    cfg = PoolConfig(workers=1, episode_timeout_s=5.0, retries=1)
    pool = SimPool(cfg, ENV, "random", clock=JumpingClock(step=0.0))  # a stopped clock: never late
    log = ResultsLog(tmp_path)
    try:
        stats = pool.run(_jobs(1), _record(log))
    finally:
        pool.shutdown()
    assert stats["done"] == 1 and stats["failed"] == [] and stats["actors_replaced"] == 0
