"""On a two-node Ray cluster (ray.cluster_utils.Cluster, in a subprocess) actors land on both nodes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.sim]

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                            "object_store_memory": 80 * 1024 * 1024})
    cluster.add_node(num_cpus=1, object_store_memory=80 * 1024 * 1024)
    cluster.wait_for_nodes()
    try:
        from roboact.sim_workers.eval import evaluate

        summary = evaluate("kitchen", "slide", "random", 4, max_steps=20, workers=2, run_dir=sys.argv[1],
                           address=cluster.address, videos=0, image_size=0)
        recs = [json.loads(x) for x in open(os.path.join(sys.argv[1], "episodes.jsonl"))]
        nodes = sorted({r["node"] for r in recs})
        keys = sorted(r["episode"] for r in recs)
        print("RESULT " + json.dumps({"episodes": summary["episodes"], "nodes": nodes, "keys": keys}))
    finally:
        import ray
        ray.shutdown()
        cluster.shutdown()
    """
)


@pytest.mark.timeout(420)
def test_pool_spreads_actors_over_two_nodes_and_gathers_every_result(tmp_path):
    script = tmp_path / "two_nodes.py"
    script.write_text(SCRIPT)
    env = {
        "RAY_raylet_start_wait_time_s": "240",
        "RAY_agent_register_timeout_ms": "300000",
        "PATH": "/usr/bin:/bin",
        "MUJOCO_GL": "egl",
        "PYOPENGL_PLATFORM": "egl",
        "LP_NUM_THREADS": "1",
        "HOME": str(tmp_path),
    }
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=400,
        env=env,
        cwd=tmp_path,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT ") :])
    assert out["episodes"] == 4 and out["keys"] == [0, 1, 2, 3]
    assert len(out["nodes"]) == 2
