"""Scripted motion shared by every scripted operator: the simulated source, the LIBERO/Kitchen
experts and the JAKA arm's scripted operator and fake controller.

Each of them once carried its own copy of the same maths (rotation conversions, orientation error,
path timing, inverse kinematics, the proportional Cartesian step); a fix in one never reached the
others. One module per job:

- ``rotations``: quaternion / matrix / roll-pitch-yaw conversions and the orientation error (scipy);
- ``paths``: time scaling of a point-to-point motion (minimum jerk, trapezoidal speed, cosine);
- ``ik``: damped least squares, as one velocity step and as an iterative solver over any forward
  kinematics callable;
- ``cartesian``: the proportional Cartesian step (OSC_POSE-style deltas) with its speed cap.
"""
