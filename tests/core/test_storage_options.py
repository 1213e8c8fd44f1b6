"""Every path option of every command takes a local path or an ``s3://`` / ``gs://`` URI (issue #16).

The option lists are generated from the ``roboact`` command tree, so a command added later is
checked too: no option may be typed ``Path`` (``Path("s3://b/x")`` is the local ``s3:/b/x``); each
stage's path options keep a URI verbatim into its config; each reading command names a missing URI
whole. End to end against the loopback S3 server: ``sim eval --run-dir``, ``data build --out``,
``hardware trials --store``, ``hardware record --out``, ``sim demos --out`` and ``bench paper --out``
write into a bucket as each piece of work finishes, and a rerun on a fresh node (an empty cache)
continues from the bucket's copy.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from roboact import storage
from roboact.cli import app
from roboact.stage import StageCommand
from tests import s3_loopback
from tests.datasets import conftest as datasets_fixtures

rh20t_tree = datasets_fixtures.rh20t_tree  # a tiny RH20T tree (fixture)
s3_bucket = s3_loopback.bucket_fixture("roboact-options")

PATH_WORDS = re.compile(
    r"\b(path|paths|URI|URIs|file|folder|directory|dir|store|stores|root|checkpoint|HDF5|SQLite|YAML|log|"
    r"cache)\b",
    re.I,
)
"""words of an option's help that say it names a file or folder"""

NOT_STORAGE = {
    "--config": "a job file: staged from a URI, tested below with a bucket",
    "--encoder": "an encoder spec (embedded, open_clip:<arch>:<ckpt>), not a storage option",
    "--split": "a split's name inside the store",
    "--device": "an input device (scripted, keyboard)",
    "--robot": "a robot config of the fake controller, a local test server",
}
"""options whose help mentions a path word but that name no storage location, with the reason"""

VALUE_FORMS = {("sim demos", "--policy"): "dagger:{uri}", ("hardware trials", "--policy"): "head={uri}"}
"""options whose value wraps a location in a spec"""

KNOWN = {
    ("sim eval", "--run-dir"),
    ("eval ablations", "--runs-root"),
    ("eval ablations", "--features"),
    ("eval cross-embodiment", "--runs-root"),
    ("eval cross-embodiment", "--features"),
    ("eval recognition", "--model"),
    ("eval recognition", "--features"),
    ("eval recognition", "--out"),
    ("features derive", "--src"),
    ("features derive", "--out"),
    ("hardware trials", "--store"),
    ("hardware record", "--out"),
    ("data build", "--out"),
    ("data build", "--root"),
    ("sim demos", "--out"),
    ("bench paper", "--out"),
    ("demo", "--run-dir"),
}
"""path options the issue named (and their neighbours): the generated list must hold them"""


def _commands(cmd: Any = None, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    cmd = typer.main.get_command(app) if cmd is None else cmd
    if hasattr(cmd, "commands"):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield " ".join(path), cmd


def _is_path_type(annotation: Any) -> bool:
    return annotation is Path or any(_is_path_type(a) for a in typing.get_args(annotation))


def _path_params(stage: bool) -> list[tuple[str, str]]:
    """(command, option or argument) of every str-valued path parameter of the stage (or other) commands."""
    out = []
    for name, cmd in _commands():
        if isinstance(cmd, StageCommand) != stage:
            continue
        for param in cmd.params:
            flag = param.opts[0] if param.opts[0].startswith("-") else param.name
            if param.type_descriptor.annotation in (bool, int, float):  # a count or a switch
                continue
            if flag in NOT_STORAGE or not PATH_WORDS.search(param.help or ""):
                continue
            out.append((name, flag))
    return out


STAGE_PATH_OPTIONS = _path_params(stage=True)
READING_ARGUMENTS = _path_params(stage=False)


def test_no_command_takes_a_path_typed_option() -> None:
    typed = [
        f"roboact {name} {param.opts[0]}"
        for name, cmd in _commands()
        for param in cmd.params
        if _is_path_type(param.type_descriptor.annotation)
    ]
    assert typed == [], f"Path-typed parameters turn s3://b/x into s3:/b/x; make them str: {typed}"


def test_the_generated_option_list_holds_every_option_the_issue_named() -> None:
    assert KNOWN <= set(STAGE_PATH_OPTIONS), KNOWN - set(STAGE_PATH_OPTIONS)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("command", "option"), STAGE_PATH_OPTIONS, ids=[" ".join(p) for p in STAGE_PATH_OPTIONS]
)
def test_every_path_option_of_every_stage_keeps_a_uri(command: str, option: str) -> None:
    uri = "s3://roboact-options/some/where/x.h5"
    value = VALUE_FORMS.get((command, option), "{uri}").format(uri=uri)
    res = CliRunner().invoke(app, [*command.split(), option, value, "--print-config"])
    assert res.exit_code == 0, res.output
    assert uri in res.output, res.output  # verbatim, never s3:/roboact-options/...


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("command", "param"), READING_ARGUMENTS, ids=[" ".join(p) for p in READING_ARGUMENTS]
)
def test_every_reading_command_names_a_missing_uri_whole(command: str, param: str, s3_bucket: str) -> None:
    uri = f"{s3_bucket}/nothing/here.h5"
    args = [*command.split(), *([param] if param.startswith("-") else []), uri]
    res = CliRunner().invoke(app, args)
    assert res.exit_code != 0, res.output
    assert uri in res.output and uri.replace("://", ":/") not in res.output, res.output


@pytest.mark.timeout(60)
def test_a_job_file_in_a_bucket_is_read_by_any_stage(s3_bucket: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "cache"))
    job = f"{s3_bucket}/jobs/eval.yaml"
    with storage.open_file(job, "w") as fh:
        fh.write("suite: kitchen\nepisodes: 7\n")
    res = CliRunner().invoke(app, ["sim", "eval", "-c", job, "--print-config"])
    assert res.exit_code == 0, res.output
    assert "episodes: 7" in res.output and "suite: kitchen" in res.output


@pytest.mark.timeout(60)
def test_a_gripper_given_a_bucket_uri_is_refused_naming_the_option(tmp_path: Path) -> None:
    args = ["hardware", "trials", "--plan", "trials_demo", "--backend", "fake", "--no-ray"]
    res = CliRunner().invoke(app, [*args, "--store", str(tmp_path / "t.sqlite"), "--gripper", "s3://b/tty"])
    assert res.exit_code == 2, res.output
    assert "--gripper s3://b/tty" in res.output
    assert not (tmp_path / "t.sqlite").exists()


def _record_uploads(monkeypatch: pytest.MonkeyPatch, name: str, read: Any) -> list[Any]:
    """Every upload of a file called ``name``: what ``read(local file)`` gave at that moment."""
    seen: list[Any] = []
    real = storage.upload

    def upload(src: Any, dst: Any) -> str:
        if str(dst).endswith("/" + name):
            seen.append(read(Path(src)))
        return real(src, dst)

    monkeypatch.setattr(storage, "upload", upload)
    return seen


@pytest.mark.ray
@pytest.mark.sim
@pytest.mark.timeout(300)
def test_sim_eval_into_a_bucket_grows_episode_by_episode_and_resumes_on_a_fresh_node(
    ray_session: Any, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "node_a"))
    run = f"{s3_bucket}/evals/knob"
    lines = _record_uploads(monkeypatch, "episodes.jsonl", lambda p: len(p.read_text().splitlines()))
    args = ["sim", "eval", "--suite", "kitchen", "--tasks", "knob", "--policy", "zero", "--workers", "1"]
    args += ["--max-steps", "5", "--image-size", "0", "--videos", "0", "--run-dir", run]
    res = CliRunner().invoke(app, [*args, "--episodes", "2"])
    assert res.exit_code == 0, res.output
    assert lines == [1, 2]  # each episode reached the bucket as it finished
    assert f"results in {run}/episodes.jsonl" in res.output
    for name in ("summary.json", "tables.md", "eval_config.yaml"):
        assert storage.exists(f"{run}/{name}"), name
    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "node_b"))  # a node that never saw the run
    res = CliRunner().invoke(app, [*args, "--episodes", "3"])
    assert res.exit_code == 0, res.output
    assert lines == [1, 2, 3]  # only the third episode ran
    with storage.open_file(f"{run}/summary.json", "r") as fh:
        summary = json.load(fh)
    assert (summary["episodes"], summary["ran"]) == (3, 1)
    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "node_c"))
    table = CliRunner().invoke(app, ["sim", "table", run])  # read from the bucket, tables written back
    assert table.exit_code == 0, table.output
    assert "knob" in table.output and storage.exists(f"{run}/success.png")


@pytest.mark.timeout(120)
def test_data_build_into_a_bucket_and_stats_read_it_back(
    rh20t_tree: Any, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "cache"))
    root = storage.upload(rh20t_tree[0], f"{s3_bucket}/datasets/RH20T")  # the dataset is in the bucket too
    out = f"{s3_bucket}/stores/clips.h5"
    args = ["data", "build", "--source", "rh20t", "--root", root, "--out", out]
    res = CliRunner().invoke(app, [*args, "--frames", "8", "--image-size", "16", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output[res.output.index("{") :])
    assert summary["store"] == out and summary["clips"] > 0
    assert summary["rejected_log"] == f"{s3_bucket}/stores/clips.rejected.jsonl"
    assert storage.exists(summary["rejected_log"])
    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "other_node"))
    stats = CliRunner().invoke(app, ["data", "stats", out, "--json"])
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.output)["videos"] == summary["clips"]


@pytest.mark.timeout(120)
def test_hardware_trials_into_a_bucket_send_each_trial_as_it_finishes(
    s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3
    from contextlib import closing

    from roboact.config import config_to_dict
    from tests.hardware.conftest import small_plan

    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "cache"))
    plan = tmp_path / "plan.yaml"
    plan.write_text(json.dumps(config_to_dict(small_plan(name="bucket", repetitions=2))))
    store = f"{s3_bucket}/trials/trials.sqlite"

    def finished(path: Path) -> int:
        with closing(sqlite3.connect(str(path))) as db:
            return db.execute("SELECT COUNT(*) FROM trials WHERE status = 'completed'").fetchone()[0]

    sent = _record_uploads(monkeypatch, "trials.sqlite", finished)
    args = ["hardware", "trials", "--plan", str(plan), "--backend", "fake", "--no-ray", "--store", store]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert sent[-1] == 2 and 1 in sent  # the first trial was in the bucket before the batch ended
    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "other_node"))
    report = CliRunner().invoke(app, ["hardware", "report", "--store", store, "--json"])
    assert report.exit_code == 0, report.output
    again = CliRunner().invoke(app, args)  # a rerun on a fresh node finds nothing left to do
    assert again.exit_code == 0, again.output
    assert '"ran": 0,' in again.output


@pytest.mark.timeout(60)
def test_bench_paper_into_a_bucket_sends_each_unit_when_the_next_starts(
    s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import roboact.bench as bench

    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "cache"))
    out = f"{s3_bucket}/bench"
    seen: list[bool] = []
    handed: list[str | None] = []

    def fake_bench(cfg: Any, progress: Any, out_uri: str | None = None) -> dict[str, Any]:
        """Two units, each leaving a marker; what the bucket holds when the second one starts."""
        handed.append(out_uri)  # the bucket the units hand actors on nodes with no shared disk
        root = Path(cfg.out)
        units = bench.plan(cfg)[:2]
        for k, unit in enumerate(units):
            progress(unit)
            seen.append(storage.exists(f"{out}/unit0.done"))
            (root / f"unit{k}.done").write_text(unit.name)
        (root / "report.md").write_text("# report\n")
        return {
            "seconds": {},
            "failed": [],
            "report_md": str(root / "report.md"),
            "report_html": str(root / "x"),
        }

    monkeypatch.setattr(bench, "run_bench_paper", fake_bench)
    res = CliRunner().invoke(app, ["bench", "paper", "--scale", "tiny", "--out", out])
    assert res.exit_code == 0, res.output
    assert seen == [False, True]  # unit 0 was in the bucket as soon as unit 1 started
    assert handed == [out]  # and the units run in this node's copy (cfg.out), not in the bucket
    assert f"{out}/report.md" in res.output.replace("\n", "")
    assert storage.exists(f"{out}/unit1.done") and storage.exists(f"{out}/report.md")


def test_demo_with_a_run_dir_uri_keeps_the_run_there_and_works_in_a_node_local_copy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import roboact.demo as demo

    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "cache"))
    seen: dict[str, Any] = {}

    def fake_demo(cfg: Any, progress: Any) -> dict[str, Any]:
        seen["cfg"] = cfg
        return {"seconds": {}, "report_md": "r.md", "report_html": "r.html"}

    monkeypatch.setattr(demo, "run_demo", fake_demo)
    uri = "s3://roboact-options/demo-run"
    res = CliRunner().invoke(app, ["demo", "--scale", "tiny", "--run-dir", uri])
    assert res.exit_code == 0, res.output
    assert seen["cfg"].storage == uri
    assert Path(seen["cfg"].run_dir) == storage.local_root(uri)
    clash = CliRunner().invoke(app, ["demo", "--run-dir", uri, "--storage", "s3://roboact-options/other"])
    assert clash.exit_code != 0 and "--run-dir" in clash.output and "--storage" in clash.output


@pytest.mark.sim
@pytest.mark.timeout(120)
def test_hardware_record_into_a_bucket_sends_each_episode_before_the_next(
    s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import h5py

    from roboact.config import config_to_dict
    from tests.hardware.conftest import small_plan

    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "cache"))
    plan = tmp_path / "plan.yaml"
    plan.write_text(json.dumps(config_to_dict(small_plan(name="rec", duration_s=0.2))))
    out = f"{s3_bucket}/demos/rec.hdf5"

    def episodes(path: Path) -> int:
        if not path.is_file():
            return 0
        with h5py.File(path, "r") as f:
            return len(f["data"]) if "data" in f else 0

    sent = _record_uploads(monkeypatch, "rec.hdf5", episodes)
    args = ["hardware", "record", "--plan", str(plan), "--backend", "sim", "--out", out, "--episodes", "2"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert 1 in sent and sent[-1] == 2  # the first episode was in the bucket before the second ended
    with h5py.File(storage.local_copy(out), "r") as f:
        assert len(f["data"]) == 2


@pytest.mark.ray
@pytest.mark.sim
@pytest.mark.timeout(300)
def test_sim_demos_into_a_bucket_send_each_episode_as_it_is_written(
    ray_session: Any, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import h5py
    from roboact.sim_workers import cli as sim_cli

    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "node_a"))
    monkeypatch.setattr(sim_cli, "DEMO_SYNC_S", 0.0)  # every episode, not at most every 30 s
    out = f"{s3_bucket}/demos/knob.hdf5"

    def episodes(path: Path) -> int:
        with h5py.File(path, "r") as f:
            return len(f["data"]) if "data" in f else 0

    sent = _record_uploads(monkeypatch, "knob.hdf5", episodes)
    args = ["sim", "demos", "--suite", "kitchen", "--tasks", "knob", "--workers", "1", "--max-steps", "5"]
    args += ["--image-size", "0", "--out", out]
    res = CliRunner().invoke(app, [*args, "--episodes", "2"])
    assert res.exit_code == 0, res.output
    assert sent[:2] == [1, 2]  # the first episode was in the bucket before the second was written
    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "node_b"))  # a node that never saw the file
    res = CliRunner().invoke(app, [*args, "--episodes", "3"])
    assert res.exit_code == 0, res.output
    assert "1 new, 2 already there" in res.output
    with h5py.File(storage.local_copy(out), "r") as f:
        assert len(f["data"]) == 3


@pytest.mark.ray
@pytest.mark.sim
@pytest.mark.timeout(300)
def test_sim_source_build_into_a_bucket_sends_clips_as_jobs_finish(
    ray_session: Any, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from roboact.datasets import build
    from roboact.datasets.stores import ClipStore

    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(build, "SYNC_EVERY_S", 0.0)  # after every job, not at most every 30 s
    out = f"{s3_bucket}/stores/sim.h5"

    def clips(path: Path) -> int:
        with ClipStore(path) as store:
            return len(store)

    sent = _record_uploads(monkeypatch, "sim.h5", clips)
    args = ["data", "build", "--source", "sim", "--config", "sim_tiny", "--workers", "1", "--out", out]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert len(sent) >= 2 and 0 < sent[0] < sent[-1]  # clips reached the bucket before the build ended
    with ClipStore(storage.local_copy(out)) as store:
        assert len(store) == sent[-1]
