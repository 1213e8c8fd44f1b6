"""A MuJoCo 7-joint arm as a ``Robot``: the simulation backend of the trial runner.

The arm's kinematic chain comes from the same robot YAML as the safety filter and the fake
controller (``hardware/robots/jaka_k1.yaml``), so one plan's joint goals mean the same pose on all
three backends. Joints are position-controlled (gravity-compensated links, PD actuators); each
action is held for one control period (``1 / control_hz``) of simulated time. The scene is a
table with a cabinet whose middle drawer slides and a roll of tape, viewed by a front camera
rendered at 128 px (``MUJOCO_GL=egl``). The arm does not collide with the scene (keeps it small
and fast); subtask success in simulation is judged from the arm's state (``judge.AutoJudge``).
"""

# ruff: noqa: E501 - MJCF lines read better unbroken
from __future__ import annotations

import logging
from typing import Any

import numpy as np
from roboact.hardware.robot import Robot, RobotFault
from roboact.hardware.safety import SafetyConfig, SafetyFilter, check_joint_move, load_safety_config

logger = logging.getLogger(__name__)

_TIMESTEP = 0.002


def arm_mjcf(cfg: SafetyConfig, image_size: int = 128) -> str:
    """MJCF of the arm (from the YAML chain) in the drawer/tape scene."""
    axes = {"x": "1 0 0", "y": "0 1 0", "z": "0 0 1"}
    tx, ty, tz = cfg.tool_offset
    body = (
        f'<body name="tool" pos="{tx} {ty} {tz}"><site name="tcp" size="0.01"/>'
        '<geom type="box" size="0.01 0.05 0.01" rgba=".2 .2 .2 1"/>'
        '<body name="finger_l" pos="0 0.02 0.03"><joint name="finger_l" type="slide" axis="0 1 0" range="0 0.04"/>'
        '<geom type="box" size="0.008 0.006 0.03" rgba=".3 .3 .3 1"/></body>'
        '<body name="finger_r" pos="0 -0.02 0.03"><joint name="finger_r" type="slide" axis="0 -1 0" range="0 0.04"/>'
        '<geom type="box" size="0.008 0.006 0.03" rgba=".3 .3 .3 1"/></body></body>'
    )
    offsets = [*cfg.link_offsets[1:], cfg.tool_offset]
    for i in reversed(range(cfg.n_joints)):
        ox, oy, oz = cfg.link_offsets[i]
        nx, ny, nz = offsets[i]
        color = ".9 .5 .1 1" if i % 2 else ".85 .85 .85 1"
        body = (
            f'<body name="link{i + 1}" pos="{ox} {oy} {oz}" gravcomp="1">'
            f'<joint name="j{i + 1}" axis="{axes[cfg.joint_axes[i]]}" range="{cfg.joint_lower[i]} {cfg.joint_upper[i]}"/>'
            f'<geom type="capsule" fromto="0 0 0 {nx} {ny} {nz}" size="0.035" rgba="{color}" mass="0.8"/>'
            f"{body}</body>"
        )
    actuators = "".join(
        f'<position name="a{i + 1}" joint="j{i + 1}" kp="400" kv="40" ctrlrange="{cfg.joint_lower[i]} {cfg.joint_upper[i]}"/>'
        for i in range(cfg.n_joints)
    )
    return f"""
<mujoco model="roboact_arm">
  <compiler angle="radian"/>
  <option timestep="{_TIMESTEP}"/>
  <visual><global offwidth="{image_size}" offheight="{image_size}"/><quality shadowsize="0" offsamples="0"/></visual>
  <default><joint damping="5" armature="0.1"/><geom contype="0" conaffinity="0"/></default>
  <worldbody>
    <light pos="0.3 0 2.0" dir="0 0 -1" castshadow="false"/>
    <geom name="floor" type="plane" size="2 2 0.1" pos="0 0 -0.75" rgba=".5 .5 .55 1"/>
    <geom name="table" type="box" pos="0.35 0 -0.02" size="0.65 0.75 0.02" rgba=".6 .45 .3 1" contype="1" conaffinity="1"/>
    <body name="cabinet" pos="0.62 0.3 0.15">
      <geom type="box" size="0.15 0.2 0.15" rgba=".4 .4 .45 1" contype="1" conaffinity="1"/>
      <body name="drawer" pos="-0.16 0 0.0">
        <joint name="drawer" type="slide" axis="-1 0 0" range="0 0.2" damping="10"/>
        <geom type="box" size="0.01 0.15 0.05" rgba=".75 .75 .8 1"/>
      </body>
    </body>
    <body name="tape" pos="0.45 -0.25 0.03">
      <freejoint/>
      <geom type="cylinder" size="0.04 0.02" rgba=".95 .85 .2 1" contype="1" conaffinity="1" mass="0.05"/>
    </body>
    <camera name="front" pos="1.5 0 1.0" xyaxes="0 1 0 -0.5 0 1.2" fovy="55"/>
    <body name="base" pos="0 0 0">
      <geom type="cylinder" size="0.07 0.03" pos="0 0 0.03" rgba=".2 .2 .25 1"/>
      {body}
    </body>
  </worldbody>
  <actuator>{actuators}
    <position name="grip_l" joint="finger_l" kp="200" kv="10" ctrlrange="0 0.04"/>
    <position name="grip_r" joint="finger_r" kp="200" kv="10" ctrlrange="0 0.04"/>
  </actuator>
</mujoco>"""


class SimRobot(Robot):
    """MuJoCo arm with the same action space and safety filter as the JAKA backend."""

    name = "sim"

    def __init__(
        self, safety: SafetyConfig | None = None, image_size: int = 128, render: bool = True
    ) -> None:
        self.safety = safety or load_safety_config("jaka_k1")
        self.n_joints = self.safety.n_joints
        self.image_size = (image_size, image_size)
        self.render_images = render
        self.filter = SafetyFilter(self.safety)
        self.model = self.data = self.renderer = None
        self.fault: RobotFault | None = None
        self._gripper = 0.0

    @property
    def is_connected(self) -> bool:
        return self.model is not None

    def connect(self) -> None:
        from roboact.headless import configure_gl

        configure_gl()
        import mujoco

        self._mj = mujoco
        self.model = mujoco.MjModel.from_xml_string(arm_mjcf(self.safety, self.image_size[0]))
        self.data = mujoco.MjData(self.model)
        self._substeps = max(1, round(1.0 / self.safety.control_hz / _TIMESTEP))
        self.reset_scene()

    def reset_scene(self) -> None:
        """Arm at home, drawer closed, tape at its spot (``mj_resetData`` is cheap)."""
        mj = self._mj
        mj.mj_resetData(self.model, self.data)
        home = np.asarray(self.safety.home)
        self.data.qpos[self._qadr()] = home
        self.data.ctrl[: self.n_joints] = home
        mj.mj_forward(self.model, self.data)
        self.filter.reset(home, 0.0)
        self._gripper = 0.0

    def _qadr(self) -> list[int]:
        return [int(self.model.joint(f"j{i + 1}").qposadr[0]) for i in range(self.n_joints)]

    def joints(self) -> np.ndarray:
        return np.array(self.data.qpos[self._qadr()])

    def get_observation(self) -> dict[str, Any]:
        joints = self.joints()
        grip = float(self.data.qpos[self.model.joint("finger_l").qposadr[0]] / 0.04)
        return {
            "image": self.render() if self.render_images else np.zeros((*self.image_size, 3), np.uint8),
            "state": np.append(joints, grip).astype(np.float32),
            "joints": joints,
            "gripper": grip,
            "tcp": np.array(self.data.site("tcp").xpos),
        }

    def render(self) -> np.ndarray:
        if self.renderer is None:
            self.renderer = self._mj.Renderer(self.model, *self.image_size)
        self.renderer.update_scene(self.data, camera="front")
        return self.renderer.render().copy()

    def send_action(self, action: np.ndarray) -> np.ndarray:
        if self.fault is not None:
            raise self.fault
        safe, _ = self.filter(action)
        self.data.ctrl[: self.n_joints] = safe[: self.n_joints]
        self.data.ctrl[self.n_joints :] = float(safe[self.n_joints]) * 0.04
        self._gripper = float(safe[self.n_joints])
        self._mj.mj_step(self.model, self.data, nstep=self._substeps)
        return safe

    def move_home(self) -> None:
        check_joint_move(np.asarray(self.safety.home), 1.0, 1.0, self.safety)
        self.reset_scene()

    def stop(self) -> None:
        if self.data is not None:
            self.data.ctrl[: self.n_joints] = self.joints()

    def clear_fault(self) -> None:
        self.fault = None

    def disconnect(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
        self.model = self.data = self.renderer = None
