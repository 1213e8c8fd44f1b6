"""RoboAct: the open implementation of RoboAct-CLIP as a Ray system.

Subsystems live in their own top-level folders and are mapped into this namespace by
pyproject.toml: ``roboact.models``, ``roboact.datasets``, ``roboact.distributed``,
``roboact.sim_workers``, ``roboact.hardware``. This module stays import-light on purpose so the
``roboact`` console script starts fast; heavy libraries (torch, ray, mujoco) load inside commands.
"""

__version__ = "0.1.0"
