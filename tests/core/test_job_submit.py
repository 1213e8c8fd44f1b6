"""``ray job submit --working-dir`` onto a two-node ``ray start`` cluster whose only shared storage is
an S3 bucket (moto on 127.0.0.1): the job runs ``roboact train`` from the uploaded folder, a worker
node is killed mid-fit, a fresh node joins, and the fit continues from the bucket's checkpoint.
Then the demo runs from data to evaluation with ``--storage s3://...`` and no shared disk (each stage
hands actors the bucket's copies of what the stages before it wrote: its BC heads are trained into
the bucket, their offline data read from there by Ray Data's tasks, which may run on either node,
and simulator actors on both nodes evaluate them), and a trial batch's arm actor lands on the node
that declares the arm's resource. (A sweep over two nodes and a bucket is
``tests/distributed/test_two_node.py``'s.)

Real ``ray start`` processes (a head serving the job API, and worker nodes), each with its own temp
dir, working folder and node-local cache, as on separate machines; the job API needs the dashboard,
which the ``ray.cluster_utils.Cluster`` of ``tests/distributed/test_two_node.py`` does not serve.
The head runs with token authentication, as a cluster started with Ray 2.60 does, so the submit
exercises the ``RAY_AUTH_MODE=token`` setting of docs/cluster.md. Everything listens on 127.0.0.1;
nodes are stopped by process id. Waits are on events (an object in the bucket, the job's status).
"""

from __future__ import annotations

import json
import os
import re
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
from tests.waiting import wait_for

pytestmark = pytest.mark.ray

BIN = Path(sys.executable).parent  # roboact of this environment (the job's entry point)
RAY = [sys.executable, "-m", "ray.scripts.scripts"]  # the `ray` CLI of the same interpreter

FIT_YAML = """\
# the job's train config: it travels in the --working-dir upload
model_preset: roboact_tiny
model: {hidden_dim: 32, embed_dim: 16, dropout: 0.0, bank_interval: 5}
optim: {lr: 3.0e-3, batch_size: 16, max_steps: 40, warmup_steps: 2}
log_every: 5
checkpoint_every: 10
workers: 2             # one rank on the head, one on the worker node (1 CPU each)
cpus_per_worker: 1.0
max_failures: 2
step_sleep_s: 0.3      # >= 6 s of training after the second checkpoint: time to kill the node
"""
NODE_PORTS = (
    "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "runtime-env-agent-port",
    "metrics-export-port", "node-manager-port", "object-manager-port",
)  # fmt: skip
"""Ray's fixed default ports collide between nodes of one machine (and with any other Ray instance
on it): every node gets free ones chosen here"""


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


def _node_pids(temp_dir: str) -> list[int]:
    """Processes of one node: every Ray process it starts names its temp dir on its command line."""
    pids = []
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if temp_dir.encode() in cmdline and pid != os.getpid():
            pids.append(pid)
    return pids


def _kill_node(temp_dir: str) -> None:
    """SIGKILL every process of the node, by pid, until none is left (a crashed machine)."""
    deadline = time.monotonic() + 15
    while (left := _node_pids(temp_dir)) and time.monotonic() < deadline:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)


def _stop_node(proc: subprocess.Popen, temp_dir: str) -> None:
    """Stop what ``ray start --block`` started: SIGTERM to it (it stops its processes), then SIGKILL
    whatever of the node is left. Never ``ray stop`` (it stops every Ray instance of the machine)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)  # a node drains for up to 30 s; the test's nodes have nothing to keep
        except subprocess.TimeoutExpired:
            proc.kill()
    _kill_node(temp_dir)


class _Cluster:
    """``ray start`` nodes on 127.0.0.1, each with its own temp dir, folder, cache and free ports."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env
        self.gcs_port, self.dash_port = _free_port(), _free_port()
        self.nodes: dict[str, tuple[subprocess.Popen, str]] = {}
        self.url = f"http://127.0.0.1:{self.dash_port}"

    def start(self, name: str, head: bool = False, resources: str = "") -> subprocess.Popen:
        folder = self.root / name
        folder.mkdir()
        temp_dir = tempfile.mkdtemp(prefix=f"rj{name}", dir="/tmp")  # short: socket paths have a limit
        where = (
            ["--head", f"--port={self.gcs_port}", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
             f"--dashboard-port={self.dash_port}", "--disable-usage-stats"]
            if head else [f"--address=127.0.0.1:{self.gcs_port}"]
        )  # fmt: skip
        log = (self.root / f"{name}.log").open("wb")
        cli = RAY if head else [sys.executable, str(Path(__file__).with_name("ray_worker_node.py"))]
        proc = subprocess.Popen(
            [*cli, "start", "--block", *where, "--node-ip-address=127.0.0.1", "--num-cpus=1",
             "--object-store-memory=100000000", f"--temp-dir={temp_dir}",
             *([f"--resources={resources}"] if resources else []),
             *(f"--{flag}={_free_port()}" for flag in NODE_PORTS)],
            cwd=folder, env={**self.env, "ROBOACT_CACHE": str(folder / "cache")}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        self.nodes[name] = (proc, temp_dir)
        return proc

    def kill(self, name: str) -> None:
        _kill_node(self.nodes[name][1])

    def stop_all(self) -> None:
        for proc, temp_dir in reversed(list(self.nodes.values())):
            _stop_node(proc, temp_dir)
            shutil.rmtree(temp_dir, ignore_errors=True)


def _submit(
    url: str,
    env: dict[str, str],
    cwd: Path,
    workdir: Path,
    job: str,
    entry: str,
    wait: bool = True,
    timeout: float = 240,
) -> None:
    """``ray job submit --working-dir`` from ``cwd``; with ``wait``, until the job succeeded."""
    cmd = [*RAY, "job", "submit", *([] if wait else ["--no-wait"]), "--address", url,
           "--working-dir", str(workdir), "--submission-id", job, "--", *entry.split()]  # fmt: skip
    for _ in range(20):  # the job API answers before the node's agent that runs jobs has started
        submit = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        if "No available agent" not in submit.stderr:
            break
        time.sleep(2.0)
    assert submit.returncode == 0 and (not wait or "succeeded" in submit.stdout), f"job {job} failed"


def _job_status(url: str, token: str, job_id: str) -> str:
    request = urllib.request.Request(f"{url}/api/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())["status"]


@pytest.mark.timeout(900)
def test_jobs_on_a_two_node_cluster_survive_a_killed_node_spread_actors_and_write_only_to_the_bucket(
    bucket, tmp_path, monkeypatch
):
    import yaml

    from roboact.config import config_to_dict
    from tests.distributed.conftest import build_feature_store
    from tests.hardware.conftest import small_plan

    features = storage.upload(build_feature_store(tmp_path / "store"), f"{bucket}/features.h5")
    shutil.rmtree(tmp_path / "store")
    workdir = tmp_path / "job"  # the third folder: neither the repository nor a node's folder
    workdir.mkdir()
    (workdir / "fit.yaml").write_text(FIT_YAML)
    plan = config_to_dict(small_plan(name="jobtrials", repetitions=1))
    (workdir / "plan.yaml").write_text(yaml.safe_dump(plan))
    token = secrets.token_hex(16)
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": token,
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # node IP 127.0.0.1: nothing listens beyond loopback
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2",
    }
    env.pop("RAY_ADDRESS", None)
    env.pop("RAY_API_SERVER_ADDRESS", None)
    cluster = _Cluster(tmp_path, env)
    # each node's workers find the State API as on a machine of their own (Ray Train's placement-group
    # cleaner asks it; scanning this host's processes fails when another Ray instance runs beside)
    env["RAY_API_SERVER_ADDRESS"] = cluster.url
    fs, _ = storage.filesystem(bucket)

    def checkpoints() -> list[str]:
        fs.invalidate_cache()
        return fs.glob("jobs/ray_results/jobfit/checkpoint_step*/train_state.pt")

    try:
        head = cluster.start("head", head=True)
        _wait_for_job_api(cluster.url, token, head, time.monotonic() + 90)
        cluster.start("node1")
        entry = (
            f"roboact train --config fit.yaml --features {features} --name jobfit "
            f"--storage-path {bucket}/ray_results --runs-root {bucket}/runs"
        )
        job = "jobfit"
        _submit(cluster.url, env, tmp_path, workdir, job, entry, wait=False)

        # The second checkpoint in the bucket: the first one has long been registered by Ray.
        wait_for(
            lambda: (
                any("checkpoint_step0000020" in p for p in checkpoints())
                or _job_status(cluster.url, token, "jobfit") in ("FAILED", "STOPPED", "SUCCEEDED")
            ),
            240,
            "the fit's second checkpoint in the bucket",
        )
        assert _job_status(cluster.url, token, "jobfit") == "RUNNING", "the fit ended before the kill"
        cluster.kill("node1")  # a crashed machine: its raylet, workers and agents die at once
        # a fresh node joins with an empty cache, as an autoscaler adds one; it is also the arm's node
        cluster.start("node2", resources='{"arm": 1}')
        status = wait_for(
            lambda: (
                (s := _job_status(cluster.url, token, "jobfit")) in ("FAILED", "STOPPED", "SUCCEEDED") and s
            ),
            240,
            "the job to end after the node kill",
        )
        assert status == "SUCCEEDED", "the job did not succeed"
        job = "jobdemo"  # the demo with no shared disk: every stage hands the actors the bucket's copies
        # (each command's own multi-node check refuses a node-local path: none may reach one)
        _submit(cluster.url, env, tmp_path, workdir, job,
                "roboact demo --scale tiny --stages data,features,train,sim_demos,policy,sim_eval "
                f"--workers 2 --run-dir run --storage {bucket}/demo eval_episodes=2",
                timeout=540)  # fmt: skip
        job = "jobtrials"  # a trial batch whose arm actor needs the resource only node2 declares
        _submit(cluster.url, env, tmp_path, workdir, job,
                f"roboact hardware trials --plan plan.yaml --backend fake --store {bucket}/trials.sqlite "
                "resource=arm")  # fmt: skip
        trials_log = subprocess.run(
            [*RAY, "job", "logs", "--address", cluster.url, job], env=env, capture_output=True, text=True
        ).stdout
    except AssertionError as err:  # with the job's own log, which says why
        logs = subprocess.run(
            [*RAY, "job", "logs", "--address", cluster.url, job], env=env, capture_output=True, text=True
        )
        raise AssertionError(f"{err}\n--- job log ---\n{logs.stdout[-4000:]}{logs.stderr[-1000:]}") from None
    finally:
        cluster.stop_all()

    fs.invalidate_cache()
    assert fs.exists("jobs/runs/jobfit/model/model.safetensors")
    result = json.loads(fs.cat_file("jobs/runs/jobfit/result.json"))
    assert result["steps"] == 40  # fit.yaml's max_steps: the job read the uploaded working dir
    rows = [json.loads(line) for line in fs.cat_file("jobs/runs/jobfit/metrics.jsonl").decode().splitlines()]
    failure = next(i for i, r in enumerate(rows) if r.get("event") == "worker_failure")
    before = [r for r in rows[:failure] if "step" in r]
    after = [r for r in rows[failure + 1 :] if "step" in r]
    assert before and after, rows
    # the restarted group continued from a checkpoint in the bucket, not from step 0 ...
    assert all(r["resumed_from"] >= 10 for r in after) and after[0]["step"] > after[0]["resumed_from"]
    assert after[-1]["step"] == 40
    # ... with one rank moved from the killed node to the new one (the head's rank stayed)
    nodes_before = {w["node"] for w in before[-1]["workers"]}
    nodes_after = {w["node"] for w in after[-1]["workers"]}
    assert len(nodes_before) == len(nodes_after) == 2 and len(nodes_before & nodes_after) == 1
    # the trial batch's arm ran on the node that declares its resource, and its store is in the bucket
    (new_node,) = nodes_after - nodes_before
    arm = re.search(r'"arm": \{\s*"backend": "fake",\s*"node": "([0-9a-f]+)"', trials_log)
    assert arm and arm.group(1) == new_node, trials_log[-3000:]
    assert fs.exists("jobs/trials.sqlite")
    demo_stages = ("data", "features", "train", "sim_demos", "policy", "sim_eval")
    stages = {json.loads(fs.cat_file(f"jobs/demo/stages/{s}.json"))["stage"] for s in demo_stages}
    assert stages == set(demo_stages) and fs.exists("jobs/demo/report.md")
    # the demo's fit checkpointed into the bucket, its heads and the offline data they were trained on
    # are there, the RoboAct-CLIP head's features name the bucket's model, and
    # the evaluation's actors on both nodes loaded both heads from the bucket
    assert fs.glob("jobs/demo/train/ray_results/main/checkpoint_*")
    for name in ("roboact-clip", "frame-features"):
        head_dir = f"jobs/demo/policy/kitchen_{name}"
        assert fs.glob(f"{head_dir}/offline_data/micro/part-*.parquet"), name
        assert fs.glob(f"{head_dir}/rl_module/**"), name
    head = json.loads(fs.cat_file("jobs/demo/policy/kitchen_roboact-clip/policy.json"))
    assert head["features"] == f"roboact:{bucket}/demo/train/main/model" and head["tasks"] == ["micro"]
    demo_eval = fs.cat_file("jobs/demo/sim_eval/kitchen/episodes.jsonl").decode().splitlines()
    demo_episodes = [json.loads(line) for line in demo_eval]
    assert {e["policy"] for e in demo_episodes} == {
        f"{bucket}/demo/policy/kitchen_{h}" for h in ("roboact-clip", "frame-features")
    }
    assert len(demo_episodes) == 4 and len({e["node"] for e in demo_episodes}) == 2
    # it ran in Ray's copy of the working folder: nothing was written into ours or a node's
    assert sorted(p.name for p in workdir.iterdir()) == ["fit.yaml", "plan.yaml"]
    assert not [p for p in tmp_path.rglob("checkpoint_step*")]
    assert not [p for name in ("head", "node1", "node2") for p in (tmp_path / name).rglob("runs")]
