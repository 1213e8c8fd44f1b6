"""Benchmark the shared actor pool's driver overhead against the bare Ray loop it replaced.

Same actors, same jobs in both modes: ``--jobs`` calls of ``--job-ms`` each (a sleep: the actor
side costs the same in both) on ``--actors`` actors with ``--in-flight`` calls queued per actor.
"bare" is the minimal scheduler the three users hand-rolled before (submit, ``ray.wait`` one,
resubmit to the same actor; no retries, timeouts or affinity); "pool" is ``ActorPool.run`` with
its bookkeeping (deadlines, per-actor order, exactly-once set, affinity). Prints jobs/s of each,
the pool's extra driver time per job and the ratio; modes alternate ``--repeats`` times so machine
load hits both alike.

    .venv/bin/python benchmarks/bench_actor_pool.py --jobs 2000 --job-ms 0
    .venv/bin/python benchmarks/bench_actor_pool.py --jobs 400 --job-ms 10
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from typing import Any

from _cli import parse_args


@dataclass
class Args:
    jobs: int = 2000
    """calls per measurement"""
    job_ms: float = 0.0
    """time each call spends in the actor (ms)"""
    actors: int = 2
    """actors in the pool"""
    in_flight: int = 2
    """calls queued per actor"""
    repeats: int = 3
    """measurements per mode (alternating)"""


class Sleeper:
    def run(self, payload: Any) -> Any:
        if payload["ms"]:
            time.sleep(payload["ms"] / 1000)
        return payload["i"]


def bare(ray: Any, actors: list[Any], payloads: list[dict[str, Any]], in_flight: int) -> float:
    """The old hand-rolled loop: seconds for every call to come back."""
    queue = list(reversed(payloads))
    pending: dict[Any, Any] = {}
    t0 = time.perf_counter()
    for actor in actors:
        for _ in range(in_flight):
            if queue:
                pending[actor.run.remote(queue.pop())] = actor
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        actor = pending.pop(ready[0])
        ray.get(ready[0])
        if queue:
            pending[actor.run.remote(queue.pop())] = actor
    return time.perf_counter() - t0


def pooled(pool: Any, payloads: list[dict[str, Any]]) -> float:
    from roboact.actor_pool import Job

    got: list[Any] = []
    t0 = time.perf_counter()
    stats = pool.run([Job(p["i"], p) for p in payloads], lambda job, result: got.append(result))
    seconds = time.perf_counter() - t0
    assert stats.done == len(payloads) == len(got)
    return seconds


def main() -> None:
    a = parse_args(Args, __doc__)
    from roboact.actor_pool import ActorPool, ActorPoolConfig
    from roboact.cluster import init_ray

    ray = init_ray(num_cpus=a.actors)
    cfg = ActorPoolConfig(actors=a.actors, num_cpus=1.0, in_flight=a.in_flight, placement="default")
    pool = ActorPool(cfg, Sleeper)
    pool.start()
    payloads = [{"i": i, "ms": a.job_ms} for i in range(a.jobs)]
    times: dict[str, list[float]] = {"bare": [], "pool": []}
    try:
        bare(ray, pool.actors, payloads[: a.actors * 10], a.in_flight)  # warm-up, not timed
        for _ in range(a.repeats):
            times["bare"].append(bare(ray, pool.actors, payloads, a.in_flight))
            times["pool"].append(pooled(pool, payloads))
    finally:
        pool.shutdown()
    b, p = statistics.median(times["bare"]), statistics.median(times["pool"])
    print("| mode | jobs/s (median) | seconds per run |")
    print("|---|---|---|")
    for name, secs in times.items():
        print(f"| {name} | {a.jobs / statistics.median(secs):.0f} | {', '.join(f'{s:.2f}' for s in secs)} |")
    print(
        f"\npool / bare time: {p / b:.2f}; pool's extra driver time per job: {1000 * (p - b) / a.jobs:.3f} ms"
    )
    print(f"args: {a}; cpus: {os.cpu_count()}; load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
