"""Connecting to Ray: a local instance by default, ``--address`` / ``RAY_ADDRESS`` for a cluster.

Every subsystem calls ``init_ray`` instead of ``ray.init`` so the same command runs on a laptop
and on a cluster, and so the defaults that matter here (no usage stats, Ray's API server on loopback for a
local instance, a bounded object store on small machines, a local instance reachable from this machine
only) live in one place.

A local instance listens on 127.0.0.1 only (GCS, raylet, workers, dashboard and runtime-env
agents): on Linux Ray binds them to the machine's routable address, so anyone on the network could
reach an unauthenticated GCS and run code. ``ROBOACT_RAY_EXPOSE=1`` restores Ray's default for a
local head that other machines must join; ``--address`` / ``RAY_ADDRESS`` joins a cluster and
changes nothing there.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

logger = logging.getLogger(__name__)

# Ray waits a fixed 30 s for its raylet to register; on a loaded 2-core machine that can pass.
START_ATTEMPTS = 3
EXPOSE_ENV = "ROBOACT_RAY_EXPOSE"
"""set to 1: a local instance listens on the machine's routable address (Ray's default)"""
# Ray's switch for single-machine mode (its default on macOS/Windows): node IP = loopback.
_RAY_CLUSTER_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


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

    from roboact import log

    # Ray's driver-side records (and Ray Data's, RLlib's, imported by now): run log, console with -v.
    # Before the early return: a stage that imported a Ray library calls init_ray again.
    log.adopt_ray_logging()
    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address == "local":  # Ray's own spelling of "start a new local instance": ours, on loopback
        address = None
    if address:
        logger.info("joining Ray cluster at %s", address)
        if _api_server_set and os.environ.get(API_SERVER_ENV) == _api_server_set:
            del os.environ[API_SERVER_ENV]  # a local instance of ours, now gone
        ray.init(address=address, log_to_driver=kwargs.pop("log_to_driver", True), **kwargs)
    else:
        kwargs.setdefault("object_store_memory", 512 * 1024 * 1024)
        if os.environ.get(EXPOSE_ENV, "") not in ("1", "true", "yes"):
            bind_local_ray_to_loopback()
        for attempt in range(1, START_ATTEMPTS + 1):
            call = dict(kwargs)
            if call.get("include_dashboard") is not False:
                serve_state_api(call)
            try:
                # address="local": always a new instance, never a `ray start` cluster that
                # happens to run on this machine (plain ray.init() would join it).
                ray.init(address="local", num_cpus=num_cpus, **call)
                break
            except Exception as err:  # Ray raises a bare Exception when its raylet starts too slowly
                if "timed out during startup" not in str(err) or attempt == START_ATTEMPTS:
                    raise
                logger.warning(
                    "Ray start-up timed out (machine busy?); retrying (%d/%d)", attempt, START_ATTEMPTS
                )
                ray.shutdown()
        logger.info("started a local Ray instance (%s CPUs)", ray.cluster_resources().get("CPU"))
    log.route_ray_worker_output()  # what workers print: run log, console only with -v
    return ray


API_SERVER_ENV = "RAY_API_SERVER_ADDRESS"
"""Ray's variable naming the API server (State API, jobs) to its clients, workers included"""
_api_server_set: str | None = None  # the value serve_state_api last put in API_SERVER_ENV


def serve_state_api(init_kwargs: dict[str, Any]) -> str:
    """Make a local instance serve Ray's State API, and tell its workers where; return its URL.

    Ray Train V2 gives every run a ``PlacementGroupCleaner`` actor that asks the State API each
    second whether the run's controller is alive, and frees the run's placement group when it is not.
    On a local instance started with ``include_dashboard=False`` the API server loads no State API
    (``ray/_private/services.py``: "Modules like job or state APIs should be loaded although dashboard
    is disabled"), and a worker finds the API server by ``RAY_API_SERVER_ADDRESS``/``RAY_ADDRESS`` or
    by scanning the machine's Ray processes, which fails when several instances run on one machine.
    Either way the cleaner logged a failure every second (195 lines in one demo) or died with a
    traceback, and never freed a dead controller's placement group (the leak
    ``release_leaked_placement_groups`` mopped up). So: Ray's API server on a loopback port chosen
    here, and that port in the environment the raylet and every worker inherit.
    """
    global _api_server_set
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # include_dashboard=None: Ray loads every API module, and a dashboard that fails to start is a
    # warning, not a failed command (the cleaner then falls back to its old behaviour).
    init_kwargs.setdefault("include_dashboard", None)
    init_kwargs.update(dashboard_host="127.0.0.1", dashboard_port=port)
    _api_server_set = f"http://127.0.0.1:{port}"
    os.environ[API_SERVER_ENV] = _api_server_set
    return _api_server_set


def bind_local_ray_to_loopback() -> None:
    """Make the local instance this process starts (and its workers) use 127.0.0.1 as node IP.

    Why not ``ray.init(_node_ip_address="127.0.0.1")``: Ray 2.60 rewrites a loopback node IP to the
    routable one. Its single-machine switch (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``) makes the node
    IP loopback, and every server binds to the node IP. The variable is read when Ray is imported,
    so it is set for the processes Ray starts and patched into this one (Ray may be imported).
    """
    os.environ[_RAY_CLUSTER_ENV] = "0"
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


def release_leaked_placement_groups() -> int:
    """Remove placement groups that finished Ray Train runs left behind; return how many.

    Ray Train V2 frees the placement group of a controller that ended abruptly (an early-stopped
    Tune trial, a killed worker) from a cleaner actor that needs Ray's State API; ``init_ray`` gives
    a local instance one (``serve_state_api``), which removed the cause of the leaks this mopped up.
    It stays as a guard for instances without it: a leaked reservation starves every later stage.
    Call this only between stages, when nothing of ours is running: every placement group this job
    still holds then is such a leak. Only this job's: on a shared cluster (``ray job submit``, or
    ``RAY_ADDRESS``) the others belong to other users' running fits and sweeps. A placement group's
    ID ends with the ID of the job that created it.
    """
    import ray
    from ray.util.placement_group import PlacementGroup, placement_group_table, remove_placement_group

    if not ray.is_initialized():
        return 0
    job = ray.get_runtime_context().get_job_id()
    removed = 0
    for pg_id, info in placement_group_table().items():
        if pg_id.endswith(job) and info.get("state") in ("CREATED", "PENDING", "RESCHEDULING"):
            remove_placement_group(PlacementGroup(ray.PlacementGroupID(bytes.fromhex(pg_id))))
            removed += 1
    if removed:
        logger.info("released %d placement group(s) left behind by finished Ray Train runs", removed)
    return removed


def alive_nodes() -> int:
    """Alive nodes of the Ray cluster this process is connected to (0 when not connected)."""
    import ray

    if not ray.is_initialized():
        return 0
    return sum(1 for node in ray.nodes() if node.get("Alive"))


def require_shared_paths(
    paths: dict[str, str | None], address: str | None = None, shared_fs: bool = False
) -> None:
    """Fail before launching when a multi-node cluster would be handed a node-local path.

    Joins the cluster (``init_ray``) only when a plain local path is among ``paths`` and the command
    targets a cluster (``address``, ``RAY_ADDRESS`` or an existing connection); a local instance is one
    node, where every path is reachable. See ``roboact.storage.check_shareable`` for the rule.

    Raises:
        UserError: naming each node-local path and the option that fixes it.
    """
    from roboact import storage

    if storage.shared_fs_declared(shared_fs) or not storage.node_local_paths(paths):
        return
    import ray

    target = address or os.environ.get("RAY_ADDRESS")
    if not ray.is_initialized():
        if not target or target == "local":
            return  # a local instance this command starts: one node
        init_ray(address)  # join the cluster to count its nodes
    storage.check_shareable(paths, alive_nodes(), shared_fs)


def actor_bucket(
    run_dir: str | os.PathLike[str], uri: str | None, shared_fs: bool, option: str
) -> str | None:
    """Where a command of many stages (``roboact demo``, ``bench paper``) hands actors its run's files.

    None on one node, or with a filesystem every node mounts: the run directory's own paths. On
    several nodes with no shared disk, ``uri``, the bucket that keeps the run: each stage then hands
    actors the bucket's copy of what earlier stages wrote, and has them write there.

    Args:
        run_dir: the run's local directory (named in the refusal).
        uri: the run's ``s3://`` / ``gs://`` copy, or None.
        shared_fs: ``--shared-fs`` (or ``ROBOACT_SHARED_FS=1``).
        option: the option that sets ``uri`` (``--storage``, ``--out``), named in the refusal.

    Raises:
        UserError: several nodes, no shared filesystem and no bucket.
    """
    from roboact import storage
    from roboact.errors import UserError

    nodes = alive_nodes()
    if nodes <= 1 or storage.shared_fs_declared(shared_fs):
        return None
    if uri and storage.is_remote(uri):
        logger.info("%d nodes and no shared disk: the stages hand actors the files in %s", nodes, uri)
        return uri
    raise UserError(
        f"this Ray cluster has {nodes} alive nodes and {run_dir} exists on this node only; the stages "
        f"hand its files to actors on every node: pass {option} s3://BUCKET/... (or gs://), which keeps "
        "the run and hands the actors its copies, or put the run on a filesystem every node mounts and "
        "pass --shared-fs (ROBOACT_SHARED_FS=1)"
    )
