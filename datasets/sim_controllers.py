"""Scripted atomic-action controllers: privileged object poses, operational-space (OSC_POSE) control.

Each action is a generator that yields 7-d OSC_POSE actions ``[dx, dy, dz, ax, ay, az, grip]`` in
[-1, 1] (position scaled by 0.05 m, rotation by 0.5 rad world axis-angle, grip -1 open / +1 close)
from the live simulator state, plus a success check on the simulator's own state (the env's
``_check_success`` where robosuite defines one for the action, the problem's BDDL goal in a
LIBERO scene, joint/object state otherwise). The
same script drives every embodiment: targets are end-effector positions, orientation is held at
the episode's start, so only the robot underneath changes: the heterogeneity the paper relies on.

``run_episode`` runs one episode *without rendering* and records the flattened sim state after
every step, so the frames a clip keeps can be rendered afterwards from those states.

The OSC_POSE step and the rotation maths are ``roboact.control``'s (shared with the LIBERO
experts and the arm's scripted operator); orientations are scipy ``Rotation``s (robosuite 1.4's
``transform_utils`` break on NumPy 2).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from roboact.control.cartesian import osc_pose_action
from roboact.control.rotations import gripper_yaw, rotate_point_about
from roboact.datasets.sim_scenes import SCENES, SceneSpec
from scipy.spatial.transform import Rotation

logger = logging.getLogger(__name__)

OPEN, CLOSE = -1.0, 1.0

Script = Generator[np.ndarray, None, None]


@dataclass
class ActionSpec:
    """An atomic action: its default object and scene, its script and its success check."""

    object: str
    scene: str
    script: Callable[[Ctx], Script]
    success: Callable[[Ctx], bool]
    setup: Callable[[Ctx], None] | None = None
    """Optional state change after reset (e.g. start the door open for ``close``)."""


@dataclass
class Episode:
    """One executed episode: what a clip keeps besides its frames."""

    success: bool
    states: np.ndarray
    """(T+1, S) float64 flattened sim states, before the first and after every step."""
    actions: np.ndarray
    """(T, 7) float32 OSC_POSE actions sent."""
    eef_pos: np.ndarray
    """(T+1, 3) float32 end-effector positions (world, m)."""
    object_pos: np.ndarray
    """(T+1, 3) float32 position of the manipulated object (world, m)."""
    info: dict[str, Any] = field(default_factory=dict)


class Ctx:
    """Live view of one env for the scripts: end-effector and object poses, action helpers."""

    def __init__(self, env: Any, obj: str) -> None:
        self.env = env
        self.obj = obj
        self.q0 = self.eef_rot()
        self.start: dict[str, np.ndarray] = {}

    @property
    def sim(self) -> Any:
        return self.env.sim  # re-read every time: robosuite may rebuild the sim on reset

    @property
    def scene(self) -> SceneSpec | None:
        """The scene the env was built for (``make_env`` tags it), None for an untagged env."""
        return SCENES.get(getattr(self.env, "roboact_scene", ""))

    def robot(self) -> str:
        """Embodiment name (LIBERO's ``Mounted<Robot>`` models count as ``<Robot>``)."""
        return type(self.env.robots[0].robot_model).__name__.removeprefix("Mounted")

    # -- poses ------------------------------------------------------------------------------------
    def eef(self) -> np.ndarray:
        return np.array(self.env._eef_xpos, dtype=np.float64)

    def eef_rot(self) -> Rotation:
        return Rotation.from_quat(np.array(self.env._eef_xquat))  # robosuite quats are xyzw

    def body_pos(self, name: str) -> np.ndarray:
        return np.array(self.sim.data.body_xpos[self.sim.model.body_name2id(name)])

    def site_pos(self, name: str) -> np.ndarray:
        return np.array(self.sim.data.site_xpos[self.sim.model.site_name2id(name)])

    def object_pos(self) -> np.ndarray:
        """Position of the manipulated object (the part a gripper acts on)."""
        env = self.env
        scene = self.scene
        if scene is not None and scene.libero_object:
            return self.body_pos(env.objects_dict[scene.libero_object].root_body)
        name = type(env).__name__
        if name == "Lift":
            return self.body_pos(env.cube.root_body)
        if name == "Stack":
            return self.body_pos(env.cubeA.root_body)
        if name.startswith("PickPlace"):
            return self.body_pos(env.objects[env.object_id].root_body)
        if name.startswith("Door"):
            return np.array(env._handle_xpos)
        if name.startswith("NutAssembly"):
            return self.site_pos(env.nuts[env.nut_id].important_sites["handle"])
        raise ValueError(f"no manipulated object known for env {name}")

    def finger_axis(self) -> np.ndarray:
        """Horizontal unit vector along which the gripper closes (left to right finger geoms)."""
        gripper = self.env.robots[0].gripper
        ids = [
            self.sim.model.geom_name2id(gripper.important_geoms[side][0])
            for side in ("left_finger", "right_finger")
        ]
        axis = self.sim.data.geom_xpos[ids[1]] - self.sim.data.geom_xpos[ids[0]]
        axis[2] = 0.0
        return axis / max(np.linalg.norm(axis), 1e-9)

    def yaw_to(self, closing: np.ndarray) -> None:
        """Hold, from now on, the start orientation turned about the vertical so the fingers close
        along the horizontal direction ``closing`` (sign-free: the smaller of the two turns)."""
        angle = gripper_yaw(self.finger_axis(), closing)
        self.q0 = Rotation.from_rotvec([0.0, 0.0, angle]) * self.q0

    def table_z(self) -> float:
        return float(self.env.model.mujoco_arena.table_offset[2])

    # -- actions ----------------------------------------------------------------------------------
    def action(
        self, target: np.ndarray, grip: float, gain: float = 1.0, rot: Rotation | None = None
    ) -> np.ndarray:
        """OSC_POSE action that moves toward ``target`` and holds the start orientation (or ``rot``);
        the fastest axis saturates at 1, keeping the direction."""
        return osc_pose_action(
            target, self.eef(), rot or self.q0, self.eef_rot(), grip, gain=gain, norm=np.inf
        )

    def move(
        self, target: np.ndarray, grip: float, tol: float = 0.01, max_steps: int = 80, gain: float = 2.0
    ) -> Script:
        """Servo the end effector to a fixed ``target`` (world, m) until within ``tol``."""
        for _ in range(max_steps):
            if np.linalg.norm(np.asarray(target) - self.eef()) < tol:
                return
            yield self.action(target, grip, gain)

    def follow(
        self, target_fn: Callable[[], np.ndarray], grip: float, until: Callable[[], bool], max_steps: int
    ) -> Script:
        """Servo toward a moving target (recomputed each step) until ``until()``."""
        for _ in range(max_steps):
            if until():
                return
            yield self.action(target_fn(), grip, gain=2.0)

    def hold(self, grip: float, steps: int) -> Script:
        """Stay in place while the gripper opens or closes (about 8 steps to close)."""
        here = self.eef()
        for _ in range(steps):
            yield self.action(here, grip)


UP = np.array([0.0, 0.0, 1.0])


def _grasp(ctx: Ctx, lift: float = 0.1, z_off: float | None = None) -> Script:
    """Approach the object from above, close on it and lift it by ``lift`` m.

    ``z_off``: grasp point above the object's centre; default the scene's ``grasp_height`` for
    the robot (0 unless a scene says otherwise).
    """
    if z_off is None:
        z_off = ctx.scene.grasp_height.get(ctx.robot(), 0.0) if ctx.scene is not None else 0.0
    obj = ctx.object_pos()
    above = obj[2] + 0.08 + z_off
    if ctx.eef()[2] < above - 0.02:  # starts low (IIWA on LIBERO's higher table): rise first, or
        # the arm sweeps the objects in between (it dragged LIBERO's bowl off the table)
        yield from ctx.move(np.r_[ctx.eef()[:2], above], OPEN, tol=0.015, max_steps=40)
    yield from ctx.move(obj + UP * 0.08 + UP * z_off, OPEN, tol=0.015)
    yield from ctx.move(ctx.object_pos() + UP * z_off, OPEN, tol=0.008, max_steps=50)
    yield from ctx.hold(CLOSE, 10)
    yield from ctx.move(ctx.eef() + UP * lift, CLOSE, tol=0.015, max_steps=60)


# -- lift / pick --------------------------------------------------------------------------------------
def lift_script(ctx: Ctx) -> Script:
    yield from _grasp(ctx, lift=0.12)
    yield from ctx.hold(CLOSE, 5)


def lift_success(ctx: Ctx) -> bool:
    return bool(ctx.env._check_success())  # robosuite Lift: cube above table + 4 cm (height only)


PICK_CARRY = np.array([-0.15, 0.0, 0.05])  # m: toward the robot base (robots sit at negative x),
# rising (carried level, a can in PickPlace's bin caught on the bin's near wall: Kinova3)


def pick_script(ctx: Ctx) -> Script:
    """Grasp the object, raise it 15 cm out of its place and bring it 15 cm toward the robot, rising 5 cm.

    The carry is what tells pick from lift (the same grasp, raised in place): with the raise alone,
    pick and lift of one object in one scene differed only by 3 cm of height, and 9 of the 21
    action errors on ``sim_medium``'s test part were pick taken for lift (docs/results.md,
    session 16).
    """
    yield from _grasp(ctx, lift=0.15)
    yield from ctx.move(ctx.eef() + PICK_CARRY, CLOSE, tol=0.015, max_steps=80, gain=1.0)  # slow: no slip
    yield from ctx.hold(CLOSE, 5)


def pick_success(ctx: Ctx) -> bool:
    """Object raised 10 cm above where it rested and brought 8 cm toward the robot (positions
    only: works for Jaco's fingers too)."""
    raised = ctx.object_pos()[2] - ctx.start["object"][2]
    toward_robot = (ctx.start["object"] - ctx.object_pos()) @ PUSH_DIR  # as pull_success measures it
    return bool(raised > 0.10 and toward_robot > 0.08)


# -- place ------------------------------------------------------------------------------------------
PLACE_OFFSET = np.array([0.0, 0.12, 0.0])


def place_script(ctx: Ctx) -> Script:
    scene = ctx.scene
    if scene is not None and scene.libero_target:
        yield from _place_into(ctx, scene.libero_target)
        return
    target = ctx.start["object"] + PLACE_OFFSET
    yield from _grasp(ctx, lift=0.06)
    yield from ctx.move(target + UP * (ctx.eef()[2] - ctx.object_pos()[2] + 0.06), CLOSE, tol=0.015)
    offset = ctx.eef() - ctx.object_pos()
    yield from ctx.move(target + offset + UP * 0.005, CLOSE, tol=0.01, max_steps=50)
    yield from ctx.hold(OPEN, 10)
    yield from ctx.move(ctx.eef() + UP * 0.08, OPEN, tol=0.02, max_steps=40)


def place_success(ctx: Ctx) -> bool:
    """Cube within 3 cm of the target spot, resting on the table, gripper away from it.

    In a LIBERO scene: the problem's own BDDL goal (e.g. ``(On cream_cheese_1 akita_black_bowl_1)``)
    holds and the hand is released and away from the object.
    """
    obj = ctx.object_pos()
    scene = ctx.scene
    if scene is not None and scene.libero_target:
        return bool(ctx.env._check_success() and np.linalg.norm(ctx.eef() - obj) > 0.05)
    target = ctx.start["object"] + PLACE_OFFSET
    resting = abs(obj[2] - ctx.start["object"][2]) < 0.01
    away = np.linalg.norm(ctx.eef() - obj) > 0.05
    return bool(np.linalg.norm((obj - target)[:2]) < 0.03 and resting and away)


PLACE_RELEASE_HEIGHT = 0.09  # m of the object's centre above the target's origin when released


def _place_into(ctx: Ctx, target: str) -> Script:
    """LIBERO place: grasp the object, carry it high over the target object, lower, release."""
    yield from _grasp(ctx, lift=0.08)
    goal = lambda: ctx.body_pos(ctx.env.objects_dict[target].root_body)  # noqa: E731
    offset = ctx.eef() - ctx.object_pos()
    yield from ctx.move(goal() + offset + UP * 0.14, CLOSE, tol=0.015)
    yield from ctx.move(goal() + offset + UP * PLACE_RELEASE_HEIGHT, CLOSE, tol=0.01, max_steps=50)
    yield from ctx.hold(OPEN, 10)
    yield from ctx.move(ctx.eef() + UP * 0.1, OPEN, tol=0.02, max_steps=40)


# -- push / pull ------------------------------------------------------------------------------------
PUSH_DIR = np.array([1.0, 0.0, 0.0])  # away from the robot base (robots sit at negative x)


def push_script(ctx: Ctx) -> Script:
    obj = ctx.start["object"]
    behind = obj - PUSH_DIR * 0.07
    yield from ctx.move(behind + UP * 0.08, CLOSE, tol=0.015)
    yield from ctx.move(behind + UP * 0.005, CLOSE, tol=0.01, max_steps=50)
    yield from ctx.move(obj + PUSH_DIR * 0.09 + UP * 0.005, CLOSE, tol=0.01, max_steps=100)
    yield from ctx.move(ctx.eef() + UP * 0.06, CLOSE, tol=0.02, max_steps=30)


def push_success(ctx: Ctx) -> bool:
    """Cube slid at least 7 cm away from the robot and still on the table."""
    moved = (ctx.object_pos() - ctx.start["object"]) @ PUSH_DIR
    return bool(moved > 0.07 and ctx.object_pos()[2] < ctx.start["object"][2] + 0.01)


def pull_script(ctx: Ctx) -> Script:
    """Grasp the cube and drag it toward the robot along the table (never lifted)."""
    obj = ctx.object_pos()
    yield from ctx.move(obj + UP * 0.08, OPEN, tol=0.015)
    yield from ctx.move(ctx.object_pos() + UP * 0.002, OPEN, tol=0.008, max_steps=50)
    yield from ctx.hold(CLOSE, 10)
    yield from ctx.move(ctx.eef() - PUSH_DIR * 0.12, CLOSE, tol=0.01, max_steps=100)
    yield from ctx.hold(OPEN, 8)
    yield from ctx.move(ctx.eef() + UP * 0.06, OPEN, tol=0.02, max_steps=30)


def pull_success(ctx: Ctx) -> bool:
    moved = (ctx.start["object"] - ctx.object_pos()) @ PUSH_DIR
    return bool(moved > 0.07 and ctx.object_pos()[2] < ctx.start["object"][2] + 0.01)


# -- stack ------------------------------------------------------------------------------------------
def stack_script(ctx: Ctx) -> Script:
    env = ctx.env
    yield from _grasp(ctx, lift=0.08)
    base = ctx.body_pos(env.cubeB.root_body)
    offset = ctx.eef() - ctx.object_pos()
    yield from ctx.move(base + offset + UP * 0.08, CLOSE, tol=0.01)
    yield from ctx.move(base + offset + UP * 0.05, CLOSE, tol=0.006, max_steps=50)
    yield from ctx.hold(OPEN, 10)
    yield from ctx.move(ctx.eef() + UP * 0.08, OPEN, tol=0.02, max_steps=40)


def stack_success(ctx: Ctx) -> bool:
    return bool(ctx.env._check_success())  # robosuite Stack: A on B, touching, not grasped


# -- door: close -------------------------------------------------------------
def _hinge(ctx: Ctx, joint_index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    jid = ctx.sim.model.joint_name2id(ctx.env.door.joints[joint_index])
    return np.array(ctx.sim.data.xanchor[jid]), np.array(ctx.sim.data.xaxis[jid])


def _door_normal(ctx: Ctx) -> np.ndarray:
    """Unit normal of the door panel pointing to the handle side (toward the robot)."""
    body = ctx.sim.model.body_name2id(ctx.env.door.door_body)
    normal = -np.array(ctx.sim.data.body_xmat[body]).reshape(3, 3)[:, 1]
    return normal / np.linalg.norm(normal)


def _arc_target(ctx: Ctx, delta: float) -> np.ndarray:
    anchor, axis = _hinge(ctx)
    return rotate_point_about(ctx.eef(), anchor, axis, delta)


def _hinge_qpos(ctx: Ctx) -> float:
    return float(ctx.sim.data.qpos[ctx.env.hinge_qpos_addr])


CLOSE_START = 0.38  # rad; the Door hinge range is [0, 0.4]


def close_setup(ctx: Ctx) -> None:
    ctx.sim.data.qpos[ctx.env.hinge_qpos_addr] = CLOSE_START
    ctx.sim.forward()


def close_script(ctx: Ctx) -> Script:
    """Press the outer face of the open door beside the handle, then push it shut along the arc."""
    normal = _door_normal(ctx)
    contact = ctx.object_pos() + normal * 0.04 + UP * 0.12
    yield from ctx.move(contact + normal * 0.06, CLOSE, tol=0.015)
    yield from ctx.move(contact, CLOSE, tol=0.01, max_steps=40)
    yield from ctx.follow(lambda: _arc_target(ctx, -0.25), CLOSE, lambda: _hinge_qpos(ctx) < 0.02, 120)
    yield from ctx.move(ctx.eef() + normal * 0.06, CLOSE, tol=0.02, max_steps=20)


def close_success(ctx: Ctx) -> bool:
    """Door hinge back below 0.05 rad from its 0.38 rad start."""
    return _hinge_qpos(ctx) < 0.05


OPEN_TILT = 0.6  # rad the fingertips lean toward the door: the palm stays clear of the panel
OPEN_HOOK_DEPTH = 0.045  # m behind the handle bar's centre: the middle of the bar-panel gap


def open_script(ctx: Ctx) -> Script:
    """Hook the closed fingers behind the handle bar and pull the (closed) door open along its arc.

    The fingers close along the door so the hand's wide side is parallel to the panel, and the
    hand leans 0.6 rad so only the fingertips enter the 6 cm gap between bar and panel: upright,
    the palm hits the panel (the failure of grasping or hooking the bar straight from above).
    """
    normal = _door_normal(ctx)
    tangent = np.cross(UP, normal)
    ctx.yaw_to(tangent)
    ctx.q0 = Rotation.from_rotvec(tangent * OPEN_TILT) * ctx.q0  # fingertips toward the door
    bar_geom = ctx.sim.model.geom_name2id(ctx.env.door.naming_prefix + "handle")  # the bar, not its base
    bar = np.array(ctx.sim.data.geom_xpos[bar_geom])
    hook = bar - normal * OPEN_HOOK_DEPTH
    yield from ctx.move(hook + UP * 0.12, CLOSE, tol=0.01)
    yield from ctx.move(hook + UP * 0.06, CLOSE, tol=0.005, max_steps=40, gain=1.0)
    yield from ctx.move(hook, CLOSE, tol=0.008, max_steps=60)
    yield from ctx.follow(lambda: _arc_target(ctx, 0.25), CLOSE, lambda: _hinge_qpos(ctx) > 0.35, 150)
    yield from ctx.move(ctx.eef() + UP * 0.1, CLOSE, tol=0.02, max_steps=30)


def open_success(ctx: Ctx) -> bool:
    return bool(ctx.env._check_success())  # robosuite Door: hinge opened > 0.3 rad


# -- insert -----------------------------------------------------------------------------------------
NUT_PEGS = ("peg1", "peg2")
"""robosuite NutAssembly's peg for each ``nut_id`` (0 square, 1 round): its ``on_peg`` pairs them so."""

BIN_RELEASE_HEIGHT = 0.06  # m of the object's centre above the bin floor when released


def insert_script(ctx: Ctx) -> Script:
    """Insert the scene's object: a nut over its own peg (NutAssembly), or an object into its
    compartment of PickPlace's target bin (a box with walls, entered from above)."""
    if type(ctx.env).__name__.startswith("PickPlace"):
        yield from _insert_into_bin(ctx)
    else:
        yield from _insert_on_peg(ctx)


def _insert_on_peg(ctx: Ctx) -> Script:
    """Grasp the nut by its handle and lower it over its peg (round nut: peg2, square nut: peg1)."""
    env = ctx.env
    nut = env.nuts[env.nut_id]
    along = ctx.object_pos() - ctx.body_pos(nut.root_body)  # the handle's long axis, horizontal
    ctx.yaw_to(np.cross(UP, along))  # fingers close across the handle bar
    yield from _grasp(ctx, lift=0.2)  # the pegs stand about 13 cm above the table: clear them
    peg = ctx.body_pos(NUT_PEGS[env.nut_id])
    if env.nut_id == 0:  # the square hole only passes the square peg with their sides aligned
        misaligned = (_yaw(ctx, nut.root_body) - _yaw(ctx, NUT_PEGS[0]) + np.pi / 4) % (np.pi / 2) - np.pi / 4
        ctx.q0 = Rotation.from_rotvec(-UP * misaligned) * ctx.q0
        yield from ctx.hold(CLOSE, 15)  # turn in place before moving over the peg

    def nut_error() -> np.ndarray:
        return (peg - ctx.body_pos(nut.root_body))[:2]

    def over_peg(z: float) -> np.ndarray:  # closed loop on the nut (it swings in the grasp), not the hand
        return np.r_[ctx.eef()[:2] + nut_error(), z]

    high = ctx.eef()[2]
    steady = [0]  # consecutive steps within 4 mm: passing over the peg at speed overshoots it

    def settled() -> bool:
        steady[0] = steady[0] + 1 if np.linalg.norm(nut_error()) < 0.004 else 0
        return steady[0] >= 5

    yield from ctx.follow(lambda: over_peg(high), CLOSE, settled, 100)
    low = ctx.eef()[2] - (ctx.body_pos(nut.root_body)[2] - ctx.table_z() - 0.02)
    yield from ctx.follow(lambda: over_peg(low), CLOSE, lambda: ctx.eef()[2] < low + 0.01, 60)
    # open fully before rising: a hand that rises while its fingers still touch the handle lifts
    # the nut back up the peg (Panda, square nut)
    yield from ctx.hold(OPEN, 15)
    yield from ctx.move(ctx.eef() + UP * 0.08, OPEN, tol=0.02, max_steps=30, gain=1.0)


def _insert_into_bin(ctx: Ctx) -> Script:
    """Grasp the object in the source bin, carry it over the wall of the target bin at its
    compartment (``target_bin_placements``), lower it inside and release."""
    env = ctx.env
    yield from _grasp(ctx, lift=0.15)
    goal = np.array(env.target_bin_placements[env.object_id])
    offset = ctx.eef() - ctx.object_pos()
    high = max(ctx.eef()[2], env.bin2_pos[2] + 0.2)
    # the carry is the long reach (~0.5 m): a loose tolerance, the lowering corrects what is left
    yield from ctx.move(np.r_[goal[:2] + offset[:2], high], CLOSE, tol=0.03, max_steps=100)
    release = np.r_[goal[:2] + offset[:2], goal[2] + BIN_RELEASE_HEIGHT + offset[2]]
    yield from ctx.move(release, CLOSE, tol=0.02, max_steps=40)
    yield from ctx.hold(OPEN, 10)
    yield from ctx.move(ctx.eef() + UP * 0.1, OPEN, tol=0.02, max_steps=40)


def insert_success(ctx: Ctx) -> bool:
    """robosuite's own test: the nut around its peg (NutAssembly) or the object inside its bin
    compartment (PickPlace), released (hand > ~7 cm from it)."""
    return bool(ctx.env._check_success())


# -- turn -------------------------------------------------------------------------------------------
TURN_ANGLE = np.pi / 2  # rad commanded about the vertical; success needs TURN_MIN
TURN_MIN = np.deg2rad(60.0)
TURN_STEPS = 30


def _yaw(ctx: Ctx, body: str) -> float:
    mat = np.array(ctx.sim.data.body_xmat[ctx.sim.model.body_name2id(body)]).reshape(3, 3)
    return float(np.arctan2(mat[1, 0], mat[0, 0]))


def _turned_body(ctx: Ctx) -> str:
    """The body whose yaw ``turn`` changes: a nut (NutAssembly) or the object on Lift's table."""
    env = ctx.env
    if hasattr(env, "nuts"):
        return env.nuts[env.nut_id].root_body
    if type(env).__name__ == "Lift":
        return env.cube.root_body
    raise ValueError(f"turn has no script for env {type(env).__name__} (NutAssembly or Lift scenes)")


def _object_turn(ctx: Ctx) -> float:
    """Signed rotation of the turned body about the vertical since the episode started (rad, wrapped)."""
    turn = _yaw(ctx, _turned_body(ctx)) - ctx.start["turn_yaw"][0]
    return float((turn + np.pi) % (2 * np.pi) - np.pi)


def turn_script(ctx: Ctx) -> Script:
    """Grasp the object (a nut by its handle), raise it 3 cm, turn it a quarter turn about its own
    centre (the hand circles the centre while the wrist turns), set it down and release.

    On Lift's table (can, bread, milk) the grasp point is the object's centre, so the hand turns
    in place; on a nut it is the handle, so the hand circles the nut's centre.
    """
    body = _turned_body(ctx)
    ctx.start["turn_yaw"] = np.array([_yaw(ctx, body)])
    if hasattr(ctx.env, "nuts"):
        along = ctx.object_pos() - ctx.body_pos(body)
        ctx.yaw_to(np.cross(UP, along))  # fingers close across the handle bar (as for insert)
    yield from _grasp(ctx, lift=0.03)
    centre = ctx.body_pos(body)
    hand, start = ctx.eef(), ctx.q0
    target, rot = hand, start
    for k in range(1, TURN_STEPS + 16):  # 15 extra steps let the hand catch up with the last target
        turn = Rotation.from_rotvec(UP * TURN_ANGLE * min(k, TURN_STEPS) / TURN_STEPS)
        target, rot = centre + turn.apply(hand - centre), turn * start
        yield ctx.action(target, CLOSE, gain=2.0, rot=rot)
    ctx.q0 = rot
    yield from ctx.move(target - UP * 0.025, CLOSE, tol=0.008, max_steps=30)
    yield from ctx.hold(OPEN, 10)
    yield from ctx.move(ctx.eef() + UP * 0.08, OPEN, tol=0.02, max_steps=30)


def turn_success(ctx: Ctx) -> bool:
    """Object turned >= 60 deg about the vertical, back on the table, hand released and away."""
    if "turn_yaw" not in ctx.start:
        return False
    body = ctx.body_pos(_turned_body(ctx))
    resting = body[2] < ctx.start["object"][2] + 0.01
    away = np.linalg.norm(ctx.eef() - ctx.object_pos()) > 0.05
    return bool(abs(_object_turn(ctx)) >= TURN_MIN and resting and away)


ACTIONS: dict[str, ActionSpec] = {
    "lift": ActionSpec("cube", "table_cube", lift_script, lift_success),
    "pick": ActionSpec("can", "bin_can", pick_script, pick_success),
    "place": ActionSpec("cube", "table_cube", place_script, place_success),
    "push": ActionSpec("cube", "table_cube", push_script, push_success),
    "pull": ActionSpec("cube", "table_cube", pull_script, pull_success),
    "stack": ActionSpec("cube", "two_cubes", stack_script, stack_success),
    "close": ActionSpec("door", "door", close_script, close_success, setup=close_setup),
    "insert": ActionSpec("nut", "round_nut", insert_script, insert_success),
    "turn": ActionSpec("nut", "round_nut", turn_script, turn_success),
    "open": ActionSpec("door", "door", open_script, open_success),
}
"""Atomic actions (plain verbs, as Algorithm 1 captions use them) and how each is scripted."""

SETTLE_STEPS = 5  # objects start ~1 cm above the table and drop: let them settle before planning


def run_episode(env: Any, action: str, seed: int, max_steps: int, min_steps: int = 0) -> Episode:
    """Reset ``env`` with ``seed`` and run the scripted ``action``; nothing is rendered.

    A script that ends before ``min_steps`` is padded by holding still (the gripper as last
    commanded), so every clip has at least as many steps as frames to sample.

    The seed fixes robosuite's initial-pose noise and object placement (both draw from
    ``np.random``), so the same (env, action, seed) gives the same episode bit for bit.
    """
    if action not in ACTIONS:
        raise ValueError(f"action {action!r} has no scripted controller; use one of {sorted(ACTIONS)}")
    spec = ACTIONS[action]
    np.random.seed(seed)
    env.reset()
    ctx = Ctx(env, spec.object)
    if spec.setup is not None:
        spec.setup(ctx)
    for _ in range(SETTLE_STEPS):  # settle without recording (objects drop at start)
        env.step(ctx.action(ctx.eef(), OPEN))
    ctx.q0 = ctx.eef_rot()
    ctx.start["object"] = ctx.object_pos()
    states = [env.sim.get_state().flatten()]
    eef = [ctx.eef()]
    obj = [ctx.object_pos()]
    actions: list[np.ndarray] = []
    succeeded_at = -1

    def padded() -> Script:
        last = OPEN
        for act in spec.script(ctx):
            last = float(act[6])
            yield act
        while len(actions) < min_steps:
            yield from ctx.hold(last, 1)

    for act in padded():
        if len(actions) >= max_steps:
            break
        env.step(act)
        actions.append(act)
        states.append(env.sim.get_state().flatten())
        eef.append(ctx.eef())
        obj.append(ctx.object_pos())
        if succeeded_at < 0 and spec.success(ctx):
            succeeded_at = len(actions)
    success = spec.success(ctx) and len(actions) > 0
    return Episode(
        success=bool(success),
        states=np.asarray(states, dtype=np.float64),
        actions=np.asarray(actions, dtype=np.float32).reshape(-1, 7),
        eef_pos=np.asarray(eef, dtype=np.float32),
        object_pos=np.asarray(obj, dtype=np.float32),
        info={"steps": len(actions), "first_success_step": succeeded_at},
    )
