"""A GCS server (gcp-storage-emulator) on 127.0.0.1: the object store of the ``gs://`` storage tests.

The emulator speaks Google Cloud Storage's JSON API over a real socket, and gcsfs reaches it the
standard way, through ``STORAGE_EMULATOR_HOST`` with anonymous credentials, exactly as a bucket would
be reached, so no test opens a socket beyond loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
        host, port = server._api._httpd.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def use_bucket(monkeypatch: pytest.MonkeyPatch, endpoint: str, bucket: str) -> str:
    """Export the emulator's address (subprocesses and actors inherit it), create ``bucket``; its URI."""
    monkeypatch.setenv(storage.GCS_EMULATOR_ENV, endpoint)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    fs, _ = storage.filesystem(f"gs://{bucket}")
    if not fs.exists(bucket):
        fs.mkdir(bucket)
    return f"gs://{bucket}"
