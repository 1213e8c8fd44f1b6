"""A GCS server (gcp-storage-emulator) on 127.0.0.1: the object store of the ``gs://`` storage tests.

The emulator speaks Google Cloud Storage's JSON API over a real socket, and gcsfs reaches it the
standard way, through ``STORAGE_EMULATOR_HOST`` with anonymous credentials, exactly as a bucket would
be reached, so no test opens a socket beyond loopback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from roboact import storage


@contextmanager
def loopback_gcs() -> Iterator[str]:
    """Serve GCS (in memory) on a free loopback port for the block; yields ``http://host:port``."""
    from gcp_storage_emulator.server import create_server

    server = create_server("127.0.0.1", 0, in_memory=True)
    server.start()  # returns once the HTTP server is bound and serving
    try:
        # port 0 lets the OS pick a free port; the emulator keeps its HTTPServer on its API thread
        httpd = server._api._httpd
        host, port = httpd.server_address[:2]
        httpd.handle_error = _quiet_hangups(httpd.handle_error)
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _quiet_hangups(handle_error: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    """The server's error handler, silent when the client hung up before the reply was written.

    Why: gcsfs closes a connection once it has what it asked for, and socketserver then prints a
    ``BrokenPipeError`` traceback into the test output for a request that went as planned.
    """

    def handle(request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
            return
        handle_error(request, client_address)

    return handle


def use_bucket(monkeypatch: pytest.MonkeyPatch, endpoint: str, bucket: str) -> str:
    """Export the emulator's address (subprocesses and actors inherit it), create ``bucket``; its URI."""
    monkeypatch.setenv(storage.GCS_EMULATOR_ENV, endpoint)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    fs, _ = storage.filesystem(f"gs://{bucket}")
    if not fs.exists(bucket):
        fs.mkdir(bucket)
    return f"gs://{bucket}"
