"""One fault-tolerant pool of Ray actors: resources per actor, node spread, retries, exactly-once results.

The simulated clip source, feature extraction and policy evaluation all hand a list of jobs to a
few long-lived actors (each holds something costly to build: a simulator, a frozen encoder) and
must keep every finished result even when actors die. This module is the one scheduler they share.

What the caller gives: an actor class and its constructor arguments, the resources of one actor
(``num_cpus``, ``num_gpus``, ``memory_mb``, custom ``resources``, ``runtime_env``), a placement
(``spread``: Ray's ``SPREAD`` scheduling strategy; ``group``: a placement group with strategy
``SPREAD``, one bundle per actor, reserved before any actor starts; ``default``: Ray's default), and
jobs, each with a stable id and an optional affinity key.

Guarantees:

- ``on_result(job, result)`` runs in the driver, once per job id at most, and exactly once for every
  job that succeeds within its attempts. A job has at most one attempt in flight at any time, and
  a result that arrives for an abandoned attempt (its actor died, or it ran past ``job_timeout_s``)
  is never delivered. The job's body itself may run more than once (at-least-once execution), so
  side effects belong in ``on_result``.
- A failure (the actor died, the job raised, or it ran past its time limit) kills and replaces the
  actor and puts the job back at the front of its key's queue, up to ``retries`` more attempts;
  then the job is reported in ``PoolStats.failed`` with the reason, and the other jobs go on.
  Only the job that was running is charged an attempt: the jobs queued behind it on the same actor
  (``in_flight`` > 1) go back to the queue uncharged (``PoolStats.requeued``).
- An actor whose constructor raises is not a job failure: every replacement would raise the same,
  so the pool stops with ``ActorStartError``.

Affinity: an actor takes the next job of the key it last ran while that key has jobs queued; when
it has none, it takes a key no other actor is on, and only then doubles up on the key with the most
jobs left. A simulator actor thus rebuilds its env only when its task's queue is empty.

Timeouts: the clock of a job starts when it becomes the oldest job in flight on its actor (Ray runs
one actor's calls in submission order), so a job queued behind another is not charged the wait.
``clock`` is injectable so tests can make a job late without sleeping.

Why this and not Ray's own pieces alone:

- ``ray.util.ActorPool`` (a DeveloperAPI) neither retries nor replaces a dead actor (it keeps
  submitting to it, ray #50313), has no per-call timeout, no affinity and one call in flight per
  actor, so it fits none of the three users.
- ``max_restarts`` / ``max_task_retries`` let Ray restart an actor process and re-run its calls, but
  they cannot abandon a hung call (a timeout needs ``ray.kill`` and a fresh actor anyway), do not
  retry on an exception without ``retry_exceptions`` re-running collateral calls too, and hide from
  the driver how often a job ran. Two restart mechanisms (Ray's and a timeout's) made the old
  simulated-source pool count deaths per slot to guess which one applied. So actors are created with
  ``max_restarts=0, max_task_retries=0`` and the driver alone replaces and retries: one rule, counted.
- What Ray does well is used as is: resource requests and ``runtime_env`` in the actor options,
  ``SPREAD`` scheduling and placement groups for node spread, ``ray.wait`` for completion,
  ``ray.kill`` for hung actors, ``RayActorError.actor_init_failed`` to tell a broken constructor
  from a dead process.
- Ray Data's ``map_batches`` over an actor pool is the better tool for a stateless map over a
  dataset it can read; docs/cluster.md says where it would fit feature extraction.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from roboact.errors import UserError

logger = logging.getLogger(__name__)

PLACEMENTS = ("spread", "group", "default")


@dataclass
class ActorPoolConfig:
    """Resources, placement and failure handling of an actor pool."""

    actors: int = 2
    """actors in the pool"""
    num_cpus: float = 1.0
    """Ray CPUs reserved per actor"""
    num_gpus: float = 0.0
    """Ray GPUs reserved per actor"""
    memory_mb: int = 0
    """Ray memory reserved per actor in MB (0 = none)"""
    resources: dict[str, float] = field(default_factory=dict)
    """custom Ray resources per actor (for example a node label resource)"""
    runtime_env: dict[str, Any] | None = None
    """Ray runtime_env of every actor (for example ``{"env_vars": ...}``)"""
    placement: str = "spread"
    """spread: Ray's SPREAD strategy; group: a SPREAD placement group reserved up front; default: Ray's"""
    in_flight: int = 1
    """calls queued on each actor at once (2 hides the driver's work between results)"""
    job_timeout_s: float | None = None
    """a job not back within this limit (from when it starts on its actor) is abandoned; None = no limit"""
    retries: int = 1
    """extra attempts per job after a failure it caused"""
    start_timeout_s: float = 600.0
    """how long ``start`` waits for every actor (or the placement group) to be up"""

    def __post_init__(self) -> None:
        if self.actors < 1:
            raise ValueError(f"actors must be >= 1, got {self.actors}")
        if self.in_flight < 1:
            raise ValueError(f"in_flight must be >= 1, got {self.in_flight}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        if self.job_timeout_s is not None and self.job_timeout_s <= 0:
            raise ValueError(f"job_timeout_s must be > 0 or None, got {self.job_timeout_s}")
        if min(self.num_cpus, self.num_gpus, self.memory_mb) < 0:
            raise ValueError("num_cpus, num_gpus and memory_mb must be >= 0")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {self.placement!r}")
        if self.placement == "group" and not self.bundle():
            raise ValueError("placement='group' needs a resource per actor (num_cpus, num_gpus, memory_mb)")

    def bundle(self) -> dict[str, float]:
        """One actor's resources as a placement-group bundle (zero entries left out)."""
        out = {"CPU": self.num_cpus, "GPU": self.num_gpus, "memory": float(self.memory_mb * 1024 * 1024)}
        out.update(self.resources)
        return {k: v for k, v in out.items() if v}

    def actor_options(self) -> dict[str, Any]:
        """Ray actor options for one actor, placement aside (see ``ActorPool`` for the strategy)."""
        opts: dict[str, Any] = {
            "num_cpus": self.num_cpus,
            "num_gpus": self.num_gpus,
            "max_restarts": 0,  # replacement is the pool's: see the module docstring
            "max_task_retries": 0,
        }
        if self.memory_mb > 0:
            opts["memory"] = self.memory_mb * 1024 * 1024
        if self.resources:
            opts["resources"] = dict(self.resources)
        if self.runtime_env:
            opts["runtime_env"] = self.runtime_env
        if self.placement == "spread":
            opts["scheduling_strategy"] = "SPREAD"
        return opts


@dataclass(frozen=True)
class Job:
    """One unit of work: ``payload`` is passed to the actor method."""

    id: Hashable
    """stable id: a job is delivered once per id"""
    payload: Any
    key: Hashable | None = None
    """affinity key: jobs of one key go to the actor already working on it"""
    size: int = 1
    """units the progress bar counts for this job (clips in a batch)"""


@dataclass(frozen=True)
class Failure:
    """A job that failed on every attempt."""

    job: Job
    reason: str
    attempts: int


@dataclass
class PoolStats:
    """What one ``ActorPool.run`` did."""

    done: int = 0
    """jobs delivered to ``on_result``"""
    failed: list[Failure] = field(default_factory=list)
    retried: int = 0
    """attempts after a failure the job caused"""
    requeued: int = 0
    """jobs sent back to the queue uncharged because the actor ahead of them failed"""
    actors_replaced: int = 0


class ActorStartError(UserError):
    """An actor's constructor raised, or the pool's actors could not be placed in time."""


def remote_class(actor_cls: type, cfg: ActorPoolConfig) -> Any:
    """The Ray actor class of ``actor_cls`` with the pool's options (for callers that pre-start actors)."""
    import ray

    return ray.remote(**cfg.actor_options())(actor_cls)


def _reason(err: BaseException) -> str:
    """One line saying why an attempt failed."""
    from ray.exceptions import RayActorError, RayTaskError

    if isinstance(err, RayActorError):
        return f"actor died: {type(err).__name__}"
    cause = err.cause if isinstance(err, RayTaskError) and err.cause is not None else err
    text = str(cause).strip().splitlines()
    return f"raised {type(cause).__name__}: {text[0][:200] if text else ''}".rstrip(": ")


def _start_failure(name: str, err: BaseException) -> str:
    """``name`` and the last line of a constructor's traceback (the exception itself)."""
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return f"{name} could not start: {lines[-1][:500] if lines else type(err).__name__}"


class ActorPool:
    """Runs jobs on ``cfg.actors`` actors of ``actor_cls``; see the module docstring for the guarantees."""

    def __init__(
        self,
        cfg: ActorPoolConfig,
        actor_cls: type,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        method: str = "run",
        clock: Callable[[], float] = time.monotonic,
        actors: Sequence[Any] | None = None,
    ) -> None:
        """
        Args:
            actor_cls: a plain class; the pool applies ``ray.remote`` with ``cfg``'s options.
            args, kwargs: constructor arguments of every actor (replacements included).
            method: the actor method called with each job's payload.
            clock: seconds, for ``job_timeout_s``; tests inject one.
            actors: already started actors to use first (tests, benchmarks); the pool does not kill
                these at ``shutdown``, only the ones it created.
        """
        import ray

        self.ray = ray
        self.cfg = cfg
        self.method = method
        self.clock = clock
        self._args, self._kwargs = tuple(args), dict(kwargs or {})
        self._remote_cls = remote_class(actor_cls, cfg)
        self._name = actor_cls.__name__
        # the caller's actors: shutdown() leaves them running; one that fails a job is replaced (killed)
        self._adopted = list(actors or [])
        self.actors: list[Any] = list(self._adopted)
        self._pg: Any = None
        self.replaced = 0
        """actors replaced over the pool's life"""
        self.running: dict[int, Job] = {}
        """actor slot -> the job running there (the oldest in flight); read by tests and progress"""

    # -- actors ------------------------------------------------------------------------------------

    def _new_actor(self, slot: int) -> Any:
        opts: dict[str, Any] = {}
        if self._pg is not None:
            from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

            opts["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
                self._pg, placement_group_bundle_index=slot
            )
        cls = self._remote_cls.options(**opts) if opts else self._remote_cls
        return cls.remote(*self._args, **self._kwargs)

    def start(self) -> list[Any]:
        """Reserve the placement group (``group``), create the actors and wait until each is up.

        Raises:
            ActorStartError: a constructor raised, or the actors (group) could not be placed within
                ``start_timeout_s``; the message names the resources asked for.
        """
        if self.cfg.placement == "group" and self._pg is None:
            from ray.util.placement_group import placement_group

            self._pg = placement_group([self.cfg.bundle()] * self.cfg.actors, strategy="SPREAD")
            ready, _ = self.ray.wait([self._pg.ready()], timeout=self.cfg.start_timeout_s)
            if not ready:
                self._remove_group()
                raise ActorStartError(
                    f"a placement group of {self.cfg.actors} x {self.cfg.bundle()} could not be reserved "
                    f"in {self.cfg.start_timeout_s:g} s (cluster: {self.ray.cluster_resources()}); "
                    "ask for fewer actors or smaller ones"
                )
        while len(self.actors) < self.cfg.actors:
            self.actors.append(self._new_actor(len(self.actors)))
        refs = [a.__ray_ready__.remote() for a in self.actors]
        try:
            ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=self.cfg.start_timeout_s)
            self.ray.get(ready)
        except self.ray.exceptions.RayActorError as err:
            self.shutdown()
            raise ActorStartError(_start_failure(self._name, err)) from None
        if len(ready) < len(refs):
            self.shutdown()
            raise ActorStartError(
                f"{len(refs) - len(ready)} of {len(refs)} actors with {self.cfg.bundle()} each did not "
                f"start in {self.cfg.start_timeout_s:g} s (cluster: {self.ray.cluster_resources()}); "
                "ask for fewer actors or smaller ones"
            )
        return self.actors

    def _replace(self, slot: int, reason: str) -> None:
        try:
            self.ray.kill(self.actors[slot], no_restart=True)
        except Exception as err:  # noqa: BLE001 - already dead is fine
            logger.debug("kill after %s: %s", reason, err)
        self.actors[slot] = self._new_actor(slot)
        self.replaced += 1

    def _remove_group(self) -> None:
        if self._pg is not None:
            from ray.util.placement_group import remove_placement_group

            try:
                remove_placement_group(self._pg)
            except Exception as err:  # noqa: BLE001 - gone with the cluster
                logger.debug("remove placement group: %s", err)
            self._pg = None

    def shutdown(self, close: str | None = None, close_timeout_s: float = 60.0) -> None:
        """Call ``close`` on every actor (a clean teardown), then kill the actors this pool created.

        Adopted actors (the ``actors`` argument) are left running for their owner.
        """
        if close:
            try:
                self.ray.get([getattr(a, close).remote() for a in self.actors], timeout=close_timeout_s)
            except Exception as err:  # noqa: BLE001 - a dead or hung actor is killed below anyway
                logger.debug("%s: %s", close, err)
        for a in self.actors:
            if not any(a is b for b in self._adopted):
                try:
                    self.ray.kill(a)
                except Exception as err:  # noqa: BLE001 - already dead is fine
                    logger.debug("kill: %s", err)
        self.actors, self._adopted = [], []
        self._remove_group()

    def __enter__(self) -> ActorPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- jobs --------------------------------------------------------------------------------------

    def run(
        self,
        jobs: Iterable[Job],
        on_result: Callable[[Job, Any], None],
        progress: bool | Any = False,
        desc: str = "",
        unit: str = "job",
    ) -> PoolStats:
        """Run every job (retrying after failures); ``on_result(job, result)`` in the driver.

        Args:
            progress: True for a tqdm bar (``desc``, ``unit``), or an object with ``update(n)``
                (a caller's bar); advanced by ``job.size`` when a job is delivered or has failed.

        Raises:
            ValueError: two jobs share an id.
            ActorStartError: an actor's constructor raised (at start or for a replacement).
        """
        from tqdm.auto import tqdm

        jobs = list(jobs)
        dupes = sorted(str(i) for i, n in Counter(j.id for j in jobs).items() if n > 1)
        if dupes:
            raise ValueError(f"job ids must be unique; repeated: {', '.join(dupes[:5])}")
        if len(self.actors) < self.cfg.actors:
            self.start()
        bar, own_bar = progress, False
        if progress is True:
            bar = tqdm(total=sum(j.size for j in jobs), desc=desc, unit=unit)
            own_bar = True
        try:
            return _Run(self, jobs, on_result, None if bar is False else bar).loop()
        finally:
            if own_bar:
                bar.close()


class _Run:
    """The state of one ``ActorPool.run``: queues per key, calls in flight per actor slot."""

    def __init__(self, pool: ActorPool, jobs: list[Job], on_result: Callable[[Job, Any], None], bar: Any):
        self.pool, self.ray, self.cfg = pool, pool.ray, pool.cfg
        self.on_result, self.bar = on_result, bar
        self.queues: OrderedDict[Hashable, deque[Job]] = OrderedDict()
        for job in jobs:
            self.queues.setdefault(job.key, deque()).append(job)
        n = len(pool.actors)
        self.slots: list[deque[Any]] = [deque() for _ in range(n)]  # refs in submission order
        self.inflight: dict[Any, tuple[int, Job]] = {}  # ref -> (slot, job)
        self.started: dict[int, float] = {}  # slot -> when its oldest call became the running one
        self.current: list[Hashable | None] = [None] * n  # slot -> affinity key it is on
        self.attempts: dict[Hashable, int] = {}
        self.delivered: set[Hashable] = set()
        self.stats = PoolStats()
        self.replaced_at_start = pool.replaced

    # -- scheduling --------------------------------------------------------------------------------

    def _next_job(self, slot: int) -> Job | None:
        key = self.current[slot]
        if key in self.queues and self.queues[key]:
            return self.queues[key].popleft()
        left = [k for k, q in self.queues.items() if q]
        if not left:
            return None
        taken = {k for s, k in enumerate(self.current) if s != slot and self.slots[s]}
        free = [k for k in left if k not in taken]  # spread keys over actors before doubling up
        key = free[0] if free else max(left, key=lambda k: len(self.queues[k]))
        self.current[slot] = key
        return self.queues[key].popleft()

    def _fill(self) -> None:
        for slot in range(len(self.pool.actors)):
            while len(self.slots[slot]) < self.cfg.in_flight:
                job = self._next_job(slot)
                if job is None:
                    return
                ref = getattr(self.pool.actors[slot], self.pool.method).remote(job.payload)
                if not self.slots[slot]:
                    self.started[slot] = self.pool.clock()
                    self.pool.running[slot] = job
                self.slots[slot].append(ref)
                self.inflight[ref] = (slot, job)

    def _pop(self, ref: Any) -> tuple[int, Job]:
        """Forget ``ref`` (delivered or abandoned); the next call on its actor starts its clock."""
        slot, job = self.inflight.pop(ref)
        self.slots[slot].remove(ref)
        if self.slots[slot]:
            self.started[slot] = self.pool.clock()
            self.pool.running[slot] = self.inflight[self.slots[slot][0]][1]
        else:
            self.started.pop(slot, None)
            self.pool.running.pop(slot, None)
        return slot, job

    # -- outcomes ----------------------------------------------------------------------------------

    def _settled(self, job: Job) -> None:
        if self.bar is not None:
            self.bar.update(job.size)

    def _deliver(self, job: Job, result: Any) -> None:
        if job.id in self.delivered:  # cannot happen (one attempt in flight per job); never deliver twice
            logger.error("job %s: a second result ignored", job.id)
            return
        self.delivered.add(job.id)
        self.on_result(job, result)
        self.stats.done += 1
        self._settled(job)

    def _fail(self, slot: int, job: Job, reason: str) -> None:
        """The running job of ``slot`` failed: replace the actor, retry or report the job, and send
        the calls queued behind it back to the queue uncharged."""
        for ref in list(self.slots[slot]):
            _, other = self._pop(ref)
            if other.id != job.id:
                self.queues.setdefault(other.key, deque()).appendleft(other)
                self.stats.requeued += 1
        self.pool._replace(slot, reason)
        self.current[slot] = None  # a fresh actor holds no key's state
        n = self.attempts[job.id] = self.attempts.get(job.id, 0) + 1
        if n > self.cfg.retries:
            logger.error("job %s failed %d times (%s); giving up", job.id, n, reason)
            self.stats.failed.append(Failure(job, reason, n))
            self._settled(job)
        else:
            logger.warning("job %s: %s; retrying (attempt %d)", job.id, reason, n + 1)
            self.stats.retried += 1
            self.queues.setdefault(job.key, deque()).appendleft(job)

    def _expire(self) -> None:
        """Abandon running calls past their limit, ready or not: whether a result counts never
        depends on when ``ray.wait`` returned."""
        limit = self.cfg.job_timeout_s
        if limit is None:
            return
        now = self.pool.clock()
        for slot, start in list(self.started.items()):
            if now - start > limit and self.slots[slot]:
                job = self.inflight[self.slots[slot][0]][1]
                self._fail(slot, job, f"timed out after {limit:g} s")

    def _wait_s(self) -> float | None:
        if self.cfg.job_timeout_s is None:
            return None
        # Wake up no later than the nearest deadline (and each second, for an injected clock).
        nearest = min(self.started.values(), default=self.pool.clock()) + self.cfg.job_timeout_s
        return min(1.0, max(0.0, nearest - self.pool.clock()))

    def _collect(self, ref: Any) -> None:
        from ray.exceptions import RayActorError, RayError

        if ref not in self.inflight:  # abandoned while this batch was handled
            return
        slot, job = self.inflight[ref]
        try:
            result = self.ray.get(ref)
        except RayActorError as err:
            if err.actor_init_failed:
                raise ActorStartError(_start_failure(self.pool._name, err)) from None
            # The actor ran its calls in order: the oldest one in flight was running when it died.
            running = self.inflight[self.slots[slot][0]][1]
            self._fail(slot, running, _reason(err))
            return
        except RayError as err:  # the job raised (or its result was lost)
            self._fail(slot, job, _reason(err))
            return
        self._pop(ref)
        self._deliver(job, result)

    def loop(self) -> PoolStats:
        self._fill()
        while self.inflight:
            ready, _ = self.ray.wait(list(self.inflight), num_returns=1, timeout=self._wait_s())
            if ready:  # everything that is back now, handled per actor in submission order
                ready, _ = self.ray.wait(list(self.inflight), num_returns=len(self.inflight), timeout=0)
            self._expire()
            order = {ref: (s, i) for s, refs in enumerate(self.slots) for i, ref in enumerate(refs)}
            for ref in sorted((r for r in ready if r in order), key=order.__getitem__):
                self._collect(ref)
            self._fill()
        self.stats.actors_replaced = self.pool.replaced - self.replaced_at_start
        return self.stats
