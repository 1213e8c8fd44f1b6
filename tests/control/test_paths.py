"""Time scaling: minimum jerk starts and stops at rest; the trapezoid keeps its limits and arrives."""

from __future__ import annotations

import numpy as np
import pytest
from roboact.control.paths import cosine, lerp, min_jerk, trapezoid_duration, trapezoid_progress


def _derivatives(f, s: float, h: float = 1e-4) -> tuple[float, float]:
    """Central first and second differences of ``f`` at ``s``."""
    return (f(s + h) - f(s - h)) / (2 * h), (f(s + h) - 2 * f(s) + f(s - h)) / (h * h)


def _one_sided(f, s: float, h: float) -> tuple[float, float]:
    """First and second differences of ``f`` at an end ``s``, stepping inwards (``h`` signed)."""
    return (f(s + h) - f(s)) / h, (f(s) - 2 * f(s + h) + f(s + 2 * h)) / (h * h)


def test_min_jerk_goes_from_zero_to_one_and_is_clipped_outside():
    assert min_jerk(0.0) == 0.0 and min_jerk(1.0) == 1.0 and min_jerk(0.5) == pytest.approx(0.5)
    assert min_jerk(-0.3) == 0.0 and min_jerk(1.7) == 1.0
    samples = [min_jerk(s) for s in np.linspace(0, 1, 101)]
    assert np.all(np.diff(samples) >= 0)


@pytest.mark.parametrize("end", [0.0, 1.0])
def test_min_jerk_has_zero_velocity_and_acceleration_at_both_ends(end):
    inwards = 1e-3 if end == 0.0 else -1e-3
    vel, acc = _one_sided(min_jerk, end, inwards)
    assert abs(vel) < 1e-4 and abs(acc) < 0.1  # O(h^2) and O(h): a cubic smoothstep gives 3e-3, 6
    mid_vel, _ = _derivatives(min_jerk, 0.5)
    assert mid_vel == pytest.approx(1.875)  # the quintic's peak speed: 15/8 of the mean


def test_cosine_profile_starts_and_stops_at_rest():
    assert cosine(0.0) == 0.0 and cosine(1.0) == 1.0
    assert abs(_derivatives(cosine, 0.0)[0]) < 1e-6 and abs(_derivatives(cosine, 1.0)[0]) < 1e-6


@pytest.mark.parametrize("dist", [0.05, 0.4, 2.0])
def test_trapezoid_reaches_the_end_at_its_duration_without_exceeding_speed_or_acceleration(dist):
    vmax, accel = 1.2, 6.0
    dur = trapezoid_duration(dist, vmax, accel)
    t = np.linspace(0, dur, 2001)
    x = np.array([trapezoid_progress(ti, dist, vmax, accel) for ti in t]) * dist
    assert x[0] == 0.0 and x[-1] == pytest.approx(dist)
    assert trapezoid_progress(dur + 1.0, dist, vmax, accel) == 1.0
    v = np.diff(x) / np.diff(t)
    assert v.max() <= vmax * (1 + 1e-3)
    assert np.abs(np.diff(v) / np.diff(t)[1:]).max() <= accel * (1 + 1e-2)
    assert np.all(np.diff(x) >= -1e-12)


def test_short_trapezoid_is_a_triangle_and_long_one_cruises():
    vmax, accel = 1.0, 4.0
    short = 0.1  # never reaches vmax: accelerate sqrt(d/a), brake as long
    assert trapezoid_duration(short, vmax, accel) == pytest.approx(2 * np.sqrt(short / accel))
    long = 3.0  # cruise (d - v^2/a) / v between two ramps of v/a
    expected = 2 * vmax / accel + (long - vmax**2 / accel) / vmax
    assert trapezoid_duration(long, vmax, accel) == pytest.approx(expected)
    assert trapezoid_duration(0.0, vmax, accel) == 0.0 and trapezoid_progress(0.0, 0.0, vmax, accel) == 1.0


def test_lerp_interpolates_waypoints():
    q0, q1 = np.array([0.0, 1.0]), np.array([2.0, -1.0])
    assert np.allclose(lerp(q0, q1, 0.25), [0.5, 0.5]) and np.allclose(lerp(q0, q1, 1.0), q1)
