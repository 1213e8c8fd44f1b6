"""robosuite 1.4 scenes of the simulated atomic-action source, with this machine's workarounds.

One scene = one robosuite single-arm environment with fixed keyword arguments (``SCENES``); an
env is built once per (robot, scene) and reset cheaply (``hard_reset=False``: ``reset()`` reuses
the simulator, about 5 ms without cameras, instead of rebuilding it in 1.5-3.6 s).

Workarounds (FACTS.md, re-checked here):
- Sawyer does not load on mujoco 3.3.7 ("mesh volume is too small: robot0_head_1"): its head
  meshes get ``inertia="shell"``, and the contact between ``base_col`` and ``link0_collision`` is
  excluded (otherwise OSC keeps a 1.3 cm error and grasps fail).
- Rendering dominates on llvmpipe: render contexts skip multisampling, reflections and shadows
  (``patch_cheap_render``), and only the kept frames are rendered (``render_state``).
- robosuite's ``sim.render`` returns OpenGL (upside-down) images; ``render_state`` flips them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

ROBOTS = ("Panda", "Sawyer", "UR5e", "Kinova3", "IIWA", "Jaco")
"""Embodiments supported (robosuite names; also the subject labels)."""


@dataclass(frozen=True)
class SceneSpec:
    """A robosuite environment and the fixed arguments that make one scene of the source."""

    env_name: str
    kwargs: dict[str, Any] = field(default_factory=dict)


SCENES: dict[str, SceneSpec] = {
    "table_cube": SceneSpec("Lift"),
    "bin_can": SceneSpec("PickPlaceCan"),
    "bin_milk": SceneSpec("PickPlaceMilk"),
    "bin_bread": SceneSpec("PickPlaceBread"),
    "bin_cereal": SceneSpec("PickPlaceCereal"),
    "two_cubes": SceneSpec("Stack"),
    "door": SceneSpec("Door", {"use_latch": False}),
    "door_latch": SceneSpec("Door", {"use_latch": True}),
    "round_nut": SceneSpec("NutAssemblyRound"),
}
"""Scene name -> robosuite env; config files refer to scenes by these names."""

_PATCHED: set[str] = set()


def patch_cheap_render() -> None:
    """Make robosuite render contexts skip multisampling, reflections and shadows (process-wide).

    On llvmpipe these cost about half of every frame (FACTS.md); the patch wraps context creation
    so it survives context rebuilds. Idempotent.
    """
    if "render" in _PATCHED:
        return
    import mujoco
    from robosuite.utils.binding_utils import MjRenderContext

    original = MjRenderContext._set_mujoco_context_and_buffers

    def cheap(self: Any) -> None:
        self.model._model.vis.quality.offsamples = 0
        original(self)
        self.scn.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        self.scn.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0

    MjRenderContext._set_mujoco_context_and_buffers = cheap
    _PATCHED.add("render")


def patch_sawyer() -> None:
    """Let Sawyer load and track on mujoco 3.3.7 (shell inertia on head meshes; one contact excluded)."""
    if "sawyer" in _PATCHED:
        return
    from robosuite.models.robots.manipulators import sawyer_robot
    from robosuite.utils.mjcf_utils import new_element

    original_init = sawyer_robot.Sawyer.__init__

    def init(self: Any, idn: int | str = 0) -> None:
        original_init(self, idn=idn)
        for mesh in self.asset.findall("mesh"):
            if "head" in mesh.get("name", ""):
                mesh.set("inertia", "shell")
        body_of = {}
        for body in self.worldbody.iter("body"):
            for geom in body.findall("geom"):
                body_of[geom.get("name", "")] = body.get("name")
        pair = [body_of.get(self.naming_prefix + g) for g in ("base_col", "link0_collision")]
        if all(pair) and pair[0] != pair[1]:
            self.contact.append(new_element("exclude", name=None, body1=pair[0], body2=pair[1]))
        else:
            logger.warning(
                "Sawyer model: base/link0 collision bodies not found (%s); contact not excluded", pair
            )

    sawyer_robot.Sawyer.__init__ = init
    _PATCHED.add("sawyer")


def make_env(robot: str, scene: str, cameras: list[str], image_size: int, control_freq: int = 20) -> Any:
    """Build one robosuite env for (robot, scene) with OSC_POSE, cheap rendering and soft resets.

    Cameras are not observed (``use_camera_obs=False``): frames are rendered on demand from saved
    states by ``render_state``, only for the frames a clip keeps.
    """
    if robot not in ROBOTS:
        raise ValueError(f"embodiment {robot!r} is not supported; use one of {ROBOTS}")
    if scene not in SCENES:
        raise ValueError(f"scene {scene!r} is unknown; use one of {sorted(SCENES)}")
    from roboact.headless import configure_gl

    configure_gl()
    os.environ.setdefault("LP_NUM_THREADS", "1")
    import robosuite

    patch_cheap_render()
    patch_sawyer()
    spec = SCENES[scene]
    controller = robosuite.load_controller_config(default_controller="OSC_POSE")
    env = robosuite.make(
        spec.env_name,
        robots=robot,
        controller_configs=controller,
        has_renderer=False,
        has_offscreen_renderer=image_size > 0,
        use_camera_obs=False,
        use_object_obs=False,
        camera_names=list(cameras) or ["agentview"],
        camera_heights=image_size or 64,
        camera_widths=image_size or 64,
        control_freq=control_freq,
        horizon=100000,
        ignore_done=True,
        hard_reset=False,
        reward_shaping=False,
        **spec.kwargs,
    )
    return env


def render_state(env: Any, state: np.ndarray, camera: str, image_size: int) -> np.ndarray:
    """Restore a flattened sim state and render one upright (H, W, 3) uint8 frame from ``camera``."""
    sim = env.sim
    sim.set_state_from_flattened(state)
    sim.forward()
    image = sim.render(camera_name=camera, width=image_size, height=image_size)
    return np.ascontiguousarray(image[::-1])
