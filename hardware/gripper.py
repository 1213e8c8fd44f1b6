"""Parallel gripper (DH AG-105-145 class) over Modbus RTU, and a faithful fake of it.

Registers (FACTS.md "JAKA arm"; 0x0200/0x0202 from the DH manual): write 0x0100 = 1 to
initialise, 0x0101 force (20-100 %), 0x0103 target position (per mille, 0 closed .. 1000 open),
0x0104 speed (1-100 %); read 0x0200 init state, 0x0201 grip state (0 moving, 1 arrived,
2 object caught, 3 object dropped), 0x0202 current position. Our command is 0 open .. 1 closed.

The client is pymodbus: a serial port (``/dev/ttyUSB0``, 115200 baud, RTU) on the real arm, or
``tcp://host:port`` for RTU frames over TCP (a serial-to-Ethernet gateway, or the fake).
``FakeGripperServer`` is a pymodbus *server* speaking RTU framing over TCP on 127.0.0.1, so the
real framing and CRC are exercised end to end in tests.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

REG_INIT, REG_FORCE, REG_POSITION, REG_SPEED = 0x0100, 0x0101, 0x0103, 0x0104
REG_INIT_STATE, REG_GRIP_STATE, REG_POSITION_NOW = 0x0200, 0x0201, 0x0202
GRIP_MOVING, GRIP_ARRIVED, GRIP_CAUGHT, GRIP_DROPPED = 0, 1, 2, 3


class GripperError(RuntimeError):
    """The gripper did not answer, or answered with a Modbus exception."""


@dataclass
class GripperConfig:
    """How to reach the gripper."""

    port: str = "/dev/ttyUSB0"
    """serial device, or tcp://host:port for RTU framing over TCP (gateway or fake)"""
    baudrate: int = 115200
    """serial baud rate (the AG-105-145 default)"""
    device_id: int = 1
    """Modbus device (slave) id"""
    timeout_s: float = 0.5
    """per-request timeout"""
    force: int = 50
    """grip force (20-100 %)"""
    speed: int = 60
    """finger speed (1-100 %)"""

    def __post_init__(self) -> None:
        if not 20 <= self.force <= 100:
            raise ValueError(f"GripperConfig.force must be in 20..100 %, got {self.force}")
        if not 1 <= self.speed <= 100:
            raise ValueError(f"GripperConfig.speed must be in 1..100 %, got {self.speed}")


class Gripper(ABC):
    """Command in [0, 1]: 0 open, 1 closed."""

    @abstractmethod
    def connect(self) -> None: ...

    @abstractmethod
    def command(self, closed: float) -> None: ...

    @abstractmethod
    def position(self) -> float:
        """Measured closure in [0, 1]."""

    @abstractmethod
    def close(self) -> None: ...


class ModbusGripper(Gripper):
    """The real gripper through pymodbus (RTU framing on serial or TCP)."""

    def __init__(self, cfg: GripperConfig) -> None:
        self.cfg = cfg
        self.client = None
        self._last_target: int | None = None

    def connect(self) -> None:
        from pymodbus import FramerType
        from pymodbus.client import ModbusSerialClient, ModbusTcpClient

        if self.cfg.port.startswith("tcp://"):
            host, _, port = self.cfg.port[len("tcp://") :].rpartition(":")
            self.client = ModbusTcpClient(
                host, port=int(port), framer=FramerType.RTU, timeout=self.cfg.timeout_s, retries=1
            )
        else:
            self.client = ModbusSerialClient(
                self.cfg.port,
                framer=FramerType.RTU,
                baudrate=self.cfg.baudrate,
                timeout=self.cfg.timeout_s,
                retries=1,
            )
        if not self.client.connect():
            raise GripperError(f"gripper: cannot open {self.cfg.port}")
        self._write(REG_INIT, 1)
        deadline = time.monotonic() + 5.0
        while self._read(REG_INIT_STATE) != 1:
            if time.monotonic() > deadline:
                raise GripperError(f"gripper on {self.cfg.port}: initialisation did not finish within 5 s")
            time.sleep(0.02)
        self._write(REG_FORCE, self.cfg.force)
        self._write(REG_SPEED, self.cfg.speed)

    def command(self, closed: float) -> None:
        target = round((1.0 - min(1.0, max(0.0, closed))) * 1000)
        if target != self._last_target:  # the bus is slow (about 2 ms a frame): send only changes
            self._write(REG_POSITION, target)
            self._last_target = target

    def position(self) -> float:
        return 1.0 - self._read(REG_POSITION_NOW) / 1000.0

    def grip_state(self) -> int:
        return self._read(REG_GRIP_STATE)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def _write(self, register: int, value: int) -> None:
        if self.client is None:
            raise GripperError("gripper: not connected")
        try:
            reply = self.client.write_register(register, int(value), device_id=self.cfg.device_id)
        except Exception as err:  # noqa: BLE001 - pymodbus raises several exception types
            raise GripperError(
                f"gripper {self.cfg.port}: write 0x{register:04x}={value} failed: {err}"
            ) from err
        if reply.isError():
            raise GripperError(f"gripper {self.cfg.port}: write 0x{register:04x}={value}: {reply}")

    def _read(self, register: int) -> int:
        if self.client is None:
            raise GripperError("gripper: not connected")
        try:
            reply = self.client.read_holding_registers(register, count=1, device_id=self.cfg.device_id)
        except Exception as err:  # noqa: BLE001
            raise GripperError(f"gripper {self.cfg.port}: read 0x{register:04x} failed: {err}") from err
        if reply.isError():
            raise GripperError(f"gripper {self.cfg.port}: read 0x{register:04x}: {reply}")
        return int(reply.registers[0])


class FakeGripperServer:
    """A simulated gripper behind a pymodbus RTU-over-TCP server on 127.0.0.1 (its own thread).

    Fingers move toward the written target at ``speed`` % of 2000 per mille/s; ``object_at`` (per
    mille) stops them as if holding an object (grip state 2).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, object_at: int | None = None) -> None:
        self.host, self.port = host, port or _free_port(host)
        self.object_at = object_at
        self.initialised = False
        self.target = self.pos = 1000.0
        self.speed = 50
        self._t = time.monotonic()
        self.position_source: Callable[[], float] | None = None
        """measured closure in [0, 1] from a simulated scene's fingers (the fake backend's physics)"""
        self._loop = asyncio.new_event_loop()
        self._server = None
        self._thread: threading.Thread | None = None
        self.lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def start(self) -> FakeGripperServer:
        from pymodbus import FramerType
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        device = SimDevice(
            id=1,
            simdata=[SimData(REG_INIT, count=0x110, values=0, datatype=DataType.REGISTERS)],
            action=self._action,
        )
        ready = threading.Event()

        async def serve() -> None:
            self._server = ModbusTcpServer(device, framer=FramerType.RTU, address=(self.host, self.port))
            ready.set()
            await self._server.serve_forever()

        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(serve(),), daemon=True)
        self._thread.start()
        ready.wait(5.0)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:  # wait until the port accepts
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(5.0)
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def _advance(self) -> int:
        if self.position_source is not None:  # the fingers are physical: they report where they are
            self.pos = 1000.0 * (1.0 - min(1.0, max(0.0, self.position_source())))
            return GRIP_ARRIVED if abs(self.pos - self.target) <= 30 else GRIP_MOVING
        now = time.monotonic()
        step = (now - self._t) * self.speed * 20.0
        self._t = now
        goal = self.target
        if self.object_at is not None and goal < self.object_at <= self.pos:
            goal = self.object_at
        if abs(goal - self.pos) <= step:
            self.pos = goal
            return GRIP_CAUGHT if goal != self.target else GRIP_ARRIVED
        self.pos += step if goal > self.pos else -step
        return GRIP_MOVING

    async def _action(self, fc, start, address, count, regs, set_values):  # noqa: ANN001 - pymodbus SimAction
        with self.lock:
            if set_values is not None:  # a write
                if address == REG_INIT and set_values[0]:
                    self.initialised = True
                elif address == REG_POSITION and self.initialised:
                    self._advance()
                    self.target = float(min(1000, max(0, set_values[0])))
                elif address == REG_SPEED:
                    self.speed = int(min(100, max(1, set_values[0])))
                return None
            state = self._advance()
            regs[REG_INIT_STATE - start] = int(self.initialised)
            regs[REG_GRIP_STATE - start] = state
            regs[REG_POSITION_NOW - start] = round(self.pos)
        return None


class FakeGripper(Gripper):
    """In-process gripper without a bus (the MuJoCo backend uses the simulated fingers instead)."""

    def __init__(self) -> None:
        self.target = 0.0
        self.connected = False

    def connect(self) -> None:
        self.connected = True

    def command(self, closed: float) -> None:
        self.target = min(1.0, max(0.0, closed))

    def position(self) -> float:
        return self.target

    def close(self) -> None:
        self.connected = False


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
