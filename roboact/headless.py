"""Headless MuJoCo rendering: pick a GL backend and fail early with the fix, not an EGL trace.

Peers' users lose hours on opaque EGL errors (LIBERO, robosuite issue trackers). We choose
``MUJOCO_GL=egl`` when no display is present and, on failure, name the Debian packages and the
``MUJOCO_GL`` value that fix it.
"""

from __future__ import annotations

import os

DEBIAN_GL_PACKAGES = "libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6"


class HeadlessRenderingError(RuntimeError):
    """Raised when MuJoCo cannot create an offscreen GL context."""


def load_llvm_users_first() -> None:
    """Import triton (torch's compiler backend) before any GL context exists in this process.

    Measured here: once Mesa's llvmpipe has loaded its LLVM for an EGL/OSMesa context, importing
    triton (as ``torch._dynamo`` does, e.g. via transformers) segfaults the process; in the other
    order both work. Importing triton first costs well under a second.
    """
    try:
        import triton  # noqa: F401
    except ImportError:
        pass


def configure_gl() -> str:
    """Set ``MUJOCO_GL`` (and PyOpenGL's platform) before mujoco is imported; return the value."""
    load_llvm_users_first()
    if "MUJOCO_GL" not in os.environ:
        os.environ["MUJOCO_GL"] = "egl" if not os.environ.get("DISPLAY") else "glfw"
    backend = os.environ["MUJOCO_GL"]
    if backend in ("egl", "osmesa"):
        os.environ.setdefault("PYOPENGL_PLATFORM", backend)
    return backend


def check_rendering(width: int = 32, height: int = 32) -> None:
    """Render one tiny frame; raise ``HeadlessRenderingError`` with the fix if it cannot."""
    backend = configure_gl()
    try:
        import mujoco

        model = mujoco.MjModel.from_xml_string("<mujoco><worldbody><geom size='.1'/></worldbody></mujoco>")
        with mujoco.Renderer(model, height=height, width=width) as renderer:
            renderer.update_scene(mujoco.MjData(model))
            renderer.render()
    except Exception as err:  # noqa: BLE001 - any GL failure gets the same actionable message
        raise HeadlessRenderingError(
            f"MuJoCo could not render offscreen with MUJOCO_GL={backend}: {err}. "
            f"Install the Debian packages `apt-get install {DEBIAN_GL_PACKAGES}` and use "
            "MUJOCO_GL=egl (or MUJOCO_GL=osmesa for pure software rendering)."
        ) from err
