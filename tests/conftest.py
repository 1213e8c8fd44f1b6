"""Session-wide fixtures: one shared Ray instance, headless GL, small thread counts.

Ray tests share one ``ray.init`` for the whole session (starting Ray costs seconds); every Ray or
simulator test also carries a ``pytest.mark.timeout`` because a Ray failure is usually a hang.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
os.environ.setdefault("LP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

from roboact.headless import load_llvm_users_first  # noqa: E402

# Simulator tests create EGL contexts (llvmpipe's LLVM) in this process; triton must load first.
load_llvm_users_first()


@pytest.fixture(scope="session")
def ray_session():
    """The one Ray instance of the test session (4 logical CPUs, small object store)."""
    import ray

    from roboact.cluster import bind_local_ray_to_loopback

    if not ray.is_initialized():
        bind_local_ray_to_loopback()  # as roboact's own local instances: reachable from here only
        ray.init(
            address="local",
            num_cpus=4,
            object_store_memory=256 * 1024 * 1024,
            include_dashboard=False,
            log_to_driver=False,
        )
    yield ray
    ray.shutdown()


@pytest.fixture(autouse=True, scope="module")
def _release_leaked_placement_groups():
    """After each test module, free placement groups that finished Ray Train runs left behind.

    Ray Train V2 removes a run's placement group from a cleaner actor; when a controller is killed
    abruptly (a worker-kill test, an early-stopped Tune trial) that clean-up can miss, and the
    reservation would starve the next module's actors on this small shared instance. No module
    leaves work running on purpose, so every placement group still alive at its end is a leak.
    """
    yield
    from roboact.cluster import release_leaked_placement_groups

    release_leaked_placement_groups()


@pytest.fixture
def fake():
    """The faithful fake JAKA controller on 127.0.0.1 (hardware and reliability tests)."""
    from roboact.hardware.fake_controller import FakeController

    with FakeController(state_period_s=0.01) as controller:
        yield controller
