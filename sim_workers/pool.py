"""A pool of simulator actors on Ray: whole episodes per call, dead actors replaced, retries counted.

Scheduling is the shared ``roboact.actor_pool.ActorPool`` (why not ``ray.util.ActorPool``: its
docstring). Here it keeps one in-flight episode per actor, and on an actor death, an episode that
raised, or an episode over its time limit it kills and replaces that actor and resubmits the
episode (``retries`` more times); a result that arrives after its limit is never counted. Actors
have ``max_restarts=0``: replacement is the pool's, so an episode is never run twice concurrently
and the driver alone decides what is counted. Results reach ``on_result`` in the driver as each
episode returns, once per (task, episode, seed); the caller appends them to the run's JSONL before
anything else happens.

Each actor keeps its env between episodes (construction is ~6 s for LIBERO, a soft reset ~0.1 s)
and runs the policy in-process: a remote call per env step would cost ~1 ms of overhead, and
without a GPU a shared policy actor would only add that latency. Jobs are handed out with task
affinity, so an actor rebuilds its env only when its task's queue is empty.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from roboact.actor_pool import ActorPool, ActorPoolConfig, Job


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
    """extra attempts per episode after an actor death, a timeout or an episode that raised"""
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
        self.cfg = cfg
        pool_cfg = ActorPoolConfig(
            actors=cfg.workers,
            num_cpus=cfg.cpus_per_worker,
            memory_mb=cfg.memory_mb,
            placement="spread" if cfg.spread else "default",
            in_flight=1,  # an episode's clock starts when it is sent
            job_timeout_s=cfg.episode_timeout_s,
            retries=cfg.retries,
        )
        self.pool = ActorPool(pool_cfg, SimWorker, args=(env_config, policy_spec), clock=clock)

    @property
    def actors(self) -> list[Any]:
        return self.pool.actors

    @property
    def replaced(self) -> int:
        """actors replaced over the pool's life"""
        return self.pool.replaced

    @property
    def busy(self) -> dict[int, dict[str, Any]]:
        """Actor slot -> the episode in flight there (read by tests and progress)."""
        return {slot: job.payload for slot, job in list(self.pool.running.items())}

    def start(self) -> list[dict[str, Any]]:
        """Create the actors and wait until each is up; returns their pid/host/node."""
        self.pool.start()
        return self.actor_infos()

    def actor_infos(self) -> list[dict[str, Any]]:
        return self.pool.ray.get([a.info.remote() for a in self.actors])

    def shutdown(self) -> None:
        """Close the envs (clean GL teardown), then kill the actors."""
        self.pool.shutdown(close="close")

    def run(
        self,
        jobs: list[dict[str, Any]],
        on_result: Callable[[dict[str, Any], dict[str, Any]], None],
        progress: Any = None,
    ) -> dict[str, Any]:
        """Run every job once (retrying after failures); ``on_result(job, result)`` in the driver.

        ``progress``: an object with ``update(n)`` (a tqdm bar), advanced as episodes finish or fail.
        Returns counts: ``done``, ``failed`` (jobs that exhausted their retries, with reasons),
        ``retried`` and ``actors_replaced``.
        """
        stats = self.pool.run(
            [Job(id=_job_id(job), payload=job, key=job["task"]) for job in jobs],
            lambda job, result: on_result(job.payload, result),
            progress=progress if progress is not None else False,
        )
        return {
            "done": stats.done,
            "failed": [{**f.job.payload, "reason": f.reason} for f in stats.failed],
            "retried": stats.retried,
            "actors_replaced": self.replaced,
        }
