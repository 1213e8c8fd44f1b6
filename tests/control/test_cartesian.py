"""The proportional Cartesian step: capped at its speed limit in the chosen norm, direction kept."""

from __future__ import annotations

import numpy as np
import pytest
from roboact.control.cartesian import POS_SCALE, ROT_SCALE, limit_norm, osc_pose_action
from scipy.spatial.transform import Rotation

IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])


@pytest.mark.parametrize("norm", [2, np.inf])
@pytest.mark.parametrize("cap", [0.3, 1.0])
def test_position_step_respects_its_speed_limit_and_keeps_the_direction(norm, cap):
    rng = np.random.default_rng(0)
    for _ in range(50):
        here, target = rng.normal(size=3) * 0.3, rng.normal(size=3) * 0.3
        act = osc_pose_action(target, here, IDENTITY, IDENTITY, 1.0, gain=2.0, cap=cap, norm=norm)
        assert act.dtype == np.float32 and act.shape == (7,) and act[6] == 1.0
        assert np.linalg.norm(act[:3], ord=norm) <= cap * (1 + 1e-6)
        direction = (target - here) / np.linalg.norm(target - here)
        assert np.allclose(act[:3] / np.linalg.norm(act[:3]), direction, atol=1e-5)


def test_small_errors_are_proportional_not_capped():
    here = np.zeros(3)
    target = np.array([0.01, 0.0, -0.005])
    act = osc_pose_action(target, here, IDENTITY, IDENTITY, -1.0, gain=1.5, cap=1.0)
    assert np.allclose(act[:3], 1.5 * target / POS_SCALE, atol=1e-6)


def test_rotation_part_is_the_error_over_its_scale_clipped_per_axis():
    small = Rotation.from_rotvec([0.0, 0.0, 0.2])
    act = osc_pose_action(np.zeros(3), np.zeros(3), small, Rotation.identity(), 0.0)
    assert np.allclose(act[3:6], [0.0, 0.0, 0.2 / ROT_SCALE], atol=1e-6)
    large = Rotation.from_rotvec([0.0, 2.0, 0.0])
    act = osc_pose_action(np.zeros(3), np.zeros(3), large, Rotation.identity(), 0.0)
    assert np.allclose(act[3:6], [0, 1, 0])


def test_limit_norm_leaves_slow_vectors_alone():
    v = np.array([0.1, -0.2, 0.05])
    assert limit_norm(v, 1.0) is v
    assert np.linalg.norm(limit_norm(v * 100, 1.0)) == pytest.approx(1.0)
