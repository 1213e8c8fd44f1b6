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
