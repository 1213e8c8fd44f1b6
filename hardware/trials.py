"""Run a trial plan: schedule, prompt, execute on the hardware actor, judge, store; resumable.

``run_trials`` registers the plan's trials in the SQLite store (existing keys keep their state),
marks trials a crashed runner left in flight as interrupted, and runs whatever is pending in plan
order. Each trial: the scene is reset (the operator is prompted on the real arm), the arm homes,
and each subtask runs on the actor and is judged and stored at once. A fault ends the trial as
failed; a protective/emergency stop then needs the judge's (operator's) acknowledgement before the
next trial, and a lost connection a successful reconnect; otherwise the batch stops with the rest
pending. A fault of the link (lost connection, timeout) says nothing about the policy: with the
plan's ``retry_connection_faults`` (default) that trial is marked interrupted and rerun on resume,
never counted. The summary lists every fault of the batch (``faults``, ``retry_on_resume``) so the
CLI can exit non-zero. Outside the schedule window no trial starts.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from roboact.hardware.judge import Judge, make_judge
from roboact.hardware.robot import (
    CONNECTION_FAULTS,
    CONNECTION_LOST,
    EMERGENCY_STOP,
    PROTECTIVE_STOP,
    TIMEOUT,
)
from roboact.hardware.scheduler import in_window, validate
from roboact.hardware.trial_plan import TrialPlan, load_plan, trial_order
from roboact.hardware.trial_store import COMPLETED, FAILED, FAILURE, NOT_ATTEMPTED, SUCCESS, TrialStore

from roboact.errors import UserError

logger = logging.getLogger(__name__)

Call = Callable[..., Any]  # call(method_name, *args) on the executor, local or a Ray actor


class ArmNotInClusterError(UserError, RuntimeError):
    """No node of the Ray cluster declares the arm's resource; the message names the address."""


def run_trials(
    plan: str | Path | TrialPlan,
    backend: str = "sim",
    store_path: str | Path = "runs/trials/trials.sqlite",
    host: str = "127.0.0.1",
    port: int = 10001,
    state_port: int = 10000,
    address: str | None = None,
    use_ray: bool = True,
    resource: str | None = "auto",
    judge: Judge | None = None,
    faults: str | None = None,
    gripper_port: str = "",
    camera: str | None = None,
    max_trials: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run (or resume) a plan; returns a summary dict.

    Args:
        plan: a plan YAML path, a shipped plan name (``trials_demo``) or a ``TrialPlan``.
        backend: ``jaka`` (real arm at host/port/state_port), ``fake`` (in-process fake controller
            and gripper), or ``sim`` (MuJoCo).
        store_path: SQLite trial store; rerunning with the same store resumes.
        address: Ray cluster address (None: local Ray, or ``RAY_ADDRESS``).
        use_ray: run the arm in a Ray actor (False: in this process, e.g. for tests).
        resource: custom resource the actor needs; "auto" = ``jaka_arm`` for backend jaka, none otherwise.
        judge: who resets the scene, marks subtasks and acknowledges stops (default: the
            operator at the keyboard on jaka, ``SceneJudge`` otherwise; ``judge.make_judge``).
        faults: fake backend: fault SPEC (see ``fake_controller``).
        gripper_port: jaka backend: gripper serial device or ``tcp://host:port`` ("" = no gripper).
        camera: ``orbbec``, ``opencv`` or ``fake``; the jaka backend refuses to guess (None: fake on
            the sim and fake backends).
        max_trials: stop after this many trials (the rest stay pending).

    Raises:
        HeadSpaceError: a ``kind: checkpoint`` policy whose state/action spaces are not the arm's
            (checked from its ``policy.json`` before anything connects).
        UserError: on the jaka backend, a plan whose ``watchdog_timeout_s`` is longer than the robot's.
    """
    from roboact.hardware.actor import plan_safety
    from roboact.hardware.arm_policy import check_plan_heads

    from roboact.config import config_to_dict

    plan = plan if isinstance(plan, TrialPlan) else load_plan(plan)
    validate(plan.schedule)
    check_plan_heads(plan, plan_safety(plan, backend))  # both refuse before anything connects
    if use_ray:  # the arm actor loads each head on the arm's node, which may not be this one
        from roboact.cluster import require_shared_paths

        heads = {f"--policy ({p.name})": p.checkpoint for p in plan.policies if p.kind == "checkpoint"}
        require_shared_paths(heads, address)  # ROBOACT_SHARED_FS=1 declares a shared disk
    judge = judge or make_judge(backend)
    store = TrialStore(store_path)
    store.register_plan(plan.name, trial_order(plan))
    store.recover_interrupted(plan.name)
    pending = store.pending(plan.name)
    summary: dict[str, Any] = {"plan": plan.name, "backend": backend, "store": str(store_path), "ran": 0}
    fault_kinds: list[str] = []  # one per trial of this batch that a fault ended
    stopped: str | None = None
    jitter_p99: list[float] = []
    t0 = time.perf_counter()
    if pending:
        executor, call, shutdown = _start_executor(
            plan, backend, host, port, state_port, address, use_ray, resource, faults, gripper_port, camera
        )
        try:
            info = call("connect")
            logger.info("arm ready: %s", info)
            summary["arm"] = info  # backend, the node it ran on, its ports
        except Exception as err:  # noqa: BLE001 - nothing ran; every trial stays pending
            shutdown()
            cause = getattr(err, "cause", None) or err  # a Ray task error wraps the original
            stopped = f"cannot connect to the arm: {cause}"
            pending = []
        bar = _progress(len(pending), plan.name) if progress and pending else None
        last_fault: tuple[int, str, str] | None = None
        try:
            for row in pending:
                if max_trials is not None and summary["ran"] >= max_trials:
                    stopped = f"max_trials={max_trials} reached"
                    break
                if last_fault is not None:  # recover before the next trial (ack, reconnect)
                    stopped = _recover(store, call, judge, *last_fault)
                    last_fault = None
                    if stopped:
                        break
                if not in_window(plan.schedule):
                    stopped = "outside the schedule window"
                    break
                label = f"trial {row['seq'] + 1} ({row['policy']} / {row['task']} / rep {row['repetition']})"
                if not judge.prepare_trial(label, [s.name for s in plan.task(row["task"]).subtasks]):
                    stopped = "operator ended the batch at the scene reset"
                    break
                reset_at = time.time()  # the scene is reset: the operator said so, or the simulator did
                last_fault = _run_one(
                    store, plan, row, call, judge, backend, jitter_p99, config_to_dict, reset_at
                )
                summary["ran"] += 1
                if last_fault is not None:
                    fault_kinds.append(last_fault[1])
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
            if pending:
                shutdown()
    counts = store.counts(plan.name)
    store.close()
    summary.update(
        counts=counts,
        pending=counts.get("pending", 0) + counts.get("interrupted", 0),
        stopped=stopped,
        faults={kind: fault_kinds.count(kind) for kind in sorted(set(fault_kinds))},
        retry_on_resume=sum(retries_fault(plan, kind) for kind in fault_kinds),
        duration_s=time.perf_counter() - t0,
        loop_jitter_p99_ms=max(jitter_p99) if jitter_p99 else None,
    )
    return summary


def _run_one(
    store: TrialStore,
    plan: TrialPlan,
    row: sqlite3.Row,
    call: Call,
    judge: Judge,
    backend: str,
    jitter_p99: list[float],
    config_to_dict: Callable[[Any], dict[str, Any]],
    reset_at: float,
) -> tuple[int, str, str] | None:
    """One trial; returns ``(trial_id, fault kind, message)`` when a fault ended it, else None."""
    trial_id, policy = row["id"], row["policy"]
    task = plan.task(row["task"])
    attempt = store.start_trial(trial_id, backend)
    store.record_reset(trial_id, reset_at, judge.name)
    seed = plan.seed * 100_003 + int(row["seq"])
    fault: dict[str, Any] | None = None
    res = call("start_trial", policy, seed)
    failed_before = False
    for idx, sub in enumerate(task.subtasks):
        if res["status"] != "ok" or fault is not None or (failed_before and plan.stop_on_failure):
            store.record_subtask(trial_id, attempt, idx, sub.name, NOT_ATTEMPTED, judged_by="runner")
            continue
        out = call("run_subtask", policy, config_to_dict(sub))
        if out.get("jitter"):
            jitter_p99.append(out["jitter"]["p99_ms"])
        verdict = judge.judge(sub, out)
        ok = verdict.success
        scene = None if verdict.scene_success is None else (SUCCESS if verdict.scene_success else FAILURE)
        store.record_subtask(
            trial_id, attempt, idx, sub.name, SUCCESS if ok else FAILURE, verdict.notes,
            int(out.get("steps", 0)), float(out.get("duration_s", 0.0)), verdict.by,
            marked_at=verdict.at, scene_outcome=scene, scene_notes=verdict.scene_notes,
        )  # fmt: skip
        if out["status"] != "ok":
            fault = out
        elif not ok:
            failed_before = True
    if res["status"] != "ok":
        fault = res
    if fault is None:
        store.finish_trial(trial_id, COMPLETED)
        return None
    kind, message = fault["status"], fault.get("message", "")
    if retries_fault(plan, kind):
        store.interrupt_trial(trial_id, kind, message)
        store.event(trial_id, kind, message)
        logger.warning("trial %d interrupted (rerun on resume, not counted): %s", trial_id, message)
    else:
        store.finish_trial(trial_id, FAILED, kind, message)
        store.event(trial_id, kind, message)
        logger.warning("trial %d failed: %s", trial_id, message)
    return trial_id, kind, message


def retries_fault(plan: TrialPlan, kind: str) -> bool:
    """Whether a trial this fault ended is rerun on resume instead of counted as failed."""
    return plan.retry_connection_faults and kind in CONNECTION_FAULTS


def fault_summary(summary: dict[str, Any]) -> str:
    """One line on the faults of a batch (empty when none): what is counted and what reruns."""
    faults: dict[str, int] = summary.get("faults") or {}
    if not faults:
        return ""
    total, retry = sum(faults.values()), summary.get("retry_on_resume", 0)
    kinds = ", ".join(f"{kind} {n}" for kind, n in faults.items())
    line = f"{total} trial(s) ended by a fault ({kinds}): {total - retry} counted as failed"
    if retry:
        line += f", {retry} interrupted and left pending (rerun the command to retry them)"
    return line


def _recover(
    store: TrialStore, call: Any, judge: Judge, trial_id: int, kind: str, message: str
) -> str | None:
    """Before the next trial: the operator's ack of a stop, or a reconnect; returns a reason to stop."""
    if kind in (PROTECTIVE_STOP, EMERGENCY_STOP):
        if not judge.acknowledge(message):
            store.event(trial_id, "ack_refused", "operator did not acknowledge the stop")
            return f"{kind} not acknowledged"
        store.event(trial_id, "ack", f"operator acknowledged {kind}")
        recovered = call("acknowledge_fault")
    elif kind in (CONNECTION_LOST, TIMEOUT):
        recovered = call("reconnect")
    else:
        recovered = call("acknowledge_fault")
    if recovered["status"] != "ok":
        store.event(trial_id, "recovery_failed", recovered.get("message", ""))
        return f"could not recover from {kind}: {recovered.get('message', '')}"
    return None


def _start_executor(
    plan: TrialPlan,
    backend: str,
    host: str,
    port: int,
    state_port: int,
    address: str | None,
    use_ray: bool,
    resource: str | None,
    faults: str | None,
    gripper_port: str,
    camera: str | None,
) -> tuple[Any, Call, Callable[[], None]]:
    """The executor (Ray actor or local object) and a uniform ``call(method, *args)``."""
    from roboact.hardware.actor import ArmExecutor, make_arm_actor

    from roboact.config import config_to_dict

    args = (backend, config_to_dict(plan), host, port, state_port, faults, gripper_port, camera)
    if not use_ray:
        executor = ArmExecutor(*args)

        def call(method: str, *a: Any) -> Any:
            return getattr(executor, method)(*a)

        return executor, call, executor.close

    from roboact.cluster import init_ray

    if resource == "auto":
        resource = "jaka_arm" if backend == "jaka" else None
    import ray as _ray

    joining = (address or os.environ.get("RAY_ADDRESS") or "local") != "local"
    local = not joining and not _ray.is_initialized()
    # A local instance started here runs on the machine wired to the arm: it declares the resource.
    ray = init_ray(address, resources={resource: 1}) if (local and resource) else init_ray(address)
    if resource and ray.cluster_resources().get(resource, 0) < 1:
        where = address or os.environ.get("RAY_ADDRESS") or "the local instance"
        raise ArmNotInClusterError(
            f"Ray at {where}: no node declares the resource {resource!r}: start the arm's node with "
            f"`ray start --resources '{{\"{resource}\": 1}}'` (or pass resource=None)"
        )
    actor = make_arm_actor(resource).remote(*args)

    def call_remote(method: str, *a: Any) -> Any:
        return ray.get(getattr(actor, method).remote(*a))

    def shutdown() -> None:
        try:
            ray.get(actor.close.remote(), timeout=30)
        finally:
            ray.kill(actor)

    return actor, call_remote, shutdown


def _progress(total: int, name: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=f"trials {name}", unit="trial")
