"""The shared actor pool: every job's result delivered exactly once through kills, timeouts and errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from roboact.actor_pool import ActorPool, ActorPoolConfig, ActorStartError, Job, _Run


class Toy:
    """A toy actor. ``payload["modes"][k]`` says what attempt k+1 of a job does: "exit" ends the
    process, "raise" raises, "block" waits for a file that never comes, "gate" waits for ``go`` and
    then marks itself finished; anything else (or no entry) returns at once. Attempts are counted in
    marker files, so they survive the actor."""

    def __init__(self, marks: str) -> None:
        self.marks = Path(marks)
        self.uid = uuid.uuid4().hex
        self.seq = 0

    def run(self, payload: dict[str, Any]) -> dict[str, Any]:
        import ray

        jid = payload["id"]
        attempt = len(list(self.marks.glob(f"{jid}.*"))) + 1
        (self.marks / f"{jid}.{attempt}").touch()
        modes = payload.get("modes", [])
        mode = modes[attempt - 1] if attempt <= len(modes) else "ok"
        if mode == "exit":
            os._exit(1)
        if mode == "raise":
            raise ValueError(f"boom {jid}")
        if mode in ("block", "gate"):
            flag = self.marks / ("never" if mode == "block" else "go")
            deadline = time.monotonic() + 60
            while not flag.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            (self.marks / f"finished-{jid}").touch()
        self.seq += 1
        ctx = ray.get_runtime_context()
        return {
            "id": jid,
            "attempt": attempt,
            "uid": self.uid,
            "seq": self.seq,
            "key": payload.get("key"),
            "resources": ctx.get_assigned_resources(),
            "env": os.environ.get("POOL_TEST"),
            "in_group": ray.util.get_current_placement_group() is not None,
        }


class BrokenToy:
    def __init__(self, marks: str) -> None:
        raise RuntimeError("no encoder here")


def _jobs(n: int, modes: dict[int, list[str]] | None = None, key: Any = None) -> list[Job]:
    modes = modes or {}
    return [Job(id=k, payload={"id": k, "modes": modes.get(k, []), "key": key}, key=key) for k in range(n)]


def _pool(tmp_path: Path, **cfg: Any) -> ActorPool:
    opts: dict[str, Any] = {"actors": 2, "num_cpus": 0.5, "retries": 1, "placement": "default"}
    opts.update(cfg)
    return ActorPool(ActorPoolConfig(**opts), Toy, args=(str(tmp_path),))


def _collect(results: list[dict[str, Any]]):
    def on_result(job: Job, result: dict[str, Any]) -> None:
        assert job.id == result["id"]
        results.append(result)

    return on_result


def _once(results: list[dict[str, Any]], n: int) -> dict[int, dict[str, Any]]:
    counts = Counter(r["id"] for r in results)
    assert counts == Counter(range(n)), counts  # every job exactly once
    return {r["id"]: r for r in results}


pytestmark = pytest.mark.ray


@pytest.mark.timeout(120)
def test_a_job_that_ends_its_actor_process_is_retried_on_a_fresh_actor_and_delivered_once(
    ray_session, tmp_path
):
    pool = _pool(tmp_path, in_flight=2)
    results: list[dict[str, Any]] = []
    try:
        stats = pool.run(_jobs(6, {2: ["exit"]}), _collect(results))
    finally:
        pool.shutdown()
    got = _once(results, 6)
    assert got[2]["attempt"] == 2
    assert stats.done == 6 and stats.failed == [] and stats.retried == 1 and stats.actors_replaced == 1


@pytest.mark.timeout(120)
def test_an_actor_killed_mid_job_from_on_result_loses_and_duplicates_nothing(ray_session, tmp_path):
    pool = _pool(tmp_path, in_flight=2)
    pool.start()
    results: list[dict[str, Any]] = []
    killed: list[int] = []

    def on_result(job: Job, result: dict[str, Any]) -> None:
        results.append(result)
        if not killed:  # job 0 blocks on its first attempt: once it has started, kill its actor
            deadline = time.monotonic() + 30
            while not (tmp_path / "0.1").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            slot = next(s for s, running in pool.running.items() if running.id == 0)
            ray_session.kill(pool.actors[slot])
            killed.append(slot)

    try:
        stats = pool.run(_jobs(8, {0: ["block"]}), on_result)
    finally:
        pool.shutdown()
    got = _once(results, 8)
    assert killed and got[0]["attempt"] == 2
    # the call queued behind job 0 went back uncharged and ran once
    assert stats.requeued == 1 and stats.retried == 1 and stats.actors_replaced == 1
    assert [r["attempt"] for k, r in got.items() if k != 0] == [1] * 7


@pytest.mark.timeout(120)
def test_a_late_result_after_a_timeout_is_dropped_and_the_retry_is_delivered(ray_session, tmp_path):
    finished = tmp_path / "finished-0"  # the first attempt of job 0 has finished: 100 s have passed
    cfg = ActorPoolConfig(actors=2, num_cpus=0.5, retries=1, placement="default", job_timeout_s=5.0)
    pool = ActorPool(cfg, Toy, args=(str(tmp_path),), clock=lambda: 100.0 if finished.exists() else 0.0)
    results: list[dict[str, Any]] = []

    def on_result(job: Job, result: dict[str, Any]) -> None:
        results.append(result)
        if job.id == 1:  # job 0 is held until here: the pool's next look finds it back, and late
            (tmp_path / "go").touch()

    try:
        stats = pool.run(_jobs(2, {0: ["gate"]}), on_result)
    finally:
        pool.shutdown()
    got = _once(results, 2)
    assert finished.exists()  # the first attempt did finish: its result was late, not lost
    assert got[0]["attempt"] == 2
    assert stats.retried == 1 and stats.failed == [] and stats.actors_replaced == 1


@pytest.mark.timeout(120)
def test_a_raising_job_is_retried_and_one_failing_past_the_limit_is_reported(ray_session, tmp_path):
    pool = _pool(tmp_path, retries=1)
    results: list[dict[str, Any]] = []
    try:
        stats = pool.run(_jobs(6, {1: ["raise"], 3: ["raise", "raise", "raise"]}), _collect(results))
    finally:
        pool.shutdown()
    counts = Counter(r["id"] for r in results)
    assert counts == Counter([0, 1, 2, 4, 5])  # job 3 never delivered, every other once
    assert {r["id"]: r["attempt"] for r in results}[1] == 2
    [failure] = stats.failed
    assert failure.job.id == 3 and failure.attempts == 2 and failure.reason == "raised ValueError: boom 3"
    assert stats.done == 5 and stats.retried == 2 and stats.actors_replaced == 3


@pytest.mark.timeout(120)
def test_affinity_keeps_each_actor_on_its_key_until_that_key_runs_out(ray_session, tmp_path):
    jobs = [
        Job(id=(key, k), payload={"id": f"{key}{k}", "key": key}, key=key) for k in range(4) for key in "abc"
    ]  # interleaved: a FIFO scheduler would mix keys on every actor
    pool = _pool(tmp_path)
    results: list[dict[str, Any]] = []
    try:
        stats = pool.run(jobs, lambda job, result: results.append(result))
    finally:
        pool.shutdown()
    assert stats.done == 12
    per_actor: dict[str, list[str]] = {}
    for r in sorted(results, key=lambda r: (r["uid"], r["seq"])):
        per_actor.setdefault(r["uid"], []).append(r["key"])
    firsts = {keys[0] for keys in per_actor.values()}
    assert len(firsts) == len(per_actor) == 2  # keys spread over actors before any doubling up
    for keys in per_actor.values():
        runs = [k for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k]
        assert len(runs) == len(set(runs)), keys  # an actor never returns to a key it left


def test_an_actor_takes_its_own_key_then_a_free_key_then_the_longest_queue():
    """The scheduling rule itself, without Ray: the order is exact."""
    cfg = ActorPoolConfig(actors=3, placement="default")
    pool = SimpleNamespace(ray=None, cfg=cfg, actors=[0, 1, 2], replaced=0, clock=lambda: 0.0, running={})
    sizes = {"a": 2, "b": 2, "c": 4, "d": 1}
    jobs = [Job((key, k), None, key) for key, n in sizes.items() for k in range(n)]
    run = _Run(pool, jobs, lambda job, result: None, None)

    def take(slot: int) -> Any:
        job = run._next_job(slot)
        run.slots[slot].append(job)  # marks the slot busy on its key
        return job.id

    assert [take(0), take(1), take(2)] == [("a", 0), ("b", 0), ("c", 0)]  # keys spread over actors
    run.slots[1].clear()  # b0 is done: b is free now, and first in order
    assert take(2) == ("c", 1)  # still its own key while that has jobs
    assert take(1) == ("b", 1)
    assert take(0) == ("a", 1)
    assert take(0) == ("d", 0)  # a ran out: a key no actor is on, before the longer queue of c
    assert take(0) == ("c", 2)  # nothing free: doubles up on c


@pytest.mark.timeout(120)
def test_resources_runtime_env_and_a_spread_placement_group_reach_the_actors(ray_session, tmp_path):
    from ray.util.placement_group import placement_group_table

    cfg = ActorPoolConfig(
        actors=2,
        num_cpus=0.5,
        memory_mb=64,
        placement="group",
        runtime_env={"env_vars": {"POOL_TEST": "yes"}},
    )
    pool = ActorPool(cfg, Toy, args=(str(tmp_path),))
    results: list[dict[str, Any]] = []
    try:
        pool.run(_jobs(4), _collect(results))
        pg_id = pool._pg.id.hex()
        assert placement_group_table()[pg_id]["strategy"] == "SPREAD"
        assert len(placement_group_table()[pg_id]["bundles"]) == 2
    finally:
        pool.shutdown()
    got = _once(results, 4)
    for r in got.values():
        assert r["resources"]["CPU"] == 0.5 and r["resources"]["memory"] == 64 * 1024 * 1024
        assert r["env"] == "yes" and r["in_group"]
    assert placement_group_table()[pg_id]["state"] == "REMOVED"  # the reservation ends with the pool


def test_spread_placement_and_resources_become_actor_options():
    opts = ActorPoolConfig(num_cpus=2, num_gpus=1, memory_mb=10, resources={"arm": 1}).actor_options()
    assert (
        opts["scheduling_strategy"] == "SPREAD" and opts["num_gpus"] == 1 and opts["resources"] == {"arm": 1}
    )
    assert opts["memory"] == 10 * 1024 * 1024 and opts["max_restarts"] == 0
    assert "scheduling_strategy" not in ActorPoolConfig(placement="default").actor_options()
    with pytest.raises(ValueError, match="placement"):
        ActorPoolConfig(placement="pack")


def test_repeated_job_ids_are_refused_before_anything_starts(tmp_path):
    pool = _pool(tmp_path)
    with pytest.raises(ValueError, match="repeated: 1"):
        pool.run([Job(1, None), Job(2, None), Job(1, None)], lambda job, result: None)
    assert pool.actors == []


@pytest.mark.timeout(120)
def test_a_constructor_that_raises_stops_the_pool_with_its_reason(ray_session, tmp_path):
    pool = ActorPool(ActorPoolConfig(actors=1, num_cpus=0.5), BrokenToy, args=(str(tmp_path),))
    with pytest.raises(ActorStartError, match="BrokenToy.*no encoder here"):
        pool.run(_jobs(2), lambda job, result: None)
    assert pool.actors == []


TWO_NODES = textwrap.dedent(
    """
    import json, os, time
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray
    from ray.cluster_utils import Cluster
    from roboact.actor_pool import ActorPool, ActorPoolConfig, Job

    class Where:
        def run(self, payload):
            return ray.get_runtime_context().get_node_id()

    node = {"num_cpus": 2, "object_store_memory": 80 * 1024 * 1024}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    cluster.add_node(**node)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    try:
        nodes = {}
        for placement in ("spread", "group"):
            while ray.available_resources().get("CPU", 0) < 4:  # the last pool's actors are gone
                time.sleep(0.1)
            pool = ActorPool(ActorPoolConfig(actors=2, num_cpus=1, placement=placement), Where)
            seen = []
            try:
                pool.run([Job(i, i) for i in range(6)], lambda job, node_id: seen.append(node_id))
            finally:
                pool.shutdown()
            nodes[placement] = len(set(seen))
        print("RESULT " + json.dumps(nodes))
    finally:
        ray.shutdown()
        cluster.shutdown()
    """
)


@pytest.mark.timeout(240)
def test_group_and_spread_placements_put_the_actors_on_both_nodes(tmp_path):
    """Two 2-CPU nodes, two 1-CPU actors: either would fit on one node (a PACK group does that;
    Ray's default placement does it some of the time), SPREAD uses both."""
    script = tmp_path / "two_nodes.py"
    script.write_text(TWO_NODES)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "RAY_raylet_start_wait_time_s": "240"}
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=220, env=env, cwd=tmp_path
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    assert json.loads(lines[-1][len("RESULT ") :]) == {"spread": 2, "group": 2}
