"""The safety filter every arm command passes: no command reaches the arm unchecked.

Pure functions return ``(safe_action, violations)`` (the shape of LeRobot's
``ensure_safe_goal_position``), so each check is testable alone; ``SafetyFilter`` chains them with
the state they need (the last command and velocity). Order and semantics:

1. non-finite (NaN/inf) targets: the whole command is rejected, the arm holds the last command;
2. joint limits: targets are clamped into ``[joint_lower, joint_upper]``;
3. step: no joint target moves more than ``max_step`` from the last command;
4. rate: per-joint velocity within ``max_velocity`` and its change within ``max_acceleration * dt``
   (libfranka-style rate limiting). The acceleration limit yields to the hard limits: when a
   joint limit or the workspace forces a stop, the stop wins;
5. workspace: if the tool centre point of the limited target leaves the Cartesian box, the arm
   holds the last command (joint targets cannot be clamped into a Cartesian box without IK);
6. gripper command clipped to [0, 1].

Limits come from a per-robot YAML (``hardware/robots/jaka_k1.yaml``). The same file holds the
kinematic chain used for the workspace check, the fake controller's TCP pose and the MuJoCo arm.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from roboact.config import ConfigError, load_config

logger = logging.getLogger(__name__)

NON_FINITE, JOINT_LIMIT, STEP_LIMIT = "non_finite", "joint_limit", "step_limit"
VELOCITY_LIMIT, ACCEL_LIMIT, WORKSPACE, GRIPPER_RANGE = (
    "velocity_limit",
    "accel_limit",
    "workspace",
    "gripper_range",
)
BAD_SHAPE = "bad_shape"
_FLAG_NAMES = (JOINT_LIMIT, STEP_LIMIT, ACCEL_LIMIT, VELOCITY_LIMIT, JOINT_LIMIT)


@dataclass
class SafetyConfig:
    """Per-robot limits (radians, metres, seconds); loaded from ``hardware/robots/<name>.yaml``."""

    name: str = "jaka_k1"
    """robot model name"""
    n_joints: int = 7
    """number of arm joints"""
    joint_lower: list[float] = field(default_factory=lambda: [-2.9] * 7)
    """lower joint limits (rad)"""
    joint_upper: list[float] = field(default_factory=lambda: [2.9] * 7)
    """upper joint limits (rad)"""
    workspace_min: list[float] = field(default_factory=lambda: [-0.3, -0.65, 0.05])
    """Cartesian box lower corner for the TCP (m, base frame)"""
    workspace_max: list[float] = field(default_factory=lambda: [0.8, 0.65, 1.05])
    """Cartesian box upper corner for the TCP (m, base frame)"""
    max_step: float = 0.05
    """largest change of a joint target per command (rad)"""
    max_velocity: float = 1.5
    """per-joint velocity limit we enforce (rad/s)"""
    max_acceleration: float = 8.0
    """per-joint acceleration limit we enforce (rad/s^2)"""
    controller_max_speed_deg: float = 180.0
    """joint speed the controller rejects above (deg/s)"""
    controller_max_accel_deg: float = 720.0
    """joint acceleration the controller rejects above (deg/s^2)"""
    watchdog_timeout_s: float = 0.25
    """stop the arm when no command arrives for this long (s)"""
    control_hz: float = 125.0
    """policy loop rate (Hz); the JAKA servo cycle is 8 ms"""
    home: list[float] = field(default_factory=lambda: [0.0, 0.6, 0.0, -1.5, 0.0, 1.0, 0.0])
    """joint pose between trials (rad)"""
    link_offsets: list[list[float]] = field(default_factory=list)
    """per joint, offset of its frame from the previous frame (m)"""
    joint_axes: list[str] = field(default_factory=list)
    """per joint, rotation axis in its frame: x, y or z"""
    tool_offset: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.1])
    """TCP offset from the last joint frame (m)"""

    def __post_init__(self) -> None:
        n = self.n_joints
        for key in ("joint_lower", "joint_upper", "home"):
            if len(getattr(self, key)) != n:
                raise ValueError(
                    f"safety config {self.name}: {key} needs {n} values, got {getattr(self, key)}"
                )
        if any(lo >= hi for lo, hi in zip(self.joint_lower, self.joint_upper, strict=True)):
            raise ValueError(f"safety config {self.name}: joint_lower must be < joint_upper")
        if self.link_offsets and (len(self.link_offsets) != n or len(self.joint_axes) != n):
            raise ValueError(f"safety config {self.name}: link_offsets and joint_axes need {n} entries")
        if any(a not in ("x", "y", "z") for a in self.joint_axes):
            raise ValueError(
                f"safety config {self.name}: joint_axes must be x, y or z, got {self.joint_axes}"
            )
        for key in ("max_step", "max_velocity", "max_acceleration", "watchdog_timeout_s", "control_hz"):
            if getattr(self, key) <= 0:
                raise ValueError(f"safety config {self.name}: {key} must be > 0, got {getattr(self, key)}")
        if math.degrees(self.max_velocity) > self.controller_max_speed_deg:
            raise ValueError(f"safety config {self.name}: max_velocity exceeds the controller's speed limit")

    @property
    def lower(self) -> np.ndarray:
        return np.asarray(self.joint_lower, dtype=float)

    @property
    def upper(self) -> np.ndarray:
        return np.asarray(self.joint_upper, dtype=float)


def robot_config_path(name_or_path: str | Path) -> Path:
    """A YAML path, or the bare name of a shipped robot (``jaka_k1``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = resources.files("roboact.hardware").joinpath("robots", f"{path.stem}.yaml")
    if shipped.is_file():
        return Path(str(shipped))
    raise ConfigError(f"robot config not found: {name_or_path} (shipped: hardware/robots/jaka_k1.yaml)")


def load_safety_config(
    name_or_path: str | Path = "jaka_k1", overrides: list[str] | None = None
) -> SafetyConfig:
    """Load a robot's limits; ``overrides`` are dotted ``key=value`` strings."""
    return load_config(SafetyConfig, robot_config_path(name_or_path), overrides)


# ---------------------------------------------------------------------------------------------
# Kinematics of the YAML chain (for the workspace check, the fake controller's TCP pose, and the
# inverse kinematics of ``roboact.control.ik.solve_ik``, which takes this as its ``fk``)


def _fk_chain(q: list[float], cfg: SafetyConfig) -> tuple[list[float], list[float]]:
    """Pure-Python FK (a 7-joint chain costs a few microseconds; numpy calls cost more at this size)."""
    r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]  # row-major 3x3
    px = py = pz = 0.0
    for (ox, oy, oz), axis, angle in zip(cfg.link_offsets, cfg.joint_axes, q, strict=True):
        px += r[0] * ox + r[1] * oy + r[2] * oz
        py += r[3] * ox + r[4] * oy + r[5] * oz
        pz += r[6] * ox + r[7] * oy + r[8] * oz
        c, s = math.cos(angle), math.sin(angle)
        if axis == "z":  # r = r @ Rz
            r = [r[0] * c + r[1] * s, -r[0] * s + r[1] * c, r[2],
                 r[3] * c + r[4] * s, -r[3] * s + r[4] * c, r[5],
                 r[6] * c + r[7] * s, -r[6] * s + r[7] * c, r[8]]  # fmt: skip
        elif axis == "y":  # r = r @ Ry
            r = [r[0] * c - r[2] * s, r[1], r[0] * s + r[2] * c,
                 r[3] * c - r[5] * s, r[4], r[3] * s + r[5] * c,
                 r[6] * c - r[8] * s, r[7], r[6] * s + r[8] * c]  # fmt: skip
        else:  # r = r @ Rx
            r = [r[0], r[1] * c + r[2] * s, -r[1] * s + r[2] * c,
                 r[3], r[4] * c + r[5] * s, -r[4] * s + r[5] * c,
                 r[6], r[7] * c + r[8] * s, -r[7] * s + r[8] * c]  # fmt: skip
    ox, oy, oz = cfg.tool_offset
    px += r[0] * ox + r[1] * oy + r[2] * oz
    py += r[3] * ox + r[4] * oy + r[5] * oz
    pz += r[6] * ox + r[7] * oy + r[8] * oz
    return [px, py, pz], r


def forward_kinematics(q: np.ndarray, cfg: SafetyConfig) -> tuple[np.ndarray, np.ndarray]:
    """TCP position (m) and rotation matrix in the base frame for joint angles ``q`` (rad)."""
    pos, rot = _fk_chain([float(x) for x in q], cfg)
    return np.array(pos), np.array(rot).reshape(3, 3)


def tcp_in_workspace(q: np.ndarray, cfg: SafetyConfig) -> bool:
    """Whether the TCP of ``q`` lies in the configured Cartesian box (True when no chain is set)."""
    if not cfg.link_offsets:
        return True
    pos, _ = _fk_chain([float(x) for x in q], cfg)
    lo, hi = cfg.workspace_min, cfg.workspace_max
    return lo[0] <= pos[0] <= hi[0] and lo[1] <= pos[1] <= hi[1] and lo[2] <= pos[2] <= hi[2]


# ---------------------------------------------------------------------------------------------
# Pure checks: each returns (safe value, violations)


def check_finite(target: np.ndarray, hold: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Reject a command with any NaN or inf: hold ``hold`` instead."""
    if np.all(np.isfinite(target)):
        return target, []
    return hold.copy(), [NON_FINITE]


def clamp_joints(target: np.ndarray, cfg: SafetyConfig) -> tuple[np.ndarray, list[str]]:
    """Clamp joint targets into the configured limits."""
    safe = np.clip(target, cfg.lower, cfg.upper)
    return safe, ([JOINT_LIMIT] if np.any(safe != target) else [])


def clamp_step(target: np.ndarray, last: np.ndarray, max_step: float) -> tuple[np.ndarray, list[str]]:
    """Limit how far any joint target moves from the last command (LeRobot's max_relative_target)."""
    delta = target - last
    clipped = np.clip(delta, -max_step, max_step)
    return last + clipped, ([STEP_LIMIT] if np.any(clipped != delta) else [])


def limit_rate(
    target: np.ndarray, last: np.ndarray, last_vel: np.ndarray, cfg: SafetyConfig, dt: float
) -> tuple[np.ndarray, list[str]]:
    """Bound the implied velocity by ``max_velocity`` and its change by ``max_acceleration * dt``."""
    violations: list[str] = []
    vel = (target - last) / dt
    half = 0.5 * cfg.max_acceleration * dt  # brake in time (discrete-time stopping distance): no overshoot
    vcap = np.sqrt(half * half + 2.0 * cfg.max_acceleration * np.abs(target - last)) - half
    vel = np.clip(vel, -vcap, vcap)
    dv = cfg.max_acceleration * dt
    v_acc = np.clip(vel, last_vel - dv, last_vel + dv)
    if np.any(v_acc != vel):
        violations.append(ACCEL_LIMIT)
    v_lim = np.clip(v_acc, -cfg.max_velocity, cfg.max_velocity)
    if np.any(v_lim != v_acc):
        violations.append(VELOCITY_LIMIT)
    return last + v_lim * dt, violations


def clip_gripper(value: float) -> tuple[float, list[str]]:
    """Gripper command in [0, 1] (0 open, 1 closed); non-finite holds open."""
    if not math.isfinite(value):
        return 0.0, [NON_FINITE]
    safe = min(1.0, max(0.0, value))
    return safe, ([GRIPPER_RANGE] if safe != value else [])


class SafetyFilter:
    """Stateful chain of the pure checks; one instance per arm, ``reset`` at each trial start.

    An action is ``n_joints`` joint targets (rad) plus one gripper value in [0, 1].
    """

    def __init__(self, cfg: SafetyConfig, dt: float | None = None) -> None:
        self.cfg = cfg
        self.dt = dt if dt is not None else 1.0 / cfg.control_hz
        self.last = np.asarray(cfg.home, dtype=float).copy()
        self.last_vel = np.zeros(cfg.n_joints)
        self.last_gripper = 0.0
        self.violation_counts: dict[str, int] = {}

    def reset(self, q: np.ndarray, gripper: float = 0.0) -> None:
        """Start from the measured joints (at rest) so the first command is bounded from there."""
        q = np.asarray(q, dtype=float)
        if q.shape != (self.cfg.n_joints,) or not np.all(np.isfinite(q)):
            raise ValueError(f"SafetyFilter.reset: bad joint vector {q!r}")
        self.last = np.clip(q, self.cfg.lower, self.cfg.upper)
        self.last_vel = np.zeros(self.cfg.n_joints)
        self.last_gripper = float(min(1.0, max(0.0, gripper))) if math.isfinite(gripper) else 0.0

    def hold(self) -> np.ndarray:
        """The action that keeps the arm where it was last commanded, at zero velocity."""
        return np.append(self.last, self.last_gripper)

    def __call__(self, action: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Filter one action; returns ``(safe_action, violations)`` and advances the state.

        The checks are the pure functions above, fused into one pass over plain floats: at seven
        joints numpy's per-call overhead would dominate (``tests/hardware/test_safety.py`` checks
        that this equals the composition of the pure functions).
        """
        cfg, n = self.cfg, self.cfg.n_joints
        try:
            values = [float(x) for x in np.asarray(action, dtype=float).reshape(-1)]
        except (TypeError, ValueError):
            return self._stop([BAD_SHAPE])
        if len(values) != n + 1:
            return self._stop([BAD_SHAPE])
        if not all(math.isfinite(x) for x in values[:n]):
            return self._stop([NON_FINITE])
        dt, step, vmax, dv = self.dt, cfg.max_step, cfg.max_velocity, cfg.max_acceleration * self.dt
        two_a, half = 2.0 * cfg.max_acceleration, 0.5 * cfg.max_acceleration * self.dt
        half2 = half * half
        lower, upper = cfg.joint_lower, cfg.joint_upper
        last, last_vel = self._last_list, self._last_vel_list
        flags = [False] * 5  # joint, step, accel, velocity, joint-after-rate
        out = [0.0] * n
        for i in range(n):
            x = values[i]
            lo, hi = lower[i], upper[i]
            c = lo if x < lo else hi if x > hi else x  # clamp_joints
            if c != x:
                flags[0] = True
            d = c - last[i]  # clamp_step
            if d > step or d < -step:
                d, flags[1] = (step if d > 0 else -step), True
            v = d / dt  # limit_rate
            vcap = math.sqrt(half2 + two_a * (d if d > 0 else -d)) - half
            v = vcap if v > vcap else -vcap if v < -vcap else v
            va = min(max(v, last_vel[i] - dv), last_vel[i] + dv)
            if va != v:
                flags[2] = True
            vl = min(max(va, -vmax), vmax)
            if vl != va:
                flags[3] = True
            y = last[i] + vl * dt
            z = lo if y < lo else hi if y > hi else y
            if z != y:
                flags[4] = True
            out[i] = z
        violations = list(dict.fromkeys(name for name, hit in zip(_FLAG_NAMES, flags, strict=True) if hit))
        if cfg.link_offsets:
            pos, _ = _fk_chain(out, cfg)
            lo3, hi3 = cfg.workspace_min, cfg.workspace_max
            if not (lo3[0] <= pos[0] <= hi3[0] and lo3[1] <= pos[1] <= hi3[1] and lo3[2] <= pos[2] <= hi3[2]):
                return self._stop([*violations, WORKSPACE], gripper=values[n])
        gripper, v = clip_gripper(values[n])
        violations += v
        self._last_vel_list = [(out[i] - last[i]) / dt for i in range(n)]
        self._last_list = out
        self.last_gripper = gripper
        if violations:
            self._count(violations)
        return np.array([*out, gripper]), violations

    @property
    def last(self) -> np.ndarray:
        """Last joint command sent (rad)."""
        return np.array(self._last_list)

    @last.setter
    def last(self, value: np.ndarray) -> None:
        self._last_list = [float(x) for x in value]

    @property
    def last_vel(self) -> np.ndarray:
        """Velocity implied by the last two commands (rad/s)."""
        return np.array(self._last_vel_list)

    @last_vel.setter
    def last_vel(self, value: np.ndarray) -> None:
        self._last_vel_list = [float(x) for x in value]

    def _stop(self, violations: list[str], gripper: float | None = None) -> tuple[np.ndarray, list[str]]:
        if gripper is not None:
            safe_g, v = clip_gripper(gripper)
            self.last_gripper, violations = safe_g, violations + v
        self.last_vel = np.zeros(self.cfg.n_joints)
        self._count(violations)
        return self.hold(), violations

    def _count(self, violations: list[str]) -> None:
        for name in violations:
            self.violation_counts[name] = self.violation_counts.get(name, 0) + 1


def check_joint_move(
    target: np.ndarray, speed: float, accel: float, cfg: SafetyConfig
) -> tuple[np.ndarray, float, float, list[str]]:
    """Check a point-to-point joint move (homing): finite, inside limits and workspace, rates capped.

    Raises:
        ValueError: the target is non-finite or its TCP leaves the workspace (nothing is moved).
    """
    target = np.asarray(target, dtype=float)
    if target.shape != (cfg.n_joints,) or not np.all(np.isfinite(target)):
        raise ValueError(f"joint move rejected: bad target {target!r}")
    safe, violations = clamp_joints(target, cfg)
    if not tcp_in_workspace(safe, cfg):
        raise ValueError(f"joint move rejected: TCP of {np.round(safe, 3).tolist()} leaves the workspace")
    if not (math.isfinite(speed) and math.isfinite(accel)) or speed <= 0 or accel <= 0:
        raise ValueError(f"joint move rejected: speed {speed} / accel {accel} must be finite and > 0")
    if speed > cfg.max_velocity:
        speed, violations = cfg.max_velocity, [*violations, VELOCITY_LIMIT]
    if accel > cfg.max_acceleration:
        accel, violations = cfg.max_acceleration, [*violations, ACCEL_LIMIT]
    return safe, speed, accel, violations
