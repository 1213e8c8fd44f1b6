"""Probe: a local Ray instance started by roboact is reachable from this machine only.

Before the fix its GCS, raylet, workers and agents listened on every interface (the node IP was
the machine's routable address), so anyone on the network could reach an unauthenticated GCS.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent(
    """
    import json

    import ray  # puts Ray's bundled psutil on sys.path
    import psutil
    from roboact.cluster import init_ray

    ray = init_ray(num_cpus=1, object_store_memory=80 * 1024 * 1024)

    @ray.remote
    def worker_ip():
        return ray.util.get_node_ip_address()

    out = {
        "node": ray.nodes()[0]["NodeManagerAddress"],
        "gcs": ray.get_runtime_context().gcs_address,
        "worker": ray.get(worker_ip.remote()),
        "listening": [],
    }
    for proc in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        try:
            conns = proc.net_connections(kind="inet")
        except psutil.Error:
            continue
        out["listening"] += [
            [proc.name(), c.laddr.ip, c.laddr.port] for c in conns if c.status == psutil.CONN_LISTEN
        ]
    print("PROBE " + json.dumps(out))
    ray.shutdown()
    """
)


def _loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    mapped = getattr(addr, "ipv4_mapped", None)
    return addr.is_loopback or (mapped is not None and mapped.is_loopback)


@pytest.mark.timeout(240)
def test_local_ray_started_by_roboact_listens_on_loopback_only(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "ROBOACT_RAY_EXPOSE")}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=220
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("PROBE ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-4000:]
    out = json.loads(line.removeprefix("PROBE "))
    assert out["node"] == "127.0.0.1" and out["worker"] == "127.0.0.1"
    assert out["gcs"].startswith("127.0.0.1:")
    assert out["listening"], "the probe found no listening socket of the Ray processes"
    exposed = [entry for entry in out["listening"] if not _loopback(entry[1])]
    assert not exposed, f"listening beyond loopback: {exposed}"


@pytest.fixture
def fake_ray(monkeypatch):
    """``ray.init`` recorded, not run; Ray's single-machine switch restored after the test."""
    import ray
    from ray._private import ray_constants

    calls: list[dict] = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw))
    monkeypatch.setattr(ray, "cluster_resources", lambda: {})
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", True)
    monkeypatch.delenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("ROBOACT_RAY_EXPOSE", raising=False)
    return calls, ray_constants


def test_expose_flag_and_cluster_address_leave_rays_binding_alone(fake_ray, monkeypatch):
    from roboact.cluster import init_ray

    calls, constants = fake_ray
    init_ray("127.0.0.1:6379")
    assert calls[-1]["address"] == "127.0.0.1:6379" and constants.ENABLE_RAY_CLUSTER
    monkeypatch.setenv("ROBOACT_RAY_EXPOSE", "1")
    init_ray()
    assert calls[-1]["address"] == "local" and constants.ENABLE_RAY_CLUSTER
    assert "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" not in os.environ
    monkeypatch.delenv("ROBOACT_RAY_EXPOSE")
    init_ray()
    assert not constants.ENABLE_RAY_CLUSTER and os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"
