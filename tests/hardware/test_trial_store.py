"""The SQLite trial store: idempotent plans, interrupted trials, only the final attempt counts."""

from __future__ import annotations

import pytest
from roboact.hardware.trial_store import TrialStore


def test_retry_of_an_interrupted_trial_never_counts_twice(tmp_path):
    path = tmp_path / "s.sqlite"
    keys = [("a", "task", 0), ("b", "task", 0)]
    with TrialStore(path) as store:
        assert store.register_plan("p", keys) == 2
        assert store.register_plan("p", keys) == 0  # idempotent
        first = store.pending("p")[0]["id"]
        attempt = store.start_trial(first, "fake")
        store.record_subtask(first, attempt, 0, "open_drawer", "failure")
    with TrialStore(path) as store:  # a new runner after a crash
        assert store.recover_interrupted("p") == 1
        assert [r["status"] for r in store.pending("p")] == ["interrupted", "pending"]
        attempt = store.start_trial(first, "fake")
        assert attempt == 2
        store.record_subtask(first, attempt, 0, "open_drawer", "success")
        store.finish_trial(first, "completed")
        rows = store.subtask_results("p")
        assert [(r["policy"], r["outcome"]) for r in rows] == [("a", "success")]
        assert [e["kind"] for e in store.events(first)] == ["interrupted"]
        assert store.counts("p") == {"completed": 1, "pending": 1}


def test_finish_rejects_an_unknown_status(tmp_path):
    with TrialStore(tmp_path / "s.sqlite") as store:
        store.register_plan("p", [("a", "t", 0)])
        with pytest.raises(ValueError, match="completed or failed"):
            store.finish_trial(1, "done")


OLD_SCHEMA = """
CREATE TABLE trials (id INTEGER PRIMARY KEY, plan TEXT NOT NULL, policy TEXT NOT NULL, task TEXT NOT NULL,
    repetition INTEGER NOT NULL, seq INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
    attempt INTEGER NOT NULL DEFAULT 0, fault TEXT, notes TEXT, backend TEXT, started_at REAL,
    finished_at REAL, UNIQUE (plan, policy, task, repetition));
CREATE TABLE subtasks (trial_id INTEGER NOT NULL REFERENCES trials(id), attempt INTEGER NOT NULL,
    idx INTEGER NOT NULL, name TEXT NOT NULL, outcome TEXT NOT NULL, notes TEXT, steps INTEGER,
    duration_s REAL, judged_by TEXT, recorded_at REAL, PRIMARY KEY (trial_id, attempt, idx));
INSERT INTO trials VALUES (1, 'p', 'a', 'task', 0, 0, 'completed', 1, NULL, '', 'jaka', 1.0, 2.0);
INSERT INTO trials (id, plan, policy, task, repetition, seq) VALUES (2, 'p', 'a', 'task', 1, 1);
INSERT INTO subtasks VALUES (1, 1, 0, 'open_drawer', 'success', '', 10, 0.1, 'operator', 1.5);
"""


def test_a_store_from_before_the_operator_columns_resumes_with_its_results_intact(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
    with TrialStore(path) as store:
        assert [r["outcome"] for r in store.subtask_results("p")] == ["success"]  # kept
        second = store.pending("p")[0]["id"]
        attempt = store.start_trial(second, "jaka")
        store.record_reset(second, 3.0, "ana via web")
        store.record_subtask(second, attempt, 0, "open_drawer", "failure", "", 5, 0.1, "ana via web",
                             marked_at=4.0, scene_outcome=None)  # fmt: skip
        store.finish_trial(second, "completed")
        rows = store.subtask_results("p")
    assert [(r["reset_by"], r["judged_by"], r["marked_at"]) for r in rows] == [
        (None, "operator", None),
        ("ana via web", "ana via web", 4.0),
    ]
