"""Rotation conversions and the orientation error.

Two representations, each with the library that owns it:
- MuJoCo's ``(w, x, y, z)`` quaternions (the LIBERO and Kitchen experts read them from the
  simulator) go through MuJoCo's own quaternion functions (``mju_subQuat``, ``mju_mulQuat`` ...).
  scipy computes the same rotations but differs in the 17th digit, and contact dynamics amplify
  that: a LIBERO T6 demo drifted 7 cm within 100 steps on scipy, so the experts' demos would no
  longer match the ones already recorded.
- ``scipy.spatial.transform.Rotation`` objects (the simulated source; robosuite 1.4's
  ``transform_utils`` break on NumPy 2), rotation matrices and roll-pitch-yaw go through scipy.

Roll-pitch-yaw is the JAKA controller's convention: rotations about the fixed x, then y, then z
axes (scipy's lower-case ``"xyz"``), so ``R = Rz(yaw) Ry(pitch) Rx(roll)``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

RotationLike = Rotation | np.ndarray
"""a ``Rotation``, a (w, x, y, z) quaternion or a 3x3 rotation matrix"""


def as_rotation(value: RotationLike) -> Rotation:
    """``value`` as a scipy ``Rotation`` (see ``RotationLike``)."""
    if isinstance(value, Rotation):
        return value
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape == (4,):
        return Rotation.from_quat(arr, scalar_first=True)
    if arr.shape in ((3, 3), (9,)):
        return Rotation.from_matrix(arr.reshape(3, 3))
    raise ValueError(
        f"a rotation is a Rotation, a (w, x, y, z) quaternion or a 3x3 matrix; got shape {arr.shape}"
    )


def orientation_error(target: RotationLike, current: RotationLike) -> np.ndarray:
    """World-frame rotation vector (rad) that turns ``current`` into ``target``: ``log(R_t R_c^T)``.

    The shortest turn, so its norm is the angle between the two orientations (at most pi) and it
    does not vanish at a half turn, unlike half the sum of the columns' cross products (a solver
    driven by that stops at a tool flipped by 180 degrees). Two (w, x, y, z) quaternions go through
    MuJoCo (``mju_subQuat`` gives the turn in ``current``'s frame; rotated into the world here), two
    matrices are composed as matrices (the IK solver's form), anything else through ``Rotation``.
    """
    if _is_quat(target) and _is_quat(current):
        import mujoco

        res, mat = np.zeros(3), np.zeros(9)
        mujoco.mju_subQuat(res, np.asarray(target, dtype=np.float64), np.asarray(current, dtype=np.float64))
        mujoco.mju_quat2Mat(mat, np.asarray(current, dtype=np.float64))
        return mat.reshape(3, 3) @ res
    matrices = isinstance(target, np.ndarray) and isinstance(current, np.ndarray)
    if matrices and target.shape == current.shape == (3, 3):
        return Rotation.from_matrix(target @ current.T).as_rotvec()
    return (as_rotation(target) * as_rotation(current).inv()).as_rotvec()


def _is_quat(value: RotationLike) -> bool:
    return not isinstance(value, Rotation) and np.shape(value) == (4,)


def matrix_to_quat(mat: np.ndarray) -> np.ndarray:
    """(w, x, y, z) quaternion of a rotation matrix (3x3 or MuJoCo's flat 9-vector), by MuJoCo."""
    import mujoco

    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.asarray(mat, dtype=np.float64).reshape(9))
    return q


def quat_z_axis(quat: np.ndarray) -> np.ndarray:
    """The body's z axis in the world for orientation ``quat`` (w, x, y, z): a tool's approach direction."""
    import mujoco

    mat = np.zeros(9)
    mujoco.mju_quat2Mat(mat, np.asarray(quat, dtype=np.float64))
    return mat.reshape(3, 3)[:, 2]


def rotate_quat_world(quat: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """``quat`` (w, x, y, z) turned by ``angle`` rad about the world ``axis``.

    MuJoCo's ``mju_axisAngle2Quat`` assumes a unit axis; one that is not (beyond rounding) is
    normalised first, one that is goes in untouched so the result stays bit-identical.
    """
    import mujoco

    axis = np.asarray(axis, dtype=np.float64)
    norm = float(np.linalg.norm(axis))
    if abs(norm - 1.0) > 1e-9:
        axis = axis / norm
    turn, out = np.zeros(4), np.zeros(4)
    mujoco.mju_axisAngle2Quat(turn, axis, float(angle))
    mujoco.mju_mulQuat(out, turn, np.asarray(quat, dtype=np.float64))
    return out


def rotate_point_about(point: np.ndarray, anchor: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """``point`` turned by ``angle`` rad about the line through ``anchor`` along ``axis``: where a
    grasp point on a hinged door or lid goes when the hinge turns."""
    axis = np.asarray(axis, dtype=np.float64)
    turn = Rotation.from_rotvec(axis / np.linalg.norm(axis) * float(angle))
    anchor = np.asarray(anchor, dtype=np.float64)
    return anchor + turn.apply(np.asarray(point, dtype=np.float64) - anchor)


def gripper_yaw(finger_axis: np.ndarray, wanted: np.ndarray) -> float:
    """Turn (rad, about world z) that lines a parallel gripper's closing axis up with ``wanted``.

    Either way round: the two fingers are alike, so of the two turns that do it (``pi`` apart) this
    is the smaller one, in [-pi/2, pi/2). ``finger_axis`` is horizontal (z = 0), so ``wanted``'s
    height does not count.
    """
    a, b = np.asarray(finger_axis, dtype=np.float64), np.asarray(wanted, dtype=np.float64)
    angle = np.arctan2(a[0] * b[1] - a[1] * b[0], a @ b)
    return float((angle + np.pi / 2) % np.pi - np.pi / 2)


def rpy_to_matrix(rpy: np.ndarray) -> np.ndarray:
    """Rotation matrix of roll, pitch, yaw (rad, fixed x-y-z axes: the JAKA controller's poses)."""
    return Rotation.from_euler("xyz", np.asarray(rpy, dtype=np.float64)).as_matrix()


def matrix_to_rpy(mat: np.ndarray) -> np.ndarray:
    """Roll, pitch, yaw (rad, fixed x-y-z axes) of a rotation matrix; pitch in [-pi/2, pi/2]."""
    return Rotation.from_matrix(np.asarray(mat, dtype=np.float64)).as_euler("xyz")
