"""One storage layer: every input and output path may be a local path or an ``s3://`` / ``gs://`` URI.

Why one module: on a cluster whose nodes share no disk, a path that only the driver's node has is
useless to an actor on another node, and a hand-rolled ``Path(uri)`` silently turns ``s3://b/f.h5``
into the local ``s3:/b/f.h5``. Everything here goes through fsspec (``s3fs`` for ``s3://``, ``gcsfs``
for ``gs://``), so credentials and endpoints come from the providers' standard settings:
``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` or an instance role for S3;
``GOOGLE_APPLICATION_CREDENTIALS`` (or the node's service account) and, for an emulator such as the
tests' ``gcp-storage-emulator``, ``STORAGE_EMULATOR_HOST`` for GCS.

Local paths pass through unchanged and are never copied. Remote inputs that are read with random
access (HDF5 stores, policy directories) are staged once per node with ``local_copy`` into a cache
(``ROBOACT_CACHE`` or ``~/.cache/roboact``, under ``staged/``), keyed by URI and checked against the
remote's ETags (or size and modification time), so a rerun reuses the copy and a changed remote is
fetched again. Outputs go through ``mirror``: written in a node-local working copy whose ``sync``
uploads what changed as each piece of work finishes (an episode, a trial, a clip), so the bucket
holds the finished work while the command runs and a rerun on any node resumes from it.

``check_shareable`` is the fail-fast rule for multi-node clusters: a plain local path handed to
another node is refused, naming the option that fixes it, unless the user says it lies on a
filesystem every node mounts (``--shared-fs`` or ``ROBOACT_SHARED_FS=1``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from roboact.errors import UserError

logger = logging.getLogger(__name__)

CACHE_ENV = "ROBOACT_CACHE"
"""root of roboact's per-node caches (default ``~/.cache/roboact``); staged copies live in ``staged/``"""
GCS_EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
"""``host:port`` (or ``http://host:port``) of a GCS emulator: the Google clients' standard variable"""
SHARED_FS_ENV = "ROBOACT_SHARED_FS"
"""set to 1: plain local paths lie on a filesystem every node mounts (NFS, EFS, a PVC)"""
_URI = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
_VERSION_FILE = ".roboact-staged.json"


class StorageError(UserError, OSError):
    """A URI that does not exist, cannot be reached, or whose credentials were refused.

    A ``UserError`` (one line, exit 2 from the CLI); an ``OSError`` for callers that catch those.
    """


def scheme(uri: str | os.PathLike[str]) -> str:
    """The URI's scheme (``s3``, ``gs``), or ``""`` for a plain path (and for ``file://``)."""
    match = _URI.match(str(uri))
    name = match.group(1).lower() if match else ""
    return "" if name == "file" else name


def is_remote(uri: str | os.PathLike[str] | None) -> bool:
    """True for ``s3://``, ``gs://`` and other fsspec URIs; False for plain and ``file://`` paths."""
    return uri is not None and bool(scheme(uri))


def resolve(uri: str | os.PathLike[str]) -> str:
    """A URI unchanged, a local path made absolute: what the driver hands to actors and workers.

    Why: an actor does not share the driver's working directory (nor, on a cluster, its node), so a
    relative path would name another file there.
    """
    text = str(uri)
    if is_remote(text):
        return text
    if text.startswith("file://"):
        text = text[len("file://") :]
    return str(Path(text).expanduser().absolute())


def join(uri: str | os.PathLike[str], *parts: str) -> str:
    """``uri/part/...`` for a URI (always ``/``), ``Path(uri, *parts)`` as a string for a local path."""
    text = str(uri)
    if not is_remote(text):
        return str(Path(text, *parts))
    return "/".join([text.rstrip("/"), *(p.strip("/") for p in parts if p)])


def filesystem(uri: str | os.PathLike[str]) -> tuple[Any, str]:
    """``(fsspec filesystem, path inside it)`` for ``uri``.

    Raises:
        StorageError: the scheme needs a package that is not installed (``gs://`` without gcsfs),
            naming the URI and the package.
    """
    import fsspec.core

    text = str(uri)
    if scheme(text) in ("gs", "gcs") and os.environ.get(GCS_EMULATOR_ENV):
        return _emulated_gcs(text, os.environ[GCS_EMULATOR_ENV])
    options: dict[str, Any] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if scheme(text) in ("s3", "s3a") and endpoint:
        # botocore reads the variable itself; passing it keys fsspec's instance cache on it too, so a
        # changed endpoint in one process never reuses a client bound to the old one
        options["endpoint_url"] = endpoint
    try:
        return fsspec.core.url_to_fs(text, **options)
    except ImportError as err:
        raise StorageError(
            f"{text}: the {scheme(text)}:// scheme needs a package that is not installed ({err}); "
            "for gs:// run `pip install gcsfs`"
        ) from None
    except ValueError as err:  # an unknown protocol
        raise StorageError(f"{text}: {err}") from None


def _emulated_gcs(uri: str, host: str) -> tuple[Any, str]:
    """``(gcsfs filesystem, path)`` for a ``gs://`` URI served by the emulator at ``host``.

    Why not fsspec's default ``gs`` class: since 2026 it is gcsfs's ``ExtendedGcsFileSystem``, which
    asks the gRPC storage-control API for each bucket's layout; an emulator serves only the JSON
    API, so every call would wait out a 60 s gRPC timeout. Credentials: ``anon`` unless
    ``GOOGLE_APPLICATION_CREDENTIALS`` names a key file, because the default chain would otherwise
    probe the GCE metadata server, a socket beyond the emulator.
    """
    try:
        from gcsfs.core import GCSFileSystem
    except ImportError as err:
        raise StorageError(
            f"{uri}: the gs:// scheme needs gcsfs, which is not installed ({err}); run `pip install gcsfs`"
        ) from None
    endpoint = host if host.startswith(("http://", "https://")) else f"http://{host}"
    token = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or "anon"
    # the endpoint in the arguments keys fsspec's instance cache, as for S3 above
    fs = GCSFileSystem(token=token, endpoint_url=endpoint)
    return fs, fs._strip_protocol(uri)


def ray_storage(uri: str | os.PathLike[str]) -> tuple[str, Any | None]:
    """``(storage_path, storage_filesystem)`` for a Ray Train / Tune ``RunConfig`` (and restores).

    Why: Ray opens a ``gs://`` storage path with Arrow's own GCS client, which neither reads
    ``STORAGE_EMULATOR_HOST`` nor the gcsfs credentials every other roboact path uses (against the
    emulator its first write never returns). So ``gs://`` goes through the same gcsfs filesystem as
    the rest, wrapped for Arrow; the path is then the bucket-relative one. ``s3://`` and local paths
    stay with Ray's own handling (Arrow's S3 client reads ``AWS_ENDPOINT_URL`` itself).

    The filesystem is a fresh instance without gcsfs's listing cache: Ray looks for a checkpoint
    right after another process (a worker, the Train controller) uploaded it, and a listing this
    process cached before would hide it.
    """
    text = str(uri)
    if scheme(text) not in ("gs", "gcs"):
        return text, None
    import pyarrow.fs

    shared, path = filesystem(text)
    options = {**shared.storage_options, "use_listings_cache": False, "skip_instance_cache": True}
    fs = type(shared)(*shared.storage_args, **options)
    return path, pyarrow.fs.PyFileSystem(pyarrow.fs.FSSpecHandler(fs))


def arrow_filesystem(uri: str | os.PathLike[str]) -> tuple[str, Any]:
    """``(path, pyarrow filesystem)`` for reading ``uri`` from Ray tasks on any node (Ray Data).

    Why not a scheme that each task resolves itself: Ray Data runs some of its tasks (``ListFiles``)
    with no runtime environment of the caller's, in workers that have their node's environment, so a
    driver pointed at an S3-compatible endpoint by ``AWS_ENDPOINT_URL`` would send them to AWS. The
    filesystem object carries the driver's endpoint, region and keys (when set; else each node's own
    credential chain applies) to every task; it is pickled into Ray's object store, never logged.
    ``gs://`` uses ``ray_storage``'s gcsfs wrapper, which carries its settings the same way.
    """
    text = str(uri)
    if scheme(text) not in ("s3", "s3a"):
        path, fs = ray_storage(text)
        if fs is None:
            raise StorageError(f"{text}: not an s3:// or gs:// URI")
        return path, fs
    import pyarrow.fs

    env = os.environ
    options: dict[str, Any] = {}
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        proto, _, host = endpoint.partition("://")
        options.update({"endpoint_override": host or proto, "scheme": proto if host else "https"})
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        options.update(access_key=env["AWS_ACCESS_KEY_ID"], secret_key=env["AWS_SECRET_ACCESS_KEY"])
        if env.get("AWS_SESSION_TOKEN"):
            options["session_token"] = env["AWS_SESSION_TOKEN"]
    return text.split("://", 1)[1], pyarrow.fs.S3FileSystem(**options)


@contextmanager
def _errors(uri: str, action: str) -> Iterator[None]:
    """Turn the providers' failures into one-line ``StorageError``s that name the URI."""
    try:
        yield
    except StorageError:
        raise
    except FileNotFoundError:
        raise StorageError(f"{uri}: no such file or folder ({action})") from None
    except PermissionError as err:
        raise StorageError(
            f"{uri}: access denied while trying to {action} ({err}); check the credentials "
            "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the instance role for s3://, "
            "GOOGLE_APPLICATION_CREDENTIALS for gs://) and the endpoint"
        ) from None
    except Exception as err:
        module = type(err).__module__.split(".")[0]
        if module in ("botocore", "aiobotocore", "google", "gcsfs", "s3fs", "aiohttp"):
            # no credentials, an unreachable endpoint, an expired token: the provider's words, one line
            reason = " ".join(str(err).split())[:300]
            raise StorageError(
                f"{uri}: could not {action}: {type(err).__name__}: {reason} ({_settings_hint(uri)})"
            ) from None
        raise


def _settings_hint(uri: str) -> str:
    """Which environment variables set the credentials and endpoint for ``uri``'s scheme."""
    if scheme(uri) in ("gs", "gcs"):
        return (
            "credentials come from GOOGLE_APPLICATION_CREDENTIALS or the node's service account, "
            f"the endpoint from {GCS_EMULATOR_ENV} for an emulator"
        )
    return "credentials and endpoint come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_ENDPOINT_URL"


def exists(uri: str | os.PathLike[str]) -> bool:
    """Whether a file or folder exists at ``uri`` (local or remote)."""
    text = str(uri)
    if not is_remote(text):
        return Path(resolve(text)).exists()
    fs, path = filesystem(text)
    with _errors(text, "check whether it exists"):
        fs.invalidate_cache()
        return bool(fs.exists(path))


def is_dir(uri: str | os.PathLike[str]) -> bool:
    """Whether ``uri`` is a folder (an object-store prefix with objects under it counts)."""
    text = str(uri)
    if not is_remote(text):
        return Path(resolve(text)).is_dir()
    fs, path = filesystem(text)
    with _errors(text, "check whether it is a folder"):
        fs.invalidate_cache()
        return bool(fs.isdir(path))


def open_file(uri: str | os.PathLike[str], mode: str = "rb", **kwargs: Any) -> Any:
    """Open ``uri`` for reading or writing; a context manager giving a file object.

    Writes to an object store become visible when the file is closed. Use it for small files
    (JSON, YAML, reports); large random-access files (HDF5) go through ``local_copy``/``upload``.

    Raises:
        StorageError: the file is missing (when reading) or access was refused, naming ``uri``.
    """
    text = str(uri)
    if "r" in mode and not exists(text):
        raise StorageError(f"{text}: no such file")
    if not is_remote(text) and any(m in mode for m in "wax"):
        Path(resolve(text)).parent.mkdir(parents=True, exist_ok=True)
    fs, path = filesystem(text)  # the same client (endpoint, credentials) as every other call here
    with _errors(text, "open it"):
        return fs.open(path, mode, **kwargs)


def cache_root() -> Path:
    """Where per-node copies of remote files live: ``$ROBOACT_CACHE`` or ``~/.cache/roboact``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "roboact").expanduser()


def _key(uri: str) -> str:
    return hashlib.sha1(uri.rstrip("/").encode()).hexdigest()[:16]


def _base_name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1] or "root"


def remote_version(uri: str) -> str:
    """A fingerprint of what ``uri`` holds now: ETags (or size and modification time) of its files.

    Why not a content hash: it would mean reading the whole object to decide whether to read it.
    Object stores give every object an ETag that changes when its content does.
    """
    fs, path = filesystem(uri)
    with _errors(uri, "list it"):
        fs.invalidate_cache()  # another node may have rewritten it since this process last looked
        info = fs.info(path)  # one request: FileNotFoundError when absent
        if info.get("type") == "directory":
            infos = fs.find(path, detail=True)
            prefix = path.rstrip("/") + "/"
            entries = sorted(
                (name[len(prefix) :] if name.startswith(prefix) else name, _stamp(meta))
                for name, meta in infos.items()
            )
            if not entries:
                raise StorageError(f"{uri}: an empty folder")
            kind = "dir"
        else:
            entries = [("", _stamp(info))]
            kind = "file"
    return kind + ":" + hashlib.sha1(json.dumps(entries).encode()).hexdigest()


def _stamp(info: Mapping[str, Any]) -> str:
    """One object's identity: its ETag when the store gives one, else size and modification time."""
    for key in ("ETag", "etag", "md5Hash", "crc32c"):
        if info.get(key):
            return str(info[key]).strip('"')
    mtime = info.get("LastModified") or info.get("mtime") or info.get("updated") or info.get("created")
    return f"{info.get('size')}:{mtime}"


def local_copy(uri: str | os.PathLike[str]) -> Path:
    """A local path holding ``uri``'s file or folder; for a local path, the path itself (no copy).

    A remote URI is downloaded once per node into ``<cache_root>/staged/<key>/<name>`` and reused
    while its remote version (``remote_version``) is unchanged; a changed remote is fetched again.
    The download goes to a temporary folder that is renamed into place, under a per-URI lock, so
    concurrent actors on one node stage it once and never see half a copy.

    Raises:
        StorageError: ``uri`` does not exist (local or remote), or the store refused access.
    """
    text = str(uri)
    if not is_remote(text):
        path = Path(resolve(text))
        if not path.exists():
            raise StorageError(f"{text}: no such file or folder")
        return path
    from filelock import FileLock

    slot = cache_root() / "staged" / _key(text)
    slot.mkdir(parents=True, exist_ok=True)
    target = slot / _base_name(text)
    marker = slot / _VERSION_FILE
    with FileLock(str(slot) + ".lock"):
        version = remote_version(text)
        if target.exists() and marker.is_file():
            saved = json.loads(marker.read_text())
            if saved.get("version") == version and saved.get("uri") == text:
                return target
        fs, path = filesystem(text)
        tmp = Path(tempfile.mkdtemp(prefix=".staging-", dir=slot))
        try:
            with _errors(text, "download it"):
                if version.startswith("dir:"):
                    fs.get(path.rstrip("/") + "/", str(tmp / target.name), recursive=True)
                else:
                    fs.get(path, str(tmp / target.name))
            marker.unlink(missing_ok=True)
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            os.replace(tmp / target.name, target)
            marker.write_text(json.dumps({"uri": text, "version": version}))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def upload(local: str | os.PathLike[str], uri: str | os.PathLike[str]) -> str:
    """Copy a local file or folder to ``uri`` (a folder's files keep their relative paths).

    A local destination is a plain copy (nothing happens when it is the source itself). Returns
    ``uri`` as a string.

    Raises:
        StorageError: ``local`` does not exist, or the store refused the write, naming the URI.
    """
    src, text = Path(local), str(uri)
    if not src.exists():
        raise StorageError(f"{src}: nothing to upload to {text} (no such file or folder)")
    if not is_remote(text):
        dst = Path(resolve(text))
        if dst == src.absolute():
            return text
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)
        return text
    fs, path = filesystem(text)
    with _errors(text, "upload to it"):
        if src.is_dir():
            for file in sorted(p for p in src.rglob("*") if p.is_file() and not _is_lock(p)):
                fs.put_file(str(file), path.rstrip("/") + "/" + file.relative_to(src).as_posix())
        else:
            fs.put_file(str(src), path)
    return text


def _is_lock(path: Path) -> bool:
    """A run's lock file: it belongs to the node that holds it, never to the remote copy."""
    return path.name.startswith(".") and path.name.endswith(".lock")


def download_into(uri: str | os.PathLike[str], local: str | os.PathLike[str]) -> bool:
    """Copy a remote folder's files into the local folder ``local`` (created); False when ``uri`` is
    absent. Used to continue a run whose directory lives in object storage on a fresh node."""
    text = str(uri)
    if not is_remote(text) or not exists(text):
        return False
    fs, path = filesystem(text)
    dst = Path(local)
    dst.mkdir(parents=True, exist_ok=True)
    with _errors(text, "download it"):
        fs.get(path.rstrip("/") + "/", str(dst) + "/", recursive=True)
    return True


def local_root(root: str | os.PathLike[str]) -> Path:
    """The local folder that stands in for an output root (``--runs-root``).

    A local root is itself. A remote root gets a per-node working folder under
    ``<cache_root>/work/<key>/``: run directories are written there (locks, appended metrics,
    TensorBoard events need a real filesystem) and ``mirrored_dir`` uploads them.
    """
    text = str(root)
    if not is_remote(text):
        return Path(resolve(text))
    path = cache_root() / "work" / _key(text)
    path.mkdir(parents=True, exist_ok=True)
    return path


class Mirror:
    """A node-local working copy (``path``) of an output whose home is ``uri``, kept current by ``sync``.

    Why: HDF5 and SQLite writers, locks and appended logs need a real filesystem, so a command writes
    its output locally; ``sync`` then sends what changed since the last call, so work that finished
    is in the bucket while the command still runs and a rerun on any node resumes from it. ``uri``
    None (a local output) makes ``sync`` a no-op. Made by ``mirror``.
    """

    def __init__(self, path: Path, uri: str | None, snapshot: Callable[[Path], Path] | None = None) -> None:
        self.path = path
        self.uri = uri
        self.fetched = False
        """the remote copy was downloaded on entry (stale node-local companions must go)"""
        self._snapshot = snapshot
        self._sent: dict[str, tuple[int, int]] = {}
        self._last = 0.0

    def _files(self) -> dict[str, tuple[int, int]]:
        """``{relative path: (size, mtime_ns)}`` of the local copy (``""`` for a single file)."""
        if self.path.is_file():
            st = self.path.stat()
            return {"": (st.st_size, st.st_mtime_ns)}
        if not self.path.is_dir():
            return {}
        out = {}
        for file in self.path.rglob("*"):
            if file.is_file() and not _is_lock(file):
                st = file.stat()
                out[file.relative_to(self.path).as_posix()] = (st.st_size, st.st_mtime_ns)
        return out

    def mark_sent(self) -> None:
        """Take the local copy as equal to the remote one (just downloaded, or known current)."""
        self._sent = self._files()

    def sync(self, min_interval_s: float = 0.0) -> int:
        """Upload the files changed since the last sync; returns how many went.

        ``min_interval_s``: skip when the last sync is more recent (for outputs written clip by clip,
        where uploading a growing file after every clip would cost more than the work). Call it only
        where the output is consistent on disk (between episodes, after a flush).
        """
        if self.uri is None:
            return 0
        if min_interval_s and time.monotonic() - self._last < min_interval_s:
            return 0
        files = self._files()
        changed = sorted(rel for rel, stamp in files.items() if self._sent.get(rel) != stamp)
        if self._snapshot is not None and "" in files:
            changed = [""]  # a database's own view of itself (its journal holds recent writes)
        for rel in changed:
            src = self.path / rel if rel else self.path
            if self._snapshot is not None and not rel:
                src = self._snapshot(self.path)
            upload(src, join(self.uri, rel) if rel else self.uri)
        self._sent.update({rel: files[rel] for rel in changed})
        self._last = time.monotonic()
        return len(changed)


def _mirror_marker(uri: str) -> Path:
    """Where this node notes the remote version its working copy of ``uri`` last matched."""
    return cache_root() / "work" / f"{_key(uri)}.mirror.json"


def _fetch(m: Mirror, uri: str, only_if_empty: bool) -> bool:
    """Download ``uri`` into ``m.path`` when the local copy is missing or older than the remote one.

    A local copy counts as current when the remote version equals the one noted after this node's
    last complete sync (``_mirror_marker``): another node that continued the run changes it.
    """
    has_local = bool(m._files())
    if only_if_empty and has_local:
        return False
    if not exists(uri):
        return False
    version = remote_version(uri)
    marker = _mirror_marker(uri)
    if has_local and marker.is_file():
        saved = json.loads(marker.read_text())
        if saved.get("uri") == uri and saved.get("version") == version:
            m.mark_sent()
            return False
    if version.startswith("dir:"):
        download_into(uri, m.path)
    else:
        fs, path = filesystem(uri)
        m.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = m.path.with_name(f".{m.path.name}.download")
        with _errors(uri, "download it"):
            fs.get(path, str(tmp))
        os.replace(tmp, m.path)
    m.mark_sent()
    return True


def _note_version(uri: str) -> None:
    marker = _mirror_marker(uri)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"uri": uri, "version": remote_version(uri)}))


@contextmanager
def mirror(
    uri: str | os.PathLike[str],
    *,
    is_file: bool = False,
    local: Path | None = None,
    snapshot: Callable[[Path], Path] | None = None,
    fetch: str = "changed",
) -> Iterator[Mirror]:
    """The one way a command writes an output that may be a URI: work locally, keep ``uri`` current.

    A local ``uri`` is its own working copy (``Mirror.path`` is the path itself; ``sync`` does
    nothing). A remote one is worked on in ``local`` (default ``local_root(uri)`` for a folder, a
    file named like the URI's last part inside it for ``is_file``): on entry the remote copy is
    downloaded when this node has none, or an older one (``fetch="changed"``; ``"empty"``: only
    when the local folder is empty); the command calls ``sync`` whenever a piece of work is done;
    on exit, also after an error so the finished parts are kept, the rest is uploaded.

    Args:
        snapshot: for a file a live writer keeps partly in a journal (SQLite in WAL mode): returns a
            consistent copy to upload in its place.

    Raises:
        StorageError: the store refused a read or write, naming the URI.
    """
    text = str(uri)
    if not is_remote(text):
        yield Mirror(Path(resolve(text)) if local is None else local, None)
        return
    path = local if local is not None else local_root(text)
    if is_file and local is None:
        path = path / _base_name(text)
    m = Mirror(path, text, snapshot)
    m.fetched = _fetch(m, text, only_if_empty=fetch == "empty")
    try:
        yield m
    except BaseException:
        try:  # keep what finished; the command's own error is the one to report
            _finish(m, text)
        except Exception as err:
            logger.warning("%s: could not upload %s after an error: %s", text, path, err)
        raise
    _finish(m, text)


def _finish(m: Mirror, uri: str) -> None:
    """Upload what is left and note the remote version this node's copy now equals."""
    m.sync()
    if m._sent:  # something was downloaded or uploaded: the remote copy exists
        _note_version(uri)


@contextmanager
def mirrored_dir(local: Path, uri: str | None) -> Iterator[Path]:
    """``mirror`` for a run directory made by its command (``local``): yields the local folder.

    The remote copy is downloaded only when ``local`` holds nothing yet (a rerun on another node
    continues the run). ``uri`` None (a local run directory) does nothing.
    """
    if uri is None or not is_remote(uri):
        yield local
        return
    with mirror(uri, local=local, fetch="empty") as m:
        yield m.path


def staged_input(uri: str | os.PathLike[str] | None) -> Path | None:
    """An input a command reads by path: a local path as it is, a URI staged once per node."""
    if uri is None or str(uri) == "":
        return None
    return local_copy(uri) if is_remote(uri) else Path(str(uri)).expanduser()


def refuse_uri(option: str, value: str | os.PathLike[str] | None, what: str) -> None:
    """A setting a URI cannot be (a serial device, a local socket): one line naming the option.

    Raises:
        UserError: ``value`` is an object-store URI; ``what`` says what the option takes instead.
    """
    if value is not None and scheme(value) in OBJECT_STORE_SCHEMES:
        raise UserError(f"{option} {value}: takes {what}, not an object-store URI")


OBJECT_STORE_SCHEMES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "hdfs", "http", "https"})
"""schemes of remote storage (a ``tcp://`` gripper address is not one)"""


FORWARDED_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    GCS_EMULATOR_ENV,
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
    CACHE_ENV,
)
"""storage settings of the driver that actors reading its URIs get too (``actor_env``)"""


def actor_env() -> dict[str, str]:
    """The driver's storage settings (endpoint, keys, cache root) for a Ray ``runtime_env``.

    Why: Ray workers get the environment of the node's raylet, not of the driver, so a driver pointed
    at an S3-compatible endpoint by ``AWS_ENDPOINT_URL`` (or a GCS emulator by
    ``STORAGE_EMULATOR_HOST``) would otherwise send its actors to AWS (or Google).
    Only variables that are set are passed; a node's instance role still works when none is.
    """
    return {name: os.environ[name] for name in FORWARDED_ENV if os.environ.get(name)}


def node_local_paths(paths: Mapping[str, str | os.PathLike[str] | None]) -> dict[str, str]:
    """The entries of ``{option: path}`` that are plain local paths (None entries are skipped)."""
    return {opt: str(p) for opt, p in paths.items() if p is not None and str(p) and not is_remote(p)}


def shared_fs_declared(flag: bool = False) -> bool:
    """``--shared-fs`` was passed or ``ROBOACT_SHARED_FS`` is set to 1/true/yes."""
    return flag or os.environ.get(SHARED_FS_ENV, "").strip().lower() in ("1", "true", "yes")


def check_shareable(
    paths: Mapping[str, str | os.PathLike[str] | None], nodes: int, shared_fs: bool = False
) -> None:
    """Refuse to hand node-local paths to other nodes of a multi-node cluster.

    Args:
        paths: ``{option that sets it: path}`` for every path the command gives actors or workers
            on other nodes (``--storage-path``, ``--store``, ``--policy``); None means "not set"
            only when the caller has already filled in its default.
        nodes: alive nodes of the cluster the command is connected to.
        shared_fs: ``--shared-fs``: plain paths lie on a filesystem every node mounts.

    Raises:
        UserError: naming each node-local path, the option that fixes it and ``--shared-fs``.
    """
    if nodes <= 1 or shared_fs_declared(shared_fs):
        return
    local = node_local_paths(paths)
    if not local:
        return
    named = "; ".join(f"{opt} {p}" for opt, p in local.items())
    first = next(iter(local))
    raise UserError(
        f"this Ray cluster has {nodes} alive nodes and these paths exist on this node only: {named}. "
        f"Other nodes cannot read or write them: pass an object-store URI (e.g. {first} "
        f"s3://BUCKET/...), or --shared-fs (ROBOACT_SHARED_FS=1) "
        "if they lie on a filesystem every node mounts"
    )
