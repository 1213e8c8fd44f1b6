"""Scripted experts with privileged simulator state, one per task (demonstrations for Sec. IV.B).

Each expert is a short list of phases (reach, grasp, pull/push/turn, place ...); a phase has a
Cartesian target computed from the *current* privileged state (object and handle poses, joint
angles), a gripper command and an exit test. Two low-level controllers turn a Cartesian target into
the suite's own action:
- LIBERO (OSC_POSE): ``[dx, dy, dz, ax, ay, az, grip]`` in [-1, 1], position scaled by 0.05 m,
  rotation by 0.5 rad (world axis-angle), grip -1 open / +1 close.
- Franka Kitchen (joint velocity, 9-d): damped least-squares inverse of the end-effector site
  Jacobian, a null-space pull to the start posture, fingers opened/closed by velocity.
Experts implement the Policy protocol (``reset`` / ``act``) and need ``bind_env(env)`` first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

Vec = np.ndarray


@dataclass
class Phase:
    """One step of a plan: go to ``target(expert)`` with the gripper at ``grip``."""

    name: str
    target: Callable[[Any], Vec]
    grip: float  # -1 open, +1 closed (both suites' convention here)
    tol: float = 0.01  # m: position error that ends the phase
    max_steps: int = 60
    min_steps: int = 0
    done: Callable[[Any], bool] | None = None  # extra exit test (e.g. a joint angle reached)
    rot: Callable[[Any], Vec] | None = None  # target orientation quaternion (w, x, y, z); None = start
    speed: float = 1.0  # cap on the Cartesian step (fraction of the controller's maximum)


def _quat_err_world(q_target: Vec, q_cur: Vec) -> Vec:
    """World-frame rotation vector that takes ``q_cur`` to ``q_target`` (both w, x, y, z)."""
    import mujoco

    res = np.zeros(3)
    mujoco.mju_subQuat(res, q_target, q_cur)  # in q_cur's frame
    mat = np.zeros(9)
    mujoco.mju_quat2Mat(mat, q_cur)
    return mat.reshape(3, 3) @ res


def _mat_quat(mat: Vec) -> Vec:
    import mujoco

    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.asarray(mat, dtype=np.float64).reshape(9))
    return q


def quat_rotate_world(q: Vec, axis: Vec, angle: float) -> Vec:
    """Pre-multiply ``q`` by a world-frame rotation of ``angle`` about ``axis``."""
    import mujoco

    r = np.zeros(4)
    mujoco.mju_axisAngle2Quat(r, np.asarray(axis, dtype=np.float64), float(angle))
    out = np.zeros(4)
    mujoco.mju_mulQuat(out, r, q)
    return out


def _quat_zaxis(q: Vec) -> Vec:
    import mujoco

    mat = np.zeros(9)
    mujoco.mju_quat2Mat(mat, q)
    return mat.reshape(3, 3)[:, 2]


def rotate_about(point: Vec, anchor: Vec, axis: Vec, angle: float) -> Vec:
    """``point`` rotated by ``angle`` about the line through ``anchor`` along unit ``axis``."""
    v = point - anchor
    k = axis / np.linalg.norm(axis)
    c, s = np.cos(angle), np.sin(angle)
    return anchor + v * c + np.cross(k, v) * s + k * np.dot(k, v) * (1 - c)


class ScriptedExpert:
    """Phase machine shared by all experts; subclasses build ``self.phases`` in ``plan()``."""

    suite = ""
    name = "expert"

    def __init__(self) -> None:
        self.env: Any = None
        self.phases: list[Phase] = []
        self.k = 0
        self.t_phase = 0
        self.q0: Vec | None = None
        self.mem: dict[str, Any] = {}

    # Policy protocol -----------------------------------------------------------------------------
    def bind_env(self, env: Any) -> None:
        """Privileged access: the expert reads poses and joint angles from the live simulator."""
        self.env = env

    def reset(self) -> None:
        if self.env is None:
            raise RuntimeError("a scripted expert needs bind_env(env) before reset()")
        self.k, self.t_phase = 0, 0
        self.mem = {"entry": self.eef_pos().copy(), "integ": np.zeros(3)}
        self.q0 = self.eef_quat()
        self.phases = self.plan()

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        while self.k < len(self.phases) - 1 and self._phase_over(self.phases[self.k]):
            logger.debug(
                "%s: phase %s done after %d steps",
                type(self).__name__,
                self.phases[self.k].name,
                self.t_phase,
            )
            self.k, self.t_phase, self.mem["entry"] = self.k + 1, 0, self.eef_pos().copy()
            self.mem["integ"] = np.zeros(3)
        ph = self.phases[self.k]
        self.t_phase += 1
        q_target = ph.rot(self) if ph.rot is not None else self.q0
        return self.control(ph.target(self), q_target, ph.grip, ph.speed)

    def _phase_over(self, ph: Phase) -> bool:
        if self.t_phase >= ph.max_steps:
            return True
        if self.t_phase < ph.min_steps:
            return False
        if ph.done is not None:
            return bool(ph.done(self))
        return bool(np.linalg.norm(ph.target(self) - self.eef_pos()) < ph.tol)

    # Suite-specific ------------------------------------------------------------------------------
    def plan(self) -> list[Phase]:
        raise TypeError(f"{type(self).__name__} must define plan()")

    def eef_pos(self) -> Vec:
        raise TypeError

    def eef_quat(self) -> Vec:
        raise TypeError

    def control(self, target: Vec, q_target: Vec, grip: float, speed: float) -> np.ndarray:
        raise TypeError


# LIBERO ------------------------------------------------------------------------------------------


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


def _up(z: float) -> Vec:
    return np.array([0.0, 0.0, z])


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


# Franka Kitchen ----------------------------------------------------------------------------------


class KitchenExpert(ScriptedExpert):
    """Cartesian targets through a damped least-squares Jacobian inverse into joint velocities."""

    suite = "kitchen"
    kp = 8.0  # 1/s: Cartesian velocity per metre of error
    ki = 1.5  # 1/s per step: integral term
    kr = 2.0  # 1/s: angular velocity per radian of error
    vmax = 0.6  # m/s cap

    def reset(self) -> None:
        self.posture = self.env.data.qpos[:7].copy()
        super().reset()

    def site(self, name: str) -> Vec:
        return self.env.data.site(name).xpos.copy()

    def joint(self, name: str) -> float:
        return float(self.env.data.joint(name).qpos[0])

    def eef_pos(self) -> Vec:
        return self.site("end_effector")

    def eef_quat(self) -> Vec:
        return _mat_quat(self.env.data.site("end_effector").xmat)

    def control(self, target: Vec, q_target: Vec, grip: float, speed: float) -> np.ndarray:
        import mujoco

        m, d = self.env.model, self.env.data
        jp, jr = np.zeros((3, m.nv)), np.zeros((3, m.nv))
        mujoco.mj_jacSite(m, d, jp, jr, m.site("end_effector").id)
        J = np.vstack([jp[:, :7], jr[:, :7]])
        err = target - self.eef_pos()
        integ = np.clip(
            self.mem.get("integ", np.zeros(3)) + err, -0.5, 0.5
        )  # gravity sag of the position servos
        self.mem["integ"] = integ
        v = self.kp * err + self.ki * integ
        n = np.linalg.norm(v)
        cap = self.vmax * speed
        if n > cap:
            v *= cap / n
        w = np.clip(self.kr * _quat_err_world(q_target, self.eef_quat()), -1.5, 1.5)
        lam = 1e-2
        JJt = J @ J.T + lam * np.eye(6)
        qd = J.T @ np.linalg.solve(JJt, np.concatenate([v, w]))
        null = np.eye(7) - J.T @ np.linalg.solve(JJt, J)
        qd += null @ (0.5 * (self.posture - d.qpos[:7]))
        act = np.zeros(9, dtype=np.float32)
        act[:7] = np.clip(qd / 2.0, -1, 1)  # Kitchen maps [-1, 1] to +-2 rad/s
        act[7:] = -grip  # finger velocity: + opens, - closes
        return act


class KitchenPush(KitchenExpert):
    """switch / slide: put the closed fingers beside a handle and push it along ``direction``."""

    handle = ""
    direction = np.zeros(3)
    joint_name = ""
    threshold = 0.0
    sign = 1.0
    standoff = 0.05
    stroke = 0.2
    lift = 0.0  # m: aim the push this much higher (the weak position servos sag under contact)

    def plan(self) -> list[Phase]:
        h0 = self.site(self.handle)
        d = self.direction / np.linalg.norm(self.direction)
        start = h0 - d * self.standoff
        approach = start - np.array([0.0, 0.12, 0.0])  # from the robot's side (-y)
        return [
            Phase("approach", lambda e: approach, 1, tol=0.02, max_steps=60),
            Phase("start", lambda e: start, 1, tol=0.01, max_steps=60),
            Phase(
                "push",
                lambda e: start + d * e.stroke + _up(e.lift),
                1,
                max_steps=80,
                speed=0.4,
                done=lambda e: e.sign * e.joint(e.joint_name) > e.sign * e.threshold,
            ),
            Phase("back", lambda e: e.mem["entry"] - np.array([0.0, 0.1, 0.0]), 1, max_steps=10**6),
        ]


class FlipSwitch(KitchenPush):
    handle, joint_name, threshold, sign = "light_site", "light_switch", -0.6, -1.0
    direction = np.array([-1.0, 0.0, 0.0])
    stroke, lift = 0.15, 0.06


class SlideDoor(KitchenPush):
    handle, joint_name, threshold, sign = "slide_site", "slide_cabinet", 0.3, 1.0
    direction = np.array([1.0, 0.0, 0.0])
    standoff, stroke = 0.06, 0.35


class KitchenHinge(KitchenExpert):
    """micro / door: grasp the handle, then walk it round the hinge, turning the wrist with it."""

    handle = ""
    joint_name = ""
    goal = 0.0
    step_angle = 0.12

    def plan(self) -> list[Phase]:
        m, d = self.env.model, self.env.data
        jid = m.joint(self.joint_name).id
        anchor, axis = d.xanchor[jid].copy(), d.xaxis[jid].copy()
        sgn = np.sign(self.goal)
        theta0 = self.joint(self.joint_name)
        grasp = lambda e: e.site(e.handle)  # noqa: E731

        def next_point(e: KitchenHinge) -> Vec:
            return rotate_about(grasp(e), anchor, axis, sgn * e.step_angle)

        def turned(e: KitchenHinge) -> Vec:
            return quat_rotate_world(e.q0, axis, e.joint(e.joint_name) - theta0)

        return [
            Phase("pregrasp", lambda e: grasp(e) - np.array([0.0, 0.1, 0.0]), -1, tol=0.015, max_steps=80),
            Phase("reach", lambda e: grasp(e) - np.array([0.0, 0.0, 0.0]), -1, tol=0.008, max_steps=50),
            Phase("grasp", lambda e: grasp(e), 1, min_steps=8, max_steps=8),
            Phase(
                "swing",
                next_point,
                1,
                max_steps=150,
                speed=0.5,
                rot=turned,
                done=lambda e: sgn * e.joint(e.joint_name) > sgn * e.goal,
            ),
            Phase("hold", lambda e: e.mem["entry"], 1, max_steps=10**6, rot=turned),
        ]


class OpenMicrowave(KitchenHinge):
    handle, joint_name, goal = "microhandle_site", "microwave", -0.7


class OpenHingeDoor(KitchenHinge):
    handle, joint_name, goal = "hinge_site2", "right_hinge_cabinet", 1.4


class TurnKnob(KitchenExpert):
    """knob: grasp the bottom burner's knob and turn the wrist about the knob's axis."""

    knob_site, joint_name, goal = "knob2_site", "knob_Joint_2", -0.8

    def plan(self) -> list[Phase]:
        m, d = self.env.model, self.env.data
        jid = m.joint(self.joint_name).id
        axis = d.xaxis[jid].copy()
        k = lambda e: e.site(e.knob_site)  # noqa: E731

        def turned(e: TurnKnob) -> Vec:
            turn = min(e.t_phase * 0.08, 1.2)
            return quat_rotate_world(e.q0, axis, -turn)

        return [
            Phase("pregrasp", lambda e: k(e) - np.array([0.0, 0.1, 0.0]), -1, tol=0.015, max_steps=80),
            Phase("reach", lambda e: k(e) - np.array([0.0, 0.01, 0.0]), -1, tol=0.008, max_steps=50),
            Phase("grasp", lambda e: k(e) - np.array([0.0, 0.01, 0.0]), 1, min_steps=8, max_steps=8),
            Phase(
                "turn",
                lambda e: e.mem["entry"],
                1,
                max_steps=60,
                rot=turned,
                done=lambda e: e.joint(e.joint_name) < e.goal,
            ),
            Phase("hold", lambda e: e.mem["entry"], 1, max_steps=10**6, rot=turned),
        ]


EXPERTS: dict[str, type[ScriptedExpert]] = {
    "T1": OpenMiddleDrawer,
    "T2": PushPlate,
    "T3": CheeseInBowl,
    "T4": TurnOnStove,
    "T5": SoupAndCheeseInBasket,
    "T6": BowlInBottomDrawer,
    "knob": TurnKnob,
    "door": OpenHingeDoor,
    "switch": FlipSwitch,
    "micro": OpenMicrowave,
    "slide": SlideDoor,
}


@dataclass
class ExpertPolicy:
    """The ``expert`` built-in policy: picks the task's scripted expert when bound to an env."""

    name: str = "expert"
    _impl: ScriptedExpert | None = field(default=None, repr=False)

    def bind_env(self, env: Any) -> None:
        task = env.task
        if task not in EXPERTS:
            raise ValueError(f"no scripted expert for task {task!r}; experts exist for {', '.join(EXPERTS)}")
        self._impl = EXPERTS[task]()
        self._impl.bind_env(env)

    def reset(self) -> None:
        if self._impl is None:
            raise RuntimeError("the expert policy needs bind_env(env) before reset()")
        self._impl.reset()

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        assert self._impl is not None
        return self._impl.act(obs)
