"""A fit across two Ray nodes started on this machine (subprocess: its own cluster), whose only shared
storage is an S3 bucket served by moto on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from roboact import storage
from tests.s3_loopback import bucket_fixture

pytestmark = pytest.mark.ray


s3_bucket = bucket_fixture("twonode")  # a loopback S3 bucket, the only shared storage


@pytest.mark.timeout(300)
def test_fit_and_sweep_span_two_nodes_with_a_bucket_as_the_only_shared_storage(
    tmp_path, s3_bucket, monkeypatch
):
    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "node_cache"))
    monkeypatch.delenv(storage.SHARED_FS_ENV, raising=False)
    script = Path(__file__).with_name("two_node_fit.py")
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path), s3_bucket],
        capture_output=True,
        text=True,
        timeout=280,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(out["cluster_nodes"]) == 2
    assert out["worker_nodes"] == out["cluster_nodes"]  # one rank on each node
    assert out["step"] == 20
    # a node-local storage path on this 2-node cluster was refused before anything launched
    assert "--storage-path" in out["refused"] and str(tmp_path / "node_local") in out["refused"]
    assert "--shared-fs" in out["refused"] and not (tmp_path / "node_local").exists()
    # checkpoints, the run directory and the exported model are in the bucket
    fs, _ = storage.filesystem(s3_bucket)
    fs.invalidate_cache()
    checkpoints = fs.glob("twonode/ray_results/twonode/checkpoint_step*")
    assert checkpoints and out["checkpoint_dir"].rstrip("/").endswith(checkpoints[-1].rsplit("/", 1)[-1])
    assert out["run_uri"] == f"{s3_bucket}/runs/twonode"
    assert fs.exists("twonode/runs/twonode/model/model.safetensors")
    assert fs.exists("twonode/runs/twonode/result.json")
    # the sweep's table, best config and Tune experiment state are in the bucket too
    assert out["sweep_uri"] == f"{s3_bucket}/runs/sweep" and out["sweep_trials"] == 1
    assert fs.exists("twonode/runs/sweep/results.csv") and fs.exists(
        "twonode/runs/sweep/best_train_config.yaml"
    )
    assert fs.glob("twonode/ray_results/sweep/experiment_state*")
    # and nothing of the run is in a local folder the nodes would have had to share
    assert not (tmp_path / "runs").exists() and not (tmp_path / "store").exists()
    assert not [p for p in tmp_path.rglob("checkpoint_step*")]
