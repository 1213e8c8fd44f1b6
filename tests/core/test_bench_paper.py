"""`roboact bench paper`: the planner (rows x tables x units), resumption, failure isolation and the
report, with a stubbed unit runner whose units are real functions writing real files (the same
markers, episode logs and policy directories the real units write); then one real row end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from roboact.bench import ROWS, TABLES, Bench, BenchConfig, Unit, dependencies, load_bench_config, plan

CELL = re.compile(r"\*\*\d+\.\d\*\* \[\d+\.\d, \d+\.\d\] \(\d+/\d+\)")  # ours: rate [Wilson CI] (k/n)


def _cfg(out: Path, **fields: Any) -> BenchConfig:
    overrides = [f"out={out}", "eval_episodes=6"] + [f"{k}={v}" for k, v in fields.items()]
    return load_bench_config(None, ["scale=tiny", *overrides])


class StubBench(Bench):
    """Every unit writes what the real one writes, without Ray or simulators; calls are recorded."""

    fail_rows: set[str] = set()

    def __init__(self, cfg: BenchConfig) -> None:
        super().__init__(cfg)
        self.calls: list[str] = []

    def start_ray(self) -> None:
        (self.out / "versions.json").write_text(json.dumps({"python": "stub"}))

    def do_data(self, unit: Unit) -> dict[str, Any]:
        self.calls.append(unit.name)
        (self.out / "data").mkdir(parents=True, exist_ok=True)
        (self.out / "data" / "clips.txt").write_text("clips")
        return {"clips": 8}

    def do_features(self, unit: Unit) -> dict[str, Any]:
        self.calls.append(unit.name)
        return {"extracted": {"clips": 8}}

    def do_fit(self, unit: Unit) -> dict[str, Any]:
        self.calls.append(unit.name)
        if unit.row in self.fail_rows:
            raise RuntimeError(f"fit {unit.row} diverged")
        model = self.out / "fits" / unit.row / "model"  # type: ignore[operator]
        model.mkdir(parents=True, exist_ok=True)
        (model / "config.json").write_text(json.dumps(dict(ROWS[unit.row].model)))  # type: ignore[index]
        return {
            "model_dir": str(model),
            "frames": 2 if unit.row == "A5" else 8,
            "switches": dict(ROWS[unit.row].model),
            "steps": 40,
            "val": {"val/action_acc": 0.5},
            "train_config": "train_tiny",
        }  # type: ignore[index]

    def do_demos(self, unit: Unit) -> dict[str, Any]:
        self.calls.append(unit.name)
        table = "| suite | successes |\n|---|---|\n" + f"| {unit.suite} | 1 |"
        return {
            "path": "-",
            "summary": {
                "title": "Scripted demonstrations",
                "what_ran": "stub",
                "tables": [{"title": f"{unit.suite} demos", "markdown": table}],
            },
        }

    def do_heads(self, unit: Unit) -> dict[str, Any]:
        self.calls.append(unit.name)
        out = self.policy_dir(unit.table, unit.row)  # type: ignore[arg-type]
        out.mkdir(parents=True, exist_ok=True)
        (out / "policy.json").write_text(json.dumps({"features": self.feature_spec(unit.row)}))  # type: ignore[arg-type]
        tasks = self.cfg.tasks(TABLES[unit.table].trained_on or unit.table)  # type: ignore[index]
        training = {"episodes": 1, "iterations": 2, "first_loss": 1.0, "final_loss": 0.5}
        return {
            "features": self.feature_spec(unit.row),
            "heads": TABLES[unit.table].heads,  # type: ignore[arg-type,index]
            "tasks": tasks,
            "no_demo": [],
            "training": training,
        }

    def do_eval(self, unit: Unit) -> dict[str, Any]:
        """Episodes as the pool appends them: same (task, episode, seed, init state) for every row."""
        from roboact.sim_workers.policy import policy_id
        from roboact.sim_workers.results import ResultsLog

        self.calls.append(unit.name)
        t = TABLES[unit.table]  # type: ignore[index]
        log = ResultsLog(self.eval_dir(t.key))
        strength = list(ROWS).index(unit.row)  # type: ignore[arg-type]
        for task in self.cfg.tasks(t.key):
            for k in range(self.cfg.eval_episodes):
                log.append(
                    {
                        "policy": policy_id(str(self.policy_dir(t.key, unit.row))),
                        "suite": t.suite,  # type: ignore[arg-type]
                        "task": task,
                        "episode": k,
                        "seed": 1000 + k,
                        "success": (k + strength) % 3 != 0,
                        "steps": 20,
                        "max_steps": self.cfg.max_steps,
                        "starts": "init_states" if t.suite == "libero" else None,
                        "init_state": k if t.suite == "libero" else None,
                    }
                )
        return {"tasks": self.cfg.tasks(t.key), "summary": {}}


def test_plan_has_every_paper_row_of_each_table_in_dependency_order(tmp_path) -> None:
    units = plan(BenchConfig(out=str(tmp_path)))
    names = [u.name for u in units]
    assert names[:2] == ["data", "features"]
    assert [u.row for u in units if u.stage == "fit"] == ["roboact-clip", "A1", "A2", "A3", "A4", "A5"]
    assert [u.row for u in units if u.stage == "eval" and u.table == "II"] == list(ROWS)
    for table in ("III", "IV"):
        assert [u.row for u in units if u.stage == "eval" and u.table == table] == [
            "roboact-clip",
            "clip-frame",
        ]
    for i, unit in enumerate(units):  # every input of a unit is planned before it
        assert all(d in units[:i] for d in dependencies(unit)), unit.name
        if unit.stage == "eval":  # and a row is evaluated as soon as its heads exist
            assert units[i - 1] == Unit("heads", table=unit.table, row=unit.row), unit.name
    # frame rows need no fit, and kitchen alone no LIBERO demos
    small = plan(BenchConfig(out=str(tmp_path), rows=["clip-frame", "A6"], suites=["kitchen"]))
    assert [u.name for u in small] == ["demos__kitchen", "heads__IV__clip-frame", "eval__IV__clip-frame"]


def test_bad_rows_and_suites_are_refused_naming_the_field(tmp_path) -> None:
    with pytest.raises(ValueError, match="rows"):
        BenchConfig(out=str(tmp_path), rows=["A7"])
    with pytest.raises(ValueError, match="suites"):
        BenchConfig(out=str(tmp_path), suites=["metaworld"])
    with pytest.raises(ValueError, match="scale"):
        load_bench_config(None, ["scale=huge"])


def test_head_history_is_the_same_for_every_row(tmp_path) -> None:
    """``head_history`` is appended to every row's spec: RoboAct-CLIP, A6's frame window, CLIP frame."""
    bench = StubBench(_cfg(tmp_path / "b", suites="[libero]", head_history="history=3,every=4"))
    bench.run()
    specs = {
        row: json.loads(bench.marker(Unit("heads", table="II", row=row)).read_text())["features"]
        for row in ("roboact-clip", "A6", "clip-frame")
    }
    assert specs["clip-frame"] == "embedded@history=3,every=4"
    assert specs["A6"] == "embedded@k=8,history=3,every=4"
    assert specs["roboact-clip"].startswith("roboact:")
    assert specs["roboact-clip"].endswith("@history=3,every=4")
    with pytest.raises(ValueError, match="head_history"):
        BenchConfig(out=str(tmp_path), head_history="k=3")


def test_every_row_gets_the_head_history_by_default_and_an_empty_one_turns_it_off(tmp_path) -> None:
    assert load_bench_config(None, []).head_history == "history=3,every=4"
    bench = StubBench(_cfg(tmp_path / "b", suites="[kitchen]", rows="[clip-frame]", head_history="''"))
    bench.run()
    spec = json.loads(bench.marker(Unit("heads", table="IV", row="clip-frame")).read_text())["features"]
    assert spec == "embedded"


def test_report_has_every_row_with_a_ci_and_rows_share_episodes(tmp_path) -> None:
    from roboact.sim_workers.results import ResultsLog

    bench = StubBench(_cfg(tmp_path / "b"))
    result = bench.run()
    report = Path(result["report_md"]).read_text()
    headline = report.split("## Paired differences")[0]
    for key, spec in TABLES.items():
        section = headline.split(f"### Table {key}:")[1].split("###")[0]
        for row in spec.rows:
            line = next(x for x in section.splitlines() if x.startswith(f"| {row}"))
            assert CELL.search(line), f"Table {key} row {row} has no measured number with a CI: {line}"
        assert "| - | R3M | paper only: no weights here |" in section
        episodes = {}
        for rec in ResultsLog(bench.eval_dir(key)).read().values():
            episodes.setdefault(rec["policy"], set()).add(
                (rec["task"], rec["episode"], rec["seed"], rec["init_state"])
            )
        assert len(episodes) == len(spec.rows) and len({frozenset(v) for v in episodes.values()}) == 1
    # Table II, tiny: T1 only, so the paper column is the paper's T1 value
    assert "| roboact-clip | RoboAct-CLIP (Ours) |" in headline and "| 90.0 |" in headline
    paired = report.split("## Paired differences")[1].split("# Details")[0]
    assert paired.count("McNemar") >= 3 and "| overall | A1-no-diff-transformer |" in paired
    assert "LIBERO fixed init states 0-5" in headline
    assert (bench.out / "report.html").read_text().count("<table>") >= 6


def test_rerun_resumes_without_redoing_finished_units(tmp_path) -> None:
    cfg = _cfg(tmp_path / "b", rows="[roboact-clip,A5,clip-frame]")
    first = StubBench(cfg)
    first.run()
    assert len(first.calls) == len(plan(cfg))
    markers = {p: p.stat().st_mtime_ns for p in first.units_dir.glob("*.json")}
    episodes = (first.eval_dir("II") / "episodes.jsonl").read_text()
    again = StubBench(cfg)
    again.run()
    assert again.calls == []
    assert {p: p.stat().st_mtime_ns for p in first.units_dir.glob("*.json")} == markers
    assert (first.eval_dir("II") / "episodes.jsonl").read_text() == episodes
    # a wider rerun (one more row) runs only the new row's units
    wider = StubBench(_cfg(tmp_path / "b", rows="[roboact-clip,A5,clip-frame,A1]"))
    wider.run()
    assert wider.calls == ["fit__A1", "heads__II__A1", "eval__II__A1"]


def test_rerun_with_other_result_settings_is_refused_naming_them(tmp_path) -> None:
    StubBench(_cfg(tmp_path / "b", rows="[clip-frame]")).run()
    with pytest.raises(ValueError, match=r"eval_episodes 6 -> 9"):
        StubBench(_cfg(tmp_path / "b", rows="[clip-frame]", eval_episodes=9)).run()


def test_a_failed_fit_leaves_its_row_out_runs_the_rest_and_is_retried(tmp_path) -> None:
    cfg = _cfg(tmp_path / "b", rows="[roboact-clip,A1,clip-frame]", suites="[libero]")
    broken = StubBench(cfg)
    broken.fail_rows = {"A1"}
    broken.run()
    assert "heads__II__A1" not in broken.calls and "eval__II__clip-frame" in broken.calls
    assert (broken.units_dir / "fit__A1.failed.json").is_file()
    report = (broken.out / "report.md").read_text()
    assert "not run: unit `fit__A1` failed: RuntimeError: fit A1 diverged" in report
    fixed = StubBench(cfg)
    fixed.run()
    assert fixed.calls == ["fit__A1", "heads__II__A1", "eval__II__A1"]
    assert not (fixed.units_dir / "fit__A1.failed.json").exists()


@pytest.mark.ray
@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_one_real_row_end_to_end(tmp_path, ray_session) -> None:
    """The CLIP-frame row on Kitchen micro at tiny scale: real demos, BC head, pooled evaluation."""
    cfg = load_bench_config(
        None, ["scale=tiny", f"out={tmp_path / 'b'}", "rows=[clip-frame]", "suites=[kitchen]", "workers=1"]
    )
    bench = Bench(cfg)
    bench.run()
    assert not list(bench.units_dir.glob("*.failed.json"))
    heads = json.loads(bench.marker(Unit("heads", table="IV", row="clip-frame")).read_text())
    assert heads["features"] == "embedded@history=3,every=4" and heads["tasks"] == ["micro"]
    assert (bench.policy_dir("IV", "clip-frame") / "policy.json").is_file()
    report = (bench.out / "report.md").read_text()
    line = next(x for x in report.splitlines() if x.startswith("| clip-frame | CLIP |"))
    assert CELL.search(line) and line.rstrip().endswith("| 25.1 |")  # the paper's CLIP micro
    mtime = bench.marker(Unit("eval", table="IV", row="clip-frame")).stat().st_mtime_ns
    Bench(cfg).run()  # resumes: nothing left to run
    assert bench.marker(Unit("eval", table="IV", row="clip-frame")).stat().st_mtime_ns == mtime


def test_cli_refuses_bad_input_with_exit_2_naming_it(tmp_path) -> None:
    from typer.testing import CliRunner

    from roboact.cli import app

    StubBench(_cfg(tmp_path / "b", rows="[clip-frame]")).run()
    runner = CliRunner()
    bad_row = runner.invoke(
        app, ["bench", "paper", "--scale", "tiny", "--rows", "A9", "--out", str(tmp_path)]
    )
    assert bad_row.exit_code == 2 and "rows" in bad_row.output
    other = ["bench", "paper", "--scale", "machine", "--out", str(tmp_path / "b")]
    changed = runner.invoke(app, other)
    assert changed.exit_code == 2 and "scale 'tiny' -> 'machine'" in changed.output


def test_the_report_finds_each_row_s_episodes_by_its_head_s_place_in_the_run(tmp_path) -> None:
    import shutil

    from roboact.bench_report import row_records

    StubBench(_cfg(tmp_path / "b", rows="[roboact-clip,clip-frame]", suites="[libero]")).run()
    moved = tmp_path / "moved"  # a copied bench directory: its episodes name the old absolute paths
    shutil.copytree(tmp_path / "b", moved)
    log = moved / "eval" / "II" / "episodes.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    slug = ROWS["clip-frame"].slug
    for r in records:  # one row evaluated from its bucket copy (several nodes, no shared disk)
        if r["policy"].endswith(f"/{slug}"):
            r["policy"] = f"s3://bucket/bench/policy/II/{slug}"
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    by_row = row_records(Bench(_cfg(moved, rows="[roboact-clip,clip-frame]", suites="[libero]")), "II")
    assert set(by_row) == {"roboact-clip", "clip-frame"}
    assert len(by_row["roboact-clip"]) == len(by_row["clip-frame"]) == len(records) // 2


def test_on_several_nodes_a_local_out_is_refused_and_a_bucket_out_is_what_units_hand_actors(
    tmp_path, monkeypatch
) -> None:
    from roboact import storage
    from roboact.errors import UserError

    monkeypatch.setattr("roboact.cluster.init_ray", lambda *a, **k: None)
    monkeypatch.setattr("roboact.cluster.alive_nodes", lambda: 2)
    monkeypatch.delenv(storage.SHARED_FS_ENV, raising=False)
    with pytest.raises(UserError, match="--out s3://"):
        Bench(_cfg(tmp_path / "local")).start_ray()
    shared = Bench(_cfg(tmp_path / "nfs", shared_fs=True))
    shared.start_ray()
    assert shared.policy_uri("II", "clip-frame") == str(shared.policy_dir("II", "clip-frame"))

    bench = Bench(_cfg(tmp_path / "copy"), out_uri="s3://bucket/bench")  # --out s3://bucket/bench
    bench.start_ray()
    assert bench.policy_uri("II", "clip-frame") == f"s3://bucket/bench/policy/II/{ROWS['clip-frame'].slug}"
    assert bench.demo().shared(bench.demo().clips) == "s3://bucket/bench/data/clips.h5"
    fit = Unit("fit", row="roboact-clip")
    bench._write(bench.marker(fit), {"model_dir": str(bench.out / "fits" / "roboact-clip" / "model")})
    assert bench.feature_spec("roboact-clip").startswith("roboact:s3://bucket/bench/fits/roboact-clip/model")
