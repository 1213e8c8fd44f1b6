"""roboact.storage with ``gs://`` URIs: what only Google Cloud Storage has.

The behaviours both object stores share (staging, folders, missing URIs, open_file, mirrored run
directories, features extract into a bucket) run for ``gs://`` too, through the ``bucket`` fixture
of tests/core/test_storage.py. Here: gcsfs reaches gcp-storage-emulator on 127.0.0.1 through
``STORAGE_EMULATOR_HOST`` (and actors inherit it), and an unreachable endpoint is one line naming it.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from roboact import storage
from tests.core import test_storage as storage_fixtures

gcs_endpoint = storage_fixtures.gcs_endpoint  # a loopback GCS server for this module (fixture)
gs = storage_fixtures.gs  # a bucket URI on it, env pointed at it (fixture)


@pytest.mark.timeout(60)
def test_the_emulator_is_reached_through_storage_emulator_host(gs: str, gcs_endpoint: str) -> None:
    fs, path = storage.filesystem(f"{gs}/x.h5")
    assert path == f"{storage_fixtures.BUCKET}/{gs.rsplit('/', 1)[-1]}/x.h5"
    assert fs._location == gcs_endpoint  # not storage.googleapis.com
    assert storage.actor_env()[storage.GCS_EMULATOR_ENV] == gcs_endpoint  # actors reach it too


@pytest.mark.timeout(60)
def test_an_unreachable_endpoint_is_one_line_naming_the_uri_and_the_variable(
    gcs_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gcsfs.retry

    async def no_wait(_seconds: float) -> None:
        return None

    # gcsfs retries a refused connection 6 times with exponential backoff (~30 s); skip the waits
    monkeypatch.setattr(gcsfs.retry, "asyncio", SimpleNamespace(sleep=no_wait))
    monkeypatch.setenv(storage.GCS_EMULATOR_ENV, "127.0.0.1:1")  # nothing listens on port 1
    with pytest.raises(storage.StorageError) as err:
        storage.exists("gs://b/f.h5")
    message = str(err.value)
    assert message.startswith("gs://b/f.h5: could not") and "\n" not in message
    assert storage.GCS_EMULATOR_ENV in message
