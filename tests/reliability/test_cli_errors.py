"""Expected failures end in one line naming the file, field or address, and exit 2 (issue #18 item 6).

Each probe of the issue gave a traceback before: damaged HDF5 stores and demo files, malformed or
list-shaped YAML, a trial store that is not SQLite, a port in use, ``RAY_ADDRESS=local`` with the
jaka backend, a broken policy checkpoint. Ray must not start for any of them: ``init_ray`` is
replaced by a function that fails the test if it is called.
"""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import h5py
import numpy as np
import pytest
from roboact.datasets.stores import ClipRecord, ClipStore, FeatureStore, StoreError
from typer.testing import CliRunner

from roboact.cli import app

FACTORS = ("subject", "action", "object")


@pytest.fixture(autouse=True)
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every probe here must fail before Ray starts."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("Ray was started before the input was checked")

    monkeypatch.setattr("roboact.cluster.init_ray", refuse)


def invoke(args: list[str], env: dict[str, str] | None = None):  # noqa: ANN201
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def assert_one_line(res, *names: str) -> str:  # noqa: ANN001
    """Exit 2, no traceback, and the error is one stderr line naming every one of ``names``."""
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


# -- HDF5 files: valid, damaged in the middle, truncated, not HDF5 ---------------------------------
def _record(i: int) -> ClipRecord:
    return ClipRecord(
        clip_id=f"clip_{i:03d}",
        caption=f"Robot pick cube {i}.",
        subject=["Robot", "Human"][i % 2],
        action=["pick", "place", "push"][i % 3],
        object="cube",
        source="test",
        task=f"task_{i % 4}",
        n_source_frames=10,
        frames=np.full((4, 8, 8, 3), i, np.uint8),
    )


def _clip_and_feature_stores(root: Path) -> tuple[Path, Path]:
    clips, feats = root / "clips.h5", root / "feats.h5"
    rng = np.random.default_rng(0)
    with ClipStore.open_for_build(clips, "test", n_frames=4, image_size=8) as cs:
        for i in range(24):
            cs.add(_record(i))
        ids = cs.ids()
        cs.set_split("random", {"train": ids[:16], "val": ids[16:20], "test": ids[20:]})
        with FeatureStore.open_for_build(feats, cs, "fake", 4, 8, 8) as fs:
            for cid in ids:
                fs.add(cid, rng.random((4, 8)), rng.random(8), cs.label_ids(cid), "c")
            fs.set_split("random", cs.get_split("random"))
            fs.set_vocab_text_feats({f: rng.random((len(fs.vocab(f)), 8)) for f in FACTORS})
            fs.set_recombination(np.zeros((2, 3), np.int64), ["a", "b"], rng.random((2, 8)))
    return clips, feats


def _demo_file(path: Path) -> Path:
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as h5:
        for k in range(3):
            g = h5.create_group(f"data/demo_{k}")
            g.create_dataset("actions", data=rng.random((20, 7), np.float32))
            g.create_dataset("obs/agentview_rgb", data=np.zeros((20, 16, 16, 3), np.uint8))
            g.create_dataset("obs/robot_state", data=rng.random((20, 9), np.float32))
            g.attrs["task"], g.attrs["success"] = "knob", True
    return path


def _damage(src: Path, how: str) -> Path:
    """A copy of ``src``: ``corrupt`` (the middle half overwritten), ``truncated`` (half) or ``text``."""
    out = src.with_name(f"{src.stem}_{how}.h5")
    data = bytearray(src.read_bytes())
    n = len(data)
    if how == "corrupt":  # the superblock survives, so the file still opens
        data[n // 4 : 3 * n // 4] = b"\xab" * (3 * n // 4 - n // 4)
    elif how == "truncated":
        data = data[: n // 2]
    else:
        data = bytearray(b"not an HDF5 file\n")
    out.write_bytes(bytes(data))
    return out


@pytest.fixture(scope="module")
def h5_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("h5")
    clips, feats = _clip_and_feature_stores(root)
    demos = _demo_file(root / "demos.h5")
    files = {"clips": clips, "feats": feats, "demos": demos}
    for name, path in list(files.items()):
        for how in ("corrupt", "truncated", "text"):
            files[f"{name}_{how}"] = _damage(path, how)
    return files


HDF5_COMMANDS = {  # command: (the file it reads, its arguments given that file and an output path)
    "data stats": ("clips", lambda f, out: ["data", "stats", f]),
    "features derive": ("feats", lambda f, out: ["features", "derive", "--src", f, "--frames", "2",
                                                 "--out", out]),
    "train": ("feats", lambda f, out: ["train", "--features", f, "--name", "x", "--runs-root", out]),
    "policy train": ("demos", lambda f, out: ["policy", "train", "--demos", f, "--features", "embedded",
                                              "--out", out]),
}  # fmt: skip


@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["corrupt", "truncated", "text"])
@pytest.mark.parametrize("command", list(HDF5_COMMANDS))
def test_damaged_hdf5_is_one_line_naming_the_file(h5_files, tmp_path, command, how) -> None:
    kind, args = HDF5_COMMANDS[command]
    damaged = h5_files[f"{kind}_{how}"]
    assert_one_line(invoke(args(damaged, tmp_path / "out")), str(damaged))


@pytest.mark.timeout(120)
def test_the_valid_files_pass_the_same_commands(h5_files, tmp_path) -> None:
    """The damaged copies fail because of the damage: the originals are read without error."""
    res = invoke(["data", "stats", h5_files["clips"], "--json"])
    assert res.exit_code == 0, res.output
    res = invoke(
        ["features", "derive", "--src", h5_files["feats"], "--frames", "2", "--out", tmp_path / "d.h5"]
    )
    assert res.exit_code == 0, res.output


def test_verbose_shows_the_traceback_of_an_expected_failure(h5_files) -> None:
    res = invoke(["-v", "data", "stats", h5_files["clips_corrupt"]])
    assert res.exit_code == 2
    assert "Traceback" in res.stderr and "h5py/" in res.stderr  # down to h5py's own error, chained
    assert res.stderr.strip().splitlines()[-1].startswith(f"error: {h5_files['clips_corrupt']}")


def test_a_bug_keeps_its_traceback_and_exit_1(h5_files, monkeypatch) -> None:
    def bug(path: object) -> None:
        raise ZeroDivisionError("a bug, not bad input")

    monkeypatch.setattr("roboact.datasets.stats.store_stats", bug)
    res = invoke(["data", "stats", h5_files["clips"]])
    assert res.exit_code == 1 and isinstance(res.exception, ZeroDivisionError)


def test_a_store_of_ours_keeps_its_own_key_errors(h5_files) -> None:
    """Only errors raised inside h5py are read as damage; our own KeyError for a bad factor stays."""
    with ClipStore(h5_files["clips"]) as store, pytest.raises(KeyError, match="unknown factor"):
        store.vocab("colour")


def _read_every_clip(group: h5py.Group) -> None:
    for key in group["clips"]:
        group["clips"][key].attrs.get("complete")


def test_raw_reads_inside_with_store_name_that_store_and_no_other(h5_files) -> None:
    """``with store:`` names the store for a failed raw h5py read on its file, never for another file's."""
    damaged, valid = h5_files["clips_corrupt"], h5_files["clips"]
    with pytest.raises(StoreError, match=str(damaged)), ClipStore(damaged) as store:
        _read_every_clip(store.h5)
    with pytest.raises((KeyError, OSError, RuntimeError)) as caught, ClipStore(valid) as store:
        store.ids()
        with h5py.File(damaged, "r") as other:
            _read_every_clip(other)
    assert str(valid) not in str(caught.value)


# -- YAML configs: malformed and list-shaped ---------------------------------------------------------
YAML = {"malformed": "a: [1, 2\nb: {\n", "list": "- 1\n- 2\n", "not utf-8": b"\xff\xfe\x00bad"}
CONFIG_COMMANDS = {
    "train": lambda c, f: ["train", "--features", f, "--config", c],
    "tune": lambda c, f: ["tune", "--features", f, "--sweep", c],
    "sim eval": lambda c, f: ["sim", "eval", "--config", c],
    "policy train": lambda c, f: ["policy", "train", "--demos", f, "--features", "embedded", "--out",
                                  f.parent / "p", "--config", c],
    "hardware trials": lambda c, f: ["hardware", "trials", "--plan", c, "--no-ray"],
    "demo": lambda c, f: ["demo", "--config", c],
}  # fmt: skip


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", list(YAML))
@pytest.mark.parametrize("command", list(CONFIG_COMMANDS))
def test_bad_yaml_is_one_line_naming_the_file(tmp_path, monkeypatch, command, kind) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "bad.yaml"
    text = YAML[kind]
    config.write_bytes(text if isinstance(text, bytes) else text.encode())
    features = tmp_path / "feats.h5"
    features.write_bytes(b"")  # never read: the config fails first
    line = assert_one_line(invoke(CONFIG_COMMANDS[command](config, features)), str(config))
    if kind == "malformed":
        assert f"{config}:2:" in line  # the line where the parser gave up
    if kind == "list":
        assert "top level is a list" in line


# -- SQLite trial stores -------------------------------------------------------------------------------
def _bad_store(path: Path, kind: str, h5_source: Path) -> Path:
    if kind == "text":
        path.write_text("not a database\n")
    elif kind == "hdf5":
        path.write_bytes(h5_source.read_bytes())
    else:  # a real trial store with its pages overwritten past the header
        from roboact.hardware.trial_store import TrialStore

        with TrialStore(path) as store:
            store.register_plan("p", [("pol", f"task{i}", r) for i in range(50) for r in range(20)])
        db = sqlite3.connect(path)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        data = bytearray(path.read_bytes())
        data[4096:] = b"\xab" * (len(data) - 4096)
        path.write_bytes(bytes(data))
    return path


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["text", "hdf5", "corrupt"])
@pytest.mark.parametrize("command", ["report", "trials"])
def test_unusable_trial_store_is_one_line_naming_the_file(h5_files, tmp_path, command, kind) -> None:
    store = _bad_store(tmp_path / "trials.sqlite", kind, h5_files["clips"])
    args = ["hardware", command, "--store", store]
    if command == "trials":
        args += ["--plan", "trials_demo", "--backend", "sim", "--no-ray"]
    assert_one_line(invoke(args), str(store))


# -- ports and Ray addresses -------------------------------------------------------------------------
def test_fake_controller_on_a_port_in_use_is_one_line_naming_the_address() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = invoke(["hardware", "fake-controller", "--port", port, "--state-port", "0"])
    assert_one_line(res, f"127.0.0.1:{port}", "--port")


def test_a_port_out_of_range_is_refused_naming_the_option() -> None:
    res = invoke(["hardware", "check", "--port", "99999"])
    assert res.exit_code == 2 and "'--port'" in res.output and "Traceback" not in res.output


class _FakeRay:
    """What ``_start_executor`` asks of Ray: the cluster's resources."""

    def __init__(self, resources: dict[str, float]) -> None:
        self.resources = resources

    def cluster_resources(self) -> dict[str, float]:
        return self.resources


@pytest.mark.parametrize(
    ("env", "declared"), [({"RAY_ADDRESS": "local"}, True), ({"RAY_ADDRESS": "10.0.0.9:6379"}, False)]
)
def test_ray_address_local_starts_a_local_instance_that_declares_the_arm(
    tmp_path, monkeypatch, env, declared
) -> None:
    """RAY_ADDRESS=local is a new local instance, so it declares the arm's resource; a cluster that
    does not declare it is an expected failure naming the address, not a RuntimeError."""
    asked: list[dict] = []

    def init_ray(address: str | None = None, **kwargs: object) -> _FakeRay:
        asked.append(kwargs)
        return _FakeRay(dict(kwargs.get("resources") or {}))  # type: ignore[arg-type]

    monkeypatch.setattr("roboact.cluster.init_ray", init_ray)
    monkeypatch.setattr("ray.is_initialized", lambda: False)
    from roboact.hardware.trial_plan import load_plan
    from roboact.hardware.trials import _start_executor

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    plan = load_plan("trials_demo")
    args = (plan, "jaka", "127.0.0.1", 10001, 10000, None, True, "auto", None, "", "fake")
    if declared:
        monkeypatch.setattr("roboact.hardware.actor.make_arm_actor", lambda r: _NoActor())
        _start_executor(*args)
        assert asked == [{"resources": {"jaka_arm": 1}}]
    else:
        res = invoke(["hardware", "trials", "--plan", "trials_demo", "--backend", "jaka", "--camera",
                      "opencv", "--store", tmp_path / "t.sqlite"])  # fmt: skip
        assert_one_line(res, "10.0.0.9:6379", "jaka_arm")


class _NoActor:
    def remote(self, *args: object) -> object:
        return object()


# -- policy checkpoints ------------------------------------------------------------------------------
HEAD = {"module_dir": "rl_module", "normalisation": {}}
META = {"format": "roboact-policy/2", "features": "embedded", "image_size": 64, "state_dim": 9,
        "action_dim": 7, "heads": {"*": HEAD}}  # fmt: skip


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "broken", ["truncated policy.json", "no rl_module", "no policy.json", "field missing"]
)
def test_broken_checkpoint_fails_in_the_driver_naming_the_path(tmp_path, monkeypatch, broken) -> None:
    import json

    monkeypatch.chdir(tmp_path)
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    meta = json.dumps({k: v for k, v in META.items() if not (broken == "field missing" and k == "heads")})
    if broken == "truncated policy.json":
        meta = meta[: len(meta) // 2]
    if broken != "no policy.json":
        (ckpt / "policy.json").write_text(meta)
    if broken in ("truncated policy.json", "field missing"):
        (ckpt / "rl_module").mkdir()
        (ckpt / "rl_module" / "module_state.pt").write_bytes(b"x")
    res = invoke(
        ["sim", "eval", "--suite", "kitchen", "--tasks", "knob", "--policy", "ckpt", "--episodes", "1"]
    )
    assert_one_line(res, "ckpt")
    assert not (tmp_path / "runs").exists()  # nothing was started or written
