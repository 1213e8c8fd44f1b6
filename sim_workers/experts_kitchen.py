"""Franka Kitchen scripted experts (knob, door, switch, micro, slide): joint velocities from a
damped least-squares inverse of the end-effector site Jacobian, turned into Kitchen's action by
inverting its damped position servos (with gravity), so the arm goes where it is sent without sag."""

from __future__ import annotations

import numpy as np
from roboact.control.cartesian import limit_norm
from roboact.control.ik import dls_nullspace, dls_step
from roboact.control.rotations import matrix_to_quat, orientation_error, rotate_point_about, rotate_quat_world
from roboact.sim_workers.expert_base import Phase, ScriptedExpert, Vec, _up


class KitchenExpert(ScriptedExpert):
    """Cartesian targets through a damped least-squares Jacobian inverse into joint velocities."""

    suite = "kitchen"
    kp = 8.0  # 1/s: Cartesian velocity per metre of error
    ki = 1.5  # 1/s per step: integral term
    # m: integrate only within this error. The hinge swings need the wound-up integral as pulling
    # force; fine approaches (knob, switch) overshoot into the handle with it.
    integ_radius = np.inf
    kr = 2.0  # 1/s: angular velocity per radian of error
    vmax = 0.6  # m/s cap
    stall_steps = 8  # see ScriptedExpert.stall_steps

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
        return matrix_to_quat(self.env.data.site("end_effector").xmat)

    def control(self, target: Vec, q_target: Vec, grip: float, speed: float) -> np.ndarray:
        import mujoco

        m, d = self.env.model, self.env.data
        jp, jr = np.zeros((3, m.nv)), np.zeros((3, m.nv))
        mujoco.mj_jacSite(m, d, jp, jr, m.site("end_effector").id)
        J = np.vstack([jp[:, :7], jr[:, :7]])
        err = target - self.eef_pos()
        integ = self.mem.get("integ", np.zeros(3))
        if np.linalg.norm(err) < self.integ_radius:
            integ = np.clip(integ + err, -0.5, 0.5)
        self.mem["integ"] = integ
        v = limit_norm(self.kp * err + self.ki * integ, self.vmax * speed)
        w = np.clip(self.kr * orientation_error(q_target, self.eef_quat()), -1.5, 1.5)
        lam = 1e-2
        qd = dls_step(J, np.concatenate([v, w]), lam)
        qd += dls_nullspace(J, lam) @ (0.5 * (self.posture - d.qpos[:7]))
        return self.servo_action(qd, grip)

    def servo_action(self, qd: Vec, grip: float) -> np.ndarray:
        """Joint velocities ``qd`` as Kitchen's action, inverting its servo model.

        Kitchen sends ``q + 2 a dt`` to position servos (gain kp) on joints with viscous damping, so
        a joint settles at ``(kp * offset - gravity) / damping`` rad/s: the offset that moves it at
        ``qd`` is ``(damping * qd + bias) / kp``. Without the gravity term the arm sags.
        """
        m, d = self.env.model, self.env.data
        kp = m.actuator_gainprm[:7, 0]
        offset = (m.dof_damping[:7] * qd + d.qfrc_bias[:7]) / kp
        act = np.zeros(9, dtype=np.float32)
        act[:7] = np.clip(offset / (2.0 * self.env.robot.dt), -1, 1)  # Kitchen maps [-1, 1] to +-2 rad/s
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
    integ_radius = 0.03


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
    grasp_offset = (0.0, 0.0, 0.0)  # m from the handle site to the grasp point

    def plan(self) -> list[Phase]:
        m, d = self.env.model, self.env.data
        jid = m.joint(self.joint_name).id
        anchor, axis = d.xanchor[jid].copy(), d.xaxis[jid].copy()
        sgn = np.sign(self.goal)
        theta0 = self.joint(self.joint_name)
        offset = np.asarray(self.grasp_offset)
        grasp = lambda e: e.site(e.handle) + offset  # noqa: E731

        def next_point(e: KitchenHinge) -> Vec:
            return rotate_point_about(grasp(e), anchor, axis, sgn * e.step_angle)

        def turned(e: KitchenHinge) -> Vec:
            return rotate_quat_world(e.q0, axis, e.joint(e.joint_name) - theta0)

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
    # The handle site is blocked 2.6 cm short at pre-grasp and 9.5 cm short at reach (the arm
    # pushed against it until each phase timed out: 130 still steps of a 158-step demo). Grasping
    # 4 cm above it is reachable: 90-94-step demos, same success (docs/policy.md).
    grasp_offset = (0.0, 0.0, 0.04)


class OpenHingeDoor(KitchenHinge):
    handle, joint_name, goal = "hinge_site2", "right_hinge_cabinet", 1.4


class TurnKnob(KitchenExpert):
    """knob: grasp the bottom burner's knob and turn the wrist about the knob's axis."""

    knob_site, joint_name, goal = "knob2_site", "knob_Joint_2", -0.8
    integ_radius = 0.03
    depth = 0.028  # m: hand site this far in front of the lever, so the fingertips stop short of the dial

    def plan(self) -> list[Phase]:
        m, d = self.env.model, self.env.data
        jid = m.joint(self.joint_name).id
        axis = d.xaxis[jid].copy()
        k = lambda e: e.site(e.knob_site)  # noqa: E731

        depth = np.array([0.0, self.depth, 0.0])

        def turning(e: TurnKnob) -> Vec:
            e.mem["turn"] = min(e.t_phase * 0.08, 1.2)  # rad of wrist turn so far
            return rotate_quat_world(e.q0, axis, -e.mem["turn"])

        def held(e: TurnKnob) -> Vec:  # keep the turn that reached the goal: no turning back
            return rotate_quat_world(e.q0, axis, -e.mem.get("turn", 0.0))

        return [
            Phase("pregrasp", lambda e: k(e) - np.array([0.0, 0.1, 0.0]), -1, tol=0.015, max_steps=80),
            Phase("reach", lambda e: k(e) - depth, -1, tol=0.008, max_steps=20),
            Phase("grasp", lambda e: k(e) - depth, 1, min_steps=8, max_steps=8),
            Phase(
                "turn",
                lambda e: e.mem["entry"],
                1,
                max_steps=60,
                rot=turning,
                done=lambda e: e.joint(e.joint_name) < e.goal,
            ),
            Phase("hold", lambda e: e.mem["entry"], 1, max_steps=10**6, rot=held),
        ]
