"""The physical drawer-and-tape scene (paper Sec. IV-D) in MuJoCo: one model behind the sim arm and the fake.

The arm's kinematic chain comes from the robot YAML (``hardware/robots/jaka_k1.yaml``), so a joint
pose means the same tool pose here, in the safety filter and in the fake controller. The scene is
the paper's task: a cabinet whose middle drawer slides on a joint with friction and damping and has
a handle fin on its front, and a roll of tape (a free body) that starts inside the drawer. The
gripper's two fingers are position-servoed slides with a force limit; they hold the tape or the
handle only by contact and friction.

Contacts, and why these parameters:

- Scene geoms (table, cabinet, drawer, tape) collide with each other; arm links, palm and fingers
  collide with the scene but not with each other (contype/conaffinity bits 2 and 1).
- Elliptic friction cones with ``impratio=10``, as MuJoCo Menagerie's gripper scenes use: the
  tangential force of a grasp is then as stiff as the normal one, so a held tape roll does not creep
  out between the fingers while the arm moves at its speeds (tested).
- Fingers: friction 1.5 with torsional friction (``condim=4``) so the roll does not spin about the
  finger axis; a stiff ``solref`` so the roll sits firmly. The finger servo (kp 800, force limit
  12 N) squeezes the 5 cm roll with about 12 N per finger, ten times its weight at friction 1.5.
- The drawer's slide has damping 6 N s/m and 1.5 N of dry friction: a pull of a few newtons
  through the gripped handle opens it, a nudge does not.

``DrawerTapeScene`` owns the model and data: ``reset(seed)`` (seeded variation of the tape's spot in
the drawer and the drawer's start opening), ``step(targets, grip, seconds)``, ``state()`` (what the
``SceneJudge`` decides from) and ``render()``. Rendering needs ``MUJOCO_GL=egl`` headless.
"""

# ruff: noqa: E501 - MJCF lines read better unbroken
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from roboact.hardware.safety import SafetyConfig

logger = logging.getLogger(__name__)

TIMESTEP = 0.002
FINGER_TRAVEL = 0.045
"""m: each finger's closing travel (0 = open)"""
FINGER_OPEN_GAP = 0.044
"""m: half the gap between the open fingers' inner faces"""
TAPE_RADIUS, TAPE_HALF_HEIGHT = 0.025, 0.025
DRAWER_FRONT_X = 0.50
"""m: world x of the closed drawer's front plate (the cabinet's front face)"""
DRAWER_Y = 0.25
FLOOR_TOP_Z = 0.075
"""m: top of the drawer's floor (the table top is z = 0)"""
HANDLE_LOCAL = (-0.06, 0.0, 0.13)
"""grasp point on the handle fin, drawer frame (x towards the cabinet's back)"""
FIN_FRONT_LOCAL = -0.08
"""x of the fin's front face (towards the robot), drawer frame"""
DRAWER_INNER = ((0.0, 0.26), (-0.16, 0.16))
"""x and y extent of the drawer's inside, drawer frame (m)"""
TAPE_HOME_LOCAL = (0.075, 0.0)
"""tape's nominal spot on the drawer floor, drawer frame (m)"""


@dataclass
class SceneVariation:
    """Seeded start-state variation (``reset(seed)``); zero everywhere gives the nominal scene."""

    tape_xy: float = 0.012
    """m: the tape's spot in the drawer varies uniformly by +- this in x and y"""
    drawer_open: float = 0.01
    """m: the drawer starts open by U(0, this) (an operator's imperfect reset)"""


def scene_mjcf(cfg: SafetyConfig, image_size: int = 128) -> str:
    """MJCF of the arm (from the YAML chain) in the drawer-and-tape scene."""
    axes = {"x": "1 0 0", "y": "0 1 0", "z": "0 0 1"}
    tx, ty, tz = cfg.tool_offset
    finger = 'class="finger" type="box" size="0.008 0.006 0.025" rgba=".25 .25 .28 1"'
    body = (
        f'<body name="tool" pos="{tx} {ty} {tz}"><site name="tcp" size="0.01"/>'
        '<geom class="arm" type="box" size="0.012 0.058 0.01" rgba=".2 .2 .2 1"/>'
        f'<body name="finger_l" pos="0 {FINGER_OPEN_GAP + 0.006} 0.035">'
        f'<joint name="finger_l" type="slide" axis="0 -1 0" range="0 {FINGER_TRAVEL}" damping="2" armature="0.01"/>'
        f'<geom name="finger_l" {finger}/></body>'
        f'<body name="finger_r" pos="0 {-FINGER_OPEN_GAP - 0.006} 0.035">'
        f'<joint name="finger_r" type="slide" axis="0 1 0" range="0 {FINGER_TRAVEL}" damping="2" armature="0.01"/>'
        f'<geom name="finger_r" {finger}/></body></body>'
    )
    offsets = [*cfg.link_offsets[1:], cfg.tool_offset]
    for i in reversed(range(cfg.n_joints)):
        ox, oy, oz = cfg.link_offsets[i]
        nx, ny, nz = offsets[i]
        if i == cfg.n_joints - 1:  # the last link stops short of the palm: its cap must not reach past it
            scale = max(0.0, 1.0 - 0.05 / max(1e-9, float(np.linalg.norm(offsets[i]))))
            nx, ny, nz = nx * scale, ny * scale, nz * scale
        color = ".9 .5 .1 1" if i % 2 else ".85 .85 .85 1"
        body = (
            f'<body name="link{i + 1}" pos="{ox} {oy} {oz}" gravcomp="1">'
            f'<joint name="j{i + 1}" axis="{axes[cfg.joint_axes[i]]}" range="{cfg.joint_lower[i]} {cfg.joint_upper[i]}"/>'
            f'<geom class="arm" type="capsule" fromto="0 0 0 {nx} {ny} {nz}" size="0.035" rgba="{color}" mass="0.8"/>'
            f"{body}</body>"
        )
    actuators = "".join(
        f'<position name="a{i + 1}" joint="j{i + 1}" kp="5000" kv="60" ctrlrange="{cfg.joint_lower[i]} {cfg.joint_upper[i]}"/>'
        for i in range(cfg.n_joints)
    )
    hx, hy, hz = HANDLE_LOCAL
    return f"""
<mujoco model="roboact_drawer_tape">
  <compiler angle="radian"/>
  <option timestep="{TIMESTEP}" cone="elliptic" impratio="10" integrator="implicitfast"/>
  <visual><global offwidth="{image_size}" offheight="{image_size}"/><quality shadowsize="0" offsamples="0"/></visual>
  <default>
    <joint damping="1" armature="0.1"/>
    <geom contype="0" conaffinity="0"/>
    <default class="scene"><geom contype="1" conaffinity="1" friction="0.8 0.005 0.0001"/></default>
    <default class="arm"><geom contype="2" conaffinity="1"/></default>
    <default class="finger"><geom contype="2" conaffinity="1" friction="1.5 0.02 0.002" condim="4" solref="0.004 1" solimp="0.95 0.99 0.001"/></default>
  </default>
  <worldbody>
    <light pos="0.3 -0.3 2.0" dir="0 0.2 -1" castshadow="false"/>
    <geom name="floor" type="plane" size="2 2 0.1" pos="0 0 -0.75" rgba=".5 .5 .55 1"/>
    <geom name="table" class="scene" type="box" pos="0.35 0 -0.02" size="0.65 0.75 0.02" rgba=".6 .45 .3 1"/>
    <body name="cabinet" pos="{DRAWER_FRONT_X + 0.16} {DRAWER_Y} 0">
      <geom class="scene" type="box" pos="0 0 0.03" size="0.16 0.2 0.03" rgba=".4 .4 .45 1"/>
      <geom class="scene" type="box" pos="0 0 0.235" size="0.16 0.2 0.065" rgba=".4 .4 .45 1"/>
      <geom class="scene" type="box" pos="0 0.19 0.115" size="0.16 0.01 0.055" rgba=".4 .4 .45 1"/>
      <geom class="scene" type="box" pos="0 -0.19 0.115" size="0.16 0.01 0.055" rgba=".4 .4 .45 1"/>
      <geom class="scene" type="box" pos="0.15 0 0.115" size="0.01 0.18 0.055" rgba=".4 .4 .45 1"/>
      <geom type="box" pos="-0.162 0 0.235" size="0.003 0.17 0.05" rgba=".7 .7 .75 1"/>
      <body name="drawer" pos="-0.16 0 0">
        <joint name="drawer" type="slide" axis="-1 0 0" range="0 0.2" damping="6" frictionloss="1.5" armature="0.05"/>
        <inertial pos="0.13 0 0.1" mass="0.8" diaginertia="0.01 0.01 0.01"/>
        <geom class="scene" type="box" pos="-0.005 0 0.115" size="0.005 0.18 0.052" rgba=".75 .75 .8 1"/>
        <geom class="scene" type="box" pos="0.14 0 0.07" size="0.14 0.17 0.005" rgba=".7 .7 .72 1"/>
        <geom class="scene" type="box" pos="0.14 0.165 0.105" size="0.14 0.005 0.03" rgba=".7 .7 .72 1"/>
        <geom class="scene" type="box" pos="0.14 -0.165 0.105" size="0.14 0.005 0.03" rgba=".7 .7 .72 1"/>
        <geom class="scene" type="box" pos="0.275 0 0.105" size="0.005 0.17 0.03" rgba=".7 .7 .72 1"/>
        <geom name="handle" class="scene" type="box" pos="-0.045 0 {hz}" size="0.035 0.012 0.015" rgba=".15 .15 .15 1" friction="1.2 0.02 0.002"/>
        <site name="handle" pos="{hx} {hy} {hz}" size="0.005"/>
      </body>
    </body>
    <body name="tape" pos="{DRAWER_FRONT_X + TAPE_HOME_LOCAL[0]} {DRAWER_Y} {FLOOR_TOP_Z + TAPE_HALF_HEIGHT + 0.001}">
      <freejoint name="tape"/>
      <geom name="tape" class="scene" type="cylinder" size="{TAPE_RADIUS} {TAPE_HALF_HEIGHT}" mass="0.08" rgba=".95 .85 .2 1" friction="1 0.02 0.002"/>
    </body>
    <body name="camera_target" pos="0.36 0.3 0.06"/>
    <camera name="front" pos="0.05 -0.35 0.75" mode="targetbody" target="camera_target" fovy="55"/>
    <body name="base" pos="0 0 0">
      <geom type="cylinder" size="0.07 0.03" pos="0 0 0.03" rgba=".2 .2 .25 1"/>
      {body}
    </body>
  </worldbody>
  <actuator>{actuators}
    <position name="grip_l" joint="finger_l" kp="800" kv="15" forcerange="-12 12" ctrlrange="0 {FINGER_TRAVEL}"/>
    <position name="grip_r" joint="finger_r" kp="800" kv="15" forcerange="-12 12" ctrlrange="0 {FINGER_TRAVEL}"/>
  </actuator>
</mujoco>"""


class DrawerTapeScene:
    """The MuJoCo model and data of the scene, with the arm driven by joint targets."""

    def __init__(
        self, cfg: SafetyConfig, image_size: int = 128, variation: SceneVariation | None = None
    ) -> None:
        import mujoco

        self._mj = mujoco
        self.cfg = cfg
        self.variation = variation or SceneVariation()
        self.image_size = image_size
        self.model = mujoco.MjModel.from_xml_string(scene_mjcf(cfg, image_size))
        self.data = mujoco.MjData(self.model)
        self.renderer: Any = None
        m = self.model
        self.n = cfg.n_joints
        self._arm_q = np.array([m.joint(f"j{i + 1}").qposadr[0] for i in range(self.n)])
        self._arm_v = np.array([m.joint(f"j{i + 1}").dofadr[0] for i in range(self.n)])
        self._finger_q = np.array([m.joint("finger_l").qposadr[0], m.joint("finger_r").qposadr[0]])
        self._drawer_q = int(m.joint("drawer").qposadr[0])
        self._tape_q = int(m.joint("tape").qposadr[0])
        self._tape_geom = m.geom("tape").id
        self._fingers = {m.geom("finger_l").id, m.geom("finger_r").id}
        self._table = m.geom("table").id
        self._drawer_body = m.body("drawer").id
        self.seed = 0

    # -- driving -------------------------------------------------------------------------------------

    def reset(self, seed: int = 0, joints: np.ndarray | None = None) -> None:
        """Arm at ``joints`` (default home), fingers open, drawer (nearly) shut, tape in the drawer."""
        mj = self._mj
        mj.mj_resetData(self.model, self.data)
        self.seed = int(seed)
        rng = np.random.default_rng(seed)
        v = self.variation
        opening = float(rng.uniform(0.0, v.drawer_open)) if v.drawer_open > 0 else 0.0
        dx, dy = rng.uniform(-v.tape_xy, v.tape_xy, 2) if v.tape_xy > 0 else (0.0, 0.0)
        q = np.asarray(self.cfg.home if joints is None else joints, dtype=float)
        d = self.data
        d.qpos[self._arm_q] = q
        d.ctrl[: self.n] = q
        d.qpos[self._drawer_q] = opening
        x = DRAWER_FRONT_X - opening + TAPE_HOME_LOCAL[0] + dx
        d.qpos[self._tape_q : self._tape_q + 7] = (
            x,
            DRAWER_Y + TAPE_HOME_LOCAL[1] + dy,
            FLOOR_TOP_Z + TAPE_HALF_HEIGHT + 0.0005,
            1,
            0,
            0,
            0,
        )
        mj.mj_forward(self.model, self.data)
        self.settle(0.1)

    def settle(self, seconds: float) -> None:
        """Step with the current controls (the tape comes to rest after a reset)."""
        self._mj.mj_step(self.model, self.data, nstep=max(1, round(seconds / TIMESTEP)))

    def set_arm(self, joints: np.ndarray) -> None:
        """Teleport the arm (homing between trials: the scene keeps its state, the arm jumps)."""
        self.data.qpos[self._arm_q] = joints
        self.data.qvel[self._arm_v] = 0.0
        self.data.ctrl[: self.n] = joints
        self._mj.mj_forward(self.model, self.data)

    def step(self, targets: np.ndarray, grip: float, seconds: float) -> None:
        """Hold joint ``targets`` and gripper command ``grip`` (0 open, 1 closed) for ``seconds``."""
        self.data.ctrl[: self.n] = targets
        self.data.ctrl[self.n : self.n + 2] = float(np.clip(grip, 0.0, 1.0)) * FINGER_TRAVEL
        self._mj.mj_step(self.model, self.data, nstep=max(1, round(seconds / TIMESTEP)))

    # -- reading -------------------------------------------------------------------------------------

    def joints(self) -> np.ndarray:
        return np.array(self.data.qpos[self._arm_q])

    def gripper(self) -> float:
        """Measured closure in [0, 1] (fingers' mean travel); stops short of 1 on a held object."""
        return float(np.mean(self.data.qpos[self._finger_q]) / FINGER_TRAVEL)

    def tcp(self) -> np.ndarray:
        return np.array(self.data.site("tcp").xpos)

    def drawer_opening(self) -> float:
        return float(self.data.qpos[self._drawer_q])

    def tape_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Tape centre (m) and its axis (unit vector) in the world frame."""
        return np.array(self.data.xpos[self.model.body("tape").id]), np.array(
            self.data.xmat[self.model.body("tape").id].reshape(3, 3)[:, 2]
        )

    def tape_contacts(self) -> set[str]:
        """What the tape touches now: any of ``finger_l``, ``finger_r``, ``table``, ``drawer``, ``other``."""
        m, d = self.model, self.data
        out: set[str] = set()
        for c in d.contact[: d.ncon]:
            if self._tape_geom not in (c.geom1, c.geom2):
                continue
            other = c.geom2 if c.geom1 == self._tape_geom else c.geom1
            if other in self._fingers:
                out.add(m.geom(other).name)
            elif other == self._table:
                out.add("table")
            elif m.geom_bodyid[other] == self._drawer_body:
                out.add("drawer")
            else:
                out.add("other")
        return out

    def tape_in_drawer(self) -> bool:
        """Whether the tape's centre lies inside the drawer's box (drawer frame, below its rim)."""
        pos, _ = self.tape_pose()
        front = DRAWER_FRONT_X - self.drawer_opening()
        lx, ly = pos[0] - front, pos[1] - DRAWER_Y
        (x0, x1), (y0, y1) = DRAWER_INNER
        return bool(x0 <= lx <= x1 and y0 <= ly <= y1 and pos[2] < 0.135 + TAPE_HALF_HEIGHT)

    def handle_pos(self) -> np.ndarray:
        return np.array(self.data.site("handle").xpos)

    def state(self) -> dict[str, Any]:
        """The scene's state as plain values (JSON-able): what the judge and the scripted operator read."""
        pos, axis = self.tape_pose()
        contacts = self.tape_contacts()
        return {
            "drawer_opening": self.drawer_opening(),
            "handle": self.handle_pos().tolist(),
            "tape": pos.tolist(),
            "tape_tilt_deg": float(np.degrees(np.arccos(np.clip(abs(axis[2]), 0.0, 1.0)))),
            "tape_bottom": float(pos[2] - TAPE_HALF_HEIGHT),
            "tape_held": bool({"finger_l", "finger_r"} <= contacts),
            "tape_contacts": sorted(contacts),
            "tape_in_drawer": self.tape_in_drawer(),
            "gripper": self.gripper(),
            "tcp": self.tcp().tolist(),
            "seed": self.seed,
        }

    def render(self, camera: str = "front") -> np.ndarray:
        if self.renderer is None:
            self.renderer = self._mj.Renderer(self.model, self.image_size, self.image_size)
        self.renderer.update_scene(self.data, camera=camera)
        return self.renderer.render().copy()

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
            self.renderer = None
