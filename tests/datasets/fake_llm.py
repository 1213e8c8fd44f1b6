"""A fake OpenAI-compatible chat-completions server on 127.0.0.1 (real HTTP, real ``openai`` client).

Replies are scripted per request: a JSON content string, a raw body, an HTTP status, or a delay longer
than the client's timeout. With the script empty it answers like DeepSeek would, using the rule
parser, so whole builds can run through the ``llm`` parser. Every request is recorded (path, headers,
body) so tests can count calls and check the key is sent only in the Authorization header.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from roboact.datasets.parse_rules import RuleParser


@dataclass
class Reply:
    content: str | None = None
    """Assistant message content (valid JSON or not)."""
    status: int = 200
    delay: float = 0.0
    """Seconds to wait before answering (beyond the client timeout = a timeout)."""


def completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "deepseek-reasoner",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


def rules_answer(prompt: str) -> str:
    text = prompt.split("in: ", 1)[-1]
    return json.dumps(RuleParser().parse(text).to_json())


@dataclass
class FakeLLM:
    script: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_reply(self, body: dict[str, Any]) -> Reply:
        with self.lock:
            if self.script:
                return self.script.pop(0)
        prompt = body["messages"][-1]["content"]
        return Reply(content=rules_answer(prompt))


def serve(fake: FakeLLM) -> tuple[ThreadingHTTPServer, str]:
    """Start the server on a free port; returns it and its ``/v1`` base URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            with fake.lock:
                fake.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
            if self.path.rstrip("/") != "/v1/chat/completions":
                self.send_error(404)
                return
            reply = fake.next_reply(body)
            if reply.delay:
                time.sleep(reply.delay)
            payload = (
                json.dumps(completion(reply.content or "")).encode()
                if reply.status == 200
                else json.dumps({"error": {"message": "internal error", "type": "server_error"}}).encode()
            )
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # client gave up (timeout test)
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"
