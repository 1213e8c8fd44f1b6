"""An S3-compatible server (moto) on 127.0.0.1: the object store of the storage and cluster tests.

moto speaks the real S3 protocol over a real socket, reached through s3fs exactly as a bucket
would be (endpoint from ``AWS_ENDPOINT_URL``), so no test opens a socket beyond loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from roboact import storage


@contextmanager
def loopback_s3() -> Iterator[str]:
    """Serve S3 on a free loopback port for the block; yields the endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def use_bucket(monkeypatch: pytest.MonkeyPatch, endpoint: str, bucket: str) -> str:
    """Export the endpoint and dummy keys (subprocesses inherit them), create ``bucket``; its URI."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    fs, _ = storage.filesystem(f"s3://{bucket}")
    if not fs.exists(bucket):
        fs.mkdir(bucket)
    return f"s3://{bucket}"


def bucket_fixture(name: str) -> Any:
    """A function-scoped pytest fixture yielding the URI of bucket ``name`` on its own loopback S3
    server, endpoint and dummy keys exported (subprocesses inherit them). Assign it in a module:
    ``s3_bucket = bucket_fixture("twonode")``."""

    @pytest.fixture
    def s3_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
        with loopback_s3() as endpoint:
            yield use_bucket(monkeypatch, endpoint, name)

    return s3_bucket
