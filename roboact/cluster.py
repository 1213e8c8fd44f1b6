"""Connecting to Ray: a local instance by default, ``--address`` / ``RAY_ADDRESS`` for a cluster.

Every subsystem calls ``init_ray`` instead of ``ray.init`` so the same command runs on a laptop
and on a cluster, and so the defaults that matter here (no usage stats, no dashboard on a local
instance, a bounded object store on small machines) live in one place.
"""

from __future__ import annotations

import logging
import os
from typing import Any

logger = logging.getLogger(__name__)


def init_ray(address: str | None = None, num_cpus: int | None = None, **kwargs: Any) -> Any:
    """Start or join Ray once per process and return the ``ray`` module.

    Args:
        address: ``None`` starts a local instance unless ``RAY_ADDRESS`` is set; ``"auto"`` or
            ``"ray://host:10001"`` or ``"host:6379"`` joins an existing cluster.
        num_cpus: CPUs of a *local* instance (ignored when joining a cluster).
        **kwargs: passed to ``ray.init`` (for example ``object_store_memory``).
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        logger.info("joining Ray cluster at %s", address)
        ray.init(address=address, log_to_driver=kwargs.pop("log_to_driver", True), **kwargs)
    else:
        kwargs.setdefault("include_dashboard", False)
        kwargs.setdefault("object_store_memory", 512 * 1024 * 1024)
        ray.init(num_cpus=num_cpus, **kwargs)
        logger.info("started a local Ray instance (%s CPUs)", ray.cluster_resources().get("CPU"))
    return ray
