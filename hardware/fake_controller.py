"""A faithful fake JAKA controller: the real protocol on 127.0.0.1, simple kinematics, faults on demand.

It serves both ports like the controller (JSON commands and replies on the command port; a
state object every ``state_period_s`` on the state port, concatenated without delimiter), keeps
joint state with point-to-point motion profiles and per-cycle servo targets, computes the TCP
from the robot YAML's kinematic chain, and enforces the controller's own rules: moves need power
and enable, ``servo_j`` needs servo mode, joint speeds above 180 deg/s and accelerations above
720 deg/s^2 are rejected, targets outside the joint limits are rejected, nothing moves during a
protective or emergency stop until ``clear_error``.

With ``scene=True`` (what ``--backend fake`` runs) the physical drawer-and-tape scene
(``scene.py``, the sim backend's model) stands behind it: the MuJoCo arm's stiff servos track the
fake's joints, its fingers the gripper's command (``gripper_source``), and physics advances with
the wall clock in 8 ms servo cycles whenever the state is read or a command arrives, so the JAKA
protocol is exercised against contacts, a drawer that must be pulled and a tape roll that must be
held. The fake reports the joints it was commanded (the real controller's tracking error is
sub-millimetre); the scene's state is read in-process (``scene_state``), as an operator looks at
the real scene.

Fault SPEC grammar (``--faults``, comma-separated ``key=value``; all optional)::

    drop_after=N              close every connection after the N-th command (once); reconnecting works
    error_on=CMD[|CMD...]     answer these commands with errorCode "2" (the controller's message names it)
    protective_stop_after=S   S seconds after the first motion command, enter a protective stop
    emergency_stop_after=S    same, an emergency stop
    slow_ms=M                 delay every reply by M milliseconds
    malformed_every=K         every K-th state record is malformed JSON
    silent_after=N            stop replying (and streaming) after the N-th command, keep sockets open
    start_after=S             the five faults above act only S seconds after the first motion command

Example: ``drop_after=50,error_on=joint_move,protective_stop_after=2.0,slow_ms=300,malformed_every=20``.
"""

from __future__ import annotations

import functools
import logging
import math
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np
from roboact.control.ik import solve_ik
from roboact.control.paths import cosine, lerp
from roboact.control.rotations import matrix_to_rpy, rpy_to_matrix
from roboact.hardware.jaka.protocol import JsonStreamDecoder, encode
from roboact.hardware.safety import SafetyConfig, forward_kinematics, load_safety_config

from roboact.errors import UserError

if TYPE_CHECKING:
    from roboact.hardware.scene import DrawerTapeScene

logger = logging.getLogger(__name__)

SERVO_CYCLE_S = 0.008  # the controller interpolates one servo_j over one 8 ms cycle
LIMIT_MARGIN_RAD = 0.02  # the controller's own limits sit just outside our safety limits
MAX_CATCH_UP = 25  # servo cycles of physics one call may step (0.2 s)


@dataclass
class FaultSpec:
    """Faults the fake injects; see the module docstring for the grammar."""

    drop_after: int = 0
    """close all connections after this many commands (0 = never)"""
    error_on: list[str] = field(default_factory=list)
    """commands answered with an error"""
    protective_stop_after: float = 0.0
    """seconds after the first motion command until a protective stop (0 = never)"""
    emergency_stop_after: float = 0.0
    """seconds after the first motion command until an emergency stop (0 = never)"""
    slow_ms: float = 0.0
    """extra delay of every reply (ms)"""
    malformed_every: int = 0
    """every K-th state record is malformed (0 = never)"""
    silent_after: int = 0
    """stop answering after this many commands (0 = never)"""
    start_after: float = 0.0
    """error_on, slow_ms, malformed_every, drop_after and silent_after act only this many seconds
    after the first motion command (0 = from the start)"""

    @classmethod
    def parse(cls, spec: str | None) -> FaultSpec:
        """Parse ``key=value,key=value``; raises ``ValueError`` naming the bad key or value."""
        out = cls()
        if not spec:
            return out
        names = {f.name for f in fields(cls)}
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or key not in names:
                raise ValueError(f"--faults: bad entry {part!r} (keys: {', '.join(sorted(names))})")
            try:
                if key == "error_on":
                    out.error_on = [c for c in value.split("|") if c]
                elif key in ("drop_after", "malformed_every", "silent_after"):
                    setattr(out, key, int(value))
                else:
                    setattr(out, key, float(value))
            except ValueError as err:
                raise ValueError(f"--faults: {key} needs a number, got {value!r}") from err
            if key != "error_on" and getattr(out, key) < 0:
                raise ValueError(f"--faults: {key} must be >= 0, got {value!r}")
        return out


class PortUnavailableError(UserError):
    """A port the fake controller cannot listen on (in use, privileged); the message names the address."""


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.server.controller._register(self.request)
        try:
            if self.server.kind == "command":
                self.server.controller._serve_commands(self.request)
            else:
                self.server.controller._serve_state(self.request)
        finally:
            self.server.controller._unregister(self.request)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], controller: FakeController, kind: str) -> None:
        self.controller, self.kind = controller, kind
        super().__init__(addr, _Handler)


class FakeController:
    """The fake; ``start()`` binds 127.0.0.1 (port 0 picks free ports: read ``port``/``state_port``)."""

    def __init__(
        self,
        robot: SafetyConfig | str = "jaka_k1",
        port: int = 0,
        state_port: int = 0,
        faults: FaultSpec | str | None = None,
        state_period_s: float = 0.03,
        host: str = "127.0.0.1",
        scene: bool = False,
    ) -> None:
        self.robot = robot if isinstance(robot, SafetyConfig) else load_safety_config(robot)
        self.host, self._want_ports = host, (port, state_port)
        self.faults = faults if isinstance(faults, FaultSpec) else FaultSpec.parse(faults)
        self.state_period_s = state_period_s
        self.lock = threading.RLock()
        n = self.robot.n_joints
        self.powered = self.enabled = self.servo = False
        self.q = [float(x) for x in self.robot.home]  # rad
        self._motion: tuple[list[float], list[float], float, float] | None = None  # start, goal, t0, T
        self._servo_prev: list[float] | None = None
        self._servo_vel = [0.0] * n
        self.protective_stop = self.emergency_stop = False
        self.errcode, self.errmsg = "0x0", ""
        self.dout = [0] * 16
        self.commands = 0
        self.command_log: list[str] = []
        self.records_sent = 0
        self._first_motion: float | None = None
        self._dropped = False
        self._conns: set[socket.socket] = set()
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self._quit = threading.Event()
        self.scene: DrawerTapeScene | None = None
        self.gripper_source: Callable[[], float] = lambda: 0.0
        """closure command in [0, 1] the scene's fingers follow (the gripper server's target)"""
        self._sim_t = 0.0
        if scene:
            from roboact.hardware.scene import DrawerTapeScene

            self.scene = DrawerTapeScene(self.robot)
            self.reset_scene(0)

    # -- the physical scene (scene=True) -------------------------------------------------------------

    def reset_scene(self, seed: int) -> None:
        """The operator's reset: arm at home, the scene reset with ``seed``'s variation."""
        with self.lock:
            self._motion = None
            self.q = [float(x) for x in self.robot.home]
            if self.scene is not None:
                self.scene.reset(seed, joints=np.asarray(self.q))
                self._sim_t = time.monotonic()

    def _advance_scene(self) -> None:
        """Step physics to now in servo cycles, the arm's servos holding the current joints (lock held)."""
        if self.scene is None:
            return
        now = time.monotonic()
        cycles = int((now - self._sim_t) / SERVO_CYCLE_S)
        if cycles <= 0:
            return
        if cycles > MAX_CATCH_UP:  # the machine fell behind: physics slows down, it never bursts
            self._sim_t = now - MAX_CATCH_UP * SERVO_CYCLE_S
            cycles = MAX_CATCH_UP
        self.scene.step(np.asarray(self.q), float(self.gripper_source()), cycles * SERVO_CYCLE_S)
        self._sim_t += cycles * SERVO_CYCLE_S

    def scene_state(self) -> dict[str, Any] | None:
        """The physical scene's state now (``DrawerTapeScene.state``), or None without a scene."""
        with self.lock:
            self.joints()
            return None if self.scene is None else self.scene.state()

    def gripper_closure(self) -> float:
        """The scene's measured finger closure in [0, 1] (0 without a scene)."""
        with self.lock:
            return 0.0 if self.scene is None else self.scene.gripper()

    def render(self) -> np.ndarray:
        """The scene's front camera now (the fake backend's camera)."""
        with self.lock:
            self.joints()
            return self.scene.render()

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> FakeController:
        """Listen on both ports; ``PortUnavailableError`` naming the address when one cannot be bound."""
        for kind, want in (("command", self._want_ports[0]), ("state", self._want_ports[1])):
            try:
                server = _Server((self.host, want), self, kind)
            except OSError as err:  # in use, privileged, or not an address of this machine
                self.stop()  # the port bound before this one
                option = "--port" if kind == "command" else "--state-port"
                raise PortUnavailableError(
                    f"{self.host}:{want}: cannot listen for the fake controller's {kind} port "
                    f"({err.strerror or err}); pick another {option}, or 0 for a free one"
                ) from err
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
        logger.info("fake JAKA controller on %s:%d (state %d)", self.host, self.port, self.state_port)
        return self

    @property
    def port(self) -> int:
        return self._servers[0].server_address[1]

    @property
    def state_port(self) -> int:
        return self._servers[1].server_address[1]

    def stop(self) -> None:
        self._quit.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self.drop_connections()
        for thread in self._threads:
            thread.join(timeout=1.0)
        if self.scene is not None:
            with self.lock:
                try:  # its renderer's GL context, before the interpreter tears it down noisily
                    self.scene.close()
                except Exception as err:  # noqa: BLE001 - a GL context made current in another thread
                    logger.debug("fake controller: closing the scene's renderer: %s", err)

    def __enter__(self) -> FakeController:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, spec: str) -> None:
        """Change the faults at run time (tests): ``fake.inject("slow_ms=300")``."""
        with self.lock:
            self.faults = FaultSpec.parse(spec)
            self._dropped = False
            self._first_motion = None

    def drop_connections(self) -> None:
        """Close every open connection on both ports (a pulled cable)."""
        with self.lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                conn.close()
            except OSError:
                pass

    def _register(self, conn: socket.socket) -> None:
        with self.lock:
            self._conns.add(conn)

    def _unregister(self, conn: socket.socket) -> None:
        with self.lock:
            self._conns.discard(conn)

    # -- kinematics ---------------------------------------------------------------------------------

    def joints(self) -> list[float]:
        """Current joint positions (rad), advancing any point-to-point motion to now."""
        with self.lock:
            self._check_timed_faults()
            if self._motion is not None:
                start, goal, t0, duration = self._motion
                s = 1.0 if duration <= 0 else min(1.0, (time.monotonic() - t0) / duration)
                s = cosine(s)
                self.q = [lerp(a, b, s) for a, b in zip(start, goal, strict=True)]
                if s >= 1.0:
                    self._motion = None
            self._advance_scene()
            return list(self.q)

    def _check_timed_faults(self) -> None:
        if self._first_motion is None:
            return
        elapsed = time.monotonic() - self._first_motion
        f = self.faults
        if f.protective_stop_after and elapsed >= f.protective_stop_after and not self.protective_stop:
            self._halt("protective stop: collision detected (injected)", "0x1010002", protective=True)
            f.protective_stop_after = 0.0
        if f.emergency_stop_after and elapsed >= f.emergency_stop_after and not self.emergency_stop:
            self._halt("emergency stop pressed (injected)", "0x1010003", protective=False)
            f.emergency_stop_after = 0.0

    def _halt(self, msg: str, code: str, protective: bool) -> None:
        if self._motion is not None:
            self.joints_no_fault_check()
        self._motion = None
        self.servo = False
        if protective:
            self.protective_stop = True
        else:
            self.emergency_stop, self.enabled = True, False
        self.errcode, self.errmsg = code, msg
        logger.info("fake controller: %s", msg)

    def joints_no_fault_check(self) -> None:
        start, goal, t0, duration = self._motion  # type: ignore[misc]
        s = 1.0 if duration <= 0 else min(1.0, (time.monotonic() - t0) / duration)
        s = cosine(s)
        self.q = [lerp(a, b, s) for a, b in zip(start, goal, strict=True)]

    def tcp_wire(self, q: list[float]) -> list[float]:
        pos, rot = forward_kinematics(q, self.robot)
        rpy = matrix_to_rpy(rot)
        return [*(float(p) * 1000.0 for p in pos), *(math.degrees(float(a)) for a in rpy)]

    # -- state stream -------------------------------------------------------------------------------

    def state_record(self) -> dict[str, Any]:
        q = self.joints()
        with self.lock:
            target = self._motion[1] if self._motion is not None else q
            tcp = self.tcp_wire(q)
            return {
                "len": 0,
                "errcode": self.errcode,
                "errmsg": self.errmsg,
                "joint_actual_position": [math.degrees(x) for x in q],
                "joint_position": [math.degrees(x) for x in target],
                "actual_position": tcp,
                "position": tcp,
                "powered_on": int(self.powered),
                "enabled": int(self.enabled),
                "protective_stop": int(self.protective_stop),
                "emergency_stop": int(self.emergency_stop),
                "on_soft_limit": 0,
                "inpos": int(self._motion is None),
                "task_state": 4 if self.enabled else (2 if self.powered else 1),
                "dout": list(self.dout),
                "din": [0] * 16,
            }

    def _serve_state(self, conn: socket.socket) -> None:
        while not self._quit.is_set():
            if self._silent():
                time.sleep(self.state_period_s)
                continue
            record = self.state_record()
            self.records_sent += 1
            k = self.faults.malformed_every
            if k and self.records_sent % k == 0 and self._active():
                payload = b'{"len": 0, "errcode": "0x0", "joint_actual_position": [1.0, 2.0,, BROKEN}'
            else:
                payload = encode(record)
            try:
                conn.sendall(payload)
            except OSError:
                return
            time.sleep(self.state_period_s)

    # -- command port -------------------------------------------------------------------------------

    def _active(self) -> bool:
        """Whether the non-timed faults act now (``start_after``)."""
        if not self.faults.start_after:
            return True
        first = self._first_motion
        return first is not None and time.monotonic() - first >= self.faults.start_after

    def _silent(self) -> bool:
        return bool(self.faults.silent_after) and self.commands >= self.faults.silent_after and self._active()

    def _serve_commands(self, conn: socket.socket) -> None:
        decoder = JsonStreamDecoder()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while not self._quit.is_set():
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            for msg in decoder.feed(data):
                if self._silent():
                    continue
                with self.lock:
                    self.commands += 1
                    n_cmd = self.commands
                reply = self.handle(msg)
                if self.faults.slow_ms and self._active():
                    time.sleep(self.faults.slow_ms / 1000.0)
                try:
                    conn.sendall(encode(reply))
                except OSError:
                    return
                f = self.faults
                if f.drop_after and n_cmd >= f.drop_after and not self._dropped and self._active():
                    self._dropped = True
                    logger.info("fake controller: dropping all connections after %d commands", n_cmd)
                    self.drop_connections()
                    return

    def handle(self, msg: Any) -> dict[str, Any]:
        """Answer one command object like the controller does."""
        if not isinstance(msg, dict) or "cmdName" not in msg:
            return {"cmdName": "", "errorCode": "1", "errorMsg": "command must be a JSON object with cmdName"}
        name = str(msg["cmdName"])
        self.command_log.append(name)
        if name in self.faults.error_on and self._active():
            return _err(name, "2", f"{name}: controller error (injected fault)")
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None:
            return _err(name, "1", f"unknown command {name}")
        with self.lock:
            try:
                extra = handler(msg) or {}
            except _Reject as err:
                return _err(name, err.code, str(err))
            except (KeyError, TypeError, ValueError) as err:
                return _err(name, "1", f"{name}: bad parameters: {err}")
        return {"cmdName": name, "errorCode": "0", "errorMsg": "", **extra}

    # Each _cmd_<name> implements one controller command (called with self.lock held).

    def _cmd_power_on(self, msg: dict) -> None:
        self.powered = True

    def _cmd_power_off(self, msg: dict) -> None:
        self.powered = self.enabled = self.servo = False

    def _cmd_enable_robot(self, msg: dict) -> None:
        if not self.powered:
            raise _Reject("enable_robot: robot is not powered on")
        if self.emergency_stop:
            raise _Reject("enable_robot: emergency stop active")
        self.enabled = True

    def _cmd_disable_robot(self, msg: dict) -> None:
        self.enabled = self.servo = False

    def _cmd_get_robot_state(self, msg: dict) -> dict:
        return {
            "power": "powered_on" if self.powered else "powered_off",
            "enable": "robot_enabled" if self.enabled else "robot_disabled",
        }

    def _cmd_emergency_stop_status(self, msg: dict) -> dict:
        return {"emergency_stop": int(self.emergency_stop)}

    def _cmd_get_joint_pos(self, msg: dict) -> dict:
        return {"joint_pos": [math.degrees(x) for x in self.joints()]}

    def _cmd_get_tcp_pos(self, msg: dict) -> dict:
        return {"tcp_pos": self.tcp_wire(self.joints())}

    def _require_motion_ok(self, name: str) -> None:
        self._check_timed_faults()
        if not self.powered or not self.enabled:
            raise _Reject(f"{name}: robot is not powered on and enabled")
        if self.protective_stop or self.emergency_stop:
            raise _Reject(f"{name}: robot is in {'protective' if self.protective_stop else 'emergency'} stop")
        if self._first_motion is None:
            self._first_motion = time.monotonic()

    def _check_limits(self, name: str, q: list[float]) -> None:
        lo, hi = self.robot.joint_lower, self.robot.joint_upper
        for i, x in enumerate(q):
            if not math.isfinite(x) or x < lo[i] - LIMIT_MARGIN_RAD or x > hi[i] + LIMIT_MARGIN_RAD:
                raise _Reject(f"{name}: joint {i + 1} target {math.degrees(x):.2f} deg beyond its limit", "3")

    def _cmd_joint_move(self, msg: dict) -> None:
        self._require_motion_ok("joint_move")
        if self.servo:
            raise _Reject("joint_move: robot is in servo mode")
        speed, accel = float(msg["speed"]), float(msg["accel"])
        if not 0 < speed <= self.robot.controller_max_speed_deg:
            raise _Reject(f"joint_move: speed {speed} deg/s beyond the controller's limit", "4")
        if not 0 < accel <= self.robot.controller_max_accel_deg:
            raise _Reject(f"joint_move: accel {accel} deg/s^2 beyond the controller's limit", "4")
        current = self.joints()
        target = [math.radians(float(x)) for x in msg["jointPosition"]]
        if len(target) != self.robot.n_joints:
            raise _Reject(f"joint_move: jointPosition needs {self.robot.n_joints} values")
        if int(msg.get("relFlag", 0)) == 1:
            target = [a + b for a, b in zip(current, target, strict=True)]
        self._check_limits("joint_move", target)
        dist = max(abs(a - b) for a, b in zip(current, target, strict=True))
        v, a = math.radians(speed), math.radians(accel)
        duration = dist / v + v / a if dist > 0 else 0.0
        self._motion = (current, target, time.monotonic(), duration)

    def _cmd_moveL(self, msg: dict) -> None:  # noqa: N802 - the controller's command name
        """Cartesian move: numerical IK to a joint goal, then a joint-space profile (a simplification:
        the real controller moves the TCP on a straight line)."""
        self._require_motion_ok("moveL")
        if self.servo:
            raise _Reject("moveL: robot is in servo mode")
        speed, accel = float(msg["speed"]), float(msg["accel"])
        if speed <= 0 or accel <= 0:
            raise _Reject("moveL: speed and accel must be > 0", "4")
        current = self.joints()
        pose = [float(x) for x in msg["cartPosition"]]
        if int(msg.get("relFlag", 0)) == 1:
            pose = [a + b for a, b in zip(self.tcp_wire(current), pose, strict=True)]
        goal = _inverse_kinematics(pose, current, self.robot)
        if goal is None:
            raise _Reject(f"moveL: pose {[round(x, 1) for x in pose]} is unreachable", "6")
        self._check_limits("moveL", goal)
        dist_mm = float(np.linalg.norm(np.subtract(pose[:3], self.tcp_wire(current)[:3])))
        duration = dist_mm / speed + speed / accel
        self._motion = (current, goal, time.monotonic(), duration)

    def _cmd_servo_move(self, msg: dict) -> None:
        on = int(msg.get("relFlag", 0)) == 1
        if on:
            self._require_motion_ok("servo_move")
            self._motion = None
            self._servo_prev = self.joints()
            self._servo_vel = [0.0] * self.robot.n_joints
        self.servo = on

    def _cmd_servo_j(self, msg: dict) -> None:
        self._require_motion_ok("servo_j")
        if not self.servo:
            raise _Reject("servo_j: robot is not in servo mode")
        current = list(self.q)
        target = [math.radians(float(x)) for x in msg["jointPosition"]]
        if len(target) != self.robot.n_joints:
            raise _Reject(f"servo_j: jointPosition needs {self.robot.n_joints} values")
        if int(msg.get("relFlag", 0)) == 1:
            target = [a + b for a, b in zip(current, target, strict=True)]
        self._check_limits("servo_j", target)
        vel = [(b - a) / SERVO_CYCLE_S for a, b in zip(current, target, strict=True)]
        vmax = math.radians(self.robot.controller_max_speed_deg)
        amax = math.radians(self.robot.controller_max_accel_deg)
        for i, v in enumerate(vel):
            if abs(v) > vmax:
                raise _Reject(
                    f"servo_j: joint {i + 1} speed {math.degrees(v):.1f} deg/s beyond 180 deg/s", "4"
                )
            if abs(v - self._servo_vel[i]) / SERVO_CYCLE_S > amax * 1.01:
                raise _Reject(f"servo_j: joint {i + 1} acceleration beyond 720 deg/s^2", "4")
        self._servo_vel = vel
        self._advance_scene()  # physics up to this command with the previous target held
        self.q = target

    def _cmd_stop_program(self, msg: dict) -> None:
        if self._motion is not None:
            self.joints_no_fault_check()
        self._motion = None
        self._servo_vel = [0.0] * self.robot.n_joints

    def _cmd_clear_error(self, msg: dict) -> None:
        # Real arms need the e-stop button released first; the fake treats clear_error as that.
        self.protective_stop = self.emergency_stop = False
        self.errcode, self.errmsg = "0x0", ""

    def _cmd_set_digital_output(self, msg: dict) -> None:
        index = int(msg["index"])
        if not 0 <= index < len(self.dout):
            raise _Reject(f"set_digital_output: index {index} out of range")
        self.dout[index] = int(bool(int(msg["value"])))


def _inverse_kinematics(pose_wire: list[float], seed: list[float], robot: SafetyConfig) -> list[float] | None:
    """Joints whose TCP is at ``pose_wire`` (mm, deg; the controller's units), or None."""
    target = np.asarray(pose_wire[:3]) / 1000.0
    rot_d = rpy_to_matrix(np.radians(pose_wire[3:6]))
    fk = functools.partial(forward_kinematics, cfg=robot)
    q = solve_ik(fk, target, rot_d, np.asarray(seed, dtype=float), robot.lower, robot.upper)
    return None if q is None else q.tolist()


class _Reject(Exception):  # noqa: N818 - internal control flow
    def __init__(self, message: str, code: str = "1") -> None:
        super().__init__(message)
        self.code = code


def _err(name: str, code: str, message: str) -> dict[str, Any]:
    return {"cmdName": name, "errorCode": code, "errorMsg": message}


def serve_forever(
    port: int, state_port: int, faults: str | None, robot: str = "jaka_k1", scene: bool = False
) -> None:
    """Run the fake in the foreground until interrupted (``roboact hardware fake-controller``)."""
    fake = FakeController(robot, port=port, state_port=state_port, faults=faults, scene=scene).start()
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
