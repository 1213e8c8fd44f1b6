"""A learned head on the arm: checked against the arm's spaces, run at its own rate, interpolated.

A head trained by ``roboact policy train`` on demos recorded with ``roboact hardware record`` carries
its space in its checkpoint's ``suite``: ``arm:<robot>:joint_target:<policy_hz>hz``, with
``state_dim`` = joints + gripper and ``action_dim`` = joint targets + gripper (``demo_file.py``). A
head whose space is not the arm's (a simulator head: 9 or 18 state values, OSC or joint-velocity
actions; another robot; another action) is refused with a ``HeadSpaceError`` naming the checkpoint
and the field, before the executor connects, so the arm never moves under it.

``ArmHeadPolicy`` runs the head every ``stride = control_hz / policy_hz`` servo ticks and, in
between, sends targets interpolated linearly from the last command to the head's new target, so the
servo loop keeps the arm's rate while the head runs at its own. The gripper takes the head's value
at once (a Modbus command per tick would flood the gripper). The head's ``task`` is the subtask's
name, as in training (one segment per subtask); its feature window restarts with each subtask.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from roboact.hardware.demo_file import ARM_ACTION, arm_suite, parse_arm_space, policy_stride
from roboact.hardware.safety import SafetyConfig

from roboact.errors import UserError

logger = logging.getLogger(__name__)


class HeadSpaceError(UserError, ValueError):
    """A policy head whose state or action space is not the arm's; the message names the checkpoint."""


def check_arm_head(meta: dict[str, Any], safety: SafetyConfig, robot: str, where: str) -> float:
    """Refuse a head whose spaces do not match the arm; return its policy rate (Hz)."""
    n = safety.n_joints + 1
    suite = str(meta.get("suite", ""))
    space = parse_arm_space(suite)
    problems = []
    if space is None:
        problems.append(
            f"suite {suite!r} is not the arm's (train on demos recorded with `roboact hardware record`, "
            f"suite {arm_suite(robot)!r})"
        )
    else:
        if space["robot"] != robot:
            problems.append(f"recorded on robot {space['robot']!r}, the plan's arm is {robot!r}")
        if space["action"] != ARM_ACTION:
            problems.append(f"action space {space['action']!r}, the arm runs {ARM_ACTION!r}")
        if space["policy_hz"] is None:
            problems.append(f"suite {suite!r} names no policy rate")
    if int(meta.get("state_dim", -1)) != n:
        problems.append(f"state_dim {meta.get('state_dim')}, the arm reports {n} (joints + gripper)")
    if int(meta.get("action_dim", -1)) != n:
        problems.append(f"action_dim {meta.get('action_dim')}, the arm takes {n} (joint targets + gripper)")
    if problems:
        raise HeadSpaceError(f"policy head {where}: does not fit the arm: " + "; ".join(problems))
    hz = float(space["policy_hz"])
    try:
        policy_stride(safety.control_hz, hz, f"policy head {where}: ")
    except ValueError as err:
        raise HeadSpaceError(str(err)) from err
    return hz


def read_head_meta(path: str | Path) -> dict[str, Any]:
    """The checkpoint's ``policy.json`` (no torch, no Ray); a missing or bad one is a UserError."""
    from roboact.policies.checkpoint import read_policy_meta

    try:
        return read_policy_meta(path)
    except (FileNotFoundError, ValueError) as err:
        raise HeadSpaceError(f"policy head {path}: {err}") from err


def check_plan_heads(plan: Any, safety: SafetyConfig) -> None:
    """Check every ``kind: checkpoint`` policy of ``plan`` before anything connects to the arm."""
    for spec in plan.policies:
        if spec.kind == "checkpoint":
            check_arm_head(read_head_meta(spec.checkpoint), safety, plan.robot, spec.checkpoint)


class ArmHeadPolicy:
    """A loaded head at ``policy_hz`` behind a servo loop at ``control_hz`` (linear interpolation).

    Synchronous (the simulated arm, which steps simulated time): the head is called on every
    ``stride``-th tick, so a run is reproducible. ``threaded`` (the JAKA and fake backends, paced in
    real time): the head runs in its own thread on the newest observation, at most ``policy_hz``
    times a second, and each tick interpolates towards the newest target it has published, so a
    head slower than one servo tick never makes a tick late; until the first target arrives the arm
    holds where the subtask started. An error in the head's thread is raised by the next ``act``.
    """

    needs_image = True

    def __init__(self, head: Any, control_hz: float, policy_hz: float, threaded: bool = False) -> None:
        self.head = head
        self.stride = policy_stride(control_hz, policy_hz)
        self.policy_hz = policy_hz
        self.threaded = threaded
        self.head_calls = 0
        self._subtask: str | None = None
        self._k = 0
        self._from = self._to = self._cmd = np.zeros(0)
        self._lock = threading.Lock()
        self._latest: dict[str, Any] | None = None
        self._pending: np.ndarray | None = None
        self._error: BaseException | None = None
        self._quit = threading.Event()
        self._thread: threading.Thread | None = None

    def reset(self) -> None:
        self.stop()
        self._subtask = None

    def stop(self) -> None:
        """End the head's thread (the executor calls this when a subtask ends)."""
        self._quit.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
            self._thread = None

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        subtask = str(obs["subtask"])
        if subtask != self._subtask:  # a new subtask: a new segment, as in training
            self.stop()
            self._subtask = subtask
            self.head.reset()
            self._k = 0
            here = np.append(np.asarray(obs["joints"], dtype=float), float(obs.get("gripper", 0.0)))
            self._from = self._to = self._cmd = here
            if self.threaded:
                self._start_thread(obs)
        return self._threaded_step(obs) if self.threaded else self._step(obs)

    def _step(self, obs: dict[str, Any]) -> np.ndarray:
        phase = self._k % self.stride
        if phase == 0:
            self._from = self._to
            self._to = self._call_head(obs)
        self._k += 1
        return self._blend((phase + 1) / self.stride)

    def _threaded_step(self, obs: dict[str, Any]) -> np.ndarray:
        with self._lock:
            self._latest = obs
            target, self._pending = self._pending, None
            error = self._error
        if error is not None:
            raise RuntimeError(f"policy head failed in its thread: {error}") from error
        if target is not None:  # a new target: interpolate from the command sent last
            self._from, self._to, self._k = self._cmd, target, 0
        self._k += 1
        return self._blend(min(1.0, self._k / self.stride))

    def _blend(self, frac: float) -> np.ndarray:
        out = self._from + (self._to - self._from) * frac
        out[-1] = self._to[-1]  # the gripper takes the head's value at once
        self._cmd = out
        return out

    def _call_head(self, obs: dict[str, Any]) -> np.ndarray:
        self.head_calls += 1
        return np.asarray(self.head.act({**obs, "task": self._subtask}), dtype=float)

    def _start_thread(self, obs: dict[str, Any]) -> None:
        self._quit = threading.Event()
        self._latest, self._pending, self._error = obs, None, None
        self._thread = threading.Thread(target=self._run, args=(self._quit,), name="policy-head", daemon=True)
        self._thread.start()

    def _run(self, quit_: threading.Event) -> None:
        period = 1.0 / self.policy_hz
        next_call = time.monotonic()
        try:
            while not quit_.is_set():
                with self._lock:
                    obs = self._latest
                target = self._call_head(obs) if obs is not None else None
                with self._lock:
                    if not quit_.is_set() and target is not None:
                        self._pending = target
                next_call = max(next_call + period, time.monotonic())
                quit_.wait(max(0.0, next_call - time.monotonic()))
        except BaseException as err:  # noqa: BLE001 - handed to the servo loop, which fails the subtask
            with self._lock:
                self._error = err


def load_arm_policy(
    path: str | Path, safety: SafetyConfig, robot: str, threaded: bool = False
) -> ArmHeadPolicy:
    """Check the head's spaces, then load it (torch, RLlib) behind the interpolating loop."""
    hz = check_arm_head(read_head_meta(path), safety, robot, str(path))
    from roboact.hardware.policy import load_checkpoint_policy

    return ArmHeadPolicy(load_checkpoint_policy(str(path)), safety.control_hz, hz, threaded=threaded)
