"""SQLite trial store: every trial and subtask result is written as it happens.

WAL journal with ``synchronous=FULL`` and one transaction per write, so a crash or power cut
loses at most the trial in flight. A trial is keyed by ``(plan, policy, task, repetition)``: a
retry reuses the row (``attempt`` grows) and only the final attempt's subtasks count, so a retry
never counts twice. On start-up ``recover_interrupted`` marks trials left ``running`` by a dead
runner as ``interrupted``; they are pending again and rerun first. A trial ended by a fault of the
link (lost connection, timeout) is marked ``interrupted`` too when the plan retries such faults.

Schema::

    trials(id, plan, policy, task, repetition, seq, status, attempt, fault, notes, backend,
           started_at, finished_at, reset_at, reset_by)      UNIQUE(plan, policy, task, repetition)
        status: pending | running | completed | failed | interrupted
        completed = the trial ran to its end (subtasks may have failed); failed = a fault
        (protective/emergency stop, lost connection, watchdog, controller error) ended it
        reset_at, reset_by: when and by whom the scene was reset before the latest attempt
        (the operator's confirmation; on the simulated arms the judge's name)
    subtasks(trial_id, attempt, idx, name, outcome, notes, steps, duration_s, judged_by,
             recorded_at, marked_at, scene_outcome, scene_notes)   PRIMARY KEY(trial_id, attempt, idx)
        outcome: success | failure | not_attempted (the mark that counts)
        judged_by: who or what marked it (scene, auto, fault, runner, "NAME via keyboard|web")
        scene_outcome, scene_notes: the scene judge's verdict where it ran beside an operator (from
        the scene, or by the joint-goal rule for a subtask the plan judges by its joints)
    events(id, trial_id, t, kind, message)   faults, acknowledgements, interruptions

A file SQLite cannot use (not a database, damaged, locked by another writer, a directory) is a
``TrialStoreError`` naming it, raised from the open and from every method (``_db``); a constraint
violation stays an ``sqlite3.IntegrityError``, because that is a bug of ours, not a bad file.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from roboact.errors import UserError

logger = logging.getLogger(__name__)

PENDING, RUNNING, COMPLETED, FAILED, INTERRUPTED = "pending", "running", "completed", "failed", "interrupted"
SUCCESS, FAILURE, NOT_ATTEMPTED = "success", "failure", "not_attempted"

SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY,
    plan TEXT NOT NULL, policy TEXT NOT NULL, task TEXT NOT NULL, repetition INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'interrupted')),
    attempt INTEGER NOT NULL DEFAULT 0,
    fault TEXT, notes TEXT, backend TEXT, started_at REAL, finished_at REAL,
    reset_at REAL, reset_by TEXT,
    UNIQUE (plan, policy, task, repetition)
);
CREATE TABLE IF NOT EXISTS subtasks (
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    attempt INTEGER NOT NULL, idx INTEGER NOT NULL, name TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'not_attempted')),
    notes TEXT, steps INTEGER, duration_s REAL, judged_by TEXT, recorded_at REAL,
    marked_at REAL, scene_outcome TEXT, scene_notes TEXT,
    PRIMARY KEY (trial_id, attempt, idx)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, trial_id INTEGER, t REAL NOT NULL, kind TEXT NOT NULL, message TEXT
);
"""
ADDED_COLUMNS = {
    "trials": (("reset_at", "REAL"), ("reset_by", "TEXT")),
    "subtasks": (("marked_at", "REAL"), ("scene_outcome", "TEXT"), ("scene_notes", "TEXT")),
}
"""columns newer than the first stores: added in place when an older store is opened, so a batch
started before them resumes in the same file"""


class TrialStoreError(UserError):
    """A trial store SQLite cannot open or read; the message names the file."""


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _db(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run a store method with SQLite's errors about the file itself turned into ``TrialStoreError``."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise  # our SQL or our data, not the file
        except sqlite3.DatabaseError as err:
            path = args[0].path  # type: ignore[attr-defined]
            raise TrialStoreError(f"{path}: not a usable trial store (SQLite: {err})") from err

    return wrapper


class TrialStore:
    """One SQLite file; safe to open from a rerun while nothing else writes it."""

    @_db
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), timeout=10.0, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(SCHEMA)
        for table, columns in ADDED_COLUMNS.items():
            have = {row["name"] for row in self.db.execute(f"PRAGMA table_info({table})")}
            for name, kind in columns:
                if name not in have:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> TrialStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plan ------------------------------------------------------------------------------------

    @_db
    def register_plan(self, plan: str, keys: list[tuple[str, str, int]]) -> int:
        """Insert the plan's trials as pending (existing keys keep their state); returns new rows."""
        with self.transaction() as db:
            before = db.execute("SELECT COUNT(*) FROM trials WHERE plan = ?", (plan,)).fetchone()[0]
            db.executemany(
                "INSERT OR IGNORE INTO trials (plan, policy, task, repetition, seq) VALUES (?, ?, ?, ?, ?)",
                [(plan, p, t, r, seq) for seq, (p, t, r) in enumerate(keys)],
            )
            after = db.execute("SELECT COUNT(*) FROM trials WHERE plan = ?", (plan,)).fetchone()[0]
        return after - before

    @_db
    def recover_interrupted(self, plan: str | None = None) -> int:
        """Mark trials a dead runner left ``running`` as ``interrupted`` (pending again)."""
        where, args = (
            ("status = ?", [RUNNING]) if plan is None else ("status = ? AND plan = ?", [RUNNING, plan])
        )
        with self.transaction() as db:
            rows = db.execute(f"SELECT id FROM trials WHERE {where}", args).fetchall()
            for row in rows:
                db.execute("UPDATE trials SET status = ? WHERE id = ?", (INTERRUPTED, row["id"]))
                db.execute(
                    "INSERT INTO events (trial_id, t, kind, message) VALUES (?, ?, ?, ?)",
                    (row["id"], time.time(), INTERRUPTED, "runner stopped while the trial was in flight"),
                )
        if rows:
            logger.warning("%d trial(s) were interrupted by a crash and will be rerun", len(rows))
        return len(rows)

    @_db
    def pending(self, plan: str) -> list[sqlite3.Row]:
        """Trials still to run (pending or interrupted), in plan order."""
        return self.db.execute(
            "SELECT * FROM trials WHERE plan = ? AND status IN (?, ?) ORDER BY seq",
            (plan, PENDING, INTERRUPTED),
        ).fetchall()

    # -- one trial ---------------------------------------------------------------------------------

    @_db
    def start_trial(self, trial_id: int, backend: str) -> int:
        """Mark the trial running; returns its new attempt number."""
        with self.transaction() as db:
            db.execute(
                "UPDATE trials SET status = ?, attempt = attempt + 1, backend = ?, started_at = ?, "
                "finished_at = NULL, fault = NULL, notes = NULL WHERE id = ?",
                (RUNNING, backend, time.time(), trial_id),
            )
            return int(db.execute("SELECT attempt FROM trials WHERE id = ?", (trial_id,)).fetchone()[0])

    @_db
    def record_subtask(
        self,
        trial_id: int,
        attempt: int,
        idx: int,
        name: str,
        outcome: str,
        notes: str = "",
        steps: int = 0,
        duration_s: float = 0.0,
        judged_by: str = "",
        marked_at: float | None = None,
        scene_outcome: str | None = None,
        scene_notes: str = "",
    ) -> None:
        """One subtask's result; ``scene_outcome`` only where the scene judge ran beside an operator."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO subtasks (trial_id, attempt, idx, name, outcome, notes, steps, "
                "duration_s, judged_by, recorded_at, marked_at, scene_outcome, scene_notes) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (trial_id, attempt, idx, name, outcome, notes, steps, duration_s, judged_by, time.time(),
                 marked_at, scene_outcome, scene_notes),
            )  # fmt: skip

    @_db
    def record_reset(self, trial_id: int, reset_at: float, reset_by: str) -> None:
        """When and by whom the scene was reset before the trial's current attempt."""
        with self.transaction() as db:
            db.execute(
                "UPDATE trials SET reset_at = ?, reset_by = ? WHERE id = ?", (reset_at, reset_by, trial_id)
            )

    @_db
    def finish_trial(self, trial_id: int, status: str, fault: str | None = None, notes: str = "") -> None:
        if status not in (COMPLETED, FAILED):
            raise ValueError(f"finish_trial: status must be completed or failed, got {status!r}")
        with self.transaction() as db:
            db.execute(
                "UPDATE trials SET status = ?, fault = ?, notes = ?, finished_at = ? WHERE id = ?",
                (status, fault, notes, time.time(), trial_id),
            )

    @_db
    def interrupt_trial(self, trial_id: int, fault: str, notes: str = "") -> None:
        """End an attempt as ``interrupted``: pending again and not counted (a fault of the link)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE trials SET status = ?, fault = ?, notes = ?, finished_at = ? WHERE id = ?",
                (INTERRUPTED, fault, notes, time.time(), trial_id),
            )

    @_db
    def event(self, trial_id: int | None, kind: str, message: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO events (trial_id, t, kind, message) VALUES (?, ?, ?, ?)",
                (trial_id, time.time(), kind, message),
            )

    # -- reading -----------------------------------------------------------------------------------

    @_db
    def trials(self, plan: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM trials", ()
        if plan is not None:
            sql, args = sql + " WHERE plan = ?", (plan,)
        return [dict(r) for r in self.db.execute(sql + " ORDER BY plan, seq", args).fetchall()]

    @_db
    def subtask_results(self, plan: str | None = None) -> list[dict[str, Any]]:
        """Subtasks of the final attempt of every finished trial (the rows Table V counts)."""
        sql = (
            "SELECT t.plan, t.policy, t.task, t.repetition, t.status, t.fault, t.reset_at, t.reset_by, "
            "s.idx, s.name, s.outcome, s.notes, s.judged_by, s.marked_at, s.scene_outcome, s.scene_notes "
            "FROM trials t JOIN subtasks s ON s.trial_id = t.id AND s.attempt = t.attempt "
            "WHERE t.status IN ('completed', 'failed')"
        )
        args: tuple = ()
        if plan is not None:
            sql, args = sql + " AND t.plan = ?", (plan,)
        return [dict(r) for r in self.db.execute(sql + " ORDER BY t.seq, s.idx", args).fetchall()]

    @_db
    def events(self, trial_id: int | None = None) -> list[dict[str, Any]]:
        if trial_id is None:
            rows = self.db.execute("SELECT * FROM events ORDER BY id").fetchall()
        else:
            rows = self.db.execute(
                "SELECT * FROM events WHERE trial_id = ? ORDER BY id", (trial_id,)
            ).fetchall()
        return [dict(r) for r in rows]

    @_db
    def counts(self, plan: str | None = None) -> dict[str, int]:
        sql, args = "SELECT status, COUNT(*) AS n FROM trials", ()
        if plan is not None:
            sql, args = sql + " WHERE plan = ?", (plan,)
        return {r["status"]: r["n"] for r in self.db.execute(sql + " GROUP BY status", args).fetchall()}
