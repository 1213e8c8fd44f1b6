"""The hardware actor on Ray: trials run inside it; it is placed only on the node that has the arm."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from roboact.hardware.trial_store import TrialStore
from roboact.hardware.trials import run_trials

from .conftest import small_plan


@pytest.mark.ray
@pytest.mark.sim
@pytest.mark.timeout(120)
def test_trials_run_inside_the_ray_actor(ray_session, tmp_path):
    store = tmp_path / "s.sqlite"
    summary = run_trials(small_plan(repetitions=1), "sim", store, use_ray=True, progress=False)
    assert summary["counts"] == {"completed": 1}
    assert len(TrialStore(store).subtask_results()) == 2


@pytest.mark.ray
@pytest.mark.timeout(60)
def test_jaka_backend_refuses_a_cluster_without_the_arm_resource(ray_session, tmp_path):
    with pytest.raises(RuntimeError, match="jaka_arm"):
        run_trials(small_plan(slack_s=0), "jaka", tmp_path / "s.sqlite", use_ray=True, progress=False)


TWO_NODES = textwrap.dedent(
    """
    import json, os
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray
    from ray.cluster_utils import Cluster
    from roboact.config import config_to_dict
    from roboact.hardware.actor import make_arm_actor
    from hardware.conftest import small_plan

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "object_store_memory": 80 * 1024 * 1024, "include_dashboard": False})
    arm = cluster.add_node(num_cpus=1, resources={"jaka_arm": 1}, object_store_memory=80 * 1024 * 1024)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    # the sim backend builds nothing until connect(): this measures placement, not start-up
    actor = make_arm_actor("jaka_arm", num_cpus=0.5).remote("sim", config_to_dict(small_plan()))
    node = ray.get(actor.node.remote(), timeout=60)
    placed = {"actor": node, "arm": arm.node_id, "head": cluster.head_node.node_id}
    print("RESULT " + json.dumps(placed))
    ray.shutdown()
    cluster.shutdown()
    """
)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(200)  # about 15 s on an idle 2-core machine; Ray start-up stretches under load
def test_actor_is_placed_only_on_the_node_declaring_the_arm(tmp_path):
    script = tmp_path / "two_nodes.py"
    script.write_text(TWO_NODES)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    placed = json.loads(lines[-1][len("RESULT ") :])
    assert placed["actor"] == placed["arm"] != placed["head"]
