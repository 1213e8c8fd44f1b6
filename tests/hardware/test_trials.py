"""Trial batches: every fault stops the arm and fails the trial with the store intact; runs resume."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from roboact.hardware.judge import AutoJudge
from roboact.hardware.report import table_v, table_v_dict
from roboact.hardware.trial_plan import load_plan, trial_order
from roboact.hardware.trial_store import TrialStore
from roboact.hardware.trials import run_trials

from .conftest import small_plan


def _check_store(path: Path) -> list[dict]:
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with TrialStore(path) as store:
        return store.trials()


@pytest.mark.timeout(60)
def test_fake_backend_runs_a_plan_to_completion(tmp_path):
    summary = run_trials(small_plan(), "fake", tmp_path / "s.sqlite", use_ray=False, progress=False)
    assert summary["stopped"] is None and summary["counts"] == {"completed": 2}
    assert summary["loop_jitter_p99_ms"] is not None
    rows = TrialStore(tmp_path / "s.sqlite").subtask_results()
    assert [r["outcome"] for r in rows] == ["success"] * 4


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("faults", "kind", "tight"),
    [
        ("drop_after=25", "connection_lost", {}),
        ("error_on=servo_j", "controller_error", {}),
        ("protective_stop_after=0.5", "protective_stop", {}),
        # every reply from the episode on stalls 1 s: four times the watchdog, a tenth of the reply timeout
        ("start_after=0.01,slow_ms=1000", "watchdog", {"watchdog_timeout_s": 0.25}),
        ("start_after=0.4,malformed_every=1", "timeout", {"state_max_age_s": 0.5}),
    ],
)
def test_each_fault_fails_the_trial_stops_the_arm_and_keeps_the_store(tmp_path, faults, kind, tight):
    """Each fault is injected; only the limit it must trip is tight, the others have the tests' slack."""
    store = tmp_path / "s.sqlite"
    reps = 2 if kind == "protective_stop" else 1  # recovery (ack) happens before the next trial
    duration = 1.0 if kind == "timeout" else 0.3  # a stale stream is noticed after state_max_age_s
    plan = small_plan(repetitions=reps, duration_s=duration)
    for key, value in tight.items():
        setattr(plan, key, value)
    summary = run_trials(
        plan,
        "fake",
        store,
        use_ray=False,
        faults=faults,
        progress=False,
        judge=AutoJudge(),
    )
    trials = _check_store(store)
    # a fault of the link ends the trial as interrupted (rerun on resume, not counted)
    ended = "interrupted" if kind in ("connection_lost", "timeout") else "failed"
    failed = [t for t in trials if t["status"] == ended]
    assert failed and failed[0]["fault"] == kind
    assert all(t["status"] in ("completed", "failed", "pending", "interrupted") for t in trials)
    assert summary["faults"] == {kind: 1}
    events = TrialStore(store).events(failed[0]["id"])
    assert events[0]["kind"] == kind
    if kind == "protective_stop":
        assert events[1]["kind"] == "ack"
        assert trials[1]["status"] == "completed"  # the next trial ran after the acknowledgement
    assert summary["ran"] >= 1


@pytest.mark.timeout(60)
def test_unreachable_controller_leaves_every_trial_pending(tmp_path):
    summary = run_trials(
        small_plan(slack_s=0),  # the real arm's watchdog is never loosened
        "jaka",
        tmp_path / "s.sqlite",
        port=1,
        state_port=1,
        use_ray=False,
        progress=False,
        judge=AutoJudge(),
        camera="fake",  # the jaka backend takes synthetic images only when asked for by name
    )
    assert summary["stopped"].startswith("cannot connect to the arm")
    assert summary["counts"] == {"pending": 2}


@pytest.mark.timeout(60)
def test_sparse_malformed_records_do_not_fail_trials(tmp_path):
    summary = run_trials(
        small_plan(repetitions=1),
        "fake",
        tmp_path / "s.sqlite",
        use_ray=False,
        faults="malformed_every=7",
        progress=False,
    )
    assert summary["counts"] == {"completed": 1}


@pytest.mark.timeout(60)
def test_unacknowledged_stop_ends_the_batch_with_the_rest_pending(tmp_path):
    store = tmp_path / "s.sqlite"
    summary = run_trials(
        small_plan(repetitions=3),
        "fake",
        store,
        use_ray=False,
        progress=False,
        faults="protective_stop_after=0.5",
        judge=AutoJudge(auto_ack=False),
    )
    assert summary["stopped"] == "protective_stop not acknowledged"
    assert summary["counts"] == {"failed": 1, "pending": 2}


@pytest.mark.timeout(60)
@pytest.mark.sim
def test_sim_backend_runs_and_report_matches_the_store(tmp_path):
    plan = small_plan(policies=2, repetitions=2, duration_s=0.4)
    plan.policies[1].noise = 0.05  # fails often at tolerance 0.03
    store = tmp_path / "s.sqlite"
    summary = run_trials(plan, "sim", store, use_ray=False, progress=False)
    assert summary["counts"] == {"completed": 4}
    data = table_v_dict(store)
    rows = TrialStore(store).subtask_results()
    for policy, row in data["policies"].items():
        for name, cell in row["subtasks"].items():
            mine = [r for r in rows if r["policy"] == policy and r["name"] == name]
            attempts = [r for r in mine if r["outcome"] != "not_attempted"]
            assert cell["attempts"] == len(attempts)
            assert cell["success"] == sum(r["outcome"] == "success" for r in mine)
    assert data["policies"]["p0"]["subtasks"]["open_drawer"]["rate"] == 100.0
    text = table_v(store)
    assert "| p0 | 100.0 (n=2)" in text and "RoboAct-CLIP (Ours) | 66.7 | 60.0 | 58.3 | 71.4 | 64.1" in text
    # trials on the simulated arm never carry the paper's "real-world" title
    assert data["policies"]["p0"]["backends"] == ["sim"]
    assert "measured on the simulated arm (MuJoCo)" in text and "real-world" not in text.split("\n")[0]
    assert text.startswith("### Table V protocol, not the real arm: success rates (%)")


def test_plan_order_interleaves_policies():
    plan = small_plan(policies=2, repetitions=2)
    assert trial_order(plan) == [("p0", "task", 0), ("p1", "task", 0), ("p1", "task", 1), ("p0", "task", 1)]
    shipped = load_plan("trials_demo")
    assert len(trial_order(shipped)) == 4 and len(shipped.tasks[0].subtasks) == 4


RUNNER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from hardware.conftest import small_plan
    from roboact.hardware.trials import run_trials
    run_trials(small_plan(name="resume", repetitions=3, duration_s=0.3), "fake", {store!r}, use_ray=False,
               progress=False)
    """
)


@pytest.mark.timeout(90)
def test_plan_resumes_after_the_runner_is_killed(tmp_path):
    store = tmp_path / "s.sqlite"
    script = tmp_path / "runner.py"
    script.write_text(RUNNER.format(tests=str(Path(__file__).parents[1]), store=str(store)))
    proc = subprocess.Popen([sys.executable, str(script)], start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:  # kill once one trial is done and the next is in flight
            assert time.monotonic() < deadline and proc.poll() is None
            try:
                with sqlite3.connect(store) as db:
                    st = dict(db.execute("SELECT status, COUNT(*) FROM trials GROUP BY status").fetchall())
            except sqlite3.OperationalError:  # the runner has not created the schema yet
                st = {}
            if st.get("completed", 0) >= 1 and st.get("running", 0) == 1:
                break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    before = {t["id"]: t for t in _check_store(store)}
    killed = [t for t in before.values() if t["status"] == "running"]
    assert len(killed) == 1
    summary = run_trials(
        small_plan(name="resume", repetitions=3, duration_s=0.3), "fake", store, use_ray=False, progress=False
    )
    after = {t["id"]: t for t in _check_store(store)}
    assert summary["counts"] == {"completed": 3}
    assert after[killed[0]["id"]]["attempt"] == 2
    assert TrialStore(store).events(killed[0]["id"])[0]["kind"] == "interrupted"
    for tid, t in before.items():  # finished trials were not rerun
        if t["status"] == "completed":
            assert after[tid]["attempt"] == 1
    data = table_v_dict(store)
    assert data["policies"]["p0"]["subtasks"]["open_drawer"]["attempts"] == 3  # a retry never counts twice


def test_a_plan_lengthens_the_watchdog_on_the_fake_arm_but_never_on_the_real_one(tmp_path):
    from roboact.hardware.actor import plan_safety

    from roboact.errors import UserError

    plan = small_plan()  # watchdog 10 s
    assert plan_safety(plan, "fake").watchdog_timeout_s == 10.0
    assert plan_safety(small_plan(slack_s=0), "jaka").watchdog_timeout_s == 0.25  # the robot's own
    with pytest.raises(UserError, match=r"plan t: watchdog_timeout_s 10.0 s is longer than robot jaka_k1's"):
        run_trials(plan, "jaka", tmp_path / "s.sqlite", use_ray=False, progress=False, camera="fake")
    assert not (tmp_path / "s.sqlite").exists()  # refused before the store or the arm
    with pytest.raises(ValueError, match="watchdog_timeout_s must be >= 0"):
        small_plan(slack_s=-1)


@pytest.mark.timeout(60)
def test_a_plan_that_never_looks_at_the_scene_gets_a_fake_controller_without_one():
    """Joint goals judged by joints, no head: no physics or rendering runs beside the control loop."""
    from roboact.hardware.actor import ArmExecutor
    from roboact.hardware.scene_script import needs_scene

    from roboact.config import config_to_dict

    executor = ArmExecutor("fake", config_to_dict(small_plan()))
    try:
        assert executor.fake.scene is None and not executor.has_scene
        assert executor.scene_state() is None
    finally:
        executor.close()
    assert needs_scene(load_plan("trials_demo")) and needs_scene(load_plan("trials_sim_head"))
