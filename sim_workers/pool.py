"""A pool of simulator actors on Ray: whole episodes per call, dead actors replaced, retries counted.

Design (why not ``ray.util.ActorPool``): it is a DeveloperAPI that keeps resubmitting to a failing
actor (ray #50313) and has no per-call timeout. Here the driver keeps one in-flight episode per
actor, waits with ``ray.wait``, and on an actor death or an episode over its time limit kills and
replaces that actor and resubmits the episode (``retries`` more times). Actors have
``max_restarts=0``: replacement is ours, so an episode is never run twice concurrently and the
driver alone decides what is counted. Results reach ``on_result`` in the driver as each episode
returns; the caller appends them to the run's JSONL before anything else happens.

Each actor keeps its env between episodes (construction is ~6 s for LIBERO, a soft reset ~0.1 s)
and runs the policy in-process: a remote call per env step would cost ~1 ms of overhead, and
without a GPU a shared policy actor would only add that latency. Jobs are handed out with task
affinity, so an actor rebuilds its env only when its task's queue is empty.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class PoolConfig:
    """Resources and failure handling of the actor pool."""

    workers: int = 2
    """simulator actors"""
    cpus_per_worker: float = 1.0
    """Ray CPUs reserved per actor"""
    memory_mb: int = 0
    """Ray memory reserved per actor (0 = none; ~1500 for a rendering LIBERO env)"""
    episode_timeout_s: float = 900.0
    """an episode whose result is not back within this limit is abandoned (even if it arrives later):
    its actor is killed and replaced, the episode retried"""
    retries: int = 1
    """extra attempts per episode after an actor death or timeout"""
    spread: bool = True
    """SPREAD scheduling: place actors on as many nodes as possible"""

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.episode_timeout_s <= 0:
            raise ValueError(f"episode_timeout_s must be > 0, got {self.episode_timeout_s}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")


class SimWorker:
    """Actor body: one env (rebuilt when the task changes) and one policy, whole episodes per call."""

    def __init__(self, env_config: dict[str, Any], policy_spec: str) -> None:
        from roboact.headless import configure_gl

        configure_gl()
        os.environ.setdefault("LP_NUM_THREADS", "1")  # one llvmpipe thread per simulator process
        self.env_config = dict(env_config)
        self.policy_spec = policy_spec
        self.env: Any = None
        self.task: str | None = None
        self.policy: Any = None

    def info(self) -> dict[str, Any]:
        import ray

        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "node_id": ray.get_runtime_context().get_node_id(),
        }

    def _ensure(self, task: str) -> None:
        from roboact.sim_workers.envs.registry import make_env
        from roboact.sim_workers.policy import load_policy, needs_env

        if self.task != task:
            if self.env is not None:
                self.env.close()
            self.env, self.task = None, None
            self.env = make_env(task, self.env_config)
            self.task = task
            self.policy = load_policy(self.policy_spec)
            if needs_env(self.policy):
                self.policy.bind_env(self.env)

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """Run one episode; ``job`` = {task, episode, seed, record?, video?, starts?, action_noise?}
        (see ``rollout``)."""
        from roboact.sim_workers.eval import rollout

        t0 = time.perf_counter()
        self._ensure(job["task"])
        out = rollout(
            self.env,
            self.policy,
            int(job["episode"]),
            int(job["seed"]),
            record=bool(job.get("record")),
            video=bool(job.get("video")),
            starts=job.get("starts"),
            action_noise=float(job.get("action_noise", 0.0)),
        )
        import ray

        node = ray.get_runtime_context().get_node_id()
        out.update(pid=os.getpid(), host=socket.gethostname(), node=node, wall_s=time.perf_counter() - t0)
        return out

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None


def _job_id(job: dict[str, Any]) -> tuple[str, int, int]:
    return (job["task"], int(job["episode"]), int(job["seed"]))


class SimPool:
    """Runs jobs on ``cfg.workers`` actors; see the module docstring for the failure semantics."""

    def __init__(
        self,
        cfg: PoolConfig,
        env_config: dict[str, Any],
        policy_spec: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` (seconds) times episodes against ``episode_timeout_s``; tests inject one."""
        import ray

        self.ray = ray
        self.cfg = cfg
        self.clock = clock
        self.env_config = env_config
        self.policy_spec = policy_spec
        opts: dict[str, Any] = {"num_cpus": cfg.cpus_per_worker, "max_restarts": 0, "max_task_retries": 0}
        if cfg.memory_mb > 0:
            opts["memory"] = cfg.memory_mb * 1024 * 1024
        if cfg.spread:
            opts["scheduling_strategy"] = "SPREAD"
        self._actor_cls = ray.remote(**opts)(SimWorker)
        self.actors: list[Any] = []
        self.replaced = 0
        self.busy: dict[int, dict[str, Any]] = {}  # actor slot -> job in flight (read by tests, progress)

    def _new_actor(self) -> Any:
        return self._actor_cls.remote(self.env_config, self.policy_spec)

    def start(self) -> list[dict[str, Any]]:
        """Create the actors and wait until each is up; returns their pid/host/node."""
        self.actors = [self._new_actor() for _ in range(self.cfg.workers)]
        return self.ray.get([a.info.remote() for a in self.actors])

    def actor_infos(self) -> list[dict[str, Any]]:
        return self.ray.get([a.info.remote() for a in self.actors])

    def shutdown(self) -> None:
        """Close the envs (clean GL teardown), then kill the actors."""
        try:
            self.ray.get([a.close.remote() for a in self.actors], timeout=60)
        except Exception as err:  # noqa: BLE001 - a dead or hung actor is killed below anyway
            logger.debug("close: %s", err)
        for a in self.actors:
            try:
                self.ray.kill(a)
            except Exception as err:  # noqa: BLE001 - already dead is fine
                logger.debug("kill: %s", err)
        self.actors = []

    def run(
        self,
        jobs: list[dict[str, Any]],
        on_result: Callable[[dict[str, Any], dict[str, Any]], None],
        progress: Any = None,
    ) -> dict[str, Any]:
        """Run every job once (retrying after failures); ``on_result(job, result)`` in the driver.

        Returns counts: ``done``, ``failed`` (jobs that exhausted their retries, with reasons),
        ``retried`` and ``actors_replaced``.
        """
        from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

        if not self.actors:
            self.start()
        queues: dict[str, deque[dict[str, Any]]] = {}
        for job in jobs:
            queues.setdefault(job["task"], deque()).append(job)
        attempts: dict[tuple[str, int, int], int] = {}
        inflight: dict[Any, tuple[int, dict[str, Any], float]] = {}  # ref -> (actor slot, job, start)
        last_task: dict[int, str | None] = {i: None for i in range(len(self.actors))}
        idle = list(range(len(self.actors)))
        done, retried, failed = 0, 0, []

        def next_job(slot: int) -> dict[str, Any] | None:
            task = last_task[slot]
            if task in queues and queues[task]:
                return queues[task].popleft()
            busy = {j["task"] for _, j, _ in inflight.values()}
            for prefer_free in (True, False):  # spread tasks over actors before doubling up
                for t, q in queues.items():
                    if q and (not prefer_free or t not in busy):
                        return q.popleft()
            return None

        def submit(slot: int) -> bool:
            job = next_job(slot)
            if job is None:
                return False
            ref = self.actors[slot].run.remote(job)
            inflight[ref] = (slot, job, self.clock())
            self.busy[slot] = job
            last_task[slot] = job["task"]
            return True

        def replace(slot: int, reason: str) -> None:
            try:
                self.ray.kill(self.actors[slot], no_restart=True)
            except Exception as err:  # noqa: BLE001
                logger.debug("kill after %s: %s", reason, err)
            self.actors[slot] = self._new_actor()
            last_task[slot] = None
            self.replaced += 1

        def retry(job: dict[str, Any], reason: str) -> None:
            nonlocal retried
            jid = _job_id(job)
            attempts[jid] = attempts.get(jid, 0) + 1
            if attempts[jid] > self.cfg.retries:
                logger.error("episode %s failed %d times (%s); giving up", jid, attempts[jid], reason)
                failed.append({**job, "reason": reason})
            else:
                logger.warning("episode %s: %s; retrying (attempt %d)", jid, reason, attempts[jid] + 1)
                retried += 1
                queues.setdefault(job["task"], deque()).appendleft(job)

        while idle:
            slot = idle.pop()
            submit(slot)
        while inflight:
            # Wake up no later than the nearest deadline, so a limit shorter than the poll interval
            # is enforced on time.
            oldest = min(start for _, _, start in inflight.values())
            wait_s = min(1.0, max(0.0, oldest + self.cfg.episode_timeout_s - self.clock()))
            ready, _ = self.ray.wait(list(inflight), num_returns=1, timeout=wait_s)
            now = self.clock()
            # Deadlines first, ready or not: an episode whose result reaches the driver after its limit
            # counts as timed out, so whether it counts never depends on when ``ray.wait`` returned.
            for ref, (slot, job, start) in list(inflight.items()):
                if now - start > self.cfg.episode_timeout_s:
                    inflight.pop(ref)
                    self.busy.pop(slot, None)
                    replace(slot, "timeout")
                    retry(job, f"timed out after {self.cfg.episode_timeout_s:g} s")
                    submit(slot)
            for ref in ready:
                if ref not in inflight:  # abandoned above
                    continue
                slot, job, _ = inflight.pop(ref)
                self.busy.pop(slot, None)
                try:
                    result = self.ray.get(ref)
                except (RayActorError, ActorDiedError, ActorUnavailableError) as err:
                    replace(slot, "actor died")
                    retry(job, f"actor died: {type(err).__name__}")
                except Exception as err:  # noqa: BLE001 - an env/policy exception in the episode
                    replace(slot, "episode error")
                    retry(job, f"episode raised {type(err).__name__}: {str(err).splitlines()[0][:200]}")
                else:
                    on_result(job, result)
                    done += 1
                    if progress is not None:
                        progress.update(1)
                submit(slot)
            for slot in range(len(self.actors)):  # actors freed when the queues refilled (retries)
                if not any(s == slot for s, _, _ in inflight.values()) and any(queues.values()):
                    submit(slot)
        return {"done": done, "failed": failed, "retried": retried, "actors_replaced": self.replaced}
