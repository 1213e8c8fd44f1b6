"""roboact.storage: URIs, staging once per node, uploads, and the multi-node fail-fast rule.

Every behaviour of a bucket runs against both object stores through the ``bucket`` fixture: moto's
S3 server and gcp-storage-emulator's GCS server, each on 127.0.0.1 and each reached through its real
client (s3fs with ``AWS_ENDPOINT_URL``, gcsfs with ``STORAGE_EMULATOR_HOST``) exactly as a real bucket
would be. What only one store has lives with it: S3's multi-node refusals below, GCS's endpoint
forwarding and unreachable-endpoint message in tests/core/test_storage_gcs.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from roboact import storage
from roboact.errors import UserError
from tests import gcs_loopback, s3_loopback
from tests.datasets import conftest as datasets_fixtures

BUCKET = "roboact-test"
rh20t_tree = datasets_fixtures.rh20t_tree  # a tiny RH20T tree (fixture)
fake_encoder_factory = datasets_fixtures.fake_encoder_factory  # an encoder without weights (fixture)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """An S3 server on loopback for this module; yields its endpoint URL."""
    with s3_loopback.loopback_s3() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def gcs_endpoint() -> Iterator[str]:
    """A GCS server on loopback for this module (started only if a test asks); yields ``http://host:port``."""
    with gcs_loopback.loopback_gcs() as endpoint:
        yield endpoint


def _fresh_prefix(uri: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A prefix of the bucket ``uri`` no other test writes, with a fresh staging cache for this test."""
    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "cache"))
    return f"{uri}/{tmp_path.name}"


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Point the process at the loopback S3 and a fresh staging cache; return a bucket URI."""
    uri = s3_loopback.use_bucket(monkeypatch, s3_endpoint, BUCKET)
    return _fresh_prefix(uri, monkeypatch, tmp_path)


@pytest.fixture
def gs(gcs_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Point the process at the loopback GCS and a fresh staging cache; return a bucket URI."""
    uri = gcs_loopback.use_bucket(monkeypatch, gcs_endpoint, BUCKET)
    return _fresh_prefix(uri, monkeypatch, tmp_path)


@pytest.fixture(params=["s3", "gs"])
def bucket(request: pytest.FixtureRequest) -> str:
    """A bucket URI on each object store in turn (``s3``, then ``gs``): a shared behaviour is proved for both.

    Each store's server is module-scoped and started on first use, so the module runs one per store.
    """
    return request.getfixturevalue(request.param)


def test_uris_and_local_paths_are_told_apart() -> None:
    assert storage.is_remote("s3://b/k.h5") and storage.is_remote("gs://b/k")
    assert not storage.is_remote("runs/fit1") and not storage.is_remote("file:///tmp/x")
    assert not storage.is_remote("dagger:runs/p")  # a policy spec prefix is not a scheme
    assert storage.resolve("s3://b/k.h5") == "s3://b/k.h5"
    assert storage.resolve("runs/fit1") == str(Path("runs/fit1").absolute())
    assert storage.join("s3://b/runs/", "fit1", "model") == "s3://b/runs/fit1/model"
    assert storage.join("/tmp/runs", "fit1") == "/tmp/runs/fit1"


def test_local_paths_pass_through_without_copying(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "cache"))
    store = tmp_path / "f.h5"
    store.write_bytes(b"x")
    assert storage.local_copy(store) == store
    assert storage.local_root(tmp_path / "runs") == tmp_path / "runs"
    assert not (tmp_path / "cache").exists()
    with pytest.raises(storage.StorageError, match="missing.h5: no such file"):
        storage.local_copy(tmp_path / "missing.h5")


@pytest.mark.timeout(60)
def test_a_remote_file_is_staged_once_and_again_when_it_changes(bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "f.h5"
    src.write_bytes(b"version one")
    uri = storage.upload(src, f"{bucket}/stores/f.h5")
    first = storage.local_copy(uri)
    assert first.read_bytes() == b"version one"
    assert first.is_relative_to(tmp_path / "cache" / "staged")
    stamp = first.stat().st_mtime_ns
    again = storage.local_copy(uri)
    assert again == first and again.stat().st_mtime_ns == stamp  # reused, not downloaded again
    src.write_bytes(b"version two")  # same size: only the object's hash tells them apart
    storage.upload(src, uri)
    assert storage.local_copy(uri).read_bytes() == b"version two"


@pytest.mark.timeout(60)
def test_a_remote_folder_is_staged_whole(bucket: str, tmp_path: Path) -> None:
    policy = tmp_path / "policy"
    (policy / "rl_module").mkdir(parents=True)
    (policy / "policy.json").write_text('{"kind": "bc"}')
    (policy / "rl_module" / "weights.bin").write_bytes(b"\x00\x01")
    uri = storage.upload(policy, f"{bucket}/policies/p1")
    assert storage.is_dir(uri)
    staged = storage.local_copy(uri)
    assert staged.name == "p1"
    assert json.loads((staged / "policy.json").read_text()) == {"kind": "bc"}
    assert (staged / "rl_module" / "weights.bin").read_bytes() == b"\x00\x01"


@pytest.mark.timeout(60)
def test_a_missing_uri_is_a_user_error_naming_it(bucket: str) -> None:
    scheme = bucket.split("://", 1)[0]
    with pytest.raises(storage.StorageError, match=rf"{re.escape(bucket)}/nope\.h5: no such file"):
        storage.local_copy(f"{bucket}/nope.h5")
    with pytest.raises(UserError, match=f"{scheme}://no-such-bucket-x/f.h5"):
        storage.local_copy(f"{scheme}://no-such-bucket-x/f.h5")
    with pytest.raises(storage.StorageError, match="no such file") as err:
        storage.open_file(f"{bucket}/nope.json", "r")
    assert "\n" not in str(err.value)


@pytest.mark.timeout(60)
def test_open_file_writes_and_reads_an_object(bucket: str) -> None:
    with storage.open_file(f"{bucket}/notes/a.json", "w") as fh:
        fh.write('{"a": 1}')
    with storage.open_file(f"{bucket}/notes/a.json", "r") as fh:
        assert json.load(fh) == {"a": 1}
    with storage.open_file(f"{bucket}/notes/b.bin", "wb") as fh:
        fh.write(b"\x00\xff")
    with storage.open_file(f"{bucket}/notes/b.bin") as fh:
        assert fh.read() == b"\x00\xff"


@pytest.mark.timeout(60)
def test_a_mirrored_run_directory_continues_on_a_fresh_node(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"{bucket}/runs/fit1"
    node_a = storage.local_root(f"{bucket}/runs") / "fit1"
    node_a.mkdir(parents=True)
    with storage.mirrored_dir(node_a, uri) as run:
        (run / "metrics.jsonl").write_text('{"step": 10}\n')
        (run / ".roboact.lock").write_text("")
    assert storage.exists(f"{uri}/metrics.jsonl")
    assert not storage.exists(f"{uri}/.roboact.lock")  # the lock belongs to the node holding it
    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "other_node_cache"))
    node_b = storage.local_root(f"{bucket}/runs") / "fit1"
    assert node_b != node_a
    node_b.mkdir(parents=True)
    with storage.mirrored_dir(node_b, uri) as run:
        assert (run / "metrics.jsonl").read_text() == '{"step": 10}\n'


@pytest.mark.timeout(60)
def test_a_mirrored_run_directory_is_uploaded_when_the_command_fails(bucket: str) -> None:
    uri = f"{bucket}/runs/crashed"
    local = storage.local_root(f"{bucket}/runs") / "crashed"
    local.mkdir(parents=True)
    with pytest.raises(RuntimeError, match="killed"), storage.mirrored_dir(local, uri) as run:
        (run / "episodes.jsonl").write_text('{"episode": 0}\n')
        raise RuntimeError("killed mid-run")
    with storage.open_file(f"{uri}/episodes.jsonl", "r") as fh:
        assert fh.read() == '{"episode": 0}\n'  # what finished before the failure is kept


@pytest.mark.timeout(60)
def test_a_mirror_sends_each_piece_of_work_as_it_finishes_and_only_what_changed(
    bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"{bucket}/runs/eval1"
    sent: list[str] = []
    real_upload = storage.upload
    monkeypatch.setattr(storage, "upload", lambda src, dst: sent.append(str(dst)) or real_upload(src, dst))
    with storage.mirror(uri) as run:
        (run.path / "episodes.jsonl").write_text('{"episode": 0}\n')
        (run.path / "config.yaml").write_text("suite: kitchen\n")
        assert run.sync() == 2
        with storage.open_file(f"{uri}/episodes.jsonl", "r") as fh:  # in the bucket while the run goes on
            assert fh.read() == '{"episode": 0}\n'
        with (run.path / "episodes.jsonl").open("a") as fh:
            fh.write('{"episode": 1}\n')
        assert run.sync() == 1  # the unchanged config is not sent again
        assert run.sync() == 0
    assert sent == [f"{uri}/config.yaml", f"{uri}/episodes.jsonl", f"{uri}/episodes.jsonl"]


@pytest.mark.timeout(60)
def test_a_node_whose_copy_is_older_than_the_bucket_s_continues_from_the_bucket(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"{bucket}/stores/trials.sqlite"
    with storage.mirror(uri, is_file=True) as store:  # node A starts the file
        assert not store.fetched
        store.path.write_text("trial 1\n")
    node_a_cache = storage.cache_root()
    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "node_b"))
    with storage.mirror(uri, is_file=True) as store:  # node B continues it
        assert store.fetched and store.path.read_text() == "trial 1\n"
        store.path.write_text("trial 1\ntrial 2\n")
    monkeypatch.setenv(storage.CACHE_ENV, str(node_a_cache))
    with storage.mirror(uri, is_file=True) as store:  # node A again: its own copy is stale now
        assert store.fetched and store.path.read_text() == "trial 1\ntrial 2\n"
    with storage.mirror(uri, is_file=True) as store:  # nothing changed since: its copy is kept
        assert not store.fetched


def test_a_local_output_is_its_own_mirror(tmp_path: Path) -> None:
    with storage.mirror(tmp_path / "run") as run:
        assert run.path == tmp_path / "run" and run.uri is None
        run.path.mkdir()
        (run.path / "a.txt").write_text("x")
        assert run.sync() == 0


def test_a_uri_where_a_device_belongs_is_refused_naming_the_option() -> None:
    storage.refuse_uri("--gripper", "/dev/ttyUSB0", "a serial device")
    storage.refuse_uri("--gripper", "tcp://127.0.0.1:502", "a serial device")  # Modbus TCP is no store
    with pytest.raises(UserError, match=r"--gripper s3://b/dev: takes a serial device"):
        storage.refuse_uri("--gripper", "s3://b/dev", "a serial device")


def test_node_local_paths_are_refused_on_a_multi_node_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(storage.SHARED_FS_ENV, raising=False)
    paths = {"--storage-path": "/home/me/runs/fit1/ray_results", "--features": "s3://b/f.h5"}
    with pytest.raises(UserError) as err:
        storage.check_shareable(paths, nodes=2)
    message = str(err.value)
    assert "--storage-path /home/me/runs/fit1/ray_results" in message
    assert "s3://" in message and "--shared-fs" in message
    assert "--features" not in message  # a URI is fine
    storage.check_shareable(paths, nodes=1)  # one node: every path is reachable
    storage.check_shareable(paths, nodes=2, shared_fs=True)  # the user says every node mounts it
    storage.check_shareable({"--storage-path": "s3://b/ray"}, nodes=3)
    monkeypatch.setenv(storage.SHARED_FS_ENV, "1")
    storage.check_shareable(paths, nodes=2)


@pytest.mark.timeout(60)
def test_a_policy_directory_in_a_bucket_loads_from_the_node_s_staged_copy(s3: str, tmp_path: Path) -> None:
    import numpy as np
    from roboact.sim_workers.policy import LinearPolicy, check_policy_spec, load_policy, policy_id

    LinearPolicy(np.eye(2, 3), np.zeros(2)).save(tmp_path / "linear")
    uri = storage.upload(tmp_path / "linear", f"{s3}/policies/linear")
    check_policy_spec(uri)  # the driver's check accepts a URI without copying it
    assert policy_id(uri) == uri  # results are keyed by the URI, not a mangled local path
    policy = load_policy(uri)
    assert isinstance(policy, LinearPolicy)
    assert policy.act({"state": np.array([0.5, -0.5, 0.0])}).tolist() == [0.5, -0.5]
    with pytest.raises(FileNotFoundError, match="nope: no such checkpoint directory"):
        check_policy_spec(f"{s3}/policies/nope")


@pytest.mark.ray
@pytest.mark.timeout(180)
def test_features_extract_reads_and_writes_a_bucket(
    ray_session,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    rh20t_tree,
    fake_encoder_factory,
) -> None:
    from roboact.datasets.build import build_store
    from roboact.datasets.features import extract_features
    from roboact.datasets.stores import FeatureStore

    local = tmp_path / "clips.h5"
    build_store("rh20t", rh20t_tree[0], local, frames=8, image_size=16, progress=False)
    store = storage.upload(local, f"{bucket}/stores/clips.h5")
    local.unlink()  # the actors can only have read the bucket's copy, through the forwarded endpoint
    out = f"{bucket}/features/f8.h5"
    args = dict(workers=1, encoder_factory=fake_encoder_factory, progress=False, batch_size=2)
    sent: list[int] = []  # clips in the store at each upload of it
    real_upload = storage.upload

    def upload(src: Path, dst: str) -> str:
        if dst == out:
            with FeatureStore(src) as partial:
                sent.append(len(partial))
        return real_upload(src, dst)

    monkeypatch.setattr(storage, "upload", upload)
    first = extract_features(store, "fake", 8, out, **args)
    assert first["out"] == out and first["extracted"] > 2 and not first["failed"]
    assert sent[0] == 2 and sent[-1] == first["extracted"]  # the first batch reached the bucket at once
    with FeatureStore(storage.local_copy(out)) as features:
        assert len(features) == first["extracted"]
    assert extract_features(store, "fake", 8, out, **args)["up_to_date"]
    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "fresh_node_cache"))
    assert extract_features(store, "fake", 8, out, **args)["up_to_date"]  # resumed from the bucket


@pytest.fixture
def two_node_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend the command joined a 2-node cluster: the check must refuse before Ray does anything."""
    import ray

    monkeypatch.setattr("roboact.cluster.init_ray", lambda *a, **k: ray)
    monkeypatch.setattr("roboact.cluster.alive_nodes", lambda: 2)
    monkeypatch.delenv(storage.SHARED_FS_ENV, raising=False)


def _invoke(args: list[str]):  # noqa: ANN202
    from typer.testing import CliRunner

    from roboact.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_train_on_a_multi_node_cluster_refuses_a_local_storage_path(two_node_cluster, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    res = _invoke(
        ["train", "--features", "s3://b/f.h5", "--name", "n1", "--runs-root", runs, "--address", "h:1"]
    )
    assert res.exit_code == 2, res.output
    assert "--storage-path" in res.stderr and str(runs / "n1" / "ray_results") in res.stderr
    assert "--shared-fs" in res.stderr and not runs.exists()  # refused before any folder was made


def test_sim_eval_on_a_multi_node_cluster_refuses_a_local_policy_dir(
    two_node_cluster, tmp_path: Path
) -> None:
    import numpy as np
    from roboact.sim_workers.policy import LinearPolicy

    policy = LinearPolicy(np.eye(9, 9), np.zeros(9)).save(tmp_path / "linear")
    args = [
        "sim",
        "eval",
        "--suite",
        "kitchen",
        "--policy",
        policy,
        "--run-dir",
        tmp_path / "ev",
        "--address",
        "h:1",
    ]
    res = _invoke(args)
    assert res.exit_code == 2, res.output
    assert f"--policy {policy}" in res.stderr and "--shared-fs" in res.stderr
    assert not (tmp_path / "ev").exists()


@pytest.mark.timeout(60)
def test_train_names_a_missing_feature_uri_in_one_line(s3: str, tmp_path: Path) -> None:
    res = _invoke(["train", "--features", f"{s3}/missing.h5", "--runs-root", tmp_path / "runs"])
    assert res.exit_code == 2, res.output
    assert f"{s3}/missing.h5: no such feature store" in res.stderr


def test_policy_train_on_a_multi_node_cluster_refuses_a_local_out(two_node_cluster, tmp_path: Path) -> None:
    """BC's read tasks run on any node: a driver-local checkpoint folder's parquet would be missing there."""
    from tests.distributed.policy_fixtures import write_demo_file

    demos = write_demo_file(tmp_path / "demos.h5", demos_per_task=1, steps=3, image_size=16)
    res = _invoke(["policy", "train", "--demos", demos, "--out", tmp_path / "ckpt", "--address", "h:1"])
    assert res.exit_code == 2, res.output
    assert f"--out {tmp_path / 'ckpt'}" in res.stderr and "--shared-fs" in res.stderr
    assert not (tmp_path / "ckpt").exists()


def _head_checkpoint(folder: Path, features: str) -> Path:
    """The ``policy.json`` of a one-head checkpoint: what the driver reads before the actors start."""
    from roboact.policies.checkpoint import POLICY_FORMAT

    head = {"module_dir": "rl_module", "normalisation": {}}
    meta = {"format": POLICY_FORMAT, "features": features, "image_size": 64, "state_dim": 9,
            "action_dim": 9, "heads": {"shared": head}}  # fmt: skip
    folder.mkdir(parents=True)
    (folder / "policy.json").write_text(json.dumps(meta))
    return folder


def test_sim_eval_on_a_multi_node_cluster_refuses_a_head_on_a_local_roboact_model(
    two_node_cluster, tmp_path: Path
) -> None:
    """Each actor builds the head's RoboAct-CLIP features itself, so the model must be on every node too."""
    from roboact.sim_workers.eval import require_shared_policy

    local_model = tmp_path / "runs" / "fit" / "model"
    head = _head_checkpoint(tmp_path / "head", f"roboact:{local_model}@history=3,every=4")
    with pytest.raises(UserError) as err:
        require_shared_policy(str(head), "h:1", False)
    assert f"--policy {head}" in str(err.value) and f"roboact:<model_dir> {local_model}" in str(err.value)
    in_bucket = _head_checkpoint(tmp_path / "head2", "roboact:s3://b/runs/fit/model")
    with pytest.raises(UserError) as err:
        require_shared_policy(str(in_bucket), "h:1", False)
    assert "--policy" in str(err.value) and "roboact:<model_dir>" not in str(err.value)
    require_shared_policy(str(head), "h:1", True)  # --shared-fs: both folders are on every node


def test_a_roboact_feature_spec_in_a_bucket_is_staged_on_each_node(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``roboact:s3://...``: the spec (as recorded in a head) keeps the URI, each node reads its own copy."""
    from roboact.policies.features import FeatureSpec

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"n_frames": 6, "encoder": "embedded"}))
    uri = storage.upload(model, f"{bucket}/runs/fit/model")
    spec = FeatureSpec.parse(f"roboact:{uri}@stride=2")
    assert (spec.kind, spec.k, spec.encoder) == ("roboact", 6, "embedded")
    assert spec.text == f"roboact:{uri}@stride=2"  # recorded in a head as given
    assert Path(spec.model_dir).is_relative_to(storage.cache_root())  # this node's staged copy
    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "other_node"))
    again = FeatureSpec.parse(spec.text)
    assert Path(again.model_dir).is_relative_to(tmp_path / "other_node") and again.k == 6


def test_an_arrow_filesystem_carries_the_driver_s_storage_settings_to_a_bare_worker(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What Ray Data's read tasks get for BC's offline data: the pickled filesystem must reach the
    bucket from a process whose environment names no endpoint and no keys (a node's raylet's)."""
    import pickle

    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1, 2, 3]}), tmp_path / "part-00000.parquet")
    uri = storage.upload(tmp_path / "part-00000.parquet", f"{bucket}/offline_data/part-00000.parquet")
    path, fs = storage.arrow_filesystem(uri)
    shipped = pickle.dumps(fs)
    for name in storage.FORWARDED_ENV:
        monkeypatch.delenv(name, raising=False)
    assert pq.read_table(path, filesystem=pickle.loads(shipped)).column("x").to_pylist() == [1, 2, 3]
