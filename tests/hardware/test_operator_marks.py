"""The operator flow: scene resets and success marks on the keyboard or a 127.0.0.1 web page, stored."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from roboact.hardware.judge import OperatorJudge, SceneJudge, make_judge
from roboact.hardware.operator_ui import MarkError, WebMarks, parse_mark
from roboact.hardware.trial_store import TrialStore
from roboact.hardware.trials import run_trials

from roboact.errors import UserError

from .conftest import small_plan

HANG_GUARD_S = 60.0  # a deadline against hangs only: every wait below ends on an event, not a time


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "state", timeout=HANG_GUARD_S) as reply:
        return json.loads(reply.read())


def _post(url: str, kind: str, body: Any, content_type: str = "application/json") -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url + kind, data=data, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=HANG_GUARD_S) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _next_question(url: str, after: int, done: Callable[[], bool] = lambda: False) -> dict | None:
    """The page's next open question (id above ``after``), or None once ``done()``."""
    deadline = time.monotonic() + HANG_GUARD_S
    while time.monotonic() < deadline:
        q = _get(url)["waiting"]
        if q is not None and q["id"] > after:
            return q
        if done():
            return None
        time.sleep(0.02)
    raise AssertionError("the runner asked nothing")


def _drive(url: str, answer: Callable[[dict], Any], done: Callable[[], bool]) -> list[dict]:
    """Answer every question the page asks until ``done()``; returns the questions."""
    asked, last = [], 0
    while (q := _next_question(url, last, done)) is not None:
        asked.append(q)
        last = q["id"]
        body = answer(q)
        if body is None:  # leave this one open
            return asked
        status, reply = _post(url, q["kind"], body)
        assert status == 200, reply
    return asked


def _operator(q: dict, fail: tuple[str, str] | None = None) -> dict:
    """The test's operator: ready at every reset, success on every mark except ``fail`` (trial, subtask)."""
    if q["kind"] == "reset":
        return {"ready": True}
    ok = fail is None or not (q["trial"].startswith(fail[0]) and q["subtask"] == fail[1])
    return {"subtask": q["subtask"], "success": ok, "notes": "" if ok else "tape knocked over"}


def _in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            out["error"] = err

    thread = threading.Thread(target=run, daemon=True)  # a runner stuck on a question dies with pytest
    thread.start()
    return thread, out


@pytest.mark.timeout(90)
def test_a_batch_marked_on_the_web_page_stores_the_marks_beside_the_scene_judges(tmp_path):
    store = tmp_path / "s.sqlite"
    with WebMarks() as page:
        judge = OperatorJudge(page, scene=SceneJudge(), operator="ana")
        thread, out = _in_thread(
            lambda: run_trials(
                small_plan(repetitions=2), "fake", store, use_ray=False, progress=False, judge=judge
            )
        )
        asked = _drive(
            page.url, lambda q: _operator(q, fail=("trial 2", "pick_tape")), lambda: not thread.is_alive()
        )
        thread.join(HANG_GUARD_S)
    assert "error" not in out, out.get("error")
    assert out["value"]["counts"] == {"completed": 2}
    assert [q["kind"] for q in asked] == ["reset", "mark", "mark"] * 2
    assert asked[0]["subtasks"] == ["open_drawer", "pick_tape"]
    with TrialStore(store) as s:
        trials, rows = s.trials(), s.subtask_results()
    assert all(t["reset_by"] == "ana via web" and t["reset_at"] <= t["finished_at"] for t in trials)
    assert [r["outcome"] for r in rows] == ["success", "success", "success", "failure"]
    assert {r["judged_by"] for r in rows} == {"ana via web"}
    assert all(r["marked_at"] >= r["reset_at"] for r in rows)
    # the scene judge ran beside the operator (these subtasks are judged by their joint goals): the
    # arm reached every goal, so it disagrees with the operator's failure mark, which counts
    assert [r["scene_outcome"] for r in rows] == ["success"] * 4
    assert rows[3]["notes"] == "tape knocked over" and "max joint error" in rows[3]["scene_notes"]


@pytest.mark.timeout(60)
def test_malformed_answers_are_refused_naming_the_field_and_the_runner_keeps_waiting():
    with WebMarks() as page:
        url = page.url
        thread, out = _in_thread(lambda: page.ask_reset("trial 1", ["open_drawer", "pick_tape"]))
        q = _next_question(url, 0)
        assert q["kind"] == "reset"
        assert _post(url, "mark", {"subtask": "open_drawer", "success": True})[0] == 409  # not asked yet
        status, err = _post(url, "reset", {"ready": "yes"})
        assert status == 400 and err["field"] == "ready" and 'got "yes"' in err["error"]
        assert _post(url, "reset", {"ready": True})[0] == 200
        thread.join(HANG_GUARD_S)
        assert out["value"] is True

        thread, out = _in_thread(lambda: page.ask_mark("trial 1", "open_drawer", "open the drawer"))
        _next_question(url, q["id"])
        bad = [
            ({"subtask": "fly_away", "success": True}, "subtask", "is not a subtask of this trial"),
            ({"subtask": "pick_tape", "success": True}, "subtask", "waiting for the mark of open_drawer"),
            ({"subtask": "open_drawer", "success": "true"}, "success", "must be true or false"),
            ({"subtask": "open_drawer", "success": 1}, "success", "got 1"),
            ({"subtask": "open_drawer"}, "success", "missing"),
            ({"subtask": "open_drawer", "success": True, "grade": 3}, "grade", "unknown field"),
            ({"subtask": "open_drawer", "success": True, "notes": 5}, "notes", "must be a string"),
            ([True], "body", "JSON object"),
        ]
        for body, field, words in bad:
            status, err = _post(url, "mark", body)
            assert (status, err["field"]) == (400, field) and words in err["error"], (body, err)
            assert err["error"].startswith(f"{field}: ")
        assert _post(url, "mark", b"{not json")[1]["field"] == "body"
        assert _post(url, "mark", {"subtask": "open_drawer", "success": True}, "text/plain")[0] == 415
        assert thread.is_alive()  # none of that answered the question
        assert (
            _post(url, "mark", {"subtask": "open_drawer", "success": False, "notes": "half open"})[0] == 200
        )
        thread.join(HANG_GUARD_S)
    assert out["value"] == (False, "half open")
    with pytest.raises(MarkError, match="^success: must be true or false") as err:
        parse_mark({"subtask": "open_drawer", "success": "no"}, "open_drawer", ["open_drawer"])
    assert isinstance(err.value, UserError) and err.value.field == "success"


def test_who_marks_by_default_and_what_is_refused():
    jaka = make_judge("jaka")
    assert jaka.name == "operator via keyboard" and jaka.scene is None  # no scene on the real arm
    assert make_judge("fake").name == "scene" and make_judge("sim").name == "scene"
    assert make_judge("sim", "operator", operator="ana").scene is not None  # both verdicts kept
    with pytest.raises(UserError, match="--marks scene: the real arm has no scene state"):
        make_judge("jaka", "scene")
    with pytest.raises(UserError, match="--marks 'auto'"):
        make_judge("fake", "auto")
    with pytest.raises(UserError, match="127.0.0.1 only"):
        WebMarks(host="0.0.0.0")


RUNNER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from hardware.conftest import small_plan
    from roboact.hardware.judge import OperatorJudge, SceneJudge
    from roboact.hardware.operator_ui import WebMarks
    from roboact.hardware.trials import run_trials
    page = WebMarks().start()
    print(page.url, flush=True)
    run_trials(small_plan(name="marked", repetitions=3), "fake", {store!r}, use_ray=False, progress=False,
               judge=OperatorJudge(page, scene=SceneJudge(), operator="ana"))
    """
)


@pytest.mark.timeout(120)
def test_a_marked_batch_resumes_after_a_kill_without_asking_again_for_finished_trials(tmp_path):
    store = tmp_path / "s.sqlite"
    script = tmp_path / "runner.py"
    script.write_text(RUNNER.format(tests=str(Path(__file__).parents[1]), store=str(store)))
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url

        def until_trial_2_awaits_its_second_mark(q: dict) -> dict | None:
            if q["kind"] == "mark" and q["trial"].startswith("trial 2") and q["subtask"] == "pick_tape":
                return None  # the operator walks away; the runner is killed while it waits
            return _operator(q)

        first = _drive(url, until_trial_2_awaits_its_second_mark, lambda: proc.poll() is not None)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(HANG_GUARD_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert [q["trial"][:7] for q in first if q["kind"] == "reset"] == ["trial 1", "trial 2"]
    with sqlite3.connect(store) as db:
        status = dict(db.execute("SELECT seq, status FROM trials").fetchall())
    assert status == {0: "completed", 1: "running", 2: "pending"}

    with WebMarks() as page:
        judge = OperatorJudge(page, scene=SceneJudge(), operator="ana")
        thread, out = _in_thread(
            lambda: run_trials(
                small_plan(name="marked", repetitions=3),
                "fake",
                store,
                use_ray=False,
                progress=False,
                judge=judge,
            )
        )
        again = _drive(page.url, _operator, lambda: not thread.is_alive())
        thread.join(HANG_GUARD_S)
    assert "error" not in out, out.get("error")
    assert [q["trial"][:7] for q in again if q["kind"] == "reset"] == ["trial 2", "trial 3"]  # not trial 1
    with TrialStore(store) as s:
        trials = {t["seq"]: t for t in s.trials()}
        rows = s.subtask_results()
    assert [trials[k]["attempt"] for k in range(3)] == [1, 2, 1]  # only the killed trial ran again
    assert len(rows) == 6 and {r["judged_by"] for r in rows} == {"ana via web"}
    assert all(t["status"] == "completed" and t["reset_by"] == "ana via web" for t in trials.values())


def test_the_cli_refuses_scene_marks_on_the_real_arm_before_connecting(tmp_path):
    from typer.testing import CliRunner

    from roboact.cli import app

    store = tmp_path / "s.sqlite"
    args = ["hardware", "trials", "--plan", "trials_demo", "--backend", "jaka", "--camera", "opencv"]
    res = CliRunner().invoke(app, [*args, "--store", str(store), "--marks", "scene", "--port", "1"])
    assert res.exit_code == 2 and "the real arm has no scene state" in res.output
    res = CliRunner().invoke(app, [*args, "--store", str(store), "--mark-ui", "phone"])
    assert res.exit_code == 2 and "--mark-ui must be keyboard or web" in res.output
    assert not store.exists()
