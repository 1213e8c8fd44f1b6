"""``roboact hardware record``: demonstrations recorded through the hardware executor, episode by episode.

Each episode is one run of a plan's task: the operator resets the scene (the judge's prompt), the
arm homes, and each subtask runs for its ``duration_s`` at the arm's control rate with the input
device in the loop, every command through the robot's safety filter and watchdog (the same
``ArmExecutor.run_subtask`` a trial uses). Every tick is one sample (observation before the command,
the command sent, the device's own), so an uninterrupted subtask holds exactly ``duration_s x
control_hz`` samples. After each subtask the judge marks it (the operator on the real arm; on the
simulated and fake arms ``SceneJudge`` from the scene's state). A fault ends the recording: the episode
in flight is kept, marked with the fault and not successful, and every earlier episode stays as it
was written. A rerun with the same ``out`` adds the episodes still missing (``episodes`` is the total
wanted); the settings a file was recorded with cannot change between runs.

The executor runs in this process, not in a Ray actor: the operator's input device is here, and a
remote call per servo tick would cost the loop about a millisecond each.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from roboact.hardware.actor import ArmExecutor
from roboact.hardware.demo_file import EpisodeWriter, arm_suite, existing_episodes, policy_stride
from roboact.hardware.judge import Judge, make_judge
from roboact.hardware.safety import load_safety_config
from roboact.hardware.teleop import make_device
from roboact.hardware.trial_plan import TrialPlan, load_plan

from roboact.errors import UserError

logger = logging.getLogger(__name__)

DEVICE_POLICY = "teleop"
SEED_BASE = 100_000
"""first episode seed (the scripted device's goal noise): apart from the trial seeds"""


def record_demos(
    plan: str | Path | TrialPlan,
    out: str | Path,
    episodes: int,
    backend: str = "sim",
    device: str = "scripted",
    task: str | None = None,
    noise: float = 0.0,
    policy_hz: float = 25.0,
    host: str = "127.0.0.1",
    port: int = 10001,
    state_port: int = 10000,
    gripper_port: str = "",
    camera: str | None = None,
    faults: str | None = None,
    judge: Judge | None = None,
    seed_base: int = SEED_BASE,
    executor: ArmExecutor | None = None,
) -> dict[str, Any]:
    """Record up to ``episodes`` demonstrations of ``task`` (default: the plan's first) into ``out``.

    Args:
        plan: plan YAML path, shipped name (``trials_demo``) or ``TrialPlan``: tasks, subtasks
            (instructions, durations; the scripted device's joint goals) and the robot.
        out: demo HDF5 file (created, or resumed: complete episodes are kept and counted).
        episodes: the total number of episodes wanted in the file for this task.
        backend, host, port, state_port, gripper_port, camera, faults: as ``run_trials``.
        device: ``scripted`` or ``keyboard`` (``teleop.DEVICES``).
        noise: scripted device: std (rad) of its goal noise, so the episodes differ.
        policy_hz: the rate a head trained on this file runs at (a divisor of the control rate).
        judge: marks subtasks and resets the scene (default: the operator on jaka, else automatic).
        executor: an executor to record through (tests); by default one is made and closed here.

    Returns:
        ``{"out", "backend", "device", "task", "recorded", "skipped", "samples", "expected_samples",
        "stopped", "fault", "removed_incomplete", "wall_s"}``; ``samples`` per recorded episode.
    """
    from roboact.config import config_to_dict
    from roboact.runs import check_settings, run_lock

    plan = plan if isinstance(plan, TrialPlan) else load_plan(plan)
    safety = load_safety_config(plan.robot)
    if episodes < 1:
        raise UserError(f"--episodes must be >= 1, got {episodes}")
    try:
        policy_stride(safety.control_hz, policy_hz, "--policy-hz: ")
    except ValueError as err:
        raise UserError(str(err)) from err
    try:
        spec = plan.task(task or plan.tasks[0].name)
    except KeyError as err:
        raise UserError(
            f"--task {task!r}: plan {plan.name} has tasks {[t.name for t in plan.tasks]}"
        ) from err
    dev = make_device(device, plan, safety, noise=noise)
    judge = judge or make_judge(backend)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {
        "robot": plan.robot,
        "control_hz": safety.control_hz,
        "policy_hz": float(policy_hz),
        "seed_base": seed_base,
    }
    t0 = time.perf_counter()
    summary: dict[str, Any] = {
        "out": str(out), "backend": backend, "device": device, "task": spec.name, "recorded": 0,
        "samples": [], "stopped": None, "fault": None,
        "expected_samples": sum(round(s.duration_s * safety.control_hz) for s in spec.subtasks),
    }  # fmt: skip
    with run_lock(out, is_file=True):
        done, next_index, removed = existing_episodes(out)
        # any episode in the file, a faulted one included, fixes the settings it was recorded with
        check_settings(out, settings, resuming=next_index > 0, option="--out", is_file=True)
        todo = [k for k in range(episodes) if (spec.name, k) not in done]
        summary.update(skipped=episodes - len(todo), removed_incomplete=removed)
        if not todo:
            summary["wall_s"] = time.perf_counter() - t0
            return summary
        own = executor is None
        if executor is None:
            executor = ArmExecutor(
                backend, config_to_dict(plan), host, port, state_port, faults, gripper_port, camera
            )
        executor.add_policy(DEVICE_POLICY, dev)
        try:
            executor.connect()
        except Exception as err:  # noqa: BLE001 - nothing recorded; the message says why
            if own:
                executor.close()
            raise UserError(f"record: cannot connect to the arm ({backend}): {err}") from err
        file_attrs = {"suite": arm_suite(plan.robot), "robot": plan.robot, "backend": backend}
        env_args = {
            "robot": plan.robot, "backend": backend, "camera": camera or "fake", "device": device,
            "control_hz": safety.control_hz, "policy_hz": float(policy_hz),
            "subtasks": [config_to_dict(s) for s in spec.subtasks],
            "language": "; ".join(s.instruction for s in spec.subtasks),
        }  # fmt: skip
        try:
            for k in todo:
                label = f"demo {k + 1}/{episodes} ({spec.name})"
                if not judge.prepare_trial(label, [s.name for s in spec.subtasks]):
                    summary["stopped"] = "operator ended the recording at the scene reset"
                    break
                res = executor.start_trial(DEVICE_POLICY, seed_base + k)
                if res["status"] != "ok":
                    summary.update(stopped=f"{res['status']}: {res.get('message', '')}", fault=res["status"])
                    break
                episode_attrs = {
                    "task": spec.name, "suite": arm_suite(plan.robot), "episode_id": k, "seed": seed_base + k,
                    "starts": "home", "action_noise": float(noise), "labels": "teleop",
                    "policy": f"teleop:{device}", "language": env_args["language"], "backend": backend,
                    "control_hz": safety.control_hz, "policy_hz": float(policy_hz),
                    "subtasks": json.dumps([s.name for s in spec.subtasks]), "env_args": env_args,
                }  # fmt: skip
                writer = EpisodeWriter(out, next_index, file_attrs, episode_attrs)
                next_index += 1
                stop = _record_episode(executor, dev, judge, spec, writer, config_to_dict)
                summary["recorded"] += 1
                summary["samples"].append(writer.n)
                if stop is not None:
                    summary.update(stopped=stop[1], fault=stop[0])
                    break
        finally:
            release = getattr(dev, "release", None)
            if release is not None:
                release()
            if own:
                executor.close()
    summary["wall_s"] = time.perf_counter() - t0
    return summary


def _record_episode(
    executor: ArmExecutor, dev: Any, judge: Judge, spec: Any, writer: EpisodeWriter, to_dict: Any
) -> tuple[str | None, str] | None:
    """Run and write one episode; returns ``(fault kind or None, reason)`` when the recording must stop."""
    t_episode = time.perf_counter()
    marks: list[bool] = []
    notes: list[str] = []
    starts: list[int] = []
    lateness: list[float] = []
    stop: tuple[str | None, str] | None = None
    fault = ""
    for j, sub in enumerate(spec.subtasks):
        starts.append(writer.n)

        def on_step(obs: dict[str, Any], sent: np.ndarray, wanted: np.ndarray, _t: float, j: int = j) -> None:
            writer.add(_sample(obs, sent, wanted, j, time.perf_counter() - t_episode))

        result = executor.run_subtask(DEVICE_POLICY, to_dict(sub), on_step)
        release = getattr(dev, "release", None)
        if release is not None:
            release()
        if result.get("jitter"):
            lateness.append(result["jitter"]["p99_ms"])
        verdict = judge.judge(sub, result)
        marks.append(bool(verdict.success))
        notes.append(str(verdict.notes))
        if result["status"] != "ok":
            fault = result["status"]
            stop = (fault, f"{fault}: {result.get('message', '')}")
            logger.warning(
                "recording ended by a fault in %s/%s: %s", spec.name, sub.name, result.get("message")
            )
            break
        if getattr(dev, "aborted", False):
            stop = (None, "operator ended the recording")
            break
    complete_run = len(marks) == len(spec.subtasks) and not fault
    writer.finish(
        {
            "success": bool(complete_run and all(marks) and stop is None),
            "fault": fault,
            "subtask_success": json.dumps(marks),
            "subtask_notes": json.dumps(notes),
            "subtask_starts": json.dumps(starts),
            "loop_lateness_p99_ms": max(lateness) if lateness else -1.0,
        }
    )
    return stop


def _sample(
    obs: dict[str, Any], sent: np.ndarray, wanted: np.ndarray, subtask: int, t: float
) -> dict[str, Any]:
    state = np.asarray(obs["state"], dtype=np.float32)
    sample: dict[str, Any] = {
        "actions": np.asarray(sent, dtype=np.float32),
        "device_actions": np.asarray(wanted, dtype=np.float32),
        "states": state.astype(np.float64),
        "subtask_index": np.int16(subtask),
        "obs/agentview_rgb": np.asarray(obs["image"], dtype=np.uint8),
        "obs/robot_state": state,
        "obs/joints": np.asarray(obs["joints"], dtype=np.float32),
        "obs/gripper": np.float32(obs["gripper"]),
        "obs/timestamp": np.float64(t),
    }
    if obs.get("tcp") is not None:
        sample["obs/tcp"] = np.asarray(obs["tcp"], dtype=np.float32)
    if obs.get("force_torque") is not None:
        sample["obs/force_torque"] = np.asarray(obs["force_torque"], dtype=np.float32)
    return sample
