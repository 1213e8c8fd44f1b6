"""The JAKA controller's TCP protocol: JSON framing, the state record, unit conversion.

Both ports carry concatenated JSON objects without a delimiter (FACTS.md "JAKA arm"): commands
and replies on 10001, the state stream (one object about every 30 ms) on 10000. A reader must
cope with an object split across TCP reads, several objects in one read, and (fault injection,
a noisy link) malformed objects, which are counted and skipped without losing the stream.
Units on the wire are degrees and millimetres; our API uses radians and metres.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

COMMAND_PORT = 10001
STATE_PORT = 10000

_DECODER = json.JSONDecoder()


class JsonStreamDecoder:
    """Incremental decoder for a stream of concatenated JSON objects.

    ``feed(bytes)`` returns the complete objects decoded so far. The fast path is
    ``raw_decode``; when it fails, a string-aware brace scan decides whether the object is
    incomplete (wait for more bytes) or malformed (skip it and count it in ``malformed``).
    """

    def __init__(self, max_buffer: int = 1 << 20) -> None:
        self._buf = ""
        self._pending = b""
        self.malformed = 0
        self.max_buffer = max_buffer

    def feed(self, data: bytes) -> list[Any]:
        data = self._pending + data
        try:
            text = data.decode("utf-8")
            self._pending = b""
        except UnicodeDecodeError as err:  # a multi-byte character split across reads
            if err.start >= len(data) - 3:
                text, self._pending = data[: err.start].decode("utf-8"), data[err.start :]
            else:
                self.malformed += 1
                text, self._pending = data.decode("utf-8", errors="replace"), b""
        self._buf += text
        out: list[Any] = []
        buf, pos = self._buf, 0
        while True:
            start = buf.find("{", pos)
            if start < 0:
                pos = len(buf)
                break
            try:
                obj, end = _DECODER.raw_decode(buf, start)
            except json.JSONDecodeError:
                end = _object_end(buf, start)
                if end is None:  # incomplete: keep from `start`, wait for more bytes
                    pos = start
                    break
                self.malformed += 1  # a complete but invalid object: skip it
                pos = end
                continue
            out.append(obj)
            pos = end
        self._buf = buf[pos:]
        if len(self._buf) > self.max_buffer:  # never grow without bound on garbage
            self.malformed += 1
            self._buf = ""
        return out


def _object_end(buf: str, start: int) -> int | None:
    """Index just past the object opened at ``start`` (braces outside strings), None if incomplete."""
    depth, in_str, esc = 0, False, False
    for i in range(start, len(buf)):
        ch = buf[i]
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def encode(obj: dict[str, Any]) -> bytes:
    """One protocol message."""
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def deg(values_rad: Any) -> list[float]:
    return [math.degrees(float(v)) for v in values_rad]


def rad(values_deg: Any) -> list[float]:
    return [math.radians(float(v)) for v in values_deg]


def pose_to_wire(pose: Any) -> list[float]:
    """(x, y, z [m], rx, ry, rz [rad]) to the controller's (mm, deg)."""
    p = [float(v) for v in pose]
    return [p[0] * 1000.0, p[1] * 1000.0, p[2] * 1000.0, *deg(p[3:6])]


def pose_from_wire(pose: Any) -> list[float]:
    """The controller's (mm, deg) to (m, rad)."""
    p = [float(v) for v in pose]
    return [p[0] / 1000.0, p[1] / 1000.0, p[2] / 1000.0, *rad(p[3:6])]


@dataclass
class RobotState:
    """One decoded state-stream record, in radians and metres."""

    joints: list[float] = field(default_factory=list)
    """actual joint positions (rad)"""
    joint_targets: list[float] = field(default_factory=list)
    """commanded joint positions (rad)"""
    tcp: list[float] = field(default_factory=list)
    """actual TCP pose (m, rad)"""
    errcode: str = "0x0"
    """controller error code; "0x0" when healthy"""
    errmsg: str = ""
    """controller error message"""
    powered: bool = False
    enabled: bool = False
    protective_stop: bool = False
    emergency_stop: bool = False
    on_soft_limit: bool = False
    inpos: bool = True
    dout: list[int] = field(default_factory=list)
    stamp: float = 0.0
    """local monotonic time the record arrived"""

    @property
    def healthy(self) -> bool:
        return self.errcode in ("0x0", "0", "") and not self.protective_stop and not self.emergency_stop

    @property
    def errors(self) -> list[str]:
        """Human-readable list of what is wrong (empty when healthy)."""
        out = []
        if self.errcode not in ("0x0", "0", ""):
            out.append(f"controller error {self.errcode}: {self.errmsg}")
        if self.protective_stop:
            out.append("protective stop")
        if self.emergency_stop:
            out.append("emergency stop")
        if self.on_soft_limit:
            out.append("on soft limit")
        return out

    @classmethod
    def from_wire(cls, msg: dict[str, Any], stamp: float) -> RobotState:
        return cls(
            joints=rad(msg.get("joint_actual_position", [])),
            joint_targets=rad(msg.get("joint_position", [])),
            tcp=pose_from_wire(msg["actual_position"]) if msg.get("actual_position") else [],
            errcode=str(msg.get("errcode", "0x0")),
            errmsg=str(msg.get("errmsg", "")),
            powered=bool(msg.get("powered_on", 0)),
            enabled=bool(msg.get("enabled", 0)),
            protective_stop=bool(msg.get("protective_stop", 0)),
            emergency_stop=bool(msg.get("emergency_stop", 0)),
            on_soft_limit=bool(msg.get("on_soft_limit", 0)),
            inpos=bool(msg.get("inpos", 1)),
            dout=list(msg.get("dout", [])),
            stamp=stamp,
        )


def is_state_record(obj: Any) -> bool:
    """A top-level state object (guards against a nested object after resynchronising)."""
    return isinstance(obj, dict) and "joint_actual_position" in obj and "errcode" in obj
