"""LIBERO scripted experts T1-T6: OSC_POSE towards Cartesian targets from robosuite's privileged state.

OSC_POSE action: ``[dx, dy, dz, ax, ay, az, grip]`` in [-1, 1], position scaled by 0.05 m, rotation
by 0.5 rad (world axis-angle), grip -1 open / +1 close.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from roboact.sim_workers.expert_base import (
    Phase,
    ScriptedExpert,
    Vec,
    _mat_quat,
    _quat_err_world,
    _quat_zaxis,
    _up,
    quat_rotate_world,
)


class LiberoExpert(ScriptedExpert):
    """OSC_POSE control towards Cartesian targets from robosuite's privileged state."""

    suite = "libero"
    kp = 1.0  # fraction of the position error commanded per step (scaled by the 0.05 m range)

    @property
    def sim(self) -> Any:
        return self.env.sim

    def body(self, name: str) -> Vec:
        return self.sim.data.body_xpos[self.sim.model.body_name2id(name)].copy()

    def site(self, name: str) -> Vec:
        return self.sim.data.site_xpos[self.sim.model.site_name2id(name)].copy()

    def geom(self, name: str) -> Vec:
        return self.sim.data.geom_xpos[self.sim.model.geom_name2id(name)].copy()

    def joint(self, name: str) -> float:
        m = self.sim.model
        return float(self.sim.data.qpos[m.jnt_qposadr[m.joint_name2id(name)]])

    def eef_pos(self) -> Vec:
        return self.site("gripper0_grip_site")

    def eef_quat(self) -> Vec:
        m = self.sim.model
        return _mat_quat(self.sim.data.site_xmat[m.site_name2id("gripper0_grip_site")])

    def control(self, target: Vec, q_target: Vec, grip: float, speed: float) -> np.ndarray:
        dp = (target - self.eef_pos()) / 0.05 * self.kp
        n = np.linalg.norm(dp)
        if n > speed:
            dp *= speed / n
        dr = np.clip(_quat_err_world(q_target, self.eef_quat()) / 0.5, -1, 1)
        return np.concatenate([dp, dr, [grip]]).astype(np.float32)


class OpenMiddleDrawer(LiberoExpert):
    """T1: turn the gripper to face the drawer, grasp the handle bar from the front, pull it out.

    A top-down grasp is blocked by the top drawer above the handle, so the gripper pitches 90 deg
    (fingers vertical) and closes on the horizontal bar from the front.
    """

    handle = "wooden_cabinet_1_g29"
    slide_joint = "wooden_cabinet_1_middle_level"

    def plan(self) -> list[Phase]:
        pull = -self.env.sim.data.xaxis[self.sim.model.joint_name2id(self.slide_joint)]  # opening direction
        side = np.cross([0.0, 0.0, 1.0], pull)  # horizontal axis to pitch about
        facing = quat_rotate_world(self.q0, side, -np.pi / 2)
        if np.dot(_quat_zaxis(facing), -pull) < 0.9:
            facing = quat_rotate_world(self.q0, side, np.pi / 2)
        h = lambda e: e.geom(e.handle)  # noqa: E731
        rot = lambda e: facing  # noqa: E731
        return [
            Phase("front", lambda e: h(e) + pull * 0.12, -1, tol=0.015, max_steps=80, rot=rot),
            Phase("reach", lambda e: h(e) - pull * 0.02, -1, tol=0.006, max_steps=40, rot=rot, speed=0.5),
            Phase("grasp", lambda e: h(e) - pull * 0.02, 1, min_steps=10, max_steps=10, rot=rot),
            Phase(
                "pull",
                lambda e: h(e) + pull * 0.06,
                1,
                max_steps=100,
                speed=0.3,
                rot=rot,
                done=lambda e: e.joint(e.slide_joint) < -0.155,
            ),
            Phase("release", lambda e: h(e), -1, max_steps=8, rot=rot),
            Phase("hold", lambda e: h(e) + pull * 0.1, -1, max_steps=10**6, rot=rot),
        ]


class PushPlate(LiberoExpert):
    """T2: two straight pushes with the closed gripper turned 90 deg (palm edge-on to the cabinet).

    Leg 1 pushes the plate along +y until it is level with the stove-front region, leg 2 along
    x onto it. A single diagonal push needs a stand-off behind the plate that the hand cannot
    reach: the cabinet stands there and the palm is 20 cm wide across the fingers.
    """

    def plan(self) -> list[Phase]:
        goal = self.site("main_table_stove_front_region")
        plate = lambda e: e.body("plate_1_main")  # noqa: E731
        yaw = quat_rotate_world(self.q0, np.array([0.0, 0.0, 1.0]), np.pi / 2)
        rot = lambda e: yaw  # noqa: E731
        ey, ex = np.array([0.0, 1.0, 0.0]), np.array([np.sign(goal[0] - plate(self)[0]) or -1.0, 0.0, 0.0])

        def flat(p: Vec) -> Vec:
            return p * [1, 1, 0]

        return [
            Phase(
                "y_high",
                lambda e: flat(plate(e) - ey * 0.075) + _up(plate(e)[2] + 0.12),
                1,
                tol=0.015,
                rot=rot,
            ),
            Phase(
                "y_low", lambda e: flat(plate(e) - ey * 0.075) + _up(plate(e)[2] + 0.02), 1, tol=0.01, rot=rot
            ),
            Phase(
                "y_push",
                lambda e: flat(plate(e) - ey * 0.02) + _up(plate(e)[2] + 0.02),
                1,
                max_steps=90,
                speed=0.5,
                rot=rot,
                done=lambda e: plate(e)[1] > goal[1] - 0.005,
            ),
            Phase("lift", lambda e: e.mem["entry"] + _up(0.1), 1, tol=0.015, rot=rot),
            Phase(
                "x_high",
                lambda e: flat(plate(e) - ex * 0.075) + _up(plate(e)[2] + 0.12),
                1,
                tol=0.015,
                rot=rot,
            ),
            Phase(
                "x_low", lambda e: flat(plate(e) - ex * 0.075) + _up(plate(e)[2] + 0.02), 1, tol=0.01, rot=rot
            ),
            Phase(
                "x_push",
                lambda e: flat(plate(e) - ex * 0.02) + _up(plate(e)[2] + 0.02),
                1,
                max_steps=60,
                speed=0.5,
                rot=rot,
                done=lambda e: abs(plate(e)[0] - goal[0]) < 0.012,
            ),
            Phase("retreat", lambda e: e.mem["entry"] + _up(0.08), 1, max_steps=10**6, rot=rot),
        ]


class CheeseInBowl(LiberoExpert):
    """T3: pick the cream cheese from above and drop it into the bowl."""

    obj = "cream_cheese_1_main"
    target_body = "akita_black_bowl_1_main"
    drop_height = 0.09

    def plan(self) -> list[Phase]:
        o = lambda e: e.body(e.obj)  # noqa: E731
        t = lambda e: e.body(e.target_body)  # noqa: E731
        return [
            Phase("above", lambda e: o(e) + _up(0.1), -1, tol=0.01),
            Phase("descend", lambda e: o(e) + _up(0.0), -1, tol=0.006, max_steps=50),
            Phase("grasp", lambda e: o(e) + _up(0.0), 1, min_steps=12, max_steps=12),
            Phase("lift", lambda e: e.mem["entry"] * [1, 1, 0] + _up(t(e)[2] + 0.16), 1, tol=0.015),
            Phase("carry", lambda e: t(e) + _up(0.16), 1, tol=0.012, max_steps=80),
            Phase("lower", lambda e: t(e) + _up(e.drop_height), 1, tol=0.01),
            Phase("release", lambda e: t(e) + _up(e.drop_height), -1, min_steps=10, max_steps=10),
            Phase("hold", lambda e: t(e) + _up(0.2), -1, max_steps=10**6),
        ]


class TurnOnStove(LiberoExpert):
    """T4: push the stove knob's lever sideways, following its tip round, past the 'on' angle."""

    knob = "flat_stove_1_button"
    tip_geom = "flat_stove_1_g22"

    def plan(self) -> list[Phase]:
        m, d = self.sim.model, self.sim.data
        anchor = d.xanchor[m.joint_name2id(self.knob)].copy()

        def frame(e: LiberoExpert) -> tuple[Vec, Vec, Vec]:
            tip = e.geom(e.tip_geom)
            radial = (tip - anchor) * [1, 1, 0]
            radial /= np.linalg.norm(radial)
            return tip, radial, np.cross([0, 0, 1.0], radial)  # +z rotation moves the tip along tangent

        tip0, radial0, tangent0 = frame(self)
        z = tip0[2] + 0.005
        start = tip0 - tangent0 * 0.04 - radial0 * 0.005

        def push(e: LiberoExpert) -> Vec:
            tip, radial, tangent = frame(e)
            return tip + tangent * 0.05 - radial * 0.008 + _up(z - tip[2])

        return [
            Phase("above", lambda e: start * [1, 1, 0] + _up(z + 0.08), 1, tol=0.012),
            Phase("down", lambda e: start * [1, 1, 0] + _up(z), 1, tol=0.008),
            Phase("push", push, 1, max_steps=80, speed=1.0, done=lambda e: e.joint(e.knob) > 0.6),
            Phase("up", lambda e: e.mem["entry"] + _up(0.08), 1, max_steps=10**6),
        ]


class SoupAndCheeseInBasket(LiberoExpert):
    """T5 (libero_10): pick-and-place twice, alphabet soup then cream cheese, into the basket."""

    def _pick_place(self, obj: str, tag: str) -> list[Phase]:
        o = lambda e: e.body(obj)  # noqa: E731
        t = lambda e: e.body("basket_1_main")  # noqa: E731
        return [
            Phase(f"{tag}_above", lambda e: o(e) + _up(0.12), -1, tol=0.012),
            Phase(f"{tag}_descend", lambda e: o(e) + _up(0.0), -1, tol=0.006, max_steps=50),
            Phase(f"{tag}_grasp", lambda e: o(e), 1, min_steps=12, max_steps=12),
            Phase(f"{tag}_lift", lambda e: e.mem["entry"] * [1, 1, 0] + _up(t(e)[2] + 0.25), 1, tol=0.015),
            Phase(f"{tag}_carry", lambda e: t(e) + _up(0.25), 1, tol=0.015, max_steps=80),
            Phase(f"{tag}_lower", lambda e: t(e) + _up(0.14), 1, tol=0.015),
            Phase(f"{tag}_release", lambda e: t(e) + _up(0.14), -1, min_steps=10, max_steps=10),
            Phase(f"{tag}_up", lambda e: t(e) + _up(0.25), -1, tol=0.02),
        ]

    def plan(self) -> list[Phase]:
        phases = self._pick_place("alphabet_soup_1_main", "soup") + self._pick_place(
            "cream_cheese_1_main", "cheese"
        )
        phases.append(Phase("hold", lambda e: e.mem["entry"], -1, max_steps=10**6))
        return phases


class BowlInBottomDrawer(LiberoExpert):
    """T6 (libero_10): bowl into the (open) bottom drawer, then push the drawer closed."""

    def plan(self) -> list[Phase]:
        m, d = self.sim.model, self.sim.data
        jid = m.joint_name2id("white_cabinet_1_bottom_level")
        close_dir = d.xaxis[jid].copy()  # qpos rises towards closed (open < -0.14)
        bowl = lambda e: e.body("akita_black_bowl_1_main")  # noqa: E731
        region = lambda e: e.site("white_cabinet_1_bottom_region")  # noqa: E731
        front = lambda e: region(e) - close_dir * 0.12  # noqa: E731
        return [
            Phase("bowl_above", lambda e: bowl(e) + np.array([0.0, 0.045, 0.1]), -1, tol=0.012),
            Phase("bowl_descend", lambda e: bowl(e) + np.array([0.0, 0.045, 0.01]), -1, tol=0.006),
            Phase(
                "bowl_grasp", lambda e: bowl(e) + np.array([0.0, 0.045, 0.01]), 1, min_steps=12, max_steps=12
            ),
            Phase("bowl_lift", lambda e: e.mem["entry"] + _up(0.2), 1, tol=0.015),
            Phase("carry", lambda e: region(e) + _up(0.2), 1, tol=0.015, max_steps=80),
            Phase("lower", lambda e: region(e) + _up(0.08), 1, tol=0.012),
            Phase("release", lambda e: region(e) + _up(0.08), -1, min_steps=10, max_steps=10),
            Phase("up", lambda e: e.mem["entry"] + _up(0.12), -1, tol=0.015),
            Phase("front_high", lambda e: front(e) + _up(0.12), 1, tol=0.015),
            Phase("front_low", lambda e: front(e) + _up(0.03), 1, tol=0.012),
            Phase(
                "push",
                lambda e: front(e) + close_dir * 0.25 + _up(0.03),
                1,
                max_steps=80,
                speed=0.5,
                done=lambda e: e.joint("white_cabinet_1_bottom_level") > 0.0,
            ),
            Phase("hold", lambda e: e.mem["entry"] + _up(0.08), 1, max_steps=10**6),
        ]
