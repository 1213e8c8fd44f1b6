"""The proportional Cartesian step: a bounded move toward a target pose, once per control tick.

robosuite's OSC_POSE controller (the simulated source and LIBERO) takes
``[dx, dy, dz, ax, ay, az, grip]`` in [-1, 1]: a position change scaled by ``POS_SCALE`` m and a
world axis-angle turn scaled by ``ROT_SCALE`` rad. ``osc_pose_action`` commands ``gain`` times the
remaining error each tick, with the position part capped in a chosen norm (the speed limit) and
the rotation part clipped per axis. The Kitchen experts' twist uses the same cap
(``limit_norm``) before their damped least-squares step (``ik.dls_step``).
"""

from __future__ import annotations

import numpy as np
from roboact.control.rotations import RotationLike, orientation_error

POS_SCALE = 0.05
"""m: OSC_POSE moves its target this far for a position action of 1"""
ROT_SCALE = 0.5
"""rad: OSC_POSE turns its target this far for a rotation action of 1"""


def limit_norm(vec: np.ndarray, cap: float, norm: float = 2) -> np.ndarray:
    """``vec`` scaled down (direction kept) so its ``norm``-norm is at most ``cap``: a speed limit.

    ``norm=2`` caps the speed along the path; ``np.inf`` caps the fastest axis (a controller whose
    limit is per axis).
    """
    n = np.linalg.norm(vec, ord=norm)
    return vec * (cap / n) if n > cap else vec


def osc_pose_action(
    target: np.ndarray,
    current: np.ndarray,
    rot_target: RotationLike,
    rot_current: RotationLike,
    grip: float,
    gain: float = 1.0,
    cap: float = 1.0,
    norm: float = 2,
) -> np.ndarray:
    """OSC_POSE action (float32, 7) moving from ``current`` toward ``target`` (world, m) and turning
    to ``rot_target``, with the gripper command ``grip`` (-1 open, +1 closed).

    Position: ``gain * (target - current) / POS_SCALE``, capped at ``cap`` in the ``norm``-norm.
    Rotation: the world-frame orientation error over ``ROT_SCALE``, clipped to [-1, 1] per axis.
    The two callers differ only in their cap: the simulated source caps the largest axis at 1
    (``norm=inf``, ``cap=1``, ``gain`` 1 or 2), the LIBERO experts the Euclidean norm at a phase's
    speed fraction (``norm=2``, ``cap=speed``, ``gain=kp``).
    """
    dp = limit_norm((np.asarray(target) - current) / POS_SCALE * gain, cap, norm)
    dr = np.clip(orientation_error(rot_target, rot_current) / ROT_SCALE, -1, 1)
    return np.concatenate([dp, dr, [grip]]).astype(np.float32)
