"""Connection settings of a JAKA controller (the arm's limits live in ``hardware/robots/*.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass

from roboact.hardware.jaka.protocol import COMMAND_PORT, STATE_PORT


@dataclass
class JakaConfig:
    """How to reach and drive one JAKA controller."""

    host: str = "127.0.0.1"
    """controller IP address"""
    port: int = COMMAND_PORT
    """JSON command port"""
    state_port: int = STATE_PORT
    """state stream port"""
    robot: str = "jaka_k1"
    """safety/kinematics file: a bare name in hardware/robots/ or a YAML path"""
    timeout_s: float = 1.0
    """longest wait for one command's reply"""
    connect_timeout_s: float = 3.0
    """longest wait for a TCP connection and the first state record"""
    state_max_age_s: float = 0.5
    """a state older than this counts as a lost stream"""
    reconnect_attempts: int = 5
    """connection attempts before giving up (exponential backoff between them)"""
    reconnect_backoff_s: float = 0.2
    """first backoff delay; doubles per attempt"""
    reconnect_backoff_max_s: float = 3.0
    """cap on one backoff delay"""
    move_speed: float = 0.5
    """joint speed of point-to-point moves such as homing (rad/s)"""
    move_accel: float = 2.0
    """joint acceleration of point-to-point moves (rad/s^2)"""
    move_timeout_s: float = 20.0
    """longest wait for a point-to-point move to arrive"""
    servo: bool = True
    """drive policy actions with servo_j (per-cycle joint commands); False uses joint_move"""

    def __post_init__(self) -> None:
        for key in ("timeout_s", "connect_timeout_s", "state_max_age_s", "move_speed", "move_accel"):
            if getattr(self, key) <= 0:
                raise ValueError(f"JakaConfig.{key} must be > 0, got {getattr(self, key)}")
        if not (0 <= self.port < 65536 and 0 <= self.state_port < 65536):
            raise ValueError(f"JakaConfig: bad port {self.port} / state_port {self.state_port}")
        if self.reconnect_attempts < 1:
            raise ValueError(f"JakaConfig.reconnect_attempts must be >= 1, got {self.reconnect_attempts}")
