"""Where the operator answers the trial runner: the keyboard, or a small web page on 127.0.0.1.

Between trials the runner waits for the operator's scene reset; after each subtask, for the
operator's success mark; after a protective or emergency stop, for an acknowledgement. Both front
ends answer the same three questions (``ask_reset``, ``ask_mark``, ``ask_ack``) and block the
runner until the operator does, however long that takes: an operator may leave the arm for lunch.

``WebMarks`` serves a one-page form with the standard library's ``http.server`` (no dependency),
bound to 127.0.0.1 only (reach it from another machine through an SSH tunnel). The page polls
``GET /state`` and posts JSON:

- ``POST /reset`` ``{"ready": true}`` (the scene is reset, start the trial) or ``{"ready": false}``
  (end the batch here; the rest stays pending);
- ``POST /mark`` ``{"subtask": "pick_tape", "success": true, "notes": "slipped once"}``;
- ``POST /ack`` ``{"ack": true}`` (the stop's cause is cleared) or ``{"ack": false}``.

A malformed answer (not JSON, an unknown field, a subtask that is not the one awaiting its mark, a
``success`` that is not a JSON boolean) is refused with status 400 and a message naming the field,
and the runner keeps waiting. Posts need ``Content-Type: application/json``, which a page from
another site cannot send without the CORS preflight this server never grants.
"""

from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from roboact.errors import UserError

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
"""bytes: a longer request body is refused (a mark is a few dozen)"""
POLL_S = 0.5
"""s: how often a waiting runner wakes to notice Ctrl-C (the answer itself wakes it at once)"""


class MarkError(UserError):
    """An operator's answer the runner cannot take; ``field`` names what is wrong with it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _fields(body: Any, allowed: tuple[str, ...], required: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise MarkError("body", f"must be a JSON object with {', '.join(allowed)}")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise MarkError(unknown[0], f"unknown field; this answer takes {', '.join(allowed)}")
    for key in required:
        if key not in body:
            raise MarkError(key, "missing")
    return body


def _boolean(body: dict[str, Any], key: str) -> bool:
    value = body[key]
    if not isinstance(value, bool):  # 1, "yes", "true" are refused: a mark is never guessed
        raise MarkError(key, f"must be true or false (a JSON boolean), got {json.dumps(value)}")
    return value


def parse_mark(body: Any, awaiting: str, subtasks: list[str]) -> tuple[bool, str]:
    """(success, notes) from a posted mark of the subtask ``awaiting``; ``MarkError`` naming the field."""
    body = _fields(body, ("subtask", "success", "notes"), ("subtask", "success"))
    name = body["subtask"]
    if not isinstance(name, str) or (subtasks and name not in subtasks):
        known = ", ".join(subtasks) or awaiting
        raise MarkError("subtask", f"{json.dumps(name)} is not a subtask of this trial ({known})")
    if name != awaiting:
        raise MarkError("subtask", f"the runner is waiting for the mark of {awaiting}, not {name}")
    success = _boolean(body, "success")
    notes = body.get("notes", "")
    if not isinstance(notes, str):
        raise MarkError("notes", f"must be a string, got {json.dumps(notes)}")
    return success, notes


class KeyboardMarks:
    """The operator answers rich prompts in the runner's terminal."""

    kind = "keyboard"

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console

        self.console = console or Console()

    def ask_reset(self, label: str, subtasks: list[str]) -> bool:
        from rich.prompt import Confirm

        return Confirm.ask(f"[bold]Reset the scene for {label}[/bold]. Ready to start?", console=self.console)

    def ask_mark(self, label: str, subtask: str, instruction: str) -> tuple[bool, str]:
        from rich.prompt import Confirm, Prompt

        ok = Confirm.ask(f"Did subtask [bold]{subtask}[/bold] ({instruction}) succeed?", console=self.console)
        notes = Prompt.ask("Notes (optional)", default="", console=self.console)
        return ok, notes

    def ask_ack(self, fault: str) -> bool:
        from rich.prompt import Prompt

        self.console.print(
            f"[red bold]The arm stopped: {fault}[/red bold]. Clear the cause before continuing."
        )
        answer = Prompt.ask(
            "Type 'ack' to clear the stop and continue, anything else to end the batch", console=self.console
        )
        return answer.strip().lower() == "ack"

    def tell(self, message: str) -> None:
        self.console.print(f"[yellow]{message}[/yellow]")


class WebMarks:
    """The operator answers on a web page this object serves on ``host:port`` (port 0: a free one).

    ``start()`` binds and serves from a daemon thread; ``url`` is the page. ``ask_*`` block the
    calling (runner) thread until the page's answer arrives. ``close()`` stops the server.
    """

    kind = "web"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise UserError(f"--mark-host {host}: the marks page is served on 127.0.0.1 only")
        self.host, self._want_port = host, port
        self._cond = threading.Condition()
        self._question: dict[str, Any] | None = None  # what the runner waits for now
        self._answer: Any = None
        self._seq = 0  # one per question, so a late answer never answers the next one
        self._log: list[dict[str, Any]] = []  # answers taken, newest last (shown on the page)
        self._subtasks: list[str] = []  # the current trial's
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> WebMarks:
        """Bind and serve; ``UserError`` naming the address when the port cannot be bound."""
        handler = type("_Handler", (_Handler,), {"marks": self})
        try:
            self._server = ThreadingHTTPServer((self.host, self._want_port), handler)
        except OSError as err:
            raise UserError(
                f"{self.host}:{self._want_port}: cannot serve the marks page ({err.strerror or err}); "
                "pick another --mark-port, or 0 for a free one"
            ) from err
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="marks-page", daemon=True)
        self._thread.start()
        logger.warning("operator marks page: %s", self.url)
        return self

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("WebMarks: start() first")
        return f"http://{self.host}:{self._server.server_address[1]}/"

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> WebMarks:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the runner's side -----------------------------------------------------------------------

    def ask_reset(self, label: str, subtasks: list[str]) -> bool:
        self._subtasks = list(subtasks)  # a mark must name one of these
        return bool(self._ask({"kind": "reset", "trial": label, "subtasks": self._subtasks}))

    def ask_mark(self, label: str, subtask: str, instruction: str) -> tuple[bool, str]:
        question = {"kind": "mark", "trial": label, "subtask": subtask, "instruction": instruction}
        return self._ask({**question, "subtasks": self._subtasks})

    def ask_ack(self, fault: str) -> bool:
        return bool(self._ask({"kind": "ack", "fault": fault}))

    def tell(self, message: str) -> None:
        with self._cond:
            self._log.append({"message": message})

    def _ask(self, question: dict[str, Any]) -> Any:
        with self._cond:
            self._seq += 1
            self._question, self._answer = {**question, "id": self._seq}, None
            self._cond.notify_all()
            while self._answer is None:
                self._cond.wait(POLL_S)  # wakes on the answer; the timeout only lets Ctrl-C in
            answer, self._question = self._answer, None
            self._log.append({**question, "answer": answer})
            return answer

    # -- the page's side (server threads) -------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """What the page shows: the open question (or null) and the answers so far."""
        with self._cond:
            return {"waiting": self._question, "log": self._log[-50:]}

    def answer(self, kind: str, body: Any) -> dict[str, Any]:
        """Take a posted answer to the open question; ``MarkError`` naming the field if it cannot."""
        with self._cond:
            question = self._question
            if question is None or question["kind"] != kind:
                waiting = "nothing" if question is None else question["kind"]
                raise MarkError(kind, f"the runner is not waiting for a {kind} now (waiting for: {waiting})")
            if kind == "mark":
                value: Any = parse_mark(body, question["subtask"], question.get("subtasks") or [])
            else:
                key = "ready" if kind == "reset" else "ack"
                value = _boolean(_fields(body, (key,), (key,)), key)
            self._answer = value
            self._cond.notify_all()
            return {"ok": True, "answered": question["id"]}


class _Handler(BaseHTTPRequestHandler):
    marks: WebMarks
    server_version = "roboact-marks"

    def log_message(self, fmt: str, *args: Any) -> None:  # the runner's log, not stderr
        logger.debug("marks page: " + fmt, *args)

    def _send(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/":
            self._send(HTTPStatus.OK, PAGE, "text/html; charset=utf-8")
        elif self.path == "/state":
            self._send(HTTPStatus.OK, self.marks.state())
        else:
            self._send(HTTPStatus.NOT_FOUND, {"error": f"no page {self.path}; the page is /"})

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        kind = self.path.strip("/")
        if kind not in ("reset", "mark", "ack"):
            self._send(
                HTTPStatus.NOT_FOUND, {"error": f"no answer {self.path}; post to /reset, /mark or /ack"}
            )
            return
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            self._send(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "Content-Type must be application/json"})
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self._send(
                HTTPStatus.BAD_REQUEST, {"error": f"body: needs a Content-Length of 1-{MAX_BODY} bytes"}
            )
            return
        try:
            body = json.loads(self.rfile.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            self._send(HTTPStatus.BAD_REQUEST, {"error": f"body: not JSON ({err})", "field": "body"})
            return
        try:
            self._send(HTTPStatus.OK, self.marks.answer(kind, body))
        except MarkError as err:
            status = HTTPStatus.CONFLICT if err.field == kind else HTTPStatus.BAD_REQUEST
            self._send(status, {"error": str(err), "field": err.field})


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>RoboAct trial marks</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}button{font-size:1.3em;margin:.3em}
#q{border:2px solid #444;padding:1em;min-height:4em}#err{color:#b00}li{margin:.2em 0}</style></head>
<body><h1>Trial marks</h1><div id="q">connecting...</div><p id="err"></p><h2>Log</h2><ol id="log"></ol>
<script>
let shown = null;
const esc = v => String(v).replace(/[&<>"']/g, c => "&#" + c.charCodeAt(0) + ";");
const val = () => document.getElementById("notes").value;
async function post(kind, body) {
  const r = await fetch("/" + kind, {method: "POST", headers: {"Content-Type": "application/json"},
                                     body: JSON.stringify(body)});
  const j = await r.json();
  document.getElementById("err").textContent = r.ok ? "" : j.error;
}
function buttons(q) {
  if (q.kind === "reset") return `<p>Reset the scene for <b>${esc(q.trial)}</b>.</p>
    <button onclick='post("reset",{ready:true})'>Scene reset: start</button>
    <button onclick='post("reset",{ready:false})'>End the batch</button>`;
  if (q.kind === "mark") return `<p>${esc(q.trial)}: did <b>${esc(q.subtask)}</b> (${esc(q.instruction)})
    succeed?</p><input id="notes" placeholder="notes (optional)" size="40"><br>
    <button onclick='mark(true)'>Success</button> <button onclick='mark(false)'>Failure</button>`;
  return `<p><b>The arm stopped:</b> ${esc(q.fault)}. Clear the cause first.</p>
    <button onclick='post("ack",{ack:true})'>Cause cleared: continue</button>
    <button onclick='post("ack",{ack:false})'>End the batch</button>`;
}
function mark(ok) { post("mark", {subtask: current.subtask, success: ok, notes: val()}); }
let current = null;
async function poll() {
  try {
    const s = await (await fetch("/state")).json();
    const q = s.waiting, id = q ? q.id : null;
    current = q;
    if (id !== shown) {
      shown = id;
      document.getElementById("q").innerHTML = q ? buttons(q) : "The arm is running; wait.";
    }
    const items = s.log.map(e => "<li>" + esc(JSON.stringify(e)) + "</li>");
    document.getElementById("log").innerHTML = items.join("");
  } catch (e) { document.getElementById("q").textContent = "the runner is gone"; }
  setTimeout(poll, 1000);
}
poll();
</script></body></html>
"""
