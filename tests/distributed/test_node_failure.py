"""Kill a worker node mid-fit: the fit continues on a replacement node from the bucket's checkpoint.

A two-node Ray cluster in a subprocess (node_failure_fit.py) fits with an S3 bucket on 127.0.0.1 as
its only shared storage; once a checkpoint is in the bucket, the worker node is SIGKILLed and a fresh
node joins. Waits are on events (a checkpoint object in the bucket, the fit returning), never on time.
"""

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


s3_bucket = bucket_fixture("nodefail")  # a loopback S3 bucket, the only shared storage


@pytest.mark.timeout(360)
def test_killed_worker_node_is_replaced_and_the_fit_resumes_from_the_buckets_checkpoint(
    tmp_path, s3_bucket, monkeypatch
):
    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "head_cache"))
    monkeypatch.delenv(storage.SHARED_FS_ENV, raising=False)
    script = Path(__file__).with_name("node_failure_fit.py")
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path), s3_bucket],
        capture_output=True,
        text=True,
        timeout=350,
        env=dict(os.environ),
    )
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1])
    assert out["error"] is None, out["error"]
    assert out["fit_alive_at_kill"], "the fit had ended before the node was killed"
    killed, new = out["killed_node"], out["replacement_node"]
    ckpt_step = max(out["checkpoint_steps_at_kill"])
    assert 0 < ckpt_step < 40

    rows = out["rows"]
    kill_at = next(i for i, r in enumerate(rows) if r.get("event") == "worker_failure")
    before, after = rows[:kill_at], [r for r in rows[kill_at + 1 :] if "step" in r]
    assert any(killed in r["nodes"] for r in before), rows  # a rank ran on the node that was killed
    assert after, "nothing was reported after the node was killed"
    # The restarted group restored the bucket's checkpoint: it continued from that step, not step 0 ...
    assert all(r["resumed_from"] >= ckpt_step for r in after), after
    assert after[0]["step"] > after[0]["resumed_from"]
    assert min(r["step"] for r in after) > ckpt_step
    # ... on the replacement node, never again on the dead one, and reached the same final step.
    assert all(new in r["nodes"] and killed not in r["nodes"] for r in after)
    assert out["final_step"] == 40 and after[-1]["step"] == 40

    # Everything the fit wrote is in the bucket; no checkpoint was written to a local folder.
    objects = out["bucket"]
    assert "nodefail/ray_results/nodefail/checkpoint_step0000040/train_state.pt" in objects
    assert out["run_uri"] == f"{s3_bucket}/runs/nodefail"
    for name in ("model/model.safetensors", "result.json", "metrics.jsonl"):
        assert f"nodefail/runs/nodefail/{name}" in objects, name
    assert not out["local_checkpoints"]
    assert not (tmp_path / "runs").exists() and not (tmp_path / "store").exists()
