"""`roboact demo` at tiny scale: every stage runs, every report section exists, and the report's
measured numbers are the ones the run's own files hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roboact.demo import ALL_STAGES, Demo, load_demo_config

pytestmark = [pytest.mark.sim, pytest.mark.slow]


def _run_cli(run_dir: Path) -> dict:
    """`roboact demo --scale tiny` in its own process, with its own local Ray instance."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "roboact.cli", "demo", "--scale", "tiny", "--run-dir", str(run_dir)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1400)
    assert out.returncode == 0, out.stderr[-4000:]
    assert str(run_dir / "report.html") in out.stdout.replace("\n", "")
    return json.loads((run_dir / "stages" / "hardware.json").read_text())


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Demo, dict]:
    run_dir = tmp_path_factory.mktemp("demo") / "run"
    _run_cli(run_dir)
    demo = Demo(load_demo_config(None, ["scale=tiny", f"run_dir={run_dir}"]))
    return demo, {"report_md": str(run_dir / "report.md"), "report_html": str(run_dir / "report.html")}


@pytest.mark.timeout(1500)
def test_every_stage_ran_and_the_report_has_its_section(tiny_run) -> None:
    demo, result = tiny_run
    report = Path(result["report_md"]).read_text()
    for stage in ALL_STAGES:
        summary = json.loads((demo.run / "stages" / f"{stage}.json").read_text())
        assert summary["title"] in report, f"section of stage {stage} missing from the report"
        assert summary["tables"], f"stage {stage} reported no table"
    assert Path(result["report_html"]).read_text().count("<table>") >= len(ALL_STAGES)
    assert "Package versions" in report and "## Configuration" in report


@pytest.mark.timeout(120)
def test_table_i_counts_are_the_clip_store_counts(tiny_run) -> None:
    from roboact.datasets.stats import store_stats

    demo, result = tiny_run
    stats = store_stats(demo.clips)
    report = Path(result["report_md"]).read_text()
    assert f"| Total Videos | {stats['videos']:,} | 199,797 |" in report
    assert f"| Total Frames | {stats['frames']:,} | 63,922,209 |" in report


@pytest.mark.timeout(120)
def test_recognition_numbers_are_the_saved_evaluation(tiny_run) -> None:
    demo, result = tiny_run
    saved = json.loads((demo.run / "recognition" / "main_eval" / "recognition.json").read_text())
    report = Path(result["report_md"]).read_text()
    for factor, acc in saved["accuracy"].items():
        assert f"| {factor} | {100 * acc['aux']:.2f} | {100 * acc['text']:.2f} |" in report


@pytest.mark.timeout(120)
def test_simulation_and_trial_numbers_come_from_the_episode_log_and_trial_store(tiny_run) -> None:
    from roboact.hardware.report import table_v
    from roboact.sim_workers.results import ResultsLog, aggregate

    demo, result = tiny_run
    stage = json.loads((demo.run / "stages" / "sim_eval.json").read_text())
    assert demo.suites(), "the tiny demo evaluates at least one suite"
    for suite, tasks in demo.suites():
        records = list(ResultsLog(demo.run / "sim_eval" / suite).read().values())
        assert {r["task"] for r in records} == set(tasks)
        assert len(records) == len(tasks) * demo.cfg.eval_episodes * len(demo.heads())
        for (policy, _, task), agg in aggregate(records).items():
            summary = stage["metrics"][f"{suite}/{Path(policy).name.split('_', 1)[1]}"]["tasks"][task]
            assert (summary["episodes"], summary["successes"]) == (agg["episodes"], agg["successes"])
    hardware = json.loads((demo.run / "stages" / "hardware.json").read_text())
    assert hardware["tables"][0]["markdown"] == table_v(demo.run / "hardware" / "trials.sqlite")


@pytest.mark.timeout(120)
def test_the_arm_batch_runs_a_head_trained_on_demos_recorded_through_the_hardware_actor(tiny_run) -> None:
    import h5py
    from roboact.hardware.trial_store import TrialStore

    demo, _ = tiny_run
    with h5py.File(demo.run / "hardware" / "demos.hdf5", "r") as f:
        assert len(f["data"]) == demo.cfg.arm_demos
    head = json.loads((demo.run / "hardware" / "head" / "policy.json").read_text())
    assert head["training"]["iterations"] == demo.cfg.arm_policy_iterations
    assert (head["chunk"], head["features"]) == (5, demo.cfg.arm_features)
    with TrialStore(demo.run / "hardware" / "trials.sqlite") as store:
        ran = {t["policy"] for t in store.trials() if t["status"] in ("completed", "failed")}
    assert ran == {"scripted", "head"}


@pytest.mark.timeout(600)
def test_rerun_resumes_without_redoing_finished_stages(tiny_run) -> None:
    demo, first = tiny_run
    before = {p.name: p.stat().st_mtime_ns for p in (demo.run / "stages").glob("*.json")}
    old = Path(first["report_md"]).read_text()
    _run_cli(demo.run)
    after = {p.name: p.stat().st_mtime_ns for p in (demo.run / "stages").glob("*.json")}
    assert before == after, "a rerun of a finished demo must skip every stage"
    first = {"report_md": str(demo.run / "old_report.md")}
    Path(first["report_md"]).write_text(old)
    again = {"report_md": str(demo.run / "report.md")}

    def without_timestamp(path: str) -> list[str]:
        return [line for line in Path(path).read_text().splitlines() if not line.startswith("Generated ")]

    assert without_timestamp(again["report_md"]) == without_timestamp(first["report_md"])


def test_bc_trains_on_the_tasks_with_a_successful_expert_demo(tmp_path) -> None:
    """A task whose expert failed every demo episode is left out of BC, not the whole suite."""
    import h5py

    cfg = load_demo_config(None, ["scale=tiny", f"run_dir={tmp_path}"])
    demo = Demo(cfg)
    demo.demos_path("libero").parent.mkdir(parents=True)
    with h5py.File(demo.demos_path("libero"), "w") as f:
        for k, (task, success) in enumerate([("T1", True), ("T2", False), ("T2", False), ("T3", True)]):
            g = f.create_group(f"data/demo_{k}")
            g.attrs.update(task=task, success=success, num_samples=10)
    assert demo.demo_tasks("libero", ["T1", "T2", "T3", "T4"]) == ["T1", "T3"]
    assert demo.demo_tasks("kitchen", ["micro"]) == []  # no demo file yet
