"""Orientation error and conversions: zero for equal orientations, the rotation angle for known turns."""

from __future__ import annotations

import numpy as np
import pytest
from roboact.control.rotations import (
    as_rotation,
    gripper_yaw,
    matrix_to_quat,
    matrix_to_rpy,
    orientation_error,
    quat_z_axis,
    rotate_point_about,
    rotate_quat_world,
    rpy_to_matrix,
)
from scipy.spatial.transform import Rotation

RNG = np.random.default_rng(0)
ORIENTATIONS = Rotation.random(20, random_state=1)


@pytest.mark.parametrize("form", ["quat", "matrix", "rotation"])
def test_orientation_error_is_zero_for_equal_orientations(form):
    for r in ORIENTATIONS:
        value = {"quat": r.as_quat(scalar_first=True), "matrix": r.as_matrix(), "rotation": r}[form]
        assert np.linalg.norm(orientation_error(value, value)) < 1e-12


@pytest.mark.parametrize("form", ["quat", "matrix", "rotation"])
@pytest.mark.parametrize("angle", [0.3, -1.2, 2.5, np.pi - 1e-6])
def test_orientation_error_is_the_world_turn_from_current_to_target(form, angle):
    axis = np.array([1.0, -2.0, 0.5]) / np.linalg.norm([1.0, -2.0, 0.5])
    turn = Rotation.from_rotvec(axis * angle)
    for r in ORIENTATIONS[:5]:
        target = turn * r  # turned about a world axis
        as_form = {
            "quat": lambda x: x.as_quat(scalar_first=True),
            "matrix": lambda x: x.as_matrix(),
            "rotation": lambda x: x,
        }[form]
        err = orientation_error(as_form(target), as_form(r))
        assert np.linalg.norm(err) == pytest.approx(abs(angle), abs=1e-6)
        assert np.allclose(err, axis * angle, atol=1e-6)


def test_orientation_error_does_not_vanish_at_a_half_turn():
    r = Rotation.from_rotvec([0.2, 0.1, -0.3])
    flipped = Rotation.from_rotvec([0.0, 0.0, np.pi]) * r
    assert np.linalg.norm(orientation_error(flipped.as_matrix(), r.as_matrix())) == pytest.approx(np.pi)


def test_quaternion_helpers_agree_with_scipy():
    for r in ORIENTATIONS:
        q = matrix_to_quat(r.as_matrix())
        assert np.isclose(abs(q @ r.as_quat(scalar_first=True)), 1.0)  # q or -q: one rotation
        assert np.allclose(quat_z_axis(q), r.as_matrix()[:, 2])
        turned = rotate_quat_world(q, np.array([0.0, 0.0, 1.0]), 0.7)
        expected = (Rotation.from_rotvec([0, 0, 0.7]) * r).as_matrix()
        assert np.allclose(as_rotation(turned).as_matrix(), expected)


def test_rotate_quat_world_normalises_an_axis_that_is_not_unit():
    q = np.array([1.0, 0.0, 0.0, 0.0])
    turned = rotate_quat_world(q, np.array([0.0, 0.0, 5.0]), np.pi / 2)
    assert np.linalg.norm(turned) == pytest.approx(1.0)
    assert np.allclose(as_rotation(turned).apply([1.0, 0.0, 0.0]), [0.0, 1.0, 0.0])


def test_rotate_point_about_turns_a_door_handle_about_its_hinge():
    hinge, handle = np.array([1.0, 1.0, 0.0]), np.array([2.0, 1.0, 0.5])
    moved = rotate_point_about(handle, hinge, np.array([0.0, 0.0, 2.0]), np.pi / 2)
    assert np.allclose(moved, [1.0, 2.0, 0.5])


def test_rpy_is_fixed_xyz_and_round_trips():
    assert np.allclose(rpy_to_matrix([0.0, 0.0, np.pi / 2]) @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    rpy = np.array([0.3, -0.4, 1.1])
    mat = rpy_to_matrix(rpy)
    rx, ry, rz = (Rotation.from_rotvec(np.eye(3)[i] * rpy[i]).as_matrix() for i in range(3))
    assert np.allclose(mat, rz @ ry @ rx)  # roll first, about the fixed axes
    assert np.allclose(matrix_to_rpy(mat), rpy)


def test_a_bad_rotation_shape_is_named():
    with pytest.raises(ValueError, match="shape"):
        as_rotation(np.zeros(5))


def test_gripper_yaw_takes_the_smaller_of_the_two_symmetric_turns():
    fingers = np.array([1.0, 0.0, 0.0])
    at = lambda deg: np.array([np.cos(np.radians(deg)), np.sin(np.radians(deg)), 0.3])  # noqa: E731
    assert gripper_yaw(fingers, at(30)) == pytest.approx(np.radians(30))
    assert gripper_yaw(fingers, at(170)) == pytest.approx(np.radians(-10))  # not +170: the fingers are alike
    assert gripper_yaw(fingers, at(-100)) == pytest.approx(np.radians(80))
    assert -np.pi / 2 <= gripper_yaw(fingers, at(90)) < np.pi / 2
