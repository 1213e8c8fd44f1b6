"""`roboact demo --storage s3://...`: each finished stage is in the bucket; a fresh machine resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roboact import storage
from roboact.demo import Demo, DemoConfig
from roboact.errors import UserError
from tests.core import test_storage as storage_fixtures

s3_endpoint = storage_fixtures.s3_endpoint  # a loopback S3 server (fixture)
s3 = storage_fixtures.s3  # a bucket URI on it, env pointed at it (fixture)

CALLS: list[str] = []


@pytest.fixture
def cheap_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two stages that write a file each, and no Ray: this tests where the run is kept, not the stages."""
    CALLS.clear()

    def stage(name: str):  # noqa: ANN202
        def run(self: Demo) -> dict:
            CALLS.append(name)
            (self.run / name).mkdir(parents=True, exist_ok=True)
            (self.run / name / "out.txt").write_text(name)
            return {"title": name, "metrics": {}}

        return run

    monkeypatch.setattr(Demo, "stage_data", stage("data"))
    monkeypatch.setattr(Demo, "stage_features", stage("features"))
    monkeypatch.setattr("roboact.cluster.init_ray", lambda *a, **k: None)
    monkeypatch.setattr("roboact.cluster.release_leaked_placement_groups", lambda: 0)
    monkeypatch.setattr("roboact.cluster.alive_nodes", lambda: 1)


def _cfg(run_dir: Path, uri: str) -> DemoConfig:
    return DemoConfig(scale="tiny", run_dir=str(run_dir), storage=uri, stages=["data", "features"])


def test_every_finished_stage_is_in_the_bucket_and_a_fresh_machine_resumes(cheap_stages, s3, tmp_path):
    Demo(_cfg(tmp_path / "first", s3)).run_all()
    fs, root = storage.filesystem(s3)
    kept = {p[len(root) + 1 :] for p in fs.find(root)}
    assert {"stages/data.json", "stages/features.json", "data/out.txt", "report.md"} <= kept
    assert CALLS == ["data", "features"]

    result = Demo(_cfg(tmp_path / "second", s3)).run_all()  # another machine: empty run_dir
    assert CALLS == ["data", "features"]  # nothing ran again
    assert (Path(result["run_dir"]) / "features" / "out.txt").read_text() == "features"


def test_a_failed_stage_keeps_the_finished_ones_in_the_bucket(cheap_stages, s3, tmp_path, monkeypatch):
    def broken(self: Demo) -> dict:
        raise RuntimeError("features stage broke")

    monkeypatch.setattr(Demo, "stage_features", broken)
    with pytest.raises(RuntimeError, match="broke"):
        Demo(_cfg(tmp_path / "run", s3)).run_all()
    fs, root = storage.filesystem(s3)
    assert json.loads(fs.cat_file(f"{root}/stages/data.json"))["stage"] == "data"


def test_several_nodes_with_neither_a_shared_run_dir_nor_storage_are_refused_before_any_stage(
    cheap_stages, tmp_path, monkeypatch
):
    monkeypatch.setattr("roboact.cluster.alive_nodes", lambda: 2)
    monkeypatch.delenv(storage.SHARED_FS_ENV, raising=False)
    cfg = DemoConfig(scale="tiny", run_dir=str(tmp_path / "run"), stages=["data"])
    with pytest.raises(UserError, match="--shared-fs") as refused:
        Demo(cfg).run_all()
    assert "--storage s3://" in str(refused.value)  # the other way out
    assert CALLS == []
    cfg.shared_fs = True
    declared = []
    monkeypatch.setattr(Demo, "stage_data", lambda self: declared.append(storage.shared_fs_declared()) or {})
    Demo(cfg).run_all()
    # every command a stage calls sees the declaration (each has its own fail-fast check), and only then
    assert declared == [True] and not storage.shared_fs_declared()


def test_the_cli_refuses_a_local_folder_as_storage(tmp_path):
    from typer.testing import CliRunner

    from roboact.cli import app

    res = CliRunner().invoke(app, ["demo", "--scale", "tiny", "--storage", str(tmp_path / "x")])
    assert res.exit_code != 0
    assert "expected an s3:// or gs:// URI" in res.output + (res.stderr or "")


def test_on_several_nodes_without_a_shared_disk_the_stages_hand_actors_the_bucket_s_copies(
    cheap_stages, s3, tmp_path, monkeypatch
):
    monkeypatch.delenv(storage.SHARED_FS_ENV, raising=False)
    seen: dict[str, dict[str, str]] = {}

    def features(self: Demo) -> dict:  # what each later stage would hand its actors
        seen[str(self.run)] = {
            "clip store": self.shared(self.clips),
            "Train storage": self.train_config("main", self.run / "train", self.features(8)).storage_path,
            "policy head": self.policy_dir("kitchen", "roboact-clip"),
            "head features": self.heads()["roboact-clip"],
        }
        return {"title": "features", "metrics": {}}

    monkeypatch.setattr(Demo, "stage_features", features)
    monkeypatch.setattr("roboact.cluster.alive_nodes", lambda: 2)
    Demo(_cfg(tmp_path / "cluster", s3)).run_all()  # not refused: --storage keeps the files
    assert seen[str(tmp_path / "cluster")] == {
        "clip store": f"{s3}/data/clips.h5",  # uploaded after the data stage, under the same path
        "Train storage": f"{s3}/train/ray_results",
        "policy head": f"{s3}/policy/kitchen_roboact-clip",
        "head features": f"roboact:{s3}/train/main/model",
    }
    fs, root = storage.filesystem(s3)
    assert fs.cat_file(f"{root}/data/out.txt") == b"data"  # the earlier stage's output is there

    monkeypatch.setattr("roboact.cluster.alive_nodes", lambda: 1)  # one node: the run's own paths
    run = tmp_path / "one_node"
    Demo(_cfg(run, f"{s3}/other")).run_all()
    assert seen[str(run)]["clip store"] == str(run / "data" / "clips.h5")
    assert seen[str(run)]["Train storage"] is None  # the fit's default, under the run directory
    assert seen[str(run)]["head features"] == f"roboact:{run / 'train' / 'main' / 'model'}"
