"""A scripted operator for the physical drawer-and-tape scene: plans each subtask from what it sees.

At the start of a subtask it reads the scene's state (handle and tape positions, the drawer's
opening, where the held tape sits under the tool) and turns a few tool poses into joint waypoints
(``top_down_joints``, confirmed by ``roboact.control.ik.solve_ik``, the solver of the fake
controller's ``moveL``), then follows trapezoidal-speed joint paths between them
(``roboact.control.paths``; peak speed 85 % of the safety filter's limit, acceleration
``ACCEL``). The tool points down with the fingers closing along the world y axis:

- ``open_drawer``: above the handle fin, down, close on the fin, pull it ``pull`` m towards the
  robot, let go, up;
- ``pick_tape``: above the roll, down around it, close, lift;
- ``place_tape``: over ``place_xy`` on the table, down until the roll is just above the table,
  open, up;
- ``close_drawer``: fingers closed, down in front of the fin, push the drawer shut, back off.

A subtask it has no plan for, one the plan judges by its joints (``judged_by: joints``), and an
observation without a scene (the real arm) fall back to the plan's joint goals (``ScriptedPolicy``).
``noise`` (rad, std) perturbs every waypoint's joints, seeded per trial: the noisier policy of the
demo plan, and varied demonstrations.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import numpy as np
from roboact.control.ik import solve_ik
from roboact.control.paths import lerp, trapezoid_duration, trapezoid_progress
from roboact.hardware.policy import ScriptedPolicy
from roboact.hardware.safety import SafetyConfig, forward_kinematics
from roboact.hardware.scene import DRAWER_FRONT_X, FIN_FRONT_LOCAL, TAPE_HALF_HEIGHT

logger = logging.getLogger(__name__)

SCENE_SUBTASKS = ("open_drawer", "pick_tape", "place_tape", "close_drawer")
ACCEL = 6.0
"""rad/s^2: the scripted operator's joint acceleration (the safety filter allows 8)"""
GRIP_S = 0.45
SETTLE_S = 0.3
"""s the arm holds over the roll before the pick's grip: the filtered arm trails a trapezoidal
target by about 3 cm when it arrives, and fingers closed then push the roll (11/20 picks without)"""
"""s: the arm holds while the fingers close or open"""
TOOL_DOWN = np.array(((-1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, -1.0)))
"""tool z down, fingers closing along world y"""
FINGER_CENTRE = 0.035
"""m: the fingers' centre below the TCP when the tool points down"""


class SceneScriptedPolicy:
    """Scene-aware scripted operator (see the module docstring); a ``Policy`` that asks for the scene."""

    needs_image = False
    needs_scene = True
    done = False
    aborted = False

    def __init__(
        self,
        safety: SafetyConfig,
        goals: dict[str, tuple[list[float], float]] | None = None,
        noise: float = 0.0,
        seed: int = 0,
        pull: float = 0.15,
        place_xy: tuple[float, float] = (0.25, 0.45),
        speed: float = 0.85,
        planned: set[str] | None = None,
    ) -> None:
        self.safety = safety
        self.planned = set(SCENE_SUBTASKS if planned is None else planned) & set(SCENE_SUBTASKS)
        self.noise, self.seed = noise, seed
        self.pull, self.place_xy = pull, place_xy
        self.vmax = speed * safety.max_velocity
        self.dt = 1.0 / safety.control_hz
        goals = {k: v for k, v in (goals or {}).items() if v[0]}
        self._fallback = (
            ScriptedPolicy(goals, safety.control_hz, safety.max_velocity, noise=noise, seed=seed)
            if goals
            else None
        )
        self.rng = np.random.default_rng(seed)
        self._subtask: str | None = None
        self._segments: list[tuple[np.ndarray, np.ndarray, float, float]] = []
        self._k = 0

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(self.seed if seed is None else seed)
        self._subtask = None
        if self._fallback is not None:
            self._fallback.reset(seed)

    # -- acting --------------------------------------------------------------------------------------

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        name = str(obs["subtask"])
        scene = obs.get("scene")
        if scene is None or name not in self.planned:
            if self._fallback is None:
                raise KeyError(
                    f"scripted policy: no scene plan for subtask {name!r} here and no joint goal for it"
                )
            return self._fallback.act(obs)
        if name != self._subtask:
            self._subtask, self._k = name, 0
            self._segments = self.plan(
                name, np.asarray(obs["joints"], dtype=float), float(obs.get("gripper", 0.0)), scene
            )
        t = self._k * self.dt
        self._k += 1
        for q0, q1, grip, duration in self._segments:
            if t < duration:
                return np.append(lerp(q0, q1, self._progress(t, float(np.max(np.abs(q1 - q0))))), grip)
            t -= duration
        _, q_end, grip_end, _ = self._segments[-1]
        return np.append(q_end, grip_end)

    def _progress(self, t: float, dist: float) -> float:
        """Fraction of a segment of largest joint travel ``dist`` done after ``t`` s: trapezoidal speed.

        Why not minimum jerk: it leaves every waypoint with zero velocity and zero acceleration, so
        the first targets a head learns from a demo are the pose it is already in (about 1e-4 rad
        ahead after 0.1 s), and a head trained on them stays at home. Ramping at ``ACCEL`` puts the
        target about 0.03 rad ahead after 0.1 s, under the safety filter's acceleration limit.
        """
        return trapezoid_progress(t, dist, self.vmax, ACCEL)

    def _duration(self, dist: float) -> float:
        return trapezoid_duration(dist, self.vmax, ACCEL)

    def duration(self) -> float:
        """Seconds the current subtask's script takes."""
        return float(sum(seg[3] for seg in self._segments))

    # -- planning ------------------------------------------------------------------------------------

    def plan(
        self, name: str, joints: np.ndarray, grip: float, scene: dict[str, Any]
    ) -> list[tuple[np.ndarray, np.ndarray, float, float]]:
        """Segments ``(q_from, q_to, gripper, seconds)`` of one subtask, from the scene's state."""
        up = np.array((0.0, 0.0, 1.0))
        handle = np.asarray(scene["handle"], dtype=float)
        tape = np.asarray(scene["tape"], dtype=float)
        tcp = np.asarray(scene["tcp"], dtype=float)
        at_fin = handle + up * FINGER_CENTRE
        closed = 1.0
        if name == "open_drawer":
            moves = [
                (at_fin + np.array((-0.05, 0.0, 0.12)), 0.0),
                (at_fin + up * 0.05, 0.0),
                (at_fin, 0.0),
                ("grip", closed),
                (at_fin - np.array((self.pull * 0.5, 0.0, 0.0)), closed),
                (at_fin - np.array((self.pull, 0.0, 0.0)), closed),
                ("grip", 0.0),
                (at_fin - np.array((self.pull, 0.0, -0.12)), 0.0),
            ]
        elif name == "pick_tape":
            at_tape = tape + up * (FINGER_CENTRE + 0.008)
            moves = [
                (at_tape + up * 0.15, 0.0),  # the fingers' tips 6 cm above the drawer's front plate
                (at_tape, 0.0),
                ("settle", 0.0),
                ("grip", closed),
                (at_tape + up * 0.05, closed),
                (at_tape + up * 0.12, closed),
            ]
        elif name == "place_tape":
            # where the held roll sits under the tool (a missed pick leaves the roll elsewhere: then
            # the operator goes through the motions with the nominal grasp offset)
            below = float(np.clip(tcp[2] - tape[2], FINGER_CENTRE - 0.01, FINGER_CENTRE + 0.03))
            x, y = self.place_xy
            over = np.array((x, y, 0.24))  # the roll's bottom about 17 cm up: clear of the drawer's walls
            down = np.array((x, y, TAPE_HALF_HEIGHT + 0.006 + below))
            moves = [(over, closed), (down, closed), ("grip", 0.0), (down + up * 0.10, 0.0)]
        else:  # close_drawer: push the fin's front face until the drawer is shut
            shut_x = DRAWER_FRONT_X + FIN_FRONT_LOCAL - 0.008 + 0.006
            front = np.array((handle[0] - 0.06, handle[1], at_fin[2]))
            moves = [
                ("grip", closed),
                (front + up * 0.10, closed),
                (front, closed),
                (np.array((shut_x, handle[1], at_fin[2])), closed),
                (np.array((shut_x - 0.05, handle[1], at_fin[2] + 0.05)), closed),
            ]
        return self._segments_for(moves, joints)

    def _segments_for(
        self, moves: list[tuple[Any, float]], joints: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray, float, float]]:
        segments = []
        q = joints.copy()
        for target, g in moves:
            if isinstance(target, str):  # the arm holds: to settle, or while the gripper acts
                segments.append((q, q, g, SETTLE_S if target == "settle" else GRIP_S))
                continue
            try:
                goal = top_down_joints(np.asarray(target, dtype=float), self.safety)
            except RuntimeError as err:  # out of reach: hold here rather than end the recording
                logger.warning("%s; holding", err)
                continue
            if self.noise > 0:
                goal = np.clip(
                    goal + self.rng.normal(0.0, self.noise, goal.shape), self.safety.lower, self.safety.upper
                )
            segments.append((q, goal, g, max(0.1, self._duration(float(np.max(np.abs(goal - q)))))))
            q = goal
        return segments


def scene_planned(plan: Any) -> set[str]:
    """The plan's subtasks the scripted operator plans from the scene (the others follow joint goals)."""
    return {s.name for t in plan.tasks for s in t.subtasks if s.judged_by == "scene"} & set(SCENE_SUBTASKS)


def needs_scene(plan: Any) -> bool:
    """Whether a plan looks at the physical scene: a subtask planned and judged from it, or a head
    (which sees the scene's camera). The fake backend builds the scene only for such plans."""
    return bool(scene_planned(plan)) or any(p.kind == "checkpoint" for p in plan.policies)


def top_down_joints(tcp: np.ndarray, cfg: SafetyConfig) -> np.ndarray:
    """Joints that put the TCP at ``tcp`` with the tool pointing down, fingers closing along world y.

    Why not the numerical solver alone: on the K-1 chain (axes z y z y z y z, every offset along
    z) a downward tool is reachable only with the shoulder turned away from the target and the elbow
    folded (``j2 + j4 + j6 = -pi``, ``j4 < 0``: the limits of j4 and j6 rule out the other
    branch), and from an arbitrary seed damped least squares lands on other branches or a flipped
    tool. This closed form (two-link planar IK in the arm's plane, ``j7 = j1`` to square the
    fingers with y) picks that one branch everywhere, so successive waypoints stay on it;
    ``solve_ik`` then confirms it on the chain.
    """
    if list(cfg.joint_axes) != ["z", "y", "z", "y", "z", "y", "z"] or any(
        o[0] or o[1] for o in cfg.link_offsets
    ):
        raise ValueError(f"top_down_joints: robot {cfg.name} is not a z-y-z-y-z-y-z chain along z")
    z = [o[2] for o in cfg.link_offsets]
    shoulder = z[0] + z[1]
    upper, fore, hand = z[2] + z[3], z[4] + z[5], z[6] + cfg.tool_offset[2]
    theta = float(np.arctan2(tcp[1], tcp[0]))
    j1 = theta - np.pi if theta > 0 else theta + np.pi
    u, w = -float(np.hypot(tcp[0], tcp[1])), float(tcp[2]) + hand - shoulder  # wrist, arm's plane
    d2 = u * u + w * w
    c4 = (d2 - upper * upper - fore * fore) / (2 * upper * fore)
    if not -1.0 <= c4 <= 1.0:
        raise RuntimeError(f"scripted operator: the tool cannot reach {np.round(tcp, 3)} pointing down")
    j4 = -float(np.arccos(c4))
    j2 = float(np.arctan2(u, w) - np.arctan2(fore * np.sin(j4), upper + fore * np.cos(j4)))
    j6 = -np.pi - j2 - j4
    q = np.array([j1, j2, 0.0, j4, 0.0, j6, j1])
    if np.any(q < cfg.lower) or np.any(q > cfg.upper):  # the tool tilts by what the limits cut off
        logger.debug("top_down_joints: %s clipped into the joint limits", np.round(q, 3))
        return np.clip(q, cfg.lower, cfg.upper)
    refined = solve_ik(
        functools.partial(forward_kinematics, cfg=cfg), tcp, TOOL_DOWN, q, cfg.lower, cfg.upper
    )
    return q if refined is None else refined
