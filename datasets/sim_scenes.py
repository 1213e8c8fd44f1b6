"""robosuite 1.4 and LIBERO scenes of the simulated atomic-action source, with this machine's workarounds.

One scene = one robosuite single-arm environment with fixed keyword arguments, or one LIBERO
problem (a BDDL file) built through LIBERO's ``ControlEnv`` (``SCENES``); an env is built once per
(robot, scene) and reset cheaply (``hard_reset=False``: ``reset()`` reuses the simulator, about
5 ms without cameras, instead of rebuilding it in 1.5-3.6 s).

LIBERO's problem classes mount ``f"Mounted{robot}"`` for each name in ``robots=`` and LIBERO only
ships ``MountedPanda``; any other robot fails in robosuite with ``KeyError: 'MountedUR5e'``
(``ROBOT_CLASS_MAPPING``). ``register_libero_robots`` defines ``Mounted<Robot>`` for the other
embodiments: robosuite's own model of the robot, placed where LIBERO places its Panda for every
LIBERO arena (``MountedPanda.base_xpos_offset``), with its own init pose, mount and gripper.

Workarounds (FACTS.md, re-checked here):
- Sawyer does not load on mujoco 3.3.7 ("mesh volume is too small: robot0_head_1"): its head
  meshes get ``inertia="shell"``, and the contact between ``base_col`` and ``link0_collision`` is
  excluded (otherwise OSC keeps a 1.3 cm error and grasps fail).
- Rendering dominates on llvmpipe: render contexts skip multisampling, reflections and shadows
  (``patch_cheap_render`` of ``roboact.sim_workers.envs.libero``, shared with the LIBERO workers),
  and only the kept frames are rendered (``render_state``).
- robosuite's ``sim.render`` returns OpenGL (upside-down) images; ``render_state`` flips them.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from roboact.sim_workers.envs.libero import patch_cheap_render

logger = logging.getLogger(__name__)

ROBOTS = ("Panda", "Sawyer", "UR5e", "Kinova3", "IIWA", "Jaco")
"""Embodiments supported (robosuite names; also the subject labels)."""


@dataclass(frozen=True)
class SceneSpec:
    """A robosuite environment (or LIBERO problem) and the fixed arguments that make one scene."""

    env_name: str
    """robosuite env name; for LIBERO scenes the problem, ``<benchmark>/<bddl stem>``."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    libero_bddl: str = ""
    """LIBERO BDDL file relative to LIBERO's ``bddl_files`` (empty: a robosuite scene)."""
    libero_object: str = ""
    """LIBERO object instance the action manipulates (``objects_dict`` key)."""
    libero_target: str = ""
    """LIBERO object instance an object is placed on/in (``place``)."""
    grasp_height: dict[str, float] = field(default_factory=dict)
    """Robot -> grasp point height above the object's centre (m); default 0."""
    actions: tuple[str, ...] = ()
    """Actions whose scripts know this scene's objects; empty = any (robosuite scenes)."""
    object_model: str = ""
    """robosuite object class (``robosuite.models.objects``, e.g. ``CanObject``) that replaces the
    scene's manipulated cube (Lift's ``cube``, Stack's ``cubeA``); empty = the env's own object.
    See ``swapped_object``."""

    @property
    def is_libero(self) -> bool:
        return bool(self.libero_bddl)


TABLE_OBJECTS = {"can": "CanObject", "milk": "MilkObject", "bread": "BreadObject", "cereal": "CerealObject"}
"""Objects that stand on Lift's table in place of its cube (scenes ``table_<object>``)."""

SCENES: dict[str, SceneSpec] = {
    "table_cube": SceneSpec("Lift"),
    **{f"table_{obj}": SceneSpec("Lift", object_model=cls) for obj, cls in TABLE_OBJECTS.items()},
    **{f"stack_{obj}": SceneSpec("Stack", object_model=cls) for obj, cls in TABLE_OBJECTS.items()},
    "bin_can": SceneSpec("PickPlaceCan"),
    "bin_milk": SceneSpec("PickPlaceMilk"),
    "bin_bread": SceneSpec("PickPlaceBread"),
    "bin_cereal": SceneSpec("PickPlaceCereal"),
    "two_cubes": SceneSpec("Stack"),
    "door": SceneSpec("Door", {"use_latch": False}),
    "door_latch": SceneSpec("Door", {"use_latch": True}),
    "round_nut": SceneSpec("NutAssemblyRound"),
    "square_nut": SceneSpec("NutAssemblySquare"),
    "libero_goal_cheese_bowl": SceneSpec(
        "libero_goal/put_the_cream_cheese_in_the_bowl",
        libero_bddl="libero_goal/put_the_cream_cheese_in_the_bowl.bddl",
        libero_object="cream_cheese_1",
        libero_target="akita_black_bowl_1",
        # the cheese is 1.8 cm tall: Jaco's fingers close below its end-effector site and meet
        # the table when the site is at the cheese's centre (0/3 picks; 1.5 cm higher: 2/2)
        grasp_height={"Jaco": 0.015},
        actions=("pick", "place"),
    ),
}
"""Scene name -> robosuite env; config files refer to scenes by these names."""

_PATCHED: set[str] = set()


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


def register_libero_robots() -> None:
    """Define ``Mounted<Robot>`` models so LIBERO's problem classes accept every embodiment.

    LIBERO rewrites ``robots=["UR5e"]`` to ``"MountedUR5e"``, which only exists for the Panda. The
    classes made here subclass robosuite's model of the robot (so the robot, its default mount
    and gripper are unchanged) and take LIBERO's base placements for each arena from
    ``MountedPanda``, so every robot stands where LIBERO's Panda stands. Idempotent.
    """
    if "libero_robots" in _PATCHED:
        return
    import libero.libero.envs.robots  # noqa: F401 - registers MountedPanda in ROBOT_CLASS_MAPPING
    from libero.libero.envs.robots.mounted_panda import MountedPanda
    from robosuite.models.robots import manipulators
    from robosuite.robots import ROBOT_CLASS_MAPPING
    from robosuite.robots.single_arm import SingleArm

    offsets = MountedPanda.base_xpos_offset.fget(None)  # plain dict of LIBERO arena placements
    for robot in ROBOTS:
        name = f"Mounted{robot}"
        if robot == "Panda" or name in ROBOT_CLASS_MAPPING:
            continue
        base = getattr(manipulators, robot)
        # the class statement registers the model by name (robosuite's RobotModelMeta)
        type(name, (base,), {"base_xpos_offset": property(lambda self, o=offsets: dict(o))})
        ROBOT_CLASS_MAPPING[name] = SingleArm
    _PATCHED.add("libero_robots")


def build_seed(seed: int, robot: str, scene: str) -> int:
    """Seed of ``np.random`` while the (robot, scene) model is built (crc32, not ``hash``)."""
    return zlib.crc32(f"{seed}|env|{robot}|{scene}".encode()) & 0x7FFFFFFF


def make_env(
    robot: str, scene: str, cameras: list[str], image_size: int, control_freq: int = 20, seed: int = 0
) -> Any:
    """Build one env for (robot, scene) with OSC_POSE, cheap rendering and soft resets.

    Cameras are not observed (``use_camera_obs=False``): frames are rendered on demand from saved
    states by ``render_state``, only for the frames a clip keeps. The returned env carries
    ``roboact_scene`` (the scene name) so scripts find the scene's objects.

    Why ``seed``: robosuite draws parts of the *model* from the global ``np.random`` while building
    it (Lift's cube size is uniform in [0.020, 0.022] m, for example), and a soft reset keeps the
    model. Unseeded, the model depended on whatever the worker process had drawn before, so which
    actor built an env changed every episode run on it (states differed by up to 0.63 between two
    builds of one config). Seeding from (config seed, robot, scene) makes the model a function of
    the config alone; the global generator's previous state is restored afterwards.
    """
    if robot not in ROBOTS:
        raise ValueError(f"embodiment {robot!r} is not supported; use one of {ROBOTS}")
    if scene not in SCENES:
        raise ValueError(f"scene {scene!r} is unknown; use one of {sorted(SCENES)}")
    from roboact.headless import configure_gl

    configure_gl()
    os.environ.setdefault("LP_NUM_THREADS", "1")
    patch_cheap_render()
    patch_sawyer()
    spec = SCENES[scene]
    saved = np.random.get_state()
    np.random.seed(build_seed(seed, robot, scene))
    try:
        env = _build(robot, spec, cameras, image_size, control_freq)
    finally:
        np.random.set_state(saved)
    env.roboact_scene = scene
    return env


def _build(robot: str, spec: SceneSpec, cameras: list[str], image_size: int, control_freq: int) -> Any:
    """robosuite (or LIBERO) env of one scene; ``np.random`` is already seeded by ``make_env``."""
    import robosuite

    common: dict[str, Any] = dict(
        has_renderer=False,
        has_offscreen_renderer=image_size > 0,
        use_camera_obs=False,
        camera_names=list(cameras) or ["agentview"],
        camera_heights=image_size or 64,
        camera_widths=image_size or 64,
        control_freq=control_freq,
        horizon=100000,
        ignore_done=True,
        hard_reset=False,
    )
    if spec.is_libero:
        env = _make_libero_env(robot, spec, common)
    else:
        controller = robosuite.load_controller_config(default_controller="OSC_POSE")
        with swapped_object(spec):
            env = robosuite.make(
                spec.env_name,
                robots=robot,
                controller_configs=controller,
                use_object_obs=False,
                reward_shaping=False,
                **common,
                **spec.kwargs,
            )
    return env


SWAPPABLE = {"Lift": ("lift", "cube"), "Stack": ("stack", "cubeA")}
"""env -> (its robosuite module, the name of the cube ``object_model`` replaces)."""


@contextmanager
def swapped_object(spec: SceneSpec) -> Iterator[None]:
    """While a Lift (Stack) env is built, make its cube (cube A) a ``spec.object_model`` object
    under the same name.

    Why: the issue asks for actions performed on several objects, so object and action vary
    independently. robosuite's Lift and Stack build their cubes from the module-level
    ``BoxObject``; handing them another object under the same name keeps everything that reads
    ``env.cube``/``env.cubeA`` (the scripts' ``object_pos``, the envs' ``_check_success``, the
    placement sampler) working on the new object. The env is built once per (robot, scene) and
    soft-reset afterwards (``hard_reset=False``), so the swap is only needed during ``robosuite.make``.
    """
    if not spec.object_model:
        yield
        return
    if spec.env_name not in SWAPPABLE:
        raise ValueError(f"object_model is supported for {sorted(SWAPPABLE)} scenes, not {spec.env_name!r}")
    import importlib

    import robosuite.models.objects as objects

    module_name, target = SWAPPABLE[spec.env_name]
    module = importlib.import_module(f"robosuite.environments.manipulation.{module_name}")
    model = getattr(objects, spec.object_model, None)
    if model is None:
        raise ValueError(f"object_model {spec.object_model!r} is not a robosuite object")
    original = module.BoxObject

    def make(name: str, **kwargs: Any) -> Any:  # the cube's size/colour arguments do not apply
        return model(name=name) if name == target else original(name=name, **kwargs)

    module.BoxObject = make
    try:
        yield
    finally:
        module.BoxObject = original


def _make_libero_env(robot: str, spec: SceneSpec, common: dict[str, Any]) -> Any:
    """The robosuite env of a LIBERO problem, built by LIBERO's ``ControlEnv`` for ``robot``."""
    from libero.libero import get_libero_path
    from libero.libero.envs.env_wrapper import ControlEnv

    register_libero_robots()
    bddl = os.path.join(get_libero_path("bddl_files"), spec.libero_bddl)
    if not os.path.isfile(bddl):
        raise FileNotFoundError(f"LIBERO BDDL file {bddl} not found (scene {spec.env_name})")
    wrapper = ControlEnv(bddl_file_name=bddl, robots=[robot], controller="OSC_POSE", **common, **spec.kwargs)
    env = wrapper.env
    env.reset()  # LIBERO builds its object-state tables on the first reset
    return env


def clear_episode_state(env: Any) -> None:
    """Undo what robosuite's soft reset keeps from the previous episode: each gripper's command ramp.

    Grippers integrate their commands in ``current_action`` (``GripperModel.__init__`` sets it to
    zeros, nothing resets it), so without this an episode on a used env started with the last
    episode's gripper command and differed from the same seed on a fresh env: which worker ran
    which job earlier changed the store. Call it before every episode.
    """
    for robot in getattr(env, "robots", []):
        gripper = getattr(robot, "gripper", None)
        if gripper is not None and hasattr(gripper, "current_action"):
            gripper.current_action = np.zeros(gripper.dof)


def env_label(env: Any) -> str:
    """What a clip's provenance names as its env: robosuite class, or ``LIBERO:<problem>``."""
    spec = SCENES.get(getattr(env, "roboact_scene", ""))
    if spec is not None and spec.is_libero:
        return f"LIBERO:{spec.env_name}"
    return type(env).__name__


def render_state(env: Any, state: np.ndarray, camera: str, image_size: int) -> np.ndarray:
    """Restore a flattened sim state and render one upright (H, W, 3) uint8 frame from ``camera``."""
    sim = env.sim
    sim.set_state_from_flattened(state)
    sim.forward()
    image = sim.render(camera_name=camera, width=image_size, height=image_size)
    return np.ascontiguousarray(image[::-1])
