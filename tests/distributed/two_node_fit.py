"""Run by test_two_node.py in a subprocess: a 2-worker fit on a two-node Ray cluster on this machine.

A second cluster cannot share the test session's Ray instance, hence a separate process. Each node
has one CPU and each worker needs one, so rank 0 and rank 1 land on different nodes; only
``storage_path`` (a folder both nodes can reach) and the Ray object store connect them.
Prints one JSON line: ``{"worker_nodes": [...], "cluster_nodes": [...], "step": .., "model_dir": ..}``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")
sys.path.insert(0, str(Path(__file__).parent))


def main(root: Path) -> None:
    import ray
    from conftest import build_feature_store, tiny_train_config
    from ray.cluster_utils import Cluster
    from roboact.distributed.run_logger import read_metrics
    from roboact.distributed.train import fit

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "object_store_memory": 100 * 1024 * 1024, "include_dashboard": False},
    )
    cluster.add_node(num_cpus=1, object_store_memory=100 * 1024 * 1024)
    cluster.wait_for_nodes()
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        features = build_feature_store(root / "store")
        cfg = tiny_train_config(
            features, root / "runs", "twonode", max_steps=20, storage_path=str(root / "shared_storage")
        )
        out = fit(cfg, address=cluster.address)
        rows = [r for r in read_metrics(out["run_dir"]) if "workers" in r]
        print(
            json.dumps(
                {
                    "worker_nodes": sorted({w["node"] for r in rows for w in r["workers"]}),
                    "cluster_nodes": sorted(n["NodeID"] for n in ray.nodes() if n["Alive"]),
                    "step": out["metrics"]["step"],
                    "model_dir": out["model_dir"],
                    "checkpoint_dir": out["checkpoint_dir"],
                }
            )
        )
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
