"""Run by test_node_failure.py in a subprocess: a 2-worker fit on a two-node Ray cluster on this
machine whose worker node is killed once a checkpoint is in the bucket, then replaced by a fresh node.

As in two_node_fit.py, each node has one CPU and each worker needs one, so one rank runs on each
node, and an S3 bucket (moto on 127.0.0.1, ``AWS_ENDPOINT_URL`` from the caller) is the only storage
the nodes share: features, Ray's checkpoints and the run directory are ``s3://`` URIs and the local
feature store is deleted after its upload. Once Ray has registered a checkpoint (the driver's run
log reported it) and its train state is in the bucket, the worker node's processes are SIGKILLed
(``Cluster.remove_node`` without a graceful stop) and a replacement node joins with its own, empty
cache folder (as an autoscaler would add one). The fit must then restart its worker group on the
replacement and continue from the bucket's newest checkpoint.

Prints one JSON line: ``{"killed_node", "replacement_node", "checkpoint_steps_at_kill", "final_step",
"error", "rows", "bucket"}`` where ``rows`` are the run's ``metrics.jsonl`` rows (read from the bucket)
reduced to step, resumed_from, checkpoint flag, worker nodes and failure events, and ``bucket`` lists
every object under the bucket.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")
sys.path.insert(0, str(Path(__file__).parent))

NAME = "nodefail"
MAX_STEPS = 40
NODE_ARGS: dict[str, Any] = {"num_cpus": 1, "object_store_memory": 100 * 1024 * 1024}


def checkpoint_steps(fs: Any, bucket_path: str) -> list[int]:
    """Steps of the checkpoints whose train state is in the bucket (a whole upload, not a folder)."""
    fs.invalidate_cache()
    found = fs.glob(f"{bucket_path}/ray_results/{NAME}/checkpoint_step*/train_state.pt")
    return sorted(int(m.group(1)) for p in found if (m := re.search(r"checkpoint_step(\d+)", p)))


def registered_in_bucket(run_log: Path, fs: Any, bucket_path: str) -> list[int]:
    """Steps of checkpoints Ray has registered (the driver's run log reported them, which Ray does
    only after their upload) whose train state is in the bucket; empty until there is one."""
    if not run_log.is_file():
        return []
    reported = set()
    for line in run_log.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line being appended right now
            continue
        if row.get("checkpoint"):
            reported.add(row["step"])
    return sorted(reported & set(checkpoint_steps(fs, bucket_path)))


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def summarize(row: dict[str, Any]) -> dict[str, Any]:
    if row.get("event"):
        return {"event": row["event"]}
    return {
        "step": row.get("step"),
        "resumed_from": row.get("resumed_from"),
        "checkpoint": bool(row.get("checkpoint")),
        "nodes": sorted({w["node"] for w in row.get("workers", [])}),
    }


def main(root: Path, bucket: str) -> None:
    import ray
    from conftest import build_feature_store, tiny_train_config
    from ray.cluster_utils import Cluster
    from roboact.distributed.train import fit

    from roboact import storage

    fs, bucket_path = storage.filesystem(bucket)
    features = build_feature_store(root / "store")
    features_uri = storage.upload(features, f"{bucket}/features/features.h5")
    shutil.rmtree(root / "store")

    cluster = Cluster(initialize_head=True, head_node_args={**NODE_ARGS, "include_dashboard": False})
    worker = cluster.add_node(**NODE_ARGS, env_vars={storage.CACHE_ENV: str(root / "cache_first")})
    cluster.wait_for_nodes()
    out: dict[str, Any] = {"error": None}
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        cfg = tiny_train_config(
            features_uri,
            f"{bucket}/runs",
            NAME,
            max_steps=MAX_STEPS,
            checkpoint_every=10,
            log_every=5,
            step_sleep_s=0.3,  # >= 9 s of training left after the first checkpoint: time to kill
            max_failures=2,
            storage_path=f"{bucket}/ray_results",
        )
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result.update(fit(cfg, address=cluster.address))
            except Exception as err:  # reported in the JSON line; the test names it
                out["error"] = repr(err)[:2000]

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        run_log = storage.local_root(f"{bucket}/runs") / NAME / "metrics.jsonl"
        steps = wait_for(
            lambda: registered_in_bucket(run_log, fs, bucket_path) or (not thread.is_alive() and ["ended"]),
            120,
            "a registered checkpoint in the bucket",
        )
        if steps == ["ended"]:
            raise RuntimeError(f"the fit ended before any checkpoint was in the bucket: {out['error']}")
        out["checkpoint_steps_at_kill"] = steps
        out["fit_alive_at_kill"] = thread.is_alive()
        out["killed_node"] = worker.node_id
        cluster.remove_node(worker, allow_graceful=False)  # SIGKILL raylet, workers, agents
        replacement = cluster.add_node(**NODE_ARGS, env_vars={storage.CACHE_ENV: str(root / "cache_new")})
        out["replacement_node"] = replacement.node_id
        thread.join(150)
        if thread.is_alive():
            raise TimeoutError("the fit did not finish within 150 s of the node kill")
        out["final_step"] = result.get("metrics", {}).get("step")
        out["run_uri"] = result.get("run_uri")
        if result:
            with storage.open_file(f"{result['run_uri']}/metrics.jsonl", "r") as fh:
                out["rows"] = [summarize(json.loads(line)) for line in fh if line.strip()]
        fs.invalidate_cache()
        out["bucket"] = sorted(fs.find(bucket_path))
        out["local_checkpoints"] = [str(p) for p in root.rglob("checkpoint_step*")]
    finally:
        print(json.dumps(out))
        sys.stdout.flush()
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
