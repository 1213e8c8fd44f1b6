"""Damped least squares: joint motion for a Cartesian error, as one step and as an iterative solver.

The step ``dq = J^T (J J^T + lambda I)^-1 e`` (Wampler 1986; Buss, "Introduction to inverse
kinematics with Jacobian transpose, pseudoinverse and damped least squares methods", 2004, Eq. 11)
stays bounded near singularities where the pseudoinverse blows up, at the price of a small
tracking error there. The Kitchen experts take one step per control tick (a joint velocity from a
Cartesian twist); the arm's scripted operator and the fake controller's ``moveL`` iterate it to a
pose on the robot's kinematic chain.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from roboact.control.rotations import orientation_error

ForwardKinematics = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""joint angles -> (tool position (3,), tool rotation matrix (3, 3)) in the base frame"""


def dls_step(jac: np.ndarray, error: np.ndarray, damping: float) -> np.ndarray:
    """Joint step ``J^T (J J^T + damping I)^-1 error`` for a task-space ``error`` (Buss 2004, Eq. 11)."""
    return jac.T @ np.linalg.solve(jac @ jac.T + damping * np.eye(jac.shape[0]), error)


def dls_nullspace(jac: np.ndarray, damping: float) -> np.ndarray:
    """``I - J^T (J J^T + damping I)^-1 J``: projects a joint motion onto what leaves the task still
    (a posture pull that must not move the hand)."""
    return np.eye(jac.shape[1]) - jac.T @ np.linalg.solve(jac @ jac.T + damping * np.eye(jac.shape[0]), jac)


def solve_ik(
    fk: ForwardKinematics,
    pos: np.ndarray,
    rot: np.ndarray,
    seed: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    iterations: int = 200,
    rot_weight: float = 0.3,
    damping: float = 1e-4,
    tol: float = 1e-5,
    fd_step: float = 1e-6,
) -> np.ndarray | None:
    """Joints in ``[lower, upper]`` near ``seed`` whose tool is at ``pos`` with rotation ``rot``, or None.

    Iterates ``dls_step`` on the error ``(pos - p, rot_weight * log(rot r^T))`` (metres, and
    radians weighted so 0.3 rad counts like 0.1 m), clipping into the joint limits after each
    step, until its norm is below ``tol``. The Jacobian is a forward difference of ``fk``
    (``n + 1`` chain evaluations: microseconds for a 7-joint chain in pure Python), so any chain
    with a forward kinematics works. None after ``iterations`` steps: out of reach, or a seed on
    the wrong branch.
    """
    target, rot_d = np.asarray(pos, dtype=float), np.asarray(rot, dtype=float)
    q = np.clip(np.asarray(seed, dtype=float), lower, upper)

    def error(q: np.ndarray) -> np.ndarray:
        p, r = fk(q)
        return np.concatenate([target - p, rot_weight * orientation_error(rot_d, r)])

    for _ in range(iterations):
        e = error(q)
        if np.linalg.norm(e) < tol:
            return q
        jac = np.empty((6, q.size))
        for j in range(q.size):
            dq = np.zeros(q.size)
            dq[j] = fd_step
            jac[:, j] = (error(q) - error(q + dq)) / fd_step  # -de/dq = the Jacobian of the pose
        q = np.clip(q + dls_step(jac, e, damping), lower, upper)
    return None
