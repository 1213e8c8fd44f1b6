"""The hardware actor: one process owns the arm and runs the policy loop with the safety filter inside.

``ArmExecutor`` is a plain class (tested without Ray); ``make_arm_actor`` wraps it as a Ray actor
scheduled only on the node that has the arm: with ``resource="jaka_arm"`` the actor requests
``{"jaka_arm": 1}``, a custom resource only the arm's node declares (``ray start --resources
'{"jaka_arm": 1}'``). The sim and fake backends need no custom resource by default.

A whole subtask runs inside the actor (no remote call per control step): at the control rate it
reads an observation, asks the policy, and sends the action through the robot's safety filter.
For the jaka and fake backends the loop is paced in real time and its jitter recorded; the sim
backend steps simulated time as fast as it can.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from roboact.hardware.arm_policy import load_arm_policy
from roboact.hardware.policy import Policy, ScriptedPolicy
from roboact.hardware.robot import Robot, RobotFault
from roboact.hardware.safety import SafetyConfig, load_safety_config
from roboact.hardware.scene_script import SceneScriptedPolicy, needs_scene, scene_planned
from roboact.hardware.teleop import ScriptedTeleop
from roboact.hardware.trial_plan import PolicySpec, SubtaskSpec, TrialPlan

from roboact.errors import UserError

logger = logging.getLogger(__name__)

BACKENDS = ("jaka", "fake", "sim")
StepHook = Callable[[dict[str, Any], np.ndarray, np.ndarray, float], None]


class ArmExecutor:
    """Owns one robot backend and the policies; runs subtasks."""

    def __init__(
        self,
        backend: str,
        plan: dict[str, Any],
        host: str = "127.0.0.1",
        port: int = 10001,
        state_port: int = 10000,
        faults: str | None = None,
        gripper_port: str = "",
        camera: str | None = None,
    ) -> None:
        from roboact.config import config_from_dict

        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if camera is None:  # no synthetic images on the real arm unless asked for by name
            if backend == "jaka":
                raise UserError(
                    "the jaka backend needs a camera named: orbbec or opencv (or fake, which feeds "
                    "synthetic images)"
                )
            camera = "fake"
        self.backend = backend
        self.plan: TrialPlan = config_from_dict(TrialPlan, plan)
        self.safety = plan_safety(self.plan, backend)
        self.fake = self.fake_gripper = None
        self.robot = self._make_robot(host, port, state_port, faults, gripper_port, camera)
        self.policies: dict[str, Policy] = {}
        self.realtime = backend != "sim"

    def _make_robot(
        self, host: str, port: int, state_port: int, faults: str | None, gripper_port: str, camera: str
    ) -> Robot:
        if self.backend == "sim":
            from roboact.hardware.sim_robot import SimRobot

            return SimRobot(self.safety, render=False)
        from roboact.hardware.camera import CameraConfig, SceneCamera, make_camera
        from roboact.hardware.gripper import GripperConfig, ModbusGripper
        from roboact.hardware.jaka.config import JakaConfig
        from roboact.hardware.jaka.robot import JakaRobot

        if self.backend == "fake":
            from roboact.hardware.fake_controller import FakeController
            from roboact.hardware.gripper import FakeGripperServer

            # the physical scene behind the fake: its fingers follow the gripper server's target, and
            # the gripper server reports the fingers' measured closure. A plan that never looks at
            # the scene (joint goals, joint-goal judging, no head) gets a fake without one: the
            # scene's physics and camera run in real time in this process and, on a loaded machine,
            # made the fault and resume tests' motions miss the watchdog.
            self.fake = FakeController(self.safety, faults=faults, scene=needs_scene(self.plan)).start()
            self.fake_gripper = FakeGripperServer().start()
            fake, fake_gripper = self.fake, self.fake_gripper
            fake.gripper_source = lambda: 1.0 - fake_gripper.target / 1000.0
            fake_gripper.position_source = fake.gripper_closure
            host, port, state_port, gripper_port = (
                "127.0.0.1",
                self.fake.port,
                self.fake.state_port,
                self.fake_gripper.address,
            )
        link = {"timeout_s": self.plan.command_timeout_s, "state_max_age_s": self.plan.state_max_age_s}
        cfg = JakaConfig(
            host=host,
            port=port,
            state_port=state_port,
            robot=self.plan.robot,
            **{k: v for k, v in link.items() if v > 0},  # 0 = JakaConfig's default
        )
        if not gripper_port:
            logger.warning(
                "%s backend without a gripper: the gripper state reported is the last command", self.backend
            )
        gripper = ModbusGripper(GripperConfig(port=gripper_port, speed=100)) if gripper_port else None
        if self.fake is not None and self.fake.scene is not None and camera == "fake":
            # the fake's camera sees its physical scene
            cam = SceneCamera(self.fake.render)
        else:
            cam = make_camera(CameraConfig(kind=camera))
        return JakaRobot(cfg, self.safety, gripper=gripper, camera=cam)

    # -- lifecycle (called remotely) -----------------------------------------------------------------

    def connect(self) -> dict[str, Any]:
        self.robot.connect()
        return {"backend": self.backend, "node": _node_id(), "ports": self.ports()}

    def node(self) -> str:
        """The Ray node this executor runs on ("local" outside Ray)."""
        return _node_id()

    def ports(self) -> dict[str, int]:
        if self.fake is None:
            return {}
        return {"port": self.fake.port, "state_port": self.fake.state_port}

    def inject(self, spec: str) -> None:
        """Fake backend only: change the injected faults (tests, demos)."""
        if self.fake is None:
            raise RuntimeError("inject: only the fake backend injects faults")
        self.fake.inject(spec)

    def close(self) -> None:
        try:
            self.robot.disconnect()
        finally:
            if self.fake is not None:
                self.fake.stop()
            if self.fake_gripper is not None:
                self.fake_gripper.stop()

    # -- trials ----------------------------------------------------------------------------------------

    def _policy(self, name: str) -> Policy:
        if name not in self.policies:
            spec: PolicySpec = self.plan.policy(name)
            if spec.kind == "checkpoint":  # refused before anything moves if its spaces do not fit
                self.policies[name] = load_arm_policy(
                    spec.checkpoint, self.safety, self.plan.robot, threaded=self.realtime
                )
            elif self.has_scene:  # the physical scene: the scripted operator plans from what it sees
                goals = {s.name: (s.goal, s.gripper) for t in self.plan.tasks for s in t.subtasks}
                self.policies[name] = SceneScriptedPolicy(
                    self.safety,
                    goals,
                    noise=spec.noise,
                    seed=self.plan.seed,
                    planned=scene_planned(self.plan),
                )
            else:
                goals = {s.name: (s.goal, s.gripper) for t in self.plan.tasks for s in t.subtasks if s.goal}
                self.policies[name] = ScriptedPolicy(
                    goals,
                    self.safety.control_hz,
                    self.safety.max_velocity,
                    noise=spec.noise,
                    seed=self.plan.seed,
                )
        return self.policies[name]

    def add_policy(self, name: str, policy: Policy) -> None:
        """Drive subtasks with ``policy`` under ``name`` (an input device while recording)."""
        self.policies[name] = policy

    @property
    def has_scene(self) -> bool:
        """Whether this backend simulates the physical scene (sim, fake): a judge can read its state."""
        return self.backend == "sim" or (self.fake is not None and self.fake.scene is not None)

    def scene_state(self) -> dict[str, Any] | None:
        """The physical scene's state (``DrawerTapeScene.state``), or None on the real arm."""
        if self.backend == "sim":
            return self.robot.scene_state()
        if self.fake is not None:
            return self.fake.scene_state()
        return None

    def start_trial(self, policy: str, seed: int) -> dict[str, Any]:
        """Reset the scene (sim, fake: with ``seed``'s variation), home the arm, reset the policy.

        A fault is returned, not raised.
        """
        pol = self._policy(policy)
        try:
            if self.backend == "sim":
                self.robot.start_trial(seed)
            else:
                if self.fake is not None:
                    self.fake.reset_scene(seed)
                self.robot.move_home()
        except RobotFault as fault:
            return {"status": fault.kind, "message": str(fault)}
        if isinstance(pol, ScriptedPolicy | ScriptedTeleop | SceneScriptedPolicy):  # seeded per trial
            pol.reset(seed)
        else:
            pol.reset()
        return {"status": "ok"}

    def run_subtask(
        self, policy: str, subtask: dict[str, Any], on_step: StepHook | None = None
    ) -> dict[str, Any]:
        """Run one subtask's policy loop; returns status ("ok" or a fault kind), final state, timing.

        ``on_step(obs, sent, wanted, t)`` sees every tick (the recorder: observation before the
        command, the command after the safety filter, the policy's own, seconds since the start);
        with it the camera always renders. A policy (an input device) that sets ``done`` ends the
        subtask early.
        """
        from roboact.config import config_from_dict

        spec: SubtaskSpec = config_from_dict(SubtaskSpec, subtask)
        pol = self._policy(policy)
        render = bool(getattr(pol, "needs_image", True)) or on_step is not None
        needs_scene = bool(getattr(pol, "needs_scene", False))
        # a synchronous head (ArmHeadPolicy on the sim arm) looks at the image only on the ticks it is
        # called, every `stride`-th from the subtask's start: the simulated camera renders only then
        stride = (
            1 if on_step is not None or getattr(pol, "threaded", True) else int(getattr(pol, "stride", 1))
        )
        sim_camera = hasattr(self.robot, "render_images")
        period = 1.0 / self.safety.control_hz
        steps = max(1, round(spec.duration_s * self.safety.control_hz))
        lateness: list[float] = []
        result: dict[str, Any] = {"status": "ok", "message": ""}
        t_start = time.perf_counter()
        k = 0
        try:
            self.robot.begin_episode()
            next_tick = time.perf_counter()
            while k < steps:
                if sim_camera:
                    self.robot.render_images = render and k % stride == 0
                obs = self.robot.get_observation()
                obs["subtask"], obs["instruction"] = spec.name, spec.instruction
                if needs_scene:  # the scripted operator looks at the scene (never a learned head)
                    obs["scene"] = self.scene_state()
                wanted = np.asarray(pol.act(obs), dtype=float)
                sent = self.robot.send_action(wanted)
                k += 1
                if on_step is not None:
                    on_step(obs, sent, wanted, time.perf_counter() - t_start)
                if getattr(pol, "done", False):
                    break
                if self.realtime:
                    next_tick += period
                    delay = next_tick - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    now = time.perf_counter()
                    lateness.append(now - next_tick)
                    if now - next_tick > period:  # fell behind: skip ticks, never burst to catch up
                        next_tick = now
        except RobotFault as fault:
            result = {"status": fault.kind, "message": str(fault)}
        finally:
            stop = getattr(pol, "stop", None)  # a head in its own thread stops with the subtask
            if stop is not None:
                stop()
            self.robot.end_episode()
        try:
            obs = self.robot.get_observation()
            result.update(joints=obs["joints"].tolist(), gripper=float(obs["gripper"]))
            scene = self.scene_state()
            if scene is not None:  # what the SceneJudge decides from
                result["scene"] = scene
        except RobotFault as fault:
            if result["status"] == "ok":
                result = {"status": fault.kind, "message": str(fault)}
            result.update(joints=[], gripper=0.0)
        result.update(steps=k, duration_s=time.perf_counter() - t_start, jitter=_jitter(lateness, period))
        return result

    def acknowledge_fault(self) -> dict[str, Any]:
        """After an operator's ack (or to recover a lost connection): clear and re-enable."""
        try:
            self.robot.clear_fault()
            return {"status": "ok"}
        except RobotFault as fault:
            return {"status": fault.kind, "message": str(fault)}

    def reconnect(self) -> dict[str, Any]:
        try:
            reconnect = getattr(self.robot, "reconnect", None)
            if reconnect is not None:
                reconnect()
            else:
                self.robot.clear_fault()
            return {"status": "ok"}
        except (RobotFault, RuntimeError) as err:
            return {"status": "connection_lost", "message": str(err)}


def plan_safety(plan: TrialPlan, backend: str) -> SafetyConfig:
    """The robot's limits with the plan's ``watchdog_timeout_s``; the real arm never gets a longer one.

    Raises:
        UserError: on the jaka backend, a plan whose watchdog is longer than the robot YAML's.
    """
    safety = load_safety_config(plan.robot)
    wanted = plan.watchdog_timeout_s
    if not wanted:
        return safety
    if backend == "jaka" and wanted > safety.watchdog_timeout_s:
        raise UserError(
            f"plan {plan.name}: watchdog_timeout_s {wanted} s is longer than robot {safety.name}'s "
            f"{safety.watchdog_timeout_s} s; a longer watchdog is for the fake and sim arms only"
        )
    return dataclasses.replace(safety, watchdog_timeout_s=wanted)


def _jitter(lateness: list[float], period: float) -> dict[str, float]:
    if not lateness:
        return {}
    arr = np.abs(np.asarray(lateness)) * 1e3
    return {
        "period_ms": period * 1e3,
        "p50_ms": float(np.percentile(arr, 50)),
        "p99_ms": float(np.percentile(arr, 99)),
        "max_ms": float(arr.max()),
    }


def _node_id() -> str:
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - outside Ray there is no node id
        pass
    return "local"


def make_arm_actor(resource: str | None = None, num_cpus: float = 1.0) -> Any:
    """The Ray actor class of ``ArmExecutor``; with ``resource`` it is placed only where that resource is."""
    import ray

    opts: dict[str, Any] = {"num_cpus": num_cpus, "max_restarts": 0}
    if resource:
        opts["resources"] = {resource: 1}
    return ray.remote(**opts)(ArmExecutor)
