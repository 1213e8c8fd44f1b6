"""Time scaling of a point-to-point motion: the fraction ``s(t)`` of the way done at time ``t``.

A path from ``q0`` to ``q1`` is ``q0 + (q1 - q0) s(t)`` (``lerp``); the profile decides how the arm
speeds up and slows down. Three are used:

- minimum jerk (Flash and Hogan 1985): zero velocity and acceleration at both ends; the trial
  runner's joint-goal script;
- trapezoidal speed: constant acceleration to a peak speed, cruise, constant deceleration; the
  scene's scripted operator, whose demos must leave each waypoint with a speed a head can learn;
- cosine (half a cycle): the fake controller's point-to-point ``joint_move``.
"""

from __future__ import annotations

import math

import numpy as np


def lerp(q0: np.ndarray, q1: np.ndarray, s: float) -> np.ndarray:
    """The point a fraction ``s`` of the way from ``q0`` to ``q1``."""
    return q0 + (q1 - q0) * s


def min_jerk(s: float) -> float:
    """Minimum-jerk progress at normalised time ``s`` (clipped to [0, 1]).

    The quintic ``10 s^3 - 15 s^4 + 6 s^5`` minimises the integrated squared jerk with position,
    velocity and acceleration fixed at both ends (Flash and Hogan 1985, Eq. 7 with zero boundary
    velocity and acceleration).
    """
    s = min(1.0, max(0.0, s))
    return 10 * s**3 - 15 * s**4 + 6 * s**5


def cosine(s: float) -> float:
    """Half-cosine progress ``(1 - cos(pi s)) / 2`` at normalised time ``s``: zero speed at both ends,
    finite acceleration jumps there (cheaper than minimum jerk, enough for a simulated controller)."""
    return 0.5 - 0.5 * math.cos(math.pi * s)


def trapezoid_duration(dist: float, vmax: float, accel: float) -> float:
    """Seconds to travel ``dist`` from rest to rest with speed at most ``vmax`` and acceleration ``accel``.

    A short move never reaches ``vmax``: it accelerates for ``sqrt(dist / accel)`` and brakes as long
    (a triangle); a long one cruises at ``vmax`` for ``(dist - vmax^2 / accel) / vmax``.
    """
    if dist <= 0:
        return 0.0
    t_acc = min(vmax / accel, (dist / accel) ** 0.5)
    v_top = accel * t_acc
    return 2 * t_acc + max(0.0, dist - v_top * t_acc) / v_top


def trapezoid_progress(t: float, dist: float, vmax: float, accel: float) -> float:
    """Fraction of a trapezoidal-speed move of length ``dist`` done after ``t`` s (1 once it has ended)."""
    if dist <= 0:
        return 1.0
    t_acc = min(vmax / accel, (dist / accel) ** 0.5)
    v_top = accel * t_acc
    cruise = max(0.0, dist - v_top * t_acc) / v_top
    if t < t_acc:
        done = 0.5 * accel * t * t
    elif t < t_acc + cruise:
        done = 0.5 * v_top * t_acc + v_top * (t - t_acc)
    else:
        left = max(0.0, 2 * t_acc + cruise - t)
        done = dist - 0.5 * accel * left * left
    return min(1.0, done / dist)
