"""Run by test_two_node.py in a subprocess: a 2-worker fit on a two-node Ray cluster on this machine,
with an S3 bucket (moto's server on 127.0.0.1, ``AWS_ENDPOINT_URL`` from the caller) as the only
storage the nodes share.

A second cluster cannot share the test session's Ray instance, hence a separate process. Each node
has one CPU and each worker needs one, so rank 0 and rank 1 land on different nodes. The feature
store, Ray's checkpoint storage and the run directory are all ``s3://`` URIs; the local feature store
is deleted after its upload, so the fit can only have read it from the bucket. Before the fit, the same
fit with a node-local ``storage_path`` must be refused; after it, a 1-trial sweep runs with the same
bucket as its storage and runs root.
Prints one JSON line: ``{"worker_nodes", "cluster_nodes", "step", "run_uri", "model_uri",
"checkpoint_dir", "refused", "sweep_uri", "sweep_trials"}``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")
sys.path.insert(0, str(Path(__file__).parent))


def main(root: Path, bucket: str) -> None:
    import ray
    from conftest import build_feature_store, tiny_train_config
    from ray.cluster_utils import Cluster
    from roboact.distributed.train import fit
    from roboact.distributed.tune import sweep

    from roboact import storage
    from roboact.errors import UserError

    features = build_feature_store(root / "store")
    features_uri = storage.upload(features, f"{bucket}/features/features.h5")
    shutil.rmtree(root / "store")

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "object_store_memory": 100 * 1024 * 1024, "include_dashboard": False},
    )
    cluster.add_node(num_cpus=1, object_store_memory=100 * 1024 * 1024)
    cluster.wait_for_nodes()
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        local = tiny_train_config(
            features_uri, root / "runs", "refused", max_steps=20, storage_path=str(root / "node_local")
        )
        try:
            fit(local, address=cluster.address)
            refused = ""
        except UserError as err:
            refused = str(err)
        cfg = tiny_train_config(
            features_uri,
            f"{bucket}/runs",
            "twonode",
            max_steps=20,
            storage_path=f"{bucket}/ray_results",
        )
        out = fit(cfg, address=cluster.address)
        with storage.open_file(f"{out['run_uri']}/metrics.jsonl", "r") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        rows = [r for r in rows if "workers" in r]
        swept = sweep(
            "sweep_smoke",
            features_uri,
            name="sweep",
            storage_path=f"{bucket}/ray_results",
            address=cluster.address,
            runs_root=f"{bucket}/runs",
            overrides=[
                "num_samples=1",
                "train_overrides=[optim.max_steps=5,log_every=5,checkpoint_every=5]",
            ],
        )
        print(
            json.dumps(
                {
                    "worker_nodes": sorted({w["node"] for r in rows for w in r["workers"]}),
                    "cluster_nodes": sorted(n["NodeID"] for n in ray.nodes() if n["Alive"]),
                    "step": out["metrics"]["step"],
                    "run_uri": out["run_uri"],
                    "model_uri": out["model_uri"],
                    "checkpoint_dir": out["checkpoint_dir"],
                    "refused": refused,
                    "sweep_uri": swept["sweep_uri"],
                    "sweep_trials": swept["n_trials"],
                }
            )
        )
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
