"""JAKA controller client: JSON commands on port 10001, the state stream on port 10000.

Every call has a timeout; every reply is checked (``errorCode`` other than "0" raises
``JakaError`` with the controller's message); a dead socket raises ``JakaConnectionLost`` so the
caller can stop and fail the trial; ``reconnect`` retries with exponential backoff. A reader thread
decodes the state stream incrementally and keeps the latest record. Our API is in radians and
metres; the wire is degrees and millimetres (``protocol.py``).

This client moves nothing by itself beyond what it is told: the safety filter sits above it
(``JakaRobot``), and only ``JakaRobot`` is used by the policy loop.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

from roboact.hardware.jaka.config import JakaConfig
from roboact.hardware.jaka.protocol import (
    JsonStreamDecoder,
    RobotState,
    deg,
    encode,
    is_state_record,
    pose_from_wire,
    pose_to_wire,
    rad,
)

logger = logging.getLogger(__name__)


class JakaError(RuntimeError):
    """The controller answered a command with an error (``errorCode`` != "0")."""

    def __init__(self, message: str, cmd: str = "", code: str = "") -> None:
        super().__init__(message)
        self.cmd, self.code = cmd, code


class JakaTimeout(JakaError):  # noqa: N818 - name used across the project
    """No reply (or no fresh state) within the configured timeout."""


class JakaConnectionLost(JakaError):  # noqa: N818 - name used across the project
    """The TCP connection to the controller is gone."""


class StateReader(threading.Thread):
    """Reads the state port and keeps the latest decoded record."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(name="jaka-state", daemon=True)
        self.sock = sock
        self.decoder = JsonStreamDecoder()
        self.latest: RobotState | None = None
        self.records = 0
        self.lost: str | None = None
        self._quit = threading.Event()
        self._fresh = threading.Condition()

    def run(self) -> None:
        self.sock.settimeout(0.2)
        while not self._quit.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as err:
                self.lost = f"state stream error: {err}"
                break
            if not data:
                self.lost = "state stream closed by the controller"
                break
            now = time.monotonic()
            for obj in self.decoder.feed(data):
                if is_state_record(obj):
                    with self._fresh:
                        self.latest = RobotState.from_wire(obj, now)
                        self.records += 1
                        self._fresh.notify_all()
        if self.lost and not self._quit.is_set():
            logger.warning("%s", self.lost)

    def wait_record(self, after: int, timeout: float) -> bool:
        """Wait until more than ``after`` records arrived."""
        with self._fresh:
            return self._fresh.wait_for(lambda: self.records > after or self.lost is not None, timeout)

    def stop(self) -> None:
        self._quit.set()
        try:
            self.sock.close()
        except OSError:
            pass


class JakaClient:
    """One connection to a JAKA controller (thread-safe: commands are serialised by a lock)."""

    def __init__(self, cfg: JakaConfig) -> None:
        self.cfg = cfg
        self._sock: socket.socket | None = None
        self._decoder = JsonStreamDecoder()
        self._reader: StateReader | None = None
        self._lock = threading.Lock()
        self.round_trips = 0

    # -- connection ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._sock is not None and self._reader is not None and self._reader.lost is None

    def connect(self) -> None:
        """Open both ports and wait for the first state record."""
        self.close()
        timeout = self.cfg.connect_timeout_s
        try:
            sock = socket.create_connection((self.cfg.host, self.cfg.port), timeout=timeout)
            state_sock = socket.create_connection((self.cfg.host, self.cfg.state_port), timeout=timeout)
        except OSError as err:
            where = f"{self.cfg.host}:{self.cfg.port}/{self.cfg.state_port}"
            raise JakaConnectionLost(f"cannot connect to JAKA controller {where}: {err}") from err
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock, self._decoder = sock, JsonStreamDecoder()
        self._reader = StateReader(state_sock)
        self._reader.start()
        if not self._reader.wait_record(0, timeout) or self._reader.latest is None:
            reason = self._reader.lost or f"no state record within {timeout} s"
            self.close()
            raise JakaTimeout(f"JAKA controller {self.cfg.host}:{self.cfg.state_port}: {reason}")
        logger.debug("connected to JAKA controller %s:%d", self.cfg.host, self.cfg.port)

    def reconnect(self) -> None:
        """Reconnect with exponential backoff; raises the last error after ``reconnect_attempts``."""
        delay = self.cfg.reconnect_backoff_s
        last: Exception | None = None
        for attempt in range(1, self.cfg.reconnect_attempts + 1):
            try:
                self.connect()
                return
            except JakaError as err:
                last = err
                logger.warning(
                    "reconnect attempt %d/%d failed: %s", attempt, self.cfg.reconnect_attempts, err
                )
                if attempt < self.cfg.reconnect_attempts:
                    time.sleep(delay)
                    delay = min(delay * 2, self.cfg.reconnect_backoff_max_s)
        raise JakaConnectionLost(f"gave up after {self.cfg.reconnect_attempts} attempts: {last}") from last

    def close(self) -> None:
        if self._reader is not None:
            self._reader.stop()
            self._reader.join(timeout=1.0)
            self._reader = None
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    def __enter__(self) -> JakaClient:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- raw command ----------------------------------------------------------------------------

    def call(self, cmd_name: str, timeout: float | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and return its checked reply.

        Raises:
            JakaError: the controller answered with ``errorCode`` != "0".
            JakaTimeout: no reply within ``timeout`` (default ``cfg.timeout_s``); the command
                socket is then dropped, since a late reply would desynchronise it.
            JakaConnectionLost: the socket is closed or broken.
        """
        timeout = self.cfg.timeout_s if timeout is None else timeout
        with self._lock:
            sock = self._sock
            if sock is None:
                raise JakaConnectionLost(f"{cmd_name}: not connected to the controller", cmd_name)
            try:
                sock.sendall(encode({"cmdName": cmd_name, **params}))
                reply = self._read_reply(sock, cmd_name, time.monotonic() + timeout)
            except JakaTimeout:
                self._drop_command_socket()
                raise
            except OSError as err:
                self._drop_command_socket()
                raise JakaConnectionLost(f"{cmd_name}: connection lost: {err}", cmd_name) from err
        self.round_trips += 1
        code = str(reply.get("errorCode", "0"))
        if code != "0":
            raise JakaError(
                f"{cmd_name} failed: errorCode {code}: {reply.get('errorMsg', '')}", cmd_name, code
            )
        return reply

    def _read_reply(self, sock: socket.socket, cmd_name: str, deadline: float) -> dict[str, Any]:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise JakaTimeout(f"{cmd_name}: no reply within {self.cfg.timeout_s} s", cmd_name)
            sock.settimeout(remaining)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                self._drop_command_socket()
                raise JakaConnectionLost(f"{cmd_name}: controller closed the command port", cmd_name)
            for obj in self._decoder.feed(data):
                if isinstance(obj, dict) and obj.get("cmdName") == cmd_name:
                    return obj
                logger.debug("discarding unmatched reply %r", obj)

    def _drop_command_socket(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    # -- state ---------------------------------------------------------------------------------

    def state(self, max_age: float | None = None) -> RobotState:
        """The latest state record; raises when the stream is lost or stale."""
        reader = self._reader
        if reader is None:
            raise JakaConnectionLost("state: not connected to the controller")
        if reader.lost is not None:
            raise JakaConnectionLost(f"state: {reader.lost}")
        latest = reader.latest
        max_age = self.cfg.state_max_age_s if max_age is None else max_age
        if latest is None or time.monotonic() - latest.stamp > max_age:
            raise JakaTimeout(f"state: no record in the last {max_age} s")
        return latest

    def wait_state(self, timeout: float | None = None) -> RobotState:
        """Wait for the next state record (one newer than the current latest)."""
        reader = self._reader
        if reader is None:
            raise JakaConnectionLost("state: not connected to the controller")
        reader.wait_record(reader.records, self.cfg.state_max_age_s if timeout is None else timeout)
        return self.state()

    @property
    def malformed_records(self) -> int:
        return self._reader.decoder.malformed if self._reader is not None else 0

    # -- commands (radians and metres in, radians and metres out) -------------------------------

    def power_on(self) -> None:
        self.call("power_on", timeout=max(self.cfg.timeout_s, 5.0))

    def power_off(self) -> None:
        self.call("power_off")

    def enable(self) -> None:
        self.call("enable_robot", timeout=max(self.cfg.timeout_s, 5.0))

    def disable(self) -> None:
        self.call("disable_robot")

    def robot_state(self) -> dict[str, bool]:
        reply = self.call("get_robot_state")
        return {
            "powered": reply.get("power") == "powered_on",
            "enabled": reply.get("enable") == "robot_enabled",
        }

    def emergency_stop_status(self) -> bool:
        return bool(int(self.call("emergency_stop_status").get("emergency_stop", 0)))

    def joint_positions(self) -> list[float]:
        return rad(self.call("get_joint_pos")["joint_pos"])

    def tcp_pose(self) -> list[float]:
        return pose_from_wire(self.call("get_tcp_pos")["tcp_pos"])

    def joint_move(self, q: Any, speed: float, accel: float, relative: bool = False) -> None:
        """Point-to-point joint move; ``speed`` rad/s, ``accel`` rad/s^2 (the controller takes deg)."""
        self.call(
            "joint_move",
            relFlag=int(relative),
            jointPosition=deg(q),
            speed=deg([speed])[0],
            accel=deg([accel])[0],
        )

    def linear_move(self, pose: Any, speed: float, accel: float, relative: bool = False) -> None:
        """Cartesian move; ``pose`` (m, rad), ``speed`` m/s, ``accel`` m/s^2 (the wire takes mm)."""
        self.call(
            "moveL",
            relFlag=int(relative),
            cartPosition=pose_to_wire(pose),
            speed=speed * 1000.0,
            accel=accel * 1000.0,
        )

    def servo_mode(self, on: bool) -> None:
        """Enter (True) or leave servo mode; ``servo_j`` works only inside it."""
        self.call("servo_move", relFlag=int(on))

    def servo_j(self, q: Any, relative: bool = False) -> None:
        """One per-cycle (8 ms) joint command, radians."""
        self.call("servo_j", relFlag=int(relative), jointPosition=deg(q))

    def stop(self, timeout: float | None = None) -> None:
        """Stop motion now (``stop_program``)."""
        self.call("stop_program", timeout=timeout)

    def clear_error(self) -> None:
        self.call("clear_error")

    def set_digital_output(self, index: int, value: bool, io_type: int = 0) -> None:
        self.call("set_digital_output", type=io_type, index=int(index), value=int(bool(value)))
