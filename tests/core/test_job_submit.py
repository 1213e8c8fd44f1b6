"""``ray job submit --working-dir`` against a ``ray start --head`` node: the job runs ``roboact train``
from the uploaded folder and everything it writes lands in an S3 bucket (moto on 127.0.0.1).

One node, not the two-node cluster of ``tests/distributed/test_two_node.py``: that one is a
``ray.cluster_utils.Cluster`` inside a script without a dashboard, and a job needs the dashboard's
job API, which ``ray start --head`` serves. The head runs with token authentication, as a cluster
started with Ray 2.60 does, so the submit exercises the ``RAY_AUTH_MODE=token`` setting of
docs/cluster.md. Everything listens on 127.0.0.1; the head is stopped by its process id.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from roboact import storage
from tests.s3_loopback import loopback_s3, use_bucket

pytestmark = pytest.mark.ray

BIN = Path(sys.executable).parent  # roboact of this environment (the job's entry point)
RAY = [sys.executable, "-m", "ray.scripts.scripts"]  # the `ray` CLI of the same interpreter

FIT_YAML = """\
# the job's train config: it travels in the --working-dir upload
model_preset: roboact_tiny
model: {hidden_dim: 32, embed_dim: 16, dropout: 0.0, bank_interval: 5}
optim: {lr: 3.0e-3, batch_size: 16, max_steps: 10, warmup_steps: 2}
log_every: 5
checkpoint_every: 5
workers: 1
cpus_per_worker: 1.0
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A bucket on a loopback S3 server; endpoint and dummy keys exported for the head's processes."""
    with loopback_s3() as endpoint:
        yield use_bucket(monkeypatch, endpoint, "jobs")


def _wait_for_job_api(url: str, token: str, proc: subprocess.Popen, deadline: float) -> None:
    request = urllib.request.Request(f"{url}/api/jobs/", headers={"Authorization": f"Bearer {token}"})
    while time.monotonic() < deadline:
        assert proc.poll() is None, "ray start --head exited"
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1.0)
    raise AssertionError(f"the job API at {url} did not answer in time")


def _head_pids(temp_dir: str) -> list[int]:
    """Processes of this head: every Ray process it starts names its temp dir on its command line."""
    pids = []
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if temp_dir.encode() in cmdline and pid != os.getpid():
            pids.append(pid)
    return pids


def _stop_head(proc: subprocess.Popen, temp_dir: str) -> None:
    """Stop what ``ray start --block`` started: SIGTERM to it (it stops its processes), then SIGKILL
    to any process of this head's temp dir still there, by pid, until none is left. Never
    ``ray stop`` (it stops every Ray instance of the machine)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    deadline = time.monotonic() + 15
    while (left := _head_pids(temp_dir)) and time.monotonic() < deadline:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)


@pytest.mark.timeout(240)
def test_ray_job_submit_runs_roboact_train_from_a_working_dir_and_writes_only_to_the_bucket(
    bucket, tmp_path, monkeypatch
):
    from tests.distributed.conftest import build_feature_store

    features = storage.upload(build_feature_store(tmp_path / "store"), f"{bucket}/features.h5")
    shutil.rmtree(tmp_path / "store")
    workdir = tmp_path / "job"  # the third folder: neither the repository nor the head's folder
    workdir.mkdir()
    (workdir / "fit.yaml").write_text(FIT_YAML)
    head_dir = tmp_path / "head"
    head_dir.mkdir()

    temp_dir = tempfile.mkdtemp(prefix="rjob", dir="/tmp")  # short: Ray's socket paths have a limit
    token = secrets.token_hex(16)
    gcs_port, dash_port = _free_port(), _free_port()
    # Ray's fixed default ports (dashboard agent 52365, metrics, runtime-env agent) collide with any
    # other Ray instance on the machine: every port this head opens is a free one chosen here
    ports = {
        flag: _free_port()
        for flag in ("dashboard-agent-listen-port", "dashboard-agent-grpc-port", "runtime-env-agent-port",
                     "metrics-export-port", "node-manager-port", "object-manager-port")
    }  # fmt: skip
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": token,
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # node IP 127.0.0.1: nothing listens beyond loopback
        "RAY_USAGE_STATS_ENABLED": "0",
        "ROBOACT_CACHE": str(tmp_path / "head_cache"),
    }
    env.pop("RAY_ADDRESS", None)
    env.pop("RAY_API_SERVER_ADDRESS", None)
    head_log = (tmp_path / "head.log").open("wb")
    head = subprocess.Popen(
        [*RAY, "start", "--head", "--block", f"--port={gcs_port}", "--node-ip-address=127.0.0.1",
         "--num-cpus=2", "--object-store-memory=150000000", "--include-dashboard=true",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dash_port}", f"--temp-dir={temp_dir}",
         "--disable-usage-stats", *(f"--{flag}={port}" for flag, port in ports.items())],
        cwd=head_dir, env=env, stdout=head_log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{dash_port}"
    try:
        _wait_for_job_api(url, token, head, time.monotonic() + 90)
        entry = (
            f"roboact train --config fit.yaml --features {features} --name jobfit "
            f"--storage-path {bucket}/ray_results --runs-root {bucket}/runs"
        )
        cmd = [*RAY, "job", "submit", "--address", url, "--working-dir", str(workdir), "--", *entry.split()]
        for _ in range(20):  # the job API answers before the node's agent that runs jobs has started
            submit = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
            if "No available agent" not in submit.stderr:
                break
            time.sleep(2.0)
        log = submit.stdout[-3000:] + submit.stderr[-2000:]
        assert submit.returncode == 0 and "succeeded" in submit.stdout, log
    finally:
        _stop_head(head, temp_dir)
        head_log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)

    fs, _ = storage.filesystem(bucket)
    fs.invalidate_cache()
    assert fs.exists("jobs/runs/jobfit/model/model.safetensors")
    assert fs.glob("jobs/ray_results/jobfit/checkpoint_step*")
    result = json.loads(fs.cat_file("jobs/runs/jobfit/result.json"))
    assert result["steps"] == 10  # fit.yaml's max_steps: the job read the uploaded working dir
    # it ran in Ray's copy of that folder: nothing was written into ours or the head's
    assert sorted(p.name for p in workdir.iterdir()) == ["fit.yaml"] and not (head_dir / "runs").exists()
    assert not [p for p in tmp_path.rglob("checkpoint_step*")]
