"""The JAKA arm as a ``Robot``: client + safety filter + watchdog + gripper + camera.

Every command passes the safety filter before it reaches the client. During an episode the arm
is in servo mode and each ``send_action`` is one ``servo_j``; the watchdog stops the arm when
actions stop arriving. Faults become ``RobotFault``: a protective or emergency stop seen in the
state stream, a controller error reply, a timeout, a lost connection, or the watchdog. On any
fault the robot stops the arm (best effort) before raising, and refuses further actions until
``clear_fault`` (protective/emergency stop: after an operator's acknowledgement) or ``reconnect``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from roboact.hardware.camera import Camera, FakeCamera
from roboact.hardware.gripper import Gripper, GripperError
from roboact.hardware.jaka.client import JakaClient, JakaConnectionLost, JakaError, JakaTimeout
from roboact.hardware.jaka.config import JakaConfig
from roboact.hardware.robot import (
    CONNECTION_LOST,
    CONTROLLER_ERROR,
    EMERGENCY_STOP,
    PROTECTIVE_STOP,
    TIMEOUT,
    WATCHDOG,
    Robot,
    RobotFault,
)
from roboact.hardware.safety import SafetyConfig, SafetyFilter, check_joint_move, load_safety_config
from roboact.hardware.watchdog import Watchdog

logger = logging.getLogger(__name__)


class JakaRobot(Robot):
    """A JAKA arm (real, or the fake controller: same protocol)."""

    name = "jaka"

    def __init__(
        self,
        cfg: JakaConfig,
        safety: SafetyConfig | None = None,
        gripper: Gripper | None = None,
        camera: Camera | None = None,
    ) -> None:
        self.cfg = cfg
        self.safety = safety or load_safety_config(cfg.robot)
        self.n_joints = self.safety.n_joints
        self.client = JakaClient(cfg)
        self.filter = SafetyFilter(self.safety)
        self.gripper = gripper
        if camera is None:  # entry points (ArmExecutor, the CLI) refuse this on the real arm
            logger.warning("JakaRobot: no camera given: observations carry synthetic images (FakeCamera)")
        self.camera = camera or FakeCamera()
        self.watchdog = Watchdog(self.safety.watchdog_timeout_s, self._watchdog_stop)
        self.fault: RobotFault | None = None
        self._gripper_cmd = 0.0
        self._in_episode = False

    # -- lifecycle -----------------------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        return self.client.connected

    def connect(self) -> None:
        self.client.reconnect()
        self._known_mode()
        self._power_up()
        if self.gripper is not None:
            self.gripper.connect()
        self.camera.open()

    def reconnect(self) -> None:
        """After a lost connection: reconnect with backoff, leave servo mode, power up, clear the fault."""
        self.client.reconnect()
        self._known_mode()
        self._power_up()
        self.fault = None

    def _known_mode(self) -> None:
        """Stop any program and leave servo mode before anything moves.

        The controller keeps its mode across a dropped connection or a crashed runner: a link lost
        during a subtask leaves it in servo mode, where it refuses ``joint_move`` (homing) and
        every later trial would fail as a controller error. Both commands are harmless when the
        arm is already idle, so every (re)connect and fault clearance sends them.
        """
        self.watchdog.disarm()
        self._in_episode = False
        for command, args in ((self.client.stop, ()), (self.client.servo_mode, (False,))):
            try:
                command(*args)
            except JakaConnectionLost as err:
                self._fail(RobotFault(CONNECTION_LOST, str(err)))
            except JakaTimeout as err:
                self._fail(RobotFault(TIMEOUT, str(err)))
            except JakaError as err:  # a refusal here is not a fault: homing shows if the mode is wrong
                logger.warning("controller refused %s while resetting its mode: %s", err.cmd, err)

    def _power_up(self) -> None:
        status = self.client.robot_state()
        if not status["powered"]:
            self.client.power_on()
        if not status["enabled"]:
            self.client.enable()
        self._check_state()
        self.filter.reset(np.asarray(self.client.state().joints))

    def disconnect(self) -> None:
        self.watchdog.disarm()
        if self.client.connected:
            self._stop_quietly()
            try:
                self.client.servo_mode(False)
            except JakaError:
                pass
        self.client.close()
        if self.gripper is not None:
            self.gripper.close()
        self.camera.close()
        self.watchdog.close()

    # -- observation / action ------------------------------------------------------------------------

    def get_observation(self) -> dict[str, Any]:
        state = self._guard(self.client.state)
        self._raise_if_stopped(state)
        joints = np.asarray(state.joints, dtype=float)
        gripper = self.gripper.position() if self.gripper is not None else self._gripper_cmd
        return {
            "image": self.camera.read(),
            "state": np.append(joints, gripper).astype(np.float32),
            "joints": joints,
            "gripper": float(gripper),
            "tcp": np.asarray(state.tcp, dtype=float),
        }

    def begin_episode(self) -> None:
        if self.fault is not None:
            raise self.fault
        state = self._guard(self.client.state)
        self._raise_if_stopped(state)
        # The filter starts from the joints the controller reports now (a command, answered after
        # every earlier one), not the state stream's latest record: on a loaded machine that record
        # lagged the last subtask's final servo_j by up to 0.03 rad, and the first command of the
        # next subtask then jumped past the controller's speed limit (controller_error).
        self.filter.reset(np.asarray(self._guard(self.client.joint_positions)), self._gripper_cmd)
        if self.cfg.servo:
            self._guard(self.client.servo_mode, True)
        self._in_episode = True
        self.watchdog.arm()

    def end_episode(self) -> None:
        self.watchdog.disarm()
        self._in_episode = False
        if self.cfg.servo and self.client.connected and self.fault is None:
            try:
                self.client.servo_mode(False)
            except JakaError as err:
                logger.warning("leaving servo mode failed: %s", err)

    def send_action(self, action: np.ndarray) -> np.ndarray:
        if self.fault is not None:
            raise self.fault
        if self.watchdog.fired.is_set():
            self._fail(
                RobotFault(WATCHDOG, f"no command for {self.safety.watchdog_timeout_s} s; arm stopped")
            )
        safe, violations = self.filter(action)
        if violations:
            logger.debug("safety filter: %s", violations)
        q = safe[: self.n_joints]
        if self.cfg.servo:
            self._guard(self.client.servo_j, q)
        else:
            self._guard(self.client.joint_move, q, self.safety.max_velocity, self.safety.max_acceleration)
        self.watchdog.feed()
        grip = float(safe[self.n_joints])
        if self.gripper is not None and grip != self._gripper_cmd:
            try:
                self.gripper.command(grip)
            except GripperError as err:
                self._fail(RobotFault(CONTROLLER_ERROR, f"gripper: {err}"))
        self._gripper_cmd = grip
        return safe

    def move_home(self) -> None:
        """Point-to-point move to ``home`` (checked by ``check_joint_move``), waiting until in position."""
        if self.fault is not None:
            raise self.fault
        target, speed, accel, _ = check_joint_move(
            np.asarray(self.safety.home), self.cfg.move_speed, self.cfg.move_accel, self.safety
        )
        self._guard(self.client.joint_move, target, speed, accel)
        deadline = time.monotonic() + self.cfg.move_timeout_s
        time.sleep(0.05)
        while True:
            state = self._guard(self.client.wait_state)
            self._raise_if_stopped(state)
            if state.inpos and np.max(np.abs(np.asarray(state.joints) - target)) < 1e-3:
                break
            if time.monotonic() > deadline:
                self._fail(
                    RobotFault(TIMEOUT, f"home move not in position after {self.cfg.move_timeout_s} s")
                )
        if self.gripper is not None:
            self.gripper.command(0.0)
        self._gripper_cmd = 0.0
        self.filter.reset(np.asarray(state.joints), 0.0)

    def stop(self) -> None:
        self.watchdog.disarm()
        self._stop_quietly()

    def clear_fault(self) -> None:
        """After the operator acknowledged a stop: clear the controller error and re-enable."""
        if self.fault is not None and self.fault.kind in (CONNECTION_LOST, TIMEOUT):
            self.reconnect()
            return
        self._guard(self.client.clear_error)
        self._known_mode()  # a fault during a subtask leaves the controller in servo mode
        status = self._guard(self.client.robot_state)
        if not status["powered"]:
            self._guard(self.client.power_on)
        if not status["enabled"]:
            self._guard(self.client.enable)
        time.sleep(2 * 0.03)  # let the stream show the cleared state
        self.fault = None
        self._check_state()

    # -- faults --------------------------------------------------------------------------------------

    def _check_state(self) -> None:
        state = self._guard(self.client.wait_state)
        self._raise_if_stopped(state)

    def _raise_if_stopped(self, state: Any) -> None:
        if state.emergency_stop:
            self._fail(RobotFault(EMERGENCY_STOP, state.errmsg or "emergency stop"))
        if state.protective_stop:
            self._fail(RobotFault(PROTECTIVE_STOP, state.errmsg or "protective stop"))
        if not state.healthy:
            self._fail(RobotFault(CONTROLLER_ERROR, f"{state.errcode}: {state.errmsg}"))

    def _guard(self, fn: Any, *args: Any) -> Any:
        """Call the client; turn its errors into a ``RobotFault`` after stopping the arm."""
        try:
            return fn(*args)
        except JakaConnectionLost as err:
            self._fail(RobotFault(CONNECTION_LOST, str(err)))
        except JakaTimeout as err:
            self._fail(RobotFault(TIMEOUT, str(err)))
        except JakaError as err:
            deadline = time.monotonic() + 0.2  # the stream may lag the reply by a record or two
            while time.monotonic() < deadline:  # a rejected command during a stop is the stop
                try:
                    state = self.client.wait_state(timeout=0.05)
                except JakaError:
                    break
                if state.protective_stop or state.emergency_stop:
                    self._raise_if_stopped(state)
            self._fail(RobotFault(CONTROLLER_ERROR, str(err)))

    def _fail(self, fault: RobotFault) -> None:
        logger.warning("robot fault: %s", fault)
        self.watchdog.disarm()
        self._stop_quietly()
        self.fault = fault
        self._in_episode = False
        raise fault

    def _stop_quietly(self) -> None:
        try:
            if self.client.connected:
                self.client.stop(timeout=min(self.cfg.timeout_s, 0.5))
        except JakaError as err:
            logger.warning("stop command failed (%s); the controller's own watchdog must stop the arm", err)

    def _watchdog_stop(self) -> None:
        self._stop_quietly()
